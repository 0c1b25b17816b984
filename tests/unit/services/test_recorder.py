"""The check recorder on memory stores: a check's rows, its evidence and its outbox events
commit together, then the events are dispatched; a failed write leaves none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from faceverdict.domain.check import CheckState
from faceverdict.domain.events import (
    AssuranceStarted,
    CheckDecided,
    CheckReceived,
    DomainEvent,
)
from faceverdict.ports.evidence import EntryDraft
from faceverdict.services.messagebus import MessageBus
from faceverdict.services.recorder import CheckRecorder
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.events import MemoryEventOutbox
from faceverdict.testing.evidence import MemoryEvidenceWriter
from faceverdict.testing.stores import memory_stores
from faceverdict.testing.world import IntegrityViolation
from faceverdict.wiring.stores import Stores
from tests.contract.builders import make_check, superseding

LAPSED = timedelta(hours=1)  # every claim of the bus has lapsed by then


class Written:
    """What a recorder wrote for one check, read back from the stores."""

    def __init__(self, stores: Stores, clock: ManualClock) -> None:
        self.stores = stores
        self.clock = clock

    def evidence(self, check_id: str) -> list[str]:
        return [e.kind for e in self.stores.evidence.entries_of(check_id)]

    def outbox(self) -> list[str]:
        """Names of the unsettled events (read once every claim has lapsed)."""
        later = self.clock.now() + LAPSED
        return [r.event.name for r in self.stores.events.pending(later)]


def fails_after(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, which writes inside the transaction, then raises (a disk, a constraint)."""

    def broken(self: object, *args: Any, **kwargs: Any) -> Any:
        method(self, *args, **kwargs)
        raise OSError("the write failed after it began")

    return broken


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stores(clock: ManualClock) -> Stores:
    return memory_stores(clock)


@pytest.fixture
def handled() -> list[DomainEvent]:
    return []


@pytest.fixture
def bus(stores: Stores, clock: ManualClock, handled: list[DomainEvent]) -> MessageBus:
    """A bus whose only handler notes every event it is given."""
    bus = MessageBus(stores.events, clock)
    bus.register(
        {
            kind: [("note", handled.append)]
            for kind in (CheckReceived, CheckDecided, AssuranceStarted)
        }
    )
    return bus


@pytest.fixture
def recorder(stores: Stores, bus: MessageBus) -> CheckRecorder:
    return CheckRecorder(uow=stores.uow, bus=bus)


def test_a_new_check_commits_with_its_evidence_and_events_then_they_are_dispatched(
    recorder: CheckRecorder, stores: Stores, clock: ManualClock, handled: list[DomainEvent]
) -> None:
    events = recorder.add(make_check("chk_1"))
    assert [e.name for e in events] == ["check.received", "check.decided"]
    stored = stores.checks.get("chk_1")
    assert stored is not None
    assert stored.state is CheckState.FINAL
    assert Written(stores, clock).evidence("chk_1") == [
        "check.received",
        "detector.result",
        "check.decided",
    ]
    assert handled == events  # dispatched after the commit
    assert Written(stores, clock).outbox() == []  # and settled


@pytest.mark.parametrize(
    ("store", "method"),
    [(MemoryEvidenceWriter, "append"), (MemoryEventOutbox, "add")],
    ids=["evidence-append-fails", "outbox-add-fails"],
)
def test_a_failed_write_leaves_no_check_no_evidence_and_no_event(
    recorder: CheckRecorder,
    stores: Stores,
    clock: ManualClock,
    handled: list[DomainEvent],
    monkeypatch: pytest.MonkeyPatch,
    store: type,
    method: str,
) -> None:
    head = stores.evidence.head()
    with monkeypatch.context() as patch:
        patch.setattr(store, method, fails_after(getattr(store, method)))
        with pytest.raises(OSError, match="failed after it began"):
            recorder.add(make_check("chk_1"))
    assert stores.checks.get("chk_1") is None
    written = Written(stores, clock)
    assert written.evidence("chk_1") == []
    assert stores.evidence.head() == head  # not one leaf more
    assert written.outbox() == []
    assert handled == []  # nothing was dispatched
    # Nothing half-written is left in the way: the same check records once the store is back.
    recorder.add(make_check("chk_1"))
    assert stores.checks.get("chk_1") is not None
    assert written.evidence("chk_1")[-1] == "check.decided"


