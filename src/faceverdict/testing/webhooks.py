"""Webhooks without a network: endpoints and deliveries in memory, a transport that records
what it is asked to send, and a resolver with a fixed table of addresses.
"""

from __future__ import annotations

import copy
import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from faceverdict.ports.webhooks import Delivery, DeliveryStatus, Endpoint, Secret, SendResult
from faceverdict.testing.world import IntegrityViolation, World


def _copied(delivery: Delivery) -> Delivery:
    return replace(delivery, payload=copy.deepcopy(dict(delivery.payload)))


class MemoryWebhookStore:
    """Endpoints and deliveries as ``SqlWebhookStore`` keeps them (secrets stored as given)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Insert a new endpoint."""
        with self._world.transaction() as t:
            if endpoint.endpoint_id in t.webhook_endpoints:
                raise IntegrityViolation(f"endpoint {endpoint.endpoint_id} exists already")
            t.webhook_endpoints[endpoint.endpoint_id] = endpoint

    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint with this id, or None."""
        return self._world.tables.webhook_endpoints.get(endpoint_id)

    def endpoints(self) -> list[Endpoint]:
        """Every registered endpoint, oldest first."""
        return sorted(self._world.tables.webhook_endpoints.values(), key=lambda e: e.created_at)

    def save_secrets(self, endpoint_id: str, secrets: tuple[Secret, ...]) -> None:
        """Replace an endpoint's secrets (rotation)."""
        with self._world.transaction() as t:
            endpoint = t.webhook_endpoints.get(endpoint_id)
            if endpoint is not None:
                t.webhook_endpoints[endpoint_id] = replace(endpoint, secrets=tuple(secrets))

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """Remove an endpoint (its deliveries stay for the record); False if absent."""
        with self._world.transaction() as t:
            return t.webhook_endpoints.pop(endpoint_id, None) is not None

    def add_delivery(self, delivery: Delivery) -> bool:
        """Insert a delivery; False (and no change) if its id exists already."""
        with self._world.transaction() as t:
            if delivery.delivery_id in t.webhook_deliveries:
                return False
            t.webhook_deliveries[delivery.delivery_id] = _copied(delivery)
            return True

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        """The delivery with this id, or None."""
        found = self._world.tables.webhook_deliveries.get(delivery_id)
        return None if found is None else _copied(found)

    def save_delivery(self, delivery: Delivery) -> None:
        """Persist a delivery's status, attempts and timing (an unknown id changes nothing)."""
        with self._world.transaction() as t:
            if delivery.delivery_id in t.webhook_deliveries:
                t.webhook_deliveries[delivery.delivery_id] = _copied(delivery)

    def deliveries(
        self,
        status: DeliveryStatus,
        *,
        due_before: datetime | None = None,
        limit: int = 500,
    ) -> list[Delivery]:
        """Deliveries in ``status`` (optionally only those due before a time), oldest first."""
        found = [
            d
            for d in self._world.tables.webhook_deliveries.values()
            if d.status is status
            and (
                due_before is None
                or (d.next_attempt_at is not None and d.next_attempt_at < due_before)
            )
        ]
        found.sort(key=lambda d: d.created_at)
        return [_copied(d) for d in found[:limit]]


@dataclass(frozen=True)
class SentRequest:
    """One POST the transport was asked to make."""

    url: str
    headers: Mapping[str, str]
    body: bytes


class RecordingTransport:
    """Records every send and answers ``status`` (or a network ``error``) without a network.

    ``answers`` maps a URL to its own answer; ``respond`` changes the default at any time.
    """

    def __init__(self, status: int = 200, error: str | None = None) -> None:
        self._lock = threading.Lock()
        self._default = SendResult(status=None if error else status, error=error)
        self.answers: dict[str, SendResult] = {}
        self.sent: list[SentRequest] = []

    def respond(self, status: int | None = 200, error: str | None = None) -> None:
        """Answer every later send with ``status`` (None with an ``error``: a network failure)."""
        with self._lock:
            self._default = SendResult(status=status, error=error)

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """Record the POST and return the configured answer; never raises."""
        with self._lock:
            self.sent.append(SentRequest(url, dict(headers), bytes(body)))
            return self.answers.get(url, self._default)

    def close(self) -> None:
        """Nothing to release."""


class StaticResolver:
    """Resolves host names from a fixed table; an IP literal resolves to itself.

    Unknown names resolve to ``default``, a public address (example.com's), so webhook targets
    pass the private-address check without DNS; ``default=None`` makes unknown names fail as
    the system resolver would.
    """

    def __init__(
        self, hosts: Mapping[str, list[str]] | None = None, default: str | None = "93.184.216.34"
    ) -> None:
        self.hosts = dict(hosts or {})
        self.default = default

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (an IP literal resolves to itself); OSError if none."""
        del port
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        found = self.hosts.get(host)
        if found:
            return list(found)
        if self.default is None:
            raise OSError(f"cannot resolve {host}")
        return [self.default]
