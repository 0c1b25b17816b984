"""One contract for every UnitOfWork (memory, SQLite, PostgreSQL): what is written together
commits or rolls back as one, and the privacy writes cascade as the schema's keys do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from faceverdict.domain.review import TaskStatus
from faceverdict.ports.captures import SubjectKey
from faceverdict.ports.checks import DuplicateIdempotencyKey
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.review import QueueFilter
from faceverdict.wiring.stores import Stores
from tests.contract.builders import NOW, capture_of, make_check, make_task, store_check

LATER = NOW + timedelta(days=365)


def draft(check_id: str, i: int = 0) -> EntryDraft:
    return EntryDraft("test.event", check_id, NOW, {"i": i})


def test_a_transaction_commits_everything_it_wrote(stores: Stores) -> None:
    check = make_check()
    events = check.pull_events()
    with stores.uow.begin() as tx:
        tx.checks.add(check)
        tx.captures.add(capture_of(check))
        entries = tx.evidence.append([draft(check.check_id)])
        recorded = tx.events.add(events, NOW)
        assert tx.checks.get(check.check_id) is not None  # its own writes are visible
    assert [e.seq for e in entries] == [0]
    assert stores.checks.get(check.check_id) is not None
    assert stores.captures.get(check.check_id) == capture_of(check)
    assert stores.evidence.head()[0] == 1
    assert [e.event_id for e in stores.events.pending(LATER)] == [r.event_id for r in recorded]
    assert [e.event for e in stores.events.pending(LATER)] == events


def test_an_exception_leaves_nothing_behind(stores: Stores) -> None:
    committed = store_check(stores, make_check("chk_kept"))
    head = stores.evidence.head()
    check = make_check()
    events = check.pull_events()

    def write_then_fail() -> None:
        with stores.uow.begin() as tx:
            tx.checks.add(check)
            tx.captures.add(capture_of(check))
            tx.evidence.append([draft(check.check_id), draft(check.check_id, 1)])
            tx.events.add(events, NOW)
            assert tx.checks.transition(committed.check_id, committed.state, committed.state)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert stores.checks.get(check.check_id) is None
    assert stores.captures.get(check.check_id) is None
    assert stores.evidence.head() == head
    assert stores.evidence.entries_of(check.check_id) == []
    assert list(stores.evidence.scan()) == []
    assert stores.events.pending(LATER) == []
    # The log goes on without a gap after the rolled-back appends.
    with stores.uow.begin() as tx:
        assert [e.seq for e in tx.evidence.append([draft("chk_kept")])] == [0]


def test_privacy_writes_roll_back_too(stores: Stores) -> None:
    check = store_check(stores, make_check(), capture=True)
    key = SubjectKey("sk_1", check.subject_pseudonym, b"wrapped", "local:test")
    assert stores.subject_keys.create(key, NOW) == key

    def erase_then_fail() -> None:
        with stores.uow.begin() as tx:
            tx.privacy.mark_deleted([check.check_id], NOW, "erasure")
            assert tx.privacy.destroy_subject_keys(check.subject_pseudonym) == ["sk_1"]
            tx.privacy.delete_checks([check.check_id])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        erase_then_fail()
    record = stores.captures.get(check.check_id)
    assert record is not None
    assert record.deleted_at is None
    assert stores.subject_keys.get(check.subject_pseudonym) == key
    assert stores.checks.get(check.check_id) is not None


def test_a_failed_add_inside_a_transaction_does_not_spoil_it(stores: Stores) -> None:
    store_check(stores, make_check("chk_first", key="k1"))
    with stores.uow.begin() as tx:
        with pytest.raises(DuplicateIdempotencyKey):
            tx.checks.add(make_check("chk_dup", key="k1"))
        tx.checks.add(make_check("chk_other", key="k2"))
    assert stores.checks.get("chk_dup") is None
    assert stores.checks.get("chk_other") is not None


def test_subject_keys_are_one_per_subject(stores: Stores) -> None:
    first = SubjectKey("sk_1", "subject-a", b"one", "local:test")
    second = SubjectKey("sk_2", "subject-a", b"two", "local:test")
    assert stores.subject_keys.create(first, NOW) == first
    assert stores.subject_keys.create(second, NOW) == first  # a race: the first one stands
    assert stores.subject_keys.get_by_id("sk_1") == first
    assert stores.subject_keys.get_by_id("sk_2") is None
    assert stores.subject_keys.get("subject-b") is None


def test_privacy_queries_and_erasure_writes(stores: Stores) -> None:
    old = make_check("chk_old", flow="payment", subject="s1", created_at=NOW - timedelta(days=9))
    new = make_check("chk_new", flow="onboarding", subject="s1", created_at=NOW)
    other = make_check("chk_other", flow="payment", subject="s2", created_at=NOW)
    for check in (old, new, other):
        store_check(stores, check, capture=True)
    stores.subject_keys.create(SubjectKey("sk_s1", "s1", b"w", "local:test"), NOW)
    with stores.uow.begin() as tx:
        assert [r.check_id for r in tx.privacy.captures_of("s1")] == ["chk_old", "chk_new"]
        before = tx.privacy.captures_stored_before("payment", NOW - timedelta(days=1))
        assert [r.check_id for r in before] == ["chk_old"]
        assert tx.privacy.stored_capture_flows() == ["onboarding", "payment"]
        assert tx.privacy.checks_created_before("payment", NOW) == ["chk_old", "chk_other"]
        assert tx.privacy.check_flows() == ["onboarding", "payment"]
        tx.privacy.mark_deleted(["chk_old", "chk_new"], NOW, "erasure")
        tx.privacy.mark_deleted(["chk_old"], LATER, "retention")  # marked once only
        assert tx.privacy.destroy_subject_keys("s1") == ["sk_s1"]
        assert tx.privacy.destroy_subject_keys("s1") == []
        assert tx.privacy.stored_capture_flows() == ["payment"]
    gone = stores.captures.get("chk_old")
    assert gone is not None
    assert (gone.deleted_at, gone.deleted_reason) == (NOW, "erasure")
    assert stores.subject_keys.get("s1") is None
    assert stores.subject_keys.get_by_id("sk_s1") is None


def test_deleting_checks_takes_every_row_that_refers_to_them(stores: Stores) -> None:
    check = make_check()
    events = check.pull_events()
    with stores.uow.begin() as tx:
        tx.checks.add(check)
        tx.captures.add(capture_of(check))
        [recorded, *_] = tx.events.add(events, NOW)
    stores.events.mark_handled(recorded.event_id, "handler", NOW)
    assert stores.review_tasks.add_task(make_task("task_1"), "chk_1:dec:primary")
    kept = store_check(stores, make_check("chk_kept"), capture=True)
    with stores.uow.begin() as tx:
        tx.privacy.delete_checks([check.check_id])
    assert stores.checks.get(check.check_id) is None
    assert stores.captures.get(check.check_id) is None
    assert stores.events.pending(LATER) == []
    assert stores.review_tasks.tasks_for_check(check.check_id) == []
    assert stores.review_tasks.get_task("task_1") is None
    assert stores.review_tasks.list_tasks(QueueFilter(statuses=frozenset(TaskStatus)), NOW) == []
    assert stores.checks.get(kept.check_id) is not None
    assert stores.captures.get(kept.check_id) is not None
    # The ids are free again, as after a real delete.
    store_check(stores, make_check(), capture=True)


def test_purge_deleted_reports_whether_it_is_complete(stores: Stores) -> None:
    assert stores.uow.purge_deleted() is True