def test_a_failed_decision_write_keeps_the_previous_decision_alone(
    recorder: CheckRecorder,
    stores: Stores,
    clock: ManualClock,
    handled: list[DomainEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder.add(make_check("chk_1", final=False))
    handled.clear()
    head = stores.evidence.head()
    check = stores.checks.get("chk_1")
    assert check is not None
    check.begin_assurance(clock.now())
    assert recorder.save_transition(check, CheckState.DECIDED)
    check.decide(superseding(check, "dec_2"), check.detector_results)
    verdict = EntryDraft("review.verdict", "chk_1", clock.now(), {"label": "fake"})
    with monkeypatch.context() as patch:
        # fails after the decision row and its evidence (the extra entry too) were written
        patch.setattr(MemoryEventOutbox, "add", fails_after(MemoryEventOutbox.add))
        with pytest.raises(OSError, match="failed after it began"):
            recorder.save_decision(check, extra=[verdict])
    stored = stores.checks.get("chk_1")
    assert stored is not None
    assert [d.decision_id for d in stored.decisions] == ["dec_chk_1"]
    assert stored.state is CheckState.ASSURING
    kinds = Written(stores, clock).evidence("chk_1")
    assert "review.verdict" not in kinds
    assert kinds.count("check.decided") == 1
    assert [e.name for e in handled] == ["assurance.started"]  # the transition, not the decision
    assert Written(stores, clock).outbox() == []

    # Written again without the fault: the decision, its evidence and the extra entry, as one.
    retry = stores.checks.get("chk_1")
    assert retry is not None
    retry.decide(superseding(retry, "dec_2"), retry.detector_results)
    recorder.save_decision(retry, extra=[verdict])
    assert stores.evidence.head()[0] > head[0]
    assert Written(stores, clock).evidence("chk_1")[-2:] == ["check.decided", "review.verdict"]
    assert [e.name for e in handled] == ["assurance.started", "check.decided"]


def test_a_transition_another_process_made_first_writes_nothing(
    recorder: CheckRecorder, stores: Stores, clock: ManualClock, handled: list[DomainEvent]
) -> None:
    recorder.add(make_check("chk_1", final=False))
    handled.clear()
    mine = stores.checks.get("chk_1")
    assert mine is not None
    assert stores.checks.transition("chk_1", CheckState.DECIDED, CheckState.ASSURING)  # theirs
    mine.begin_assurance(clock.now())
    assert recorder.save_transition(mine, CheckState.DECIDED) is False
    assert "assurance.started" not in Written(stores, clock).evidence("chk_1")
    assert handled == []
    assert Written(stores, clock).outbox() == []


def test_events_that_change_no_row_are_recorded_and_none_is_a_no_op(
    recorder: CheckRecorder, stores: Stores, clock: ManualClock, handled: list[DomainEvent]
) -> None:
    recorder.add(make_check("chk_1"))
    head = stores.evidence.head()
    check = stores.checks.get("chk_1")
    assert check is not None
    assert recorder.record_events(check) == []  # nothing pending: nothing written
    assert stores.evidence.head() == head
    unknown = make_check("chk_unknown")  # never stored: its events have no check to join
    with pytest.raises(IntegrityViolation, match="unknown check"):
        recorder.record_events(unknown)
    assert stores.evidence.head() == head
    assert Written(stores, clock).outbox() == []
    assert _names(handled) == ["check.received", "check.decided"]


def _names(events: Sequence[DomainEvent]) -> list[str]:
    return [e.name for e in events]
