"""The review store on SQLite and PostgreSQL: atomic claims, leases, verdicts, accounts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from faceverdict.adapters.sql_check_repository import SqlCheckRepository
from faceverdict.adapters.sql_database import Database
from faceverdict.adapters.sql_review_audit import SqlReviewAudit
from faceverdict.adapters.sql_review_tasks import SqlReviewTasks
from faceverdict.adapters.sql_reviewer_accounts import SqlReviewerAccounts
from faceverdict.domain.review import (
    Priority,
    ReviewTask,
    Role,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.ports.review import (
    Completion,
    DuplicateUsername,
    QueueFilter,
    ReviewerAccount,
    SessionRecord,
    StoredVerdict,
)
from tests.support.review import T0, make_check

ALL = frozenset(Tier)


class SqlReviewRepository(SqlReviewTasks, SqlReviewAudit, SqlReviewerAccounts):
    """The three review stores of one database, as one object for these tests."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlReviewRepository]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'review.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    repo = SqlReviewRepository(database.engine)
    checks = SqlCheckRepository(database.engine)
    for i in range(4):
        checks.add(make_check(f"chk_{i}"))
    yield repo
    database.dispose()


def task(task_id: str = "rvt_1", check_id: str = "chk_0", **changes: object) -> ReviewTask:
    base: dict[str, object] = {
        "task_id": task_id,
        "check_id": check_id,
        "flow": "onboarding",
        "kind": TaskKind.PRIMARY,
        "reasons": (TaskReason.POLICY_ACTION,),
        "tier": Tier.JUNIOR,
        "priority": Priority.NORMAL,
        "created_at": T0,
        "due_at": T0 + timedelta(hours=24),
        "decides": True,
        "risk": 0.5,
    }
    base.update(changes)
    return ReviewTask(**base)  # type: ignore[arg-type]


def verdict_on(t: ReviewTask, reviewer: str) -> Completion:
    return Completion(
        task_id=t.task_id,
        reviewer_id=reviewer,
        verdict=StoredVerdict(
            verdict_id=f"vrd_{t.task_id}",
            task_id=t.task_id,
            check_id=t.check_id,
            kind=t.kind,
            reviewer_id=reviewer,
            verdict=Verdict(VerdictLabel.GENUINE),
            created_at=T0,
        ),
    )


def test_tasks_round_trip_and_dedupe(store: SqlReviewRepository) -> None:
    t = task(excluded=frozenset({"rvw_a"}))
    assert store.add_task(t, "dec_chk_0:policy")
    assert not store.add_task(task("rvt_2"), "dec_chk_0:policy")  # same trigger, no second task
    assert store.get_task("rvt_1") == t
    assert store.get_task("rvt_2") is None
    assert store.tasks_for_check("chk_0") == [t]


def test_only_one_reviewer_can_claim_a_task(store: SqlReviewRepository) -> None:
    store.add_task(task(), "k")
    until = T0 + timedelta(minutes=15)
    assert store.claim("rvt_1", "rvw_a", ALL, T0, until)
    assert not store.claim("rvt_1", "rvw_b", ALL, T0 + timedelta(minutes=1), until)
    claimed = store.get_task("rvt_1")
    assert claimed is not None
    assert claimed.status is TaskStatus.CLAIMED
    assert claimed.lease is not None
    assert claimed.lease.holder == "rvw_a"


