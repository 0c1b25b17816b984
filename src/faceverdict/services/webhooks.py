"""Webhooks per the Standard Webhooks specification: endpoints, signed deliveries, retries.

A decision creates one delivery per subscribed endpoint, with a ``webhook-id`` fixed by the
event and the endpoint (so retries and replays carry the same id and receivers can drop
duplicates). Deliveries run as jobs; failures retry with exponential backoff and full jitter
for ``retry_window``, then land in the dead-letter list, from which they can be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from faceverdict.domain.check import Check, Decision
from faceverdict.domain.events import CheckDecided
from faceverdict.errors import InvalidRequest, NotFound, UnsafeWebhookTarget
from faceverdict.evidence.entries import JsonValue
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import Job, JobQueue
from faceverdict.ports.webhooks import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    Resolver,
    Secret,
    WebhookStore,
    WebhookTransport,
)
from faceverdict.services.checks import new_id

log = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"
CHECK_DECIDED = "check.decided"
DECISION_SUPERSEDED = "decision.superseded"
EVENT_TYPES = (CHECK_DECIDED, DECISION_SUPERSEDED)
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64 HMAC-SHA256>`` signature over ``id.timestamp.body``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers; several secrets (rotation) give several signatures."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
    }


def check_target(url: str, resolver: Resolver, *, allow_private: bool) -> None:
    """Refuse URLs that are not http(s) or whose host resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeWebhookTarget("a webhook URL must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise UnsafeWebhookTarget("a webhook URL must not carry credentials")
    if parts.scheme == "http" and not allow_private:
        raise UnsafeWebhookTarget("a webhook URL must use https")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver.resolve(parts.hostname, port)
    except OSError as exc:
        raise UnsafeWebhookTarget(f"cannot resolve {parts.hostname}: {exc}") from None
    if not addresses:
        raise UnsafeWebhookTarget(f"{parts.hostname} resolves to no address")
    if allow_private:
        return
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
            or not ip.is_global
        ):
            raise UnsafeWebhookTarget(f"{parts.hostname} resolves to a non-public address ({ip})")


