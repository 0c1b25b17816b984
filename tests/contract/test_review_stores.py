"""One contract for the review stores (tasks, audit trail, accounts): memory, SQLite and
PostgreSQL. Claims are compare-and-set; a verdict writes everything or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from faceverdict.domain.review import (
    AttackType,
    Lease,
    Priority,
    Role,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.domain.review_qc import ReviewPair, follow_up_task
from faceverdict.ports.review import (
    BacklogRow,
    Completion,
    DuplicateUsername,
    Outcome,
    QueueFilter,
    ReviewerAccount,
    SessionRecord,
    StoredEvent,
    StoredVerdict,
)
from faceverdict.wiring.stores import Stores
from tests.contract.builders import NOW, make_check, make_task, store_check

JUNIOR = frozenset({Tier.JUNIOR})
ALL_TIERS = frozenset(Tier)
LEASE = timedelta(minutes=15)
EVERY_STATUS = QueueFilter(statuses=frozenset(TaskStatus))


@pytest.fixture
def review(stores: Stores) -> Stores:
    """Stores with two checks that tasks can refer to."""
    store_check(stores, make_check("chk_1"))
    store_check(stores, make_check("chk_2", flow="payment"))
    return stores


def verdict(
    task_id: str, reviewer: str, label: VerdictLabel = VerdictLabel.GENUINE
) -> StoredVerdict:
    attack = AttackType.FACE_SWAP if label is VerdictLabel.FAKE else None
    note = "unclear" if label is VerdictLabel.INCONCLUSIVE else ""
    return StoredVerdict(
        verdict_id=f"v_{task_id}",
        task_id=task_id,
        check_id="chk_1",
        kind=TaskKind.PRIMARY,
        reviewer_id=reviewer,
        verdict=Verdict(label, attack, note),
        created_at=NOW,
    )


def test_a_dedupe_key_queues_a_task_once(review: Stores) -> None:
    event = StoredEvent(NOW, "task_created", "chk_1", "task_1", None, {"reason": "x"})
    assert review.review_tasks.add_task(make_task("task_1"), "chk_1:dec:primary", [event])
    assert not review.review_tasks.add_task(make_task("task_2"), "chk_1:dec:primary", [event])
    assert review.review_tasks.get_task("task_2") is None
    assert review.review_audit.events() == [event]
    task = review.review_tasks.get_task("task_1")
    assert task == make_task("task_1")
    assert task is not None
    assert task.lease is None


def test_tasks_of_a_check_come_oldest_first(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_b", created_at=NOW + timedelta(minutes=1)), "b")
    tasks.add_task(make_task("task_a", created_at=NOW), "a")
    tasks.add_task(make_task("task_c", "chk_2"), "c")
    assert [t.task_id for t in tasks.tasks_for_check("chk_1")] == ["task_a", "task_b"]
    assert tasks.tasks_for_check("chk_none") == []


def test_a_claim_is_exclusive_until_its_lease_lapses(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_1"), "k")
    assert tasks.claim("task_1", "alice", JUNIOR, NOW, NOW + LEASE)
    assert not tasks.claim("task_1", "bob", JUNIOR, NOW + timedelta(minutes=1), NOW + LEASE)
    assert tasks.claim("task_1", "alice", JUNIOR, NOW, NOW + 2 * LEASE)  # renews her own
    claimed = tasks.get_task("task_1")
    assert claimed is not None
    assert claimed.status is TaskStatus.CLAIMED
    assert claimed.lease == Lease("alice", NOW + 2 * LEASE)
    lapsed = NOW + 2 * LEASE
    assert tasks.claim("task_1", "bob", JUNIOR, lapsed, lapsed + LEASE)
    assert not tasks.claim("missing", "bob", JUNIOR, lapsed, lapsed + LEASE)


def test_claims_respect_tiers_and_exclusions(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_senior", tier=Tier.SENIOR), "s")
    tasks.add_task(make_task("task_second", excluded=frozenset({"alice"})), "x")
    assert not tasks.claim("task_senior", "alice", JUNIOR, NOW, NOW + LEASE)
    assert tasks.claim("task_senior", "carol", ALL_TIERS, NOW, NOW + LEASE)
    assert not tasks.claim("task_second", "alice", ALL_TIERS, NOW, NOW + LEASE)
    assert tasks.claim("task_second", "bob", JUNIOR, NOW, NOW + LEASE)
    second = tasks.get_task("task_second")
    assert second is not None
    assert second.excluded == {"alice"}


def test_renew_and_release_need_the_holder(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_1"), "k")
    assert not tasks.renew("task_1", "alice", NOW, NOW + LEASE)
    assert not tasks.release("task_1", "alice")
    tasks.claim("task_1", "alice", JUNIOR, NOW, NOW + LEASE)
    assert not tasks.renew("task_1", "bob", NOW, NOW + LEASE)
    assert tasks.renew("task_1", "alice", NOW + timedelta(minutes=10), NOW + 2 * LEASE)
    assert not tasks.renew("task_1", "alice", NOW + 2 * LEASE, NOW + 3 * LEASE)  # lapsed
    assert not tasks.release("task_1", "bob")
    assert tasks.release("task_1", "alice")
    released = tasks.get_task("task_1")
    assert released is not None
    assert released.status is TaskStatus.OPEN
    assert released.lease is None


def test_a_verdict_writes_everything_at_once(review: Stores) -> None:
    tasks = review.review_tasks
    parent = make_task("task_1")
    tasks.add_task(parent, "k")
    tasks.claim("task_1", "alice", JUNIOR, NOW, NOW + LEASE)
    second = follow_up_task(parent, TaskKind.SECOND, "task_2", NOW, ["alice"])
    outcome = Outcome("task_1", "chk_1", VerdictLabel.GENUINE, None, NOW, "dec_review")
    event = StoredEvent(NOW, "verdict_recorded", "chk_1", "task_1", "alice", {"label": "genuine"})
    completion = Completion(
        task_id="task_1",
        reviewer_id="alice",
        verdict=verdict("task_1", "alice"),
        follow_ups=[second],
        outcome=outcome,
        events=[event],
    )
    done_at = NOW + timedelta(minutes=3)
    assert tasks.complete(completion, done_at)
    done = tasks.get_task("task_1")
    assert done is not None
    assert (done.status, done.completed_at, done.completed_by) == (
        TaskStatus.DONE,
        done_at,
        "alice",
    )
    assert done.lease is None
    assert tasks.verdict_for_task("task_1") == verdict("task_1", "alice")
    assert tasks.verdicts_for_check("chk_1") == [verdict("task_1", "alice")]
    assert tasks.get_task("task_2") == second
    assert tasks.outcome("task_1") == outcome
    assert tasks.outcomes() == [outcome]
    assert tasks.pending_outcomes() == [outcome]
    tasks.mark_outcome_applied("task_1")
    assert tasks.pending_outcomes() == []
    applied = tasks.outcome("task_1")
    assert applied is not None
    assert applied.decision_applied
    assert review.review_audit.events(check_id="chk_1") == [event]
    # The follow-up's dedupe key is its parent and kind: it cannot be queued twice.
    assert not tasks.add_task(second, "task_1:second")


def test_a_verdict_from_someone_who_lost_the_task_writes_nothing(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_1"), "k")
    tasks.claim("task_1", "alice", JUNIOR, NOW, NOW + LEASE)
    lapsed = NOW + 2 * LEASE
    late = Completion("task_1", "alice", verdict("task_1", "alice"))
    tasks.claim("task_1", "bob", JUNIOR, lapsed, lapsed + LEASE)
    assert not tasks.complete(late, lapsed)
    assert tasks.verdict_for_task("task_1") is None
    assert not tasks.complete(Completion("missing", "bob", verdict("missing", "bob")), lapsed)
    # A lapsed lease still counts while nobody else claimed the task.
    assert tasks.complete(Completion("task_1", "bob", verdict("task_1", "bob")), lapsed + LEASE)
    assert not tasks.complete(Completion("task_1", "bob", verdict("task_1", "bob")), lapsed)


def test_pairs_and_adjudication(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_2", kind=TaskKind.SECOND), "k2")
    tasks.add_task(make_task("task_3", kind=TaskKind.ADJUDICATION, tier=Tier.SENIOR), "k3")
    tasks.claim("task_2", "bob", JUNIOR, NOW, NOW + LEASE)
    pair = ReviewPair("chk_1", "alice", VerdictLabel.GENUINE, "bob", VerdictLabel.FAKE)
    second = verdict("task_2", "bob", VerdictLabel.FAKE)
    assert tasks.complete(Completion("task_2", "bob", second, pair=pair), NOW)
    assert review.review_audit.pairs() == [pair]
    tasks.claim("task_3", "carol", ALL_TIERS, NOW, NOW + LEASE)
    adjudication = verdict("task_3", "carol", VerdictLabel.FAKE)
    assert tasks.complete(Completion("task_3", "carol", adjudication, adjudicates="task_2"), NOW)
    [adjudicated] = review.review_audit.pairs()
    assert adjudicated.adjudicated_label is VerdictLabel.FAKE


def test_the_queue_lists_the_most_urgent_first_with_filters(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("t_low", priority=Priority.LOW), "1")
    tasks.add_task(make_task("t_urgent", priority=Priority.URGENT), "2")
    tasks.add_task(make_task("t_due_soon", due_in=timedelta(hours=1)), "3")
    tasks.add_task(make_task("t_normal"), "4")
    tasks.add_task(make_task("t_senior", "chk_2", tier=Tier.SENIOR, flow="payment"), "5")
    tasks.add_task(
        make_task("t_qc", reasons=(TaskReason.QC_SAMPLE,), excluded=frozenset({"alice"})), "6"
    )
    tasks.claim("t_normal", "alice", JUNIOR, NOW, NOW + LEASE)
    tasks.claim("t_low", "bob", JUNIOR, NOW - 2 * LEASE, NOW - LEASE)  # lapsed: open again

    def ids(query: QueueFilter) -> list[str]:
        return [t.task_id for t in tasks.list_tasks(query, NOW)]

    assert ids(QueueFilter()) == ["t_urgent", "t_due_soon", "t_normal", "t_qc", "t_senior", "t_low"]
    assert ids(QueueFilter(statuses=frozenset({TaskStatus.OPEN}))) == [
        "t_urgent",
        "t_due_soon",
        "t_qc",
        "t_senior",
        "t_low",
    ]
    assert ids(QueueFilter(statuses=frozenset({TaskStatus.CLAIMED}))) == ["t_normal"]
    assert ids(QueueFilter(holder="alice")) == ["t_normal"]
    assert ids(QueueFilter(holder="bob")) == []  # his lease lapsed
    assert ids(QueueFilter(tiers=frozenset({Tier.SENIOR}))) == ["t_senior"]
    assert ids(QueueFilter(flow="payment")) == ["t_senior"]
    assert ids(QueueFilter(priority=Priority.LOW)) == ["t_low"]
    assert ids(QueueFilter(reason=TaskReason.QC_SAMPLE)) == ["t_qc"]
    assert "t_qc" not in ids(QueueFilter(exclude_for="alice"))
    assert ids(QueueFilter(limit=2)) == ["t_urgent", "t_due_soon"]
    assert ids(QueueFilter(statuses=frozenset({TaskStatus.DONE}))) == []


def test_backlog_and_late_completions(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("a", due_in=timedelta(hours=1)), "1")
    tasks.add_task(
        make_task("b", created_at=NOW - timedelta(hours=3), due_in=timedelta(hours=1)), "2"
    )
    tasks.add_task(make_task("c", "chk_2", flow="payment", priority=Priority.HIGH), "3")
    tasks.add_task(make_task("d", "chk_2", flow="payment", due_in=timedelta(minutes=5)), "4")
    tasks.claim("a", "alice", JUNIOR, NOW, NOW + LEASE)
    tasks.claim("d", "bob", JUNIOR, NOW, NOW + LEASE)
    assert tasks.complete(Completion("d", "bob", verdict("d", "bob")), NOW + timedelta(minutes=6))
    assert review.review_audit.backlog(NOW) == [
        BacklogRow("onboarding", Tier.JUNIOR, Priority.NORMAL, 1, 1, 1, NOW - timedelta(hours=3)),
        BacklogRow("payment", Tier.JUNIOR, Priority.HIGH, 1, 0, 0, NOW),
    ]
    assert review.review_audit.completed_late() == {"payment": 1}


def test_the_face_box_cache(review: Stores) -> None:
    tasks = review.review_tasks
    tasks.add_task(make_task("task_1"), "k")
    assert tasks.face_box("task_1") == (None, False)
    tasks.set_face_box("task_1", None)
    assert tasks.face_box("task_1") == (None, True)
    tasks.set_face_box("task_1", (1, 2, 30, 40))
    assert tasks.face_box("task_1") == ((1, 2, 30, 40), True)
    assert tasks.face_box("missing") == (None, False)


def test_the_audit_trail_filters_and_keeps_order(review: Stores) -> None:
    audit = review.review_audit
    later = StoredEvent(NOW + timedelta(seconds=1), "claimed", "chk_1", "t", "alice", {"n": 1.0})
    first = StoredEvent(NOW, "task_created", "chk_1", "t", None, {"ok": True, "none": None})
    other = StoredEvent(NOW, "task_created", "chk_2", "u", None, {})
    for event in (later, first, other):
        audit.add_event(event)
    assert audit.events() == [first, other, later]
    assert audit.events(check_id="chk_1") == [first, later]
    assert audit.events(kinds=frozenset({"claimed"})) == [later]
    assert audit.events(check_id="chk_2", kinds=frozenset({"claimed"})) == []


def account(reviewer_id: str, username: str, role: Role = Role.REVIEWER) -> ReviewerAccount:
    return ReviewerAccount(reviewer_id, username, username.title(), role, "$argon2id$x", NOW)


def test_accounts_have_unique_usernames(stores: Stores) -> None:
    reviewers = stores.reviewers
    reviewers.add_reviewer(account("r_2", "zoe"))
    reviewers.add_reviewer(account("r_1", "alice", Role.SENIOR))
    with pytest.raises(DuplicateUsername):
        reviewers.add_reviewer(account("r_3", "alice"))
    assert reviewers.get_reviewer("r_3") is None
    assert [a.username for a in reviewers.list_reviewers()] == ["alice", "zoe"]
    assert reviewers.reviewer_by_username("zoe") == account("r_2", "zoe")
    assert reviewers.reviewer_by_username("nobody") is None
    locked = NOW + timedelta(minutes=15)
    changed = ReviewerAccount(
        "r_2", "zoe", "Zoe Z", Role.ADMIN, "$argon2id$y", NOW, False, 3, locked
    )
    reviewers.update_reviewer(changed)
    assert reviewers.get_reviewer("r_2") == changed


def test_sessions(stores: Stores) -> None:
    reviewers = stores.reviewers
    reviewers.add_reviewer(account("r_1", "alice"))
    reviewers.add_reviewer(account("r_2", "bob"))
    expires = NOW + timedelta(hours=8)
    one = SessionRecord("h1", "r_1", "csrf1", NOW, expires, NOW)
    two = SessionRecord("h2", "r_1", "csrf2", NOW, expires, NOW)
    bobs = SessionRecord("h3", "r_2", "csrf3", NOW, expires, NOW)
    for session in (one, two, bobs):
        reviewers.add_session(session)
    assert reviewers.get_session("h1") == one
    seen = NOW + timedelta(minutes=5)
    reviewers.touch_session("h1", seen)
    touched = reviewers.get_session("h1")
    assert touched is not None
    assert touched.last_seen_at == seen
    reviewers.delete_session("h2")
    assert reviewers.get_session("h2") is None
    reviewers.delete_sessions_of("r_1")
    assert reviewers.get_session("h1") is None
    assert reviewers.get_session("h3") == bobs
