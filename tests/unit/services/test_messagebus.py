"""The message bus on memory stores and a manual clock: handlers in registration order, once
each per event; failures retried by the sweep after the claim lapses; events without handlers
settle; two processes sweeping one outbox never run a handler twice; purging settled events.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from faceverdict.domain.check import Check
from faceverdict.domain.events import CheckDecided, CheckReceived, DomainEvent
from faceverdict.ports.events import RecordedEvent
from faceverdict.services.messagebus import Handler, MessageBus
from faceverdict.services.recorder import CheckRecorder
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.stores import memory_stores
from faceverdict.wiring.stores import Stores
from tests.contract.builders import make_check

LEASE_SECONDS = 120  # the bus's default claim
HOUR = timedelta(hours=1)

Calls = list[tuple[str, str, str]]  # (handler, event name, check id)


def recorder(calls: Calls, name: str, fail: list[Exception] | None = None) -> Handler:
    """A handler that notes each call and raises the exceptions in ``fail`` first, one a call."""

    def handle(event: DomainEvent) -> None:
        calls.append((name, event.name, event.check_id))
        if fail:
            raise fail.pop(0)

    return handle


def written(stores: Stores, bus: MessageBus, check: Check) -> list[RecordedEvent]:
    """Commit ``check`` with its events as the recorder does, without dispatching them (the
    process stopped right after the commit): they wait in the outbox, claimed for a lease."""
    with stores.uow.begin() as tx:
        tx.checks.add(check)
        return tx.events.add(check.pull_events(), bus.claim_until())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stores(clock: ManualClock) -> Stores:
    return memory_stores(clock)


def test_handlers_run_in_registration_order_once_each_per_event(
    stores: Stores, clock: ManualClock
) -> None:
    calls: Calls = []
    bus = MessageBus(stores.events, clock)
    bus.register(
        {
            CheckReceived: [("received", recorder(calls, "received"))],
            CheckDecided: [
                ("first", recorder(calls, "first")),
                ("second", recorder(calls, "second")),
            ],
        }
    )
    bus.register({CheckDecided: [("third", recorder(calls, "third"))]})  # joins at the end
    with pytest.raises(ValueError, match="registered twice"):
        bus.register({CheckDecided: [("first", recorder(calls, "again"))]})
    probe = CheckDecided("chk_0", clock.now(), "dec_0", "accept", None, "p1", None)
    assert [name for name, _ in bus.handlers_for(probe)] == ["first", "second", "third"]

    CheckRecorder(uow=stores.uow, bus=bus).add(make_check("chk_1"))
    assert calls == [
        ("received", "check.received", "chk_1"),
        ("first", "check.decided", "chk_1"),
        ("second", "check.decided", "chk_1"),
        ("third", "check.decided", "chk_1"),
    ]
    assert stores.events.handled(2) == {"first", "second", "third"}

    clock.advance(seconds=LEASE_SECONDS + 1)
    assert stores.events.pending(clock.now()) == []  # both events settled live
    assert bus.catch_up() == 0
    decided = stores.events.handled(2)
    # The same event handed over again (a duplicate dispatch) runs none of them again.
    event = CheckDecided("chk_1", clock.now(), "dec_chk_1", "accept", 12.5, "p1", None)
    assert bus.dispatch([RecordedEvent(2, event)]) == 1
    assert len(calls) == 4
    assert stores.events.handled(2) == decided


def test_a_failing_handler_is_retried_by_the_sweep_after_its_claim_lapses_alone(
    stores: Stores, clock: ManualClock
) -> None:
    calls: Calls = []
    failures: list[Exception] = [RuntimeError("receiver down"), RuntimeError("still down")]
    bus = MessageBus(stores.events, clock)
    bus.register(
        {
            CheckDecided: [
                ("before", recorder(calls, "before")),
                ("flaky", recorder(calls, "flaky", failures)),
                ("after", recorder(calls, "after")),
            ]
        }
    )
    [received, decided] = written(stores, bus, make_check("chk_1"))
    assert bus.dispatch([received, decided]) == 1  # the received event settles; decided not
    assert [c[0] for c in calls] == ["before", "flaky", "after"]  # a failure stops no other
    assert stores.events.handled(decided.event_id) == {"before", "after"}

    assert bus.catch_up() == 0  # the dispatching process's claim holds
    clock.advance(seconds=LEASE_SECONDS - 1)
    assert bus.catch_up() == 0
    clock.advance(seconds=2)
    assert bus.catch_up() == 0  # claimed, retried, failed again: claimed for another lease
    assert [c[0] for c in calls] == ["before", "flaky", "after", "flaky"]
    assert bus.catch_up() == 0  # not retried inside the new claim
    assert len(calls) == 4
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert bus.catch_up() == 1  # this time it runs to the end: the event settles
    assert [c[0] for c in calls] == ["before", "flaky", "after", "flaky", "flaky"]
    assert stores.events.handled(decided.event_id) == {"before", "flaky", "after"}
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert bus.catch_up() == 0
    assert len(calls) == 5


def test_an_event_without_handlers_settles_at_once(stores: Stores, clock: ManualClock) -> None:
    bus = MessageBus(stores.events, clock)  # nothing registered
    recorded = written(stores, bus, make_check("chk_1"))
    assert [r.event.name for r in recorded] == ["check.received", "check.decided"]
    assert bus.dispatch(recorded) == 2
    clock.advance(days=1)
    assert stores.events.pending(clock.now()) == []
    assert all(stores.events.handled(r.event_id) == frozenset() for r in recorded)


def test_an_event_without_handlers_is_settled_by_the_sweep_too(
    stores: Stores, clock: ManualClock
) -> None:
    bus = MessageBus(stores.events, clock)
    written(stores, bus, make_check("chk_1"))  # the process stopped before dispatching
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert bus.catch_up() == 2
    assert stores.events.pending(clock.now()) == []


def test_two_processes_sweeping_one_outbox_never_run_a_handler_twice_for_an_event(
    stores: Stores, clock: ManualClock
) -> None:
    calls: Calls = []
    one = MessageBus(stores.events, clock)  # two processes, one outbox, the same table
    two = MessageBus(stores.events, clock)
    swept_meanwhile: list[int] = []

    def first_process(event: DomainEvent) -> None:
        calls.append(("one", event.name, event.check_id))
        if not swept_meanwhile:  # while it works on its first event, the other one sweeps
            swept_meanwhile.append(two.catch_up())

    table_one: dict[type[DomainEvent], list[tuple[str, Handler]]] = {
        CheckReceived: [("react", first_process)],
        CheckDecided: [("react", first_process)],
    }
    second_process = recorder(calls, "two")
    table_two: dict[type[DomainEvent], list[tuple[str, Handler]]] = {
        CheckReceived: [("react", second_process)],
        CheckDecided: [("react", second_process)],
    }
    one.register(table_one)
    two.register(table_two)
    dead = MessageBus(stores.events, clock)  # the process that recorded them, then died
    for n in range(3):
        written(stores, dead, make_check(f"chk_{n}"))
    clock.advance(seconds=LEASE_SECONDS + 1)

    assert one.catch_up() == 1  # it claimed the first event; the others were taken
    assert swept_meanwhile == [5]  # the second process claimed and settled the other five
    ran = Counter((name, check_id) for _, name, check_id in calls)
    assert len(ran) == 6
    assert set(ran.values()) == {1}  # every (event, handler) ran exactly once
    assert [who for who, _, _ in calls].count("one") == 1
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert one.catch_up() == two.catch_up() == 0
    assert len(calls) == 6


def test_a_claim_keeps_other_processes_off_an_event_until_it_lapses(
    stores: Stores, clock: ManualClock
) -> None:
    dead = MessageBus(stores.events, clock)
    [received, _] = written(stores, dead, make_check("chk_1"))
    clock.advance(seconds=LEASE_SECONDS + 1)
    now = clock.now()
    assert stores.events.claim(received.event_id, now, now + dead.lease)  # one process
    assert not stores.events.claim(received.event_id, now, now + dead.lease)  # not another
    calls: Calls = []
    other = MessageBus(stores.events, clock)
    other.register({CheckReceived: [("react", recorder(calls, "other"))]})
    assert other.catch_up() == 1  # the decided event only
    assert calls == []
    clock.advance(seconds=LEASE_SECONDS + 1)  # the claimant died too: its claim lapses
    assert other.catch_up() == 1
    assert calls == [("other", "check.received", "chk_1")]


def test_settled_events_are_purged_with_their_marks_and_unsettled_ones_kept(
    stores: Stores, clock: ManualClock
) -> None:
    calls: Calls = []
    failures: list[Exception] = [RuntimeError("down")]
    bus = MessageBus(stores.events, clock)
    bus.register({CheckDecided: [("flaky", recorder(calls, "flaky", failures))]})
    start = clock.now()
    first = written(stores, bus, make_check("chk_1"))
    assert bus.dispatch(first) == 1  # the handler failed: chk_1's decided event is unsettled
    assert failures == []
    clean = written(stores, bus, make_check("chk_2"))
    assert bus.dispatch(clean) == 2
    clock.advance(days=1)
    later = written(stores, bus, make_check("chk_3"))
    assert bus.dispatch(later) == 2
    assert stores.events.handled(clean[1].event_id) == {"flaky"}

    # Before a cutoff after the first two checks: their settled events, not chk_3's, and
    # never chk_1's unsettled decided event.
    assert stores.events.purge_settled(start + HOUR) == 3
    assert stores.events.handled(clean[1].event_id) == frozenset()  # marks went with them
    clock.advance(seconds=LEASE_SECONDS + 1)
    [left] = stores.events.pending(clock.now())
    assert left.event_id == first[1].event_id
    assert bus.catch_up() == 1  # the sweep still finishes it
    assert stores.events.purge_settled(start + HOUR) == 0  # settled now, after the cutoff
    assert stores.events.purge_settled(clock.now() + HOUR, limit=2) == 2
    assert stores.events.purge_settled(clock.now() + HOUR) == 1
    assert stores.events.pending(clock.now() + HOUR) == []
