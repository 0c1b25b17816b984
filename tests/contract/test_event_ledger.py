"""One contract for the event outbox and its ledger: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from faceverdict.domain.events import CheckDecided, CheckReceived
from faceverdict.ports.events import RecordedEvent
from faceverdict.wiring.stores import Stores
from tests.contract.builders import NOW, make_check

CLAIM = NOW + timedelta(minutes=2)
AFTER = CLAIM + timedelta(seconds=1)


def recorded(stores: Stores, check_id: str = "chk_1") -> list[RecordedEvent]:
    """A check and its two events (received, decided), claimed by the writer until CLAIM."""
    check = make_check(check_id)
    events = check.pull_events()
    with stores.uow.begin() as tx:
        tx.checks.add(check)
        return tx.events.add(events, CLAIM)


def test_events_come_back_as_written_in_order(stores: Stores) -> None:
    first = recorded(stores, "chk_a")
    second = recorded(stores, "chk_b")
    ids = [r.event_id for r in first + second]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    pending = stores.events.pending(AFTER)
    assert pending == first + second
    assert [type(r.event) for r in pending] == [CheckReceived, CheckDecided] * 2
    assert stores.events.pending(AFTER, limit=1) == first[:1]


def test_a_fresh_claim_hides_events_from_the_sweep(stores: Stores) -> None:
    recorded(stores)
    assert stores.events.pending(NOW) == []  # the writer handles them itself until CLAIM
    assert len(stores.events.pending(CLAIM)) == 2


def test_claims_are_exclusive_until_they_lapse(stores: Stores) -> None:
    [event, _] = recorded(stores)
    assert not stores.events.claim(event.event_id, NOW, NOW + timedelta(minutes=5))
    assert stores.events.claim(event.event_id, AFTER, AFTER + timedelta(minutes=2))
    assert not stores.events.claim(event.event_id, AFTER, AFTER + timedelta(minutes=2))
    assert event.event_id not in [r.event_id for r in stores.events.pending(AFTER)]
    later = AFTER + timedelta(minutes=3)
    assert stores.events.claim(event.event_id, later, later + timedelta(minutes=2))
    assert not stores.events.claim(999_999, later, later)


def test_handler_marks_are_idempotent(stores: Stores) -> None:
    [event, other] = recorded(stores)
    assert stores.events.handled(event.event_id) == frozenset()
    stores.events.mark_handled(event.event_id, "review", NOW)
    stores.events.mark_handled(event.event_id, "review", NOW)
    stores.events.mark_handled(event.event_id, "webhooks", NOW)
    assert stores.events.handled(event.event_id) == {"review", "webhooks"}
    assert stores.events.handled(other.event_id) == frozenset()


def test_settled_events_leave_the_sweep_and_are_purged_later(stores: Stores) -> None:
    [event, other] = recorded(stores)
    stores.events.mark_handled(event.event_id, "review", NOW)
    stores.events.settle(event.event_id, NOW)
    stores.events.settle(event.event_id, AFTER)  # the first settlement stands
    assert [r.event_id for r in stores.events.pending(AFTER)] == [other.event_id]
    assert stores.events.purge_settled(NOW) == 0  # settled at NOW, not before it
    assert stores.events.purge_settled(AFTER) == 1
    assert stores.events.handled(event.event_id) == frozenset()
    assert not stores.events.claim(event.event_id, AFTER, AFTER)
    assert [r.event_id for r in stores.events.pending(AFTER)] == [other.event_id]


def test_purge_takes_the_oldest_first_up_to_its_limit(stores: Stores) -> None:
    events = recorded(stores, "chk_a") + recorded(stores, "chk_b")
    for r in events:
        stores.events.settle(r.event_id, NOW)
    assert stores.events.purge_settled(AFTER, limit=3) == 3
    assert stores.events.purge_settled(AFTER) == 1
    assert stores.events.pending(AFTER) == []
