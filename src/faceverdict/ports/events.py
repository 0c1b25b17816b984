"""Ports of the event outbox: events written with the state they describe, then handled.

A service writes a check's events to the outbox in the same transaction as the check; after
the commit the message bus runs their handlers and marks each one done. What a stopped
process left undone is found in the outbox by the bus's sweep, so every handler runs for
every event, once it has run to the end (handlers are idempotent: a crash between a
handler's work and its mark repeats it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faceverdict.domain.events import DomainEvent


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the outbox holds it: its position and the event."""

    event_id: int
    event: DomainEvent


class EventOutbox(Protocol):
    """Appends events inside the caller's transaction."""

    def add(self, events: Sequence[DomainEvent], claimed_until: datetime) -> list[RecordedEvent]:
        """Store the events, claimed by the caller until ``claimed_until`` (it handles them
        right after the commit; the sweep leaves them alone until then)."""
        ...


class EventLedger(Protocol):
    """Which events still have handlers to run, and which handlers ran."""

    def pending(self, now: datetime, limit: int = 100) -> list[RecordedEvent]:
        """Unsettled events whose claim has lapsed, oldest first."""
        ...

    def claim(self, event_id: int, now: datetime, until: datetime) -> bool:
        """Take an unsettled event whose claim has lapsed; False if another process has it."""
        ...

    def handled(self, event_id: int) -> frozenset[str]:
        """The names of the handlers that ran to the end for this event."""
        ...

    def mark_handled(self, event_id: int, handler: str, now: datetime) -> None:
        """Note that ``handler`` ran to the end for this event (idempotent)."""
        ...

    def settle(self, event_id: int, now: datetime) -> None:
        """Note that every handler of this event ran: the sweep no longer looks at it."""
        ...

    def purge_settled(self, before: datetime, limit: int = 5000) -> int:
        """Delete events settled before ``before`` (the evidence log keeps their record)."""
        ...
