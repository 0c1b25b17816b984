"""Ports of webhooks: endpoints and deliveries, the HTTP transport, and name resolution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from faceverdict.evidence.entries import JsonValue


@dataclass(frozen=True)
class Secret:
    """A signing secret (``whsec_`` + base64); ``not_after`` ends its overlap after rotation."""

    value: str
    created_at: datetime
    not_after: datetime | None = None


@dataclass(frozen=True)
class Endpoint:
    """A receiver registered for some event types."""

    endpoint_id: str
    url: str
    event_types: tuple[str, ...]
    secrets: tuple[Secret, ...]
    created_at: datetime
    description: str = ""


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting for (another) attempt, delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint; ``delivery_id`` is the stable ``webhook-id``."""

    delivery_id: str
    endpoint_id: str
    event_type: str
    payload: Mapping[str, JsonValue]
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class WebhookStore(Protocol):
    """Stores endpoints and deliveries."""

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Insert a new endpoint."""
        ...

    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint with this id, or None."""
        ...

    def endpoints(self) -> list[Endpoint]:
        """Every registered endpoint, oldest first."""
        ...

    def save_secrets(self, endpoint_id: str, secrets: tuple[Secret, ...]) -> None:
        """Replace an endpoint's secrets (rotation)."""
        ...

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """Remove an endpoint (its deliveries stay for the record); False if absent."""
        ...

    def add_delivery(self, delivery: Delivery) -> bool:
        """Insert a delivery; False (and no change) if its id exists already."""
        ...

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        """The delivery with this id, or None."""
        ...

    def save_delivery(self, delivery: Delivery) -> None:
        """Persist a delivery's status, attempts and timing."""
        ...

    def deliveries(
        self, status: DeliveryStatus, *, due_before: datetime | None = None, limit: int = 500
    ) -> list[Delivery]:
        """Deliveries in ``status`` (optionally only those due before a time), oldest first."""
        ...


@dataclass(frozen=True)
class SendResult:
    """What a receiver answered: its status code, or the error that stopped the request."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class WebhookTransport(Protocol):
    """Sends one signed HTTP POST."""

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST ``body``; never raises for network errors (they come back in the result)."""
        ...


class Resolver(Protocol):
    """Resolves a host name to the IP addresses a connection would use."""

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (an IP literal resolves to itself); OSError if none."""
        ...
