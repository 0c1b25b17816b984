"""SqlWebhookStore: webhook endpoints and deliveries in SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sealed_secrets import SecretSealer
from faceverdict.adapters.sql_schema import webhook_deliveries, webhook_endpoints
from faceverdict.adapters.sql_support import unavailable_on_outage, utc_or_none
from faceverdict.ports.webhooks import Delivery, DeliveryStatus, Endpoint, Secret


def _secrets_json(
    secrets: tuple[Secret, ...], seal: Callable[[str], str]
) -> list[dict[str, str | None]]:
    return [
        {
            "value": seal(s.value),
            "created_at": s.created_at.isoformat(),
            "not_after": s.not_after.isoformat() if s.not_after else None,
        }
        for s in secrets
    ]


def _secrets(data: list[dict[str, Any]], open_: Callable[[str], str]) -> tuple[Secret, ...]:
    return tuple(
        Secret(
            value=open_(item["value"]),
            created_at=datetime.fromisoformat(item["created_at"]),
            not_after=datetime.fromisoformat(item["not_after"]) if item["not_after"] else None,
        )
        for item in data
    )


class SqlWebhookStore:
    """Webhook endpoints and deliveries through SQLAlchemy Core."""

    def __init__(self, engine: Engine, sealer: SecretSealer | None = None) -> None:
        self._engine = engine
        self._sealer = sealer  # signing secrets encrypted at rest (None: stored as given)

    def _seal(self, endpoint_id: str) -> Callable[[str], str]:
        sealer = self._sealer
        return (lambda v: v) if sealer is None else (lambda v: sealer.seal(v, endpoint_id))

    def _open(self, endpoint_id: str) -> Callable[[str], str]:
        sealer = self._sealer
        return (lambda v: v) if sealer is None else (lambda v: sealer.open(v, endpoint_id))

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Insert a new endpoint."""
        with self._tx() as conn:
            conn.execute(
                insert(webhook_endpoints),
                {
                    "endpoint_id": endpoint.endpoint_id,
                    "url": endpoint.url,
                    "event_types": list(endpoint.event_types),
                    "secrets": _secrets_json(endpoint.secrets, self._seal(endpoint.endpoint_id)),
                    "description": endpoint.description,
                    "created_at": endpoint.created_at,
                },
            )

    def _endpoint(self, row: Any) -> Endpoint:
        return Endpoint(
            endpoint_id=row.endpoint_id,
            url=row.url,
            event_types=tuple(row.event_types),
            secrets=_secrets(row.secrets, self._open(row.endpoint_id)),
            created_at=utc_or_none(row.created_at) or datetime.now(UTC),
            description=row.description,
        )

    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(
                select(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id)
            ).first()
            return None if row is None else self._endpoint(row)

    def endpoints(self) -> list[Endpoint]:
        """Every registered endpoint, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(webhook_endpoints).order_by(webhook_endpoints.c.created_at)
            ).all()
            return [self._endpoint(r) for r in rows]

    def save_secrets(self, endpoint_id: str, secrets: tuple[Secret, ...]) -> None:
        """Replace an endpoint's secrets (rotation)."""
        with self._tx() as conn:
            conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.endpoint_id == endpoint_id)
                .values(secrets=_secrets_json(secrets, self._seal(endpoint_id)))
            )

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """Remove an endpoint (its deliveries stay for the record); False if absent."""
        with self._tx() as conn:
            result = conn.execute(
                delete(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id)
            )
            return bool(result.rowcount)

    def add_delivery(self, delivery: Delivery) -> bool:
        """Insert a delivery; False (and no change) if its id exists already."""
        try:
            with self._tx() as conn:
                conn.execute(insert(webhook_deliveries), self._delivery_row(delivery))
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _delivery_row(delivery: Delivery) -> dict[str, Any]:
        return {
            "delivery_id": delivery.delivery_id,
            "endpoint_id": delivery.endpoint_id,
            "event_type": delivery.event_type,
            "payload": dict(delivery.payload),
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "created_at": delivery.created_at,
            "next_attempt_at": delivery.next_attempt_at,
            "last_error": delivery.last_error,
            "delivered_at": delivery.delivered_at,
        }

    @staticmethod
    def _delivery(row: Any) -> Delivery:
        return Delivery(
            delivery_id=row.delivery_id,
            endpoint_id=row.endpoint_id,
            event_type=row.event_type,
            payload=row.payload,
            created_at=utc_or_none(row.created_at) or datetime.now(UTC),
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=utc_or_none(row.next_attempt_at),
            last_error=row.last_error,
            delivered_at=utc_or_none(row.delivered_at),
        )

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        """The delivery with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.delivery_id == delivery_id)
            ).first()
            return None if row is None else self._delivery(row)

    def save_delivery(self, delivery: Delivery) -> None:
        """Persist a delivery's status, attempts and timing."""
        row = self._delivery_row(delivery)
        del row["delivery_id"]
        with self._tx() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.delivery_id == delivery.delivery_id)
                .values(**row)
            )

    def deliveries(
        self, status: DeliveryStatus, *, due_before: datetime | None = None, limit: int = 500
    ) -> list[Delivery]:
        """Deliveries in ``status`` (optionally only those due before a time), oldest first."""
        query = select(webhook_deliveries).where(webhook_deliveries.c.status == status.value)
        if due_before is not None:
            query = query.where(webhook_deliveries.c.next_attempt_at < due_before)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(webhook_deliveries.c.created_at).limit(limit)).all()
            return [self._delivery(r) for r in rows]
