"""Writing a check: its rows, the evidence of its events and the events themselves, as one.

Every service that changes a check (the inline path, assurance, review, re-scans) writes it
through ``CheckRecorder``: the check's new rows, the evidence entries of the events the check
collected, and those events in the outbox commit in one transaction, or none of them does.
After the commit the recorder hands the events to the message bus, which runs their
reactions (review tasks, assurance, webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence

from faceverdict.domain.check import Check, CheckState
from faceverdict.domain.events import DomainEvent
from faceverdict.ports.captures import CaptureRecord
from faceverdict.ports.events import RecordedEvent
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.uow import Transaction, UnitOfWork
from faceverdict.services.evidence_events import check_drafts
from faceverdict.services.messagebus import MessageBus


class CheckRecorder:
    """Persists checks with their evidence and events, then dispatches the events."""

    def __init__(self, *, uow: UnitOfWork, bus: MessageBus) -> None:
        self.uow = uow
        self.bus = bus

    def add(self, check: Check, capture: CaptureRecord | None = None) -> list[DomainEvent]:
        """Insert a new check (and its capture record); DuplicateIdempotencyKey propagates."""
        events = check.pull_events()
        drafts = check_drafts(check, events, capture_ref=capture.blob_key if capture else None)
        with self.uow.begin() as tx:
            tx.checks.add(check)
            if capture is not None:
                tx.captures.add(capture)
            recorded = self._write(tx, events, drafts)
        self.bus.dispatch(recorded)
        return events

    def save_decision(self, check: Check, extra: Sequence[EntryDraft] = ()) -> list[DomainEvent]:
        """Persist a check's newest decision; ``extra`` evidence entries (e.g. the
        ``review.verdict`` behind it) join the same transaction. DecisionConflict propagates.
        Returns the events recorded."""
        events = check.pull_events()
        drafts = [*check_drafts(check, events), *extra]
        with self.uow.begin() as tx:
            tx.checks.save_decision(check)
            recorded = self._write(tx, events, drafts)
        self.bus.dispatch(recorded)
        return events

    def save_transition(self, check: Check, source: CheckState) -> bool:
        """Persist a state change made on ``check`` (with its events) if the stored check is
        still in ``source``; False, and nothing written, if another process moved it first."""
        events = check.pull_events()
        with self.uow.begin() as tx:
            if not tx.checks.transition(check.check_id, source, check.state):
                return False
            recorded = self._write(tx, events, check_drafts(check, events))
        self.bus.dispatch(recorded)
        return True

    def record_events(self, check: Check) -> list[DomainEvent]:
        """Persist events that change no row of the check (e.g. ``ReviewRequested``)."""
        events = check.pull_events()
        if not events:
            return []
        with self.uow.begin() as tx:
            recorded = self._write(tx, events, check_drafts(check, events))
        self.bus.dispatch(recorded)
        return events

    def _write(
        self, tx: Transaction, events: list[DomainEvent], drafts: Sequence[EntryDraft]
    ) -> list[RecordedEvent]:
        tx.evidence.append(drafts)
        return tx.events.add(events, self.bus.claim_until()) if events else []