def test_concurrent_claims_have_exactly_one_winner(store: SqlReviewRepository) -> None:
    store.add_task(task(), "k")
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def grab(who: str) -> None:
        barrier.wait()
        if store.claim("rvt_1", who, ALL, T0, T0 + timedelta(minutes=15)):
            wins.append(who)

    threads = [threading.Thread(target=grab, args=(f"rvw_{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    held = store.get_task("rvt_1")
    assert held is not None
    assert held.lease is not None
    assert held.lease.holder == wins[0]


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_loses(
    store: SqlReviewRepository,
) -> None:
    store.add_task(task(), "k")
    store.claim("rvt_1", "rvw_a", ALL, T0, T0 + timedelta(minutes=15))
    later = T0 + timedelta(minutes=16)
    assert not store.renew("rvt_1", "rvw_a", later, later + timedelta(minutes=15))
    assert store.claim("rvt_1", "rvw_b", ALL, later, later + timedelta(minutes=15))
    assert not store.complete(verdict_on(task(), "rvw_a"), later)
    assert store.verdict_for_task("rvt_1") is None
    assert store.complete(verdict_on(task(), "rvw_b"), later)
    done = store.get_task("rvt_1")
    assert done is not None
    assert done.status is TaskStatus.DONE
    assert done.completed_by == "rvw_b"
    assert not store.claim("rvt_1", "rvw_c", ALL, later, later + timedelta(minutes=15))


def test_a_lapsed_claim_nobody_took_still_completes(store: SqlReviewRepository) -> None:
    store.add_task(task(), "k")
    store.claim("rvt_1", "rvw_a", ALL, T0, T0 + timedelta(minutes=15))
    assert store.complete(verdict_on(task(), "rvw_a"), T0 + timedelta(hours=1))


def test_claims_respect_tiers_and_exclusions(store: SqlReviewRepository) -> None:
    store.add_task(task("rvt_s", tier=Tier.SENIOR), "s")
    store.add_task(task("rvt_x", excluded=frozenset({"rvw_a"})), "x")
    until = T0 + timedelta(minutes=15)
    assert not store.claim("rvt_s", "rvw_a", Role.REVIEWER.tiers, T0, until)
    assert store.claim("rvt_s", "rvw_s", Role.SENIOR.tiers, T0, until)
    assert not store.claim("rvt_x", "rvw_a", ALL, T0, until)
    assert store.claim("rvt_x", "rvw_b", ALL, T0, until)


def test_release_and_renew(store: SqlReviewRepository) -> None:
    store.add_task(task(), "k")
    store.claim("rvt_1", "rvw_a", ALL, T0, T0 + timedelta(minutes=15))
    assert store.renew("rvt_1", "rvw_a", T0, T0 + timedelta(minutes=30))
    assert not store.release("rvt_1", "rvw_b")
    assert store.release("rvt_1", "rvw_a")
    reopened = store.get_task("rvt_1")
    assert reopened is not None
    assert reopened.status is TaskStatus.OPEN
    assert reopened.lease is None


def test_queue_filters_and_order(store: SqlReviewRepository) -> None:
    store.add_task(task("a", "chk_0", priority=Priority.LOW), "a")
    store.add_task(task("b", "chk_1", priority=Priority.HIGH, flow="payment"), "b")
    store.add_task(
        task("c", "chk_2", tier=Tier.SENIOR, reasons=(TaskReason.DETECTOR_CONFLICT,)), "c"
    )
    store.add_task(task("d", "chk_3", excluded=frozenset({"rvw_a"})), "d")
    store.claim("d", "rvw_b", ALL, T0, T0 + timedelta(minutes=5))

    def ids(query: QueueFilter, now: object = T0) -> list[str]:
        return [t.task_id for t in store.list_tasks(query, now)]  # type: ignore[arg-type]

    assert ids(QueueFilter()) == ["b", "c", "d", "a"]
    assert ids(QueueFilter(tiers=frozenset({Tier.JUNIOR}))) == ["b", "d", "a"]
    assert ids(QueueFilter(flow="payment")) == ["b"]
    assert ids(QueueFilter(reason=TaskReason.DETECTOR_CONFLICT)) == ["c"]
    assert ids(QueueFilter(statuses=frozenset({TaskStatus.OPEN}))) == ["b", "c", "a"]
    assert ids(QueueFilter(holder="rvw_b")) == ["d"]
    assert ids(QueueFilter(exclude_for="rvw_a")) == ["b", "c", "a"]
    # the claim on d lapses: it is open again
    assert "d" in ids(QueueFilter(statuses=frozenset({TaskStatus.OPEN})), T0 + timedelta(hours=1))


def test_backlog_counts_open_claimed_and_breached(store: SqlReviewRepository) -> None:
    store.add_task(task("a", "chk_0", due_at=T0 + timedelta(minutes=15), flow="payment"), "a")
    store.add_task(task("b", "chk_1"), "b")
    store.add_task(task("c", "chk_2"), "c")
    store.claim("c", "rvw_a", ALL, T0, T0 + timedelta(hours=2))
    rows = {(r.flow, r.tier): r for r in store.backlog(T0 + timedelta(hours=1))}
    assert rows[("payment", Tier.JUNIOR)].breached == 1
    assert rows[("payment", Tier.JUNIOR)].open == 1
    onboarding = rows[("onboarding", Tier.JUNIOR)]
    assert (onboarding.open, onboarding.claimed, onboarding.breached) == (1, 1, 0)
    assert onboarding.oldest_created_at == T0
    store.claim("a", "rvw_b", ALL, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    store.complete(verdict_on(task("a", "chk_0"), "rvw_b"), T0 + timedelta(hours=1))
    assert store.completed_late() == {"payment": 1}


def test_accounts_and_sessions(store: SqlReviewRepository) -> None:
    account = ReviewerAccount(
        reviewer_id="rvw_a",
        username="alice",
        display_name="Alice",
        role=Role.REVIEWER,
        password_hash="$argon2id$x",
        created_at=T0,
    )
    store.add_reviewer(account)
    with pytest.raises(DuplicateUsername):
        store.add_reviewer(
            ReviewerAccount(
                reviewer_id="rvw_b",
                username="alice",
                display_name="Other",
                role=Role.ADMIN,
                password_hash="h",
                created_at=T0,
            )
        )
    assert store.reviewer_by_username("alice") == account
    locked = ReviewerAccount(**{**account.__dict__, "failed_logins": 3, "locked_until": T0})
    store.update_reviewer(locked)
    assert store.get_reviewer("rvw_a") == locked
    session = SessionRecord("h" * 64, "rvw_a", "csrf", T0, T0 + timedelta(hours=8), T0)
    store.add_session(session)
    assert store.get_session("h" * 64) == session
    store.touch_session("h" * 64, T0 + timedelta(minutes=5))
    touched = store.get_session("h" * 64)
    assert touched is not None
    assert touched.last_seen_at == T0 + timedelta(minutes=5)
    store.delete_sessions_of("rvw_a")
    assert store.get_session("h" * 64) is None


def test_face_box_cache(store: SqlReviewRepository) -> None:
    store.add_task(task(), "k")
    assert store.face_box("rvt_1") == (None, False)
    store.set_face_box("rvt_1", (1, 2, 3, 4))
    assert store.face_box("rvt_1") == ((1, 2, 3, 4), True)
    store.set_face_box("rvt_1", None)
    assert store.face_box("rvt_1") == (None, True)
