"""SqlEventOutbox and SqlEventLedger: the event outbox in the service database.

Events are stored as their name and JSON fields (ids, codes, scores and versions: never a
subject reference or image). The outbox writer joins the caller's transaction; the ledger's
calls are their own transactions. A claim is a conditional UPDATE, so two sweepers never
handle one event at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_schema import event_handlers_done, event_outbox
from faceverdict.adapters.sql_support import unavailable_on_outage, utc
from faceverdict.domain.events import DomainEvent, event_fields, event_from_fields
from faceverdict.ports.events import RecordedEvent

log = logging.getLogger(__name__)


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


class SqlEventOutbox:
    """Appends events inside an open transaction (its connection)."""

    def __init__(self, connection: Connection, now: datetime) -> None:
        self._conn = connection
        self._now = now

    def add(self, events: Sequence[DomainEvent], claimed_until: datetime) -> list[RecordedEvent]:
        """Store the events in order; they commit with the transaction."""
        recorded = []
        for event in events:
            result = self._conn.execute(
                insert(event_outbox).values(
                    check_id=event.check_id,
                    name=event.name,
                    occurred_at=event.occurred_at,
                    recorded_at=self._now,
                    payload={k: _json(v) for k, v in event_fields(event).items()},
                    claimed_until=claimed_until,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            recorded.append(RecordedEvent(int(key[0]), event))
        return recorded


class SqlEventLedger:
    """Which events have handlers left to run; marks and claims."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    def pending(self, now: datetime, limit: int = 100) -> list[RecordedEvent]:
        """Unsettled events whose claim has lapsed, oldest first."""
        t = event_outbox.c
        with self._tx() as conn:
            rows = conn.execute(
                select(event_outbox)
                .where(t.settled_at.is_(None), t.claimed_until <= now)
                .order_by(t.event_id)
                .limit(limit)
            ).all()
        found = []
        for r in rows:
            try:
                event = event_from_fields(r.name, r.check_id, utc(r.occurred_at), dict(r.payload))
            except (KeyError, TypeError):
                log.error("outbox event %s (%s) cannot be read; left alone", r.event_id, r.name)
                continue
            found.append(RecordedEvent(int(r.event_id), event))
        return found

    def claim(self, event_id: int, now: datetime, until: datetime) -> bool:
        """Take an unsettled event whose claim has lapsed; False if another process has it."""
        t = event_outbox.c
        with self._tx() as conn:
            result = conn.execute(
                update(event_outbox)
                .where(t.event_id == event_id, t.settled_at.is_(None), t.claimed_until <= now)
                .values(claimed_until=until)
            )
        return result.rowcount == 1

    def handled(self, event_id: int) -> frozenset[str]:
        """The names of the handlers that ran to the end for this event."""
        t = event_handlers_done.c
        with self._tx() as conn:
            rows = conn.execute(select(t.handler).where(t.event_id == event_id)).all()
        return frozenset(r.handler for r in rows)

    def mark_handled(self, event_id: int, handler: str, now: datetime) -> None:
        """Note that ``handler`` ran to the end for this event (idempotent)."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(event_handlers_done).values(
                        event_id=event_id, handler=handler, handled_at=now
                    )
                )
        except IntegrityError:
            pass  # marked by a concurrent run of the same handler

    def settle(self, event_id: int, now: datetime) -> None:
        """Note that every handler of this event ran."""
        t = event_outbox.c
        with self._tx() as conn:
            conn.execute(
                update(event_outbox)
                .where(t.event_id == event_id, or_(t.settled_at.is_(None), t.settled_at > now))
                .values(settled_at=now)
            )

    def purge_settled(self, before: datetime, limit: int = 5000) -> int:
        """Delete events settled before ``before`` with their handler marks."""
        t = event_outbox.c
        with self._tx() as conn:
            ids = [
                r.event_id
                for r in conn.execute(
                    select(t.event_id)
                    .where(t.settled_at.is_not(None), t.settled_at < before)
                    .order_by(t.event_id)
                    .limit(limit)
                ).all()
            ]
            if ids:
                conn.execute(
                    delete(event_handlers_done).where(event_handlers_done.c.event_id.in_(ids))
                )
                conn.execute(delete(event_outbox).where(t.event_id.in_(ids)))
        return len(ids)
