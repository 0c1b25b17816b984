"""The event outbox in memory: the writer joins a transaction, the ledger reads and marks.

Events are stored as the SQL outbox stores them (name and JSON fields), so an event that the
database could not store or read back fails here too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from faceverdict.domain.events import DomainEvent, event_fields, event_from_fields
from faceverdict.ports.events import RecordedEvent
from faceverdict.testing.world import IntegrityViolation, OutboxRow, Scope, Tables, World

log = logging.getLogger(__name__)


def _json_fields(event: DomainEvent) -> dict[str, Any]:
    """The event's fields as they come back from a JSON column."""
    fields: dict[str, Any] = json.loads(json.dumps(event_fields(event)))
    return fields


class MemoryEventOutbox:
    """Appends events inside an open transaction."""

    def __init__(self, world: World, tables: Tables, now: datetime) -> None:
        self._scope = Scope(world, tables)
        self._now = now

    def add(self, events: Sequence[DomainEvent], claimed_until: datetime) -> list[RecordedEvent]:
        """Store the events, claimed by the caller until ``claimed_until``."""
        recorded: list[RecordedEvent] = []
        with self._scope.write() as t:
            for event in events:
                if event.check_id not in t.checks:
                    raise IntegrityViolation(
                        f"event {event.name} of unknown check {event.check_id}"
                    )
                event_id = t.outbox_next_id
                t.outbox_next_id += 1
                t.outbox[event_id] = OutboxRow(
                    event_id=event_id,
                    check_id=event.check_id,
                    name=event.name,
                    occurred_at=event.occurred_at,
                    recorded_at=self._now,
                    payload=_json_fields(event),
                    claimed_until=claimed_until,
                )
                recorded.append(RecordedEvent(event_id, event))
        return recorded


class MemoryEventLedger:
    """Which events have handlers left to run; marks and claims (each call commits)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def pending(self, now: datetime, limit: int = 100) -> list[RecordedEvent]:
        """Unsettled events whose claim has lapsed, oldest first."""
        outbox = self._world.tables.outbox
        rows = [
            outbox[i]
            for i in sorted(outbox)
            if outbox[i].settled_at is None and outbox[i].claimed_until <= now
        ][:limit]
        found: list[RecordedEvent] = []
        for r in rows:
            try:
                event = event_from_fields(r.name, r.check_id, r.occurred_at, dict(r.payload))
            except (KeyError, TypeError):
                log.error("outbox event %s (%s) cannot be read; left alone", r.event_id, r.name)
                continue
            found.append(RecordedEvent(r.event_id, event))
        return found

    def claim(self, event_id: int, now: datetime, until: datetime) -> bool:
        """Take an unsettled event whose claim has lapsed; False if another process has it."""
        with self._world.transaction() as t:
            row = t.outbox.get(event_id)
            if row is None or row.settled_at is not None or row.claimed_until > now:
                return False
            t.outbox[event_id] = replace(row, claimed_until=until)
            return True

    def handled(self, event_id: int) -> frozenset[str]:
        """The names of the handlers that ran to the end for this event."""
        return frozenset(h for (e, h) in self._world.tables.handled if e == event_id)

    def mark_handled(self, event_id: int, handler: str, now: datetime) -> None:
        """Note that ``handler`` ran to the end for this event (idempotent; an unknown
        event is ignored, as the SQL adapter ignores its foreign-key failure)."""
        with self._world.transaction() as t:
            if event_id in t.outbox and (event_id, handler) not in t.handled:
                t.handled[(event_id, handler)] = now

    def settle(self, event_id: int, now: datetime) -> None:
        """Note that every handler of this event ran: the sweep no longer looks at it."""
        with self._world.transaction() as t:
            row = t.outbox.get(event_id)
            if row is not None and (row.settled_at is None or row.settled_at > now):
                t.outbox[event_id] = replace(row, settled_at=now)

    def purge_settled(self, before: datetime, limit: int = 5000) -> int:
        """Delete events settled before ``before`` with their handler marks."""
        with self._world.transaction() as t:
            ids = [
                i
                for i in sorted(t.outbox)
                if (settled := t.outbox[i].settled_at) is not None and settled < before
            ][:limit]
            gone = set(ids)
            for event_id in ids:
                del t.outbox[event_id]
            t.handled = {k: v for k, v in t.handled.items() if k[0] not in gone}
        return len(ids)
