"""The message bus: runs the handlers of recorded events, once each, live or by the sweep.

Services write a check's events to the outbox in the transaction that changes the check
(``CheckRecorder``) and hand the recorded events to ``dispatch`` after the commit. For each
event the bus runs every handler registered for its type that has not yet run to the end,
marks each one as it finishes, and settles the event when none is left. A handler that
raises is logged and left for the sweep (``catch_up``), which takes unsettled events whose
claim has lapsed, in order, and runs what is missing. So every handler runs for every event
whether the process stops or not, and one that finished never runs again for it.

The table of handlers is built in one place (``faceverdict.services.handlers``); the
composition root registers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from faceverdict.domain.events import DomainEvent
from faceverdict.ports.clock import Clock
from faceverdict.ports.events import EventLedger, RecordedEvent

log = logging.getLogger(__name__)

Handler = Callable[[Any], object]
# Each event type's handlers, by a stable name (the name is what the ledger marks).
HandlerTable = Mapping[type[DomainEvent], Sequence[tuple[str, Handler]]]


class MessageBus:
    """Dispatches recorded events to their handlers and sweeps up what was left undone."""

    def __init__(
        self, ledger: EventLedger, clock: Clock, *, lease: timedelta = timedelta(minutes=2)
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.lease = lease
        self._handlers: dict[type[DomainEvent], list[tuple[str, Handler]]] = {}

    def register(self, table: HandlerTable) -> None:
        """Add the handlers of ``table``; a duplicate name for one event type is refused."""
        for event_type, handlers in table.items():
            known = self._handlers.setdefault(event_type, [])
            for name, handler in handlers:
                if any(name == existing for existing, _ in known):
                    raise ValueError(f"handler {name!r} of {event_type.__name__} registered twice")
                known.append((name, handler))

    def handlers_for(self, event: DomainEvent) -> list[tuple[str, Handler]]:
        """The handlers registered for the event's type, in registration order."""
        return list(self._handlers.get(type(event), ()))

    def claim_until(self) -> datetime:
        """Until when a fresh event belongs to the process that recorded it."""
        return self.clock.now() + self.lease

    def dispatch(self, recorded: Sequence[RecordedEvent]) -> int:
        """Run the missing handlers of each event; how many events were settled."""
        settled = 0
        for item in recorded:
            try:
                settled += self._handle(item)
            except Exception:  # the ledger is unreachable: what is committed stays, swept later
                log.exception("could not dispatch %s of %s", item.event.name, item.event.check_id)
        return settled

    def _handle(self, item: RecordedEvent) -> bool:
        handlers = self.handlers_for(item.event)
        done = self.ledger.handled(item.event_id) if handlers else frozenset()
        complete = True
        for name, handler in handlers:
            if name in done:
                continue
            try:
                handler(item.event)
            except Exception:
                complete = False
                log.exception(
                    "handler %s failed on %s of %s; the sweep retries it",
                    name,
                    item.event.name,
                    item.event.check_id,
                )
                continue
            self.ledger.mark_handled(item.event_id, name, self.clock.now())
        if complete:
            self.ledger.settle(item.event_id, self.clock.now())
        return complete

    def catch_up(self, limit: int = 100, max_batches: int = 20) -> int:
        """Run what stopped processes and failed handlers left undone; how many events settled.

        Takes unsettled events whose claim has lapsed (oldest first), claims each for one
        lease, and runs its missing handlers.
        """
        settled = 0
        for _ in range(max_batches):
            now = self.clock.now()
            batch = self.ledger.pending(now, limit)
            for item in batch:
                if self.ledger.claim(item.event_id, now, now + self.lease):
                    settled += self._handle(item)
            if len(batch) < limit:
                break
        return settled

    def purge(self, keep: timedelta = timedelta(days=7)) -> int:
        """Delete events settled more than ``keep`` ago (the evidence log keeps their record;
        the outbox only has to remember what is still to do); how many."""
        return self.ledger.purge_settled(self.clock.now() - keep)