def webhook_id(decision: Decision, event_type: str, endpoint: Endpoint) -> str:
    """The stable ``webhook-id`` of one event for one endpoint (retries and replays keep it)."""
    stable = f"{decision.decision_id}:{event_type}:{endpoint.endpoint_id}"
    return "msg_" + hashlib.sha256(stable.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class WebhookOptions:
    """Retry schedule and target rules."""

    retry_window: timedelta = timedelta(hours=24)
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    rotation_overlap: timedelta = timedelta(hours=24)
    allow_private_targets: bool = False


def event_payload(
    event_type: str, check: Check, now: datetime, decision: Decision | None = None
) -> dict[str, JsonValue]:
    """The JSON body of a decision event (ids, codes and scores; never personal data)."""
    decision = decision or check.current_decision
    assert decision is not None
    return {
        "type": event_type,
        "timestamp": now.isoformat(timespec="seconds"),
        "data": {
            "check_id": check.check_id,
            "flow": check.flow,
            "state": check.state.value,
            "decision_id": decision.decision_id,
            "supersedes": decision.supersedes,
            "stage": decision.stage,
            "action": decision.action.value,
            "authenticity_score": decision.authenticity_score,
            "final": decision.final,
            "policy_version": decision.policy_version,
        },
    }


class WebhookService:
    """Registers endpoints, turns decisions into deliveries, and delivers them."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        queue: JobQueue,
        transport: WebhookTransport,
        resolver: Resolver,
        clock: Clock,
        options: WebhookOptions | None = None,
        checks: CheckRepository,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.checks = checks
        self.store = store
        self.queue = queue
        self.transport = transport
        self.resolver = resolver
        self.clock = clock
        self.options = options or WebhookOptions()
        self.jitter = jitter

    # endpoints

    def register(
        self, url: str, event_types: list[str], secret: str | None = None, description: str = ""
    ) -> Endpoint:
        """Register an endpoint after checking its URL; returns it with its secret."""
        unknown = set(event_types) - set(EVENT_TYPES)
        if not event_types or unknown:
            raise InvalidRequest(f"event_types must be some of {list(EVENT_TYPES)}")
        if secret is not None:
            try:
                if len(_secret_bytes(secret)) < 24 or not secret.startswith(SECRET_PREFIX):
                    raise ValueError
            except ValueError:
                raise InvalidRequest("secret must be whsec_ + base64 of 24 to 64 bytes") from None
        check_target(url, self.resolver, allow_private=self.options.allow_private_targets)
        now = self.clock.now()
        endpoint = Endpoint(
            endpoint_id=new_id("whe"),
            url=url,
            event_types=tuple(dict.fromkeys(event_types)),
            secrets=(Secret(secret or new_secret(), now),),
            created_at=now,
            description=description,
        )
        self.store.add_endpoint(endpoint)
        return endpoint

    def endpoint(self, endpoint_id: str) -> Endpoint:
        """One endpoint; NotFound if unknown."""
        endpoint = self.store.get_endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}")
        return endpoint

    def rotate(self, endpoint_id: str) -> Endpoint:
        """Add a new secret; the current ones stay valid for ``rotation_overlap``."""
        endpoint = self.endpoint(endpoint_id)
        now = self.clock.now()
        until = now + self.options.rotation_overlap
        kept = tuple(
            replace(s, not_after=min(s.not_after or until, until))
            for s in endpoint.secrets
            if s.not_after is None or s.not_after > now
        )
        secrets_ = (Secret(new_secret(), now), *kept)
        self.store.save_secrets(endpoint_id, secrets_)
        return replace(endpoint, secrets=secrets_)

    def delete(self, endpoint_id: str) -> None:
        """Remove an endpoint; NotFound if unknown."""
        if not self.store.delete_endpoint(endpoint_id):
            raise NotFound(f"no webhook endpoint with id {endpoint_id!r}")

    # events -> deliveries

    def on_decided(self, event: CheckDecided) -> list[str]:
        """Handler of ``CheckDecided``: create (once) and enqueue the decision's deliveries."""
        check = self.checks.get(event.check_id)
        if check is None:
            return []  # expired or erased since
        decision = next((d for d in check.decisions if d.decision_id == event.decision_id), None)
        if decision is None:
            return []
        return self._deliveries(check, decision)

    def _deliveries(
        self,
        check: Check,
        decision: Decision,
        endpoints: list[Endpoint] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> list[str]:
        event_type = DECISION_SUPERSEDED if decision.supersedes else CHECK_DECIDED
        now = self.clock.now()
        payload = event_payload(event_type, check, now, decision)
        created = []
        for endpoint in self.store.endpoints() if endpoints is None else endpoints:
            if event_type not in endpoint.event_types:
                continue
            if endpoint.created_at > decision.decided_at:
                continue  # registered after the event
            delivery_id = webhook_id(decision, event_type, endpoint)
            if delivery_id in skip:
                continue
            delivery = Delivery(
                delivery_id=delivery_id,
                endpoint_id=endpoint.endpoint_id,
                event_type=event_type,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
            if self.store.add_delivery(delivery):
                created.append(delivery.delivery_id)
                self._enqueue(delivery.delivery_id, 0.0)
        return created

    def _enqueue(self, delivery_id: str, delay: float) -> None:
        try:
            self.queue.enqueue(Job(kind=WEBHOOK_JOB, key=delivery_id), delay_seconds=delay)
        except Exception:  # the delivery row is pending: the sweep enqueues it again
            log.exception("could not enqueue webhook delivery %s", delivery_id)

    # delivery

    def deliver(self, delivery_id: str) -> Delivery | None:
        """One attempt; on failure schedule the next one, or dead-letter past the window."""
        delivery = self.store.get_delivery(delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return delivery
        now = self.clock.now()
        endpoint = self.store.get_endpoint(delivery.endpoint_id)
        if endpoint is None:
            dead = replace(delivery, status=DeliveryStatus.DEAD, last_error="endpoint deleted")
            self.store.save_delivery(dead)
            return dead
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        try:
            # Resolve again at delivery: the name may point elsewhere since registration.
            check_target(
                endpoint.url, self.resolver, allow_private=self.options.allow_private_targets
            )
            live = [s.value for s in endpoint.secrets if s.not_after is None or s.not_after > now]
            headers = signed_headers(live, delivery.delivery_id, int(now.timestamp()), body)
            result = self.transport.send(endpoint.url, headers, body)
            error = result.error or (None if result.ok else f"HTTP {result.status}")
        except InvalidRequest as exc:
            error = exc.detail
        attempts = delivery.attempts + 1
        if error is None:
            done = replace(
                delivery,
                status=DeliveryStatus.DELIVERED,
                attempts=attempts,
                delivered_at=now,
                last_error=None,
            )
            self.store.save_delivery(done)
            return done
        delay = self._backoff(attempts)
        next_at = now + timedelta(seconds=delay)
        if next_at - delivery.created_at > self.options.retry_window:
            dead = replace(
                delivery, status=DeliveryStatus.DEAD, attempts=attempts, last_error=error
            )
            self.store.save_delivery(dead)
            log.warning("webhook %s dead-lettered after %d attempts", delivery_id, attempts)
            return dead
        retry = replace(delivery, attempts=attempts, next_attempt_at=next_at, last_error=error)
        self.store.save_delivery(retry)
        self._enqueue(delivery_id, delay)
        return retry

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), capped, times [0.5, 1.0)."""
        ceiling = min(self.options.backoff_max, self.options.backoff_base * 2 ** (attempts - 1))
        return float(ceiling * (0.5 + self.jitter() / 2))

    def handle(self, job: Job) -> None:
        """The job handler: one delivery attempt."""
        self.deliver(job.key)

    # dead letters

    def dead_letters(self, limit: int = 500) -> list[Delivery]:
        """Deliveries given up on, oldest first."""
        return self.store.deliveries(DeliveryStatus.DEAD, limit=limit)

    def replay(self, delivery_id: str) -> Delivery:
        """Send a dead-lettered delivery again (same webhook-id), with a fresh retry window."""
        delivery = self.store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no webhook delivery with id {delivery_id!r}")
        if delivery.status is not DeliveryStatus.DEAD:
            raise InvalidRequest(f"delivery {delivery_id} is {delivery.status.value}, not dead")
        now = self.clock.now()
        again = replace(
            delivery,
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        self.store.save_delivery(again)
        self._enqueue(delivery_id, 0.0)
        return again

    def reconcile(self, grace: timedelta = timedelta(minutes=2), limit: int = 500) -> int:
        """Enqueue again pending deliveries overdue by ``grace`` (their job was lost).

        Decisions whose deliveries were never created are the message bus's sweep's: the
        ``webhooks.deliver`` handler of their event has not run to the end."""
        now = self.clock.now()
        overdue = self.store.deliveries(DeliveryStatus.PENDING, due_before=now - grace, limit=limit)
        for delivery in overdue:
            self.store.save_delivery(replace(delivery, next_attempt_at=now))
            self._enqueue(delivery.delivery_id, 0.0)
        return len(overdue)
