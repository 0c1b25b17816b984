"""SqlReviewTasks: review tasks, verdicts and outcomes in SQLite or PostgreSQL.

Claims and verdicts are conditional UPDATEs: the database, not the process, decides who holds
a task, so two reviewers can never work the same task at once, on one machine or many.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    exists,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_review_audit import insert_event
from faceverdict.adapters.sql_schema import (
    review_outcomes,
    review_pairs,
    review_task_exclusions,
    review_tasks,
    review_verdicts,
)
from faceverdict.adapters.sql_support import unavailable_on_outage, utc, utc_or_none
from faceverdict.domain.review import (
    AttackType,
    Lease,
    Priority,
    ReviewTask,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.ports.review import (
    Completion,
    Outcome,
    QueueFilter,
    StoredEvent,
    StoredVerdict,
)

Box = tuple[int, int, int, int]


class SqlReviewTasks:
    """Tasks, verdicts and outcomes over SQLAlchemy Core; one transaction per call.

    The audit trail, QC pairs and backlog queries are ``SqlReviewAudit``'s; reviewer
    accounts and sessions ``SqlReviewerAccounts``'.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    # tasks

    def add_task(
        self, task: ReviewTask, dedupe_key: str, events: Sequence[StoredEvent] = ()
    ) -> bool:
        """Insert a task unless one with the same dedupe key exists; False if it did."""
        try:
            with self._tx() as conn:
                self._insert_task(conn, task, dedupe_key)
                for event in events:
                    insert_event(conn, event)
        except IntegrityError:
            with self._tx() as conn:
                found = conn.execute(
                    select(review_tasks.c.task_id).where(review_tasks.c.dedupe_key == dedupe_key)
                ).first()
            if found is None:
                raise
            return False
        return True

    @staticmethod
    def _insert_task(conn: Connection, task: ReviewTask, dedupe_key: str) -> None:
        conn.execute(
            insert(review_tasks).values(
                task_id=task.task_id,
                check_id=task.check_id,
                flow=task.flow,
                kind=task.kind.value,
                reasons=[r.value for r in task.reasons],
                tier=task.tier.value,
                priority=task.priority.value,
                priority_rank=task.priority.rank,
                created_at=task.created_at,
                due_at=task.due_at,
                decides=task.decides,
                risk=task.risk,
                status=task.status.value,
                claimed_by=None,
                lease_expires_at=None,
                claims=0,
                parent_task_id=task.parent_task_id,
                dedupe_key=dedupe_key,
                completed_at=None,
                completed_by=None,
                face_searched=False,
                face_box=None,
            )
        )
        for reviewer_id in sorted(task.excluded):
            conn.execute(
                insert(review_task_exclusions).values(task_id=task.task_id, reviewer_id=reviewer_id)
            )

    def get_task(self, task_id: str) -> ReviewTask | None:
        """The task with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(
                select(review_tasks).where(review_tasks.c.task_id == task_id)
            ).first()
            return None if row is None else self._task(conn, row)

    def tasks_for_check(self, check_id: str) -> list[ReviewTask]:
        """Every task of a check, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(review_tasks)
                .where(review_tasks.c.check_id == check_id)
                .order_by(review_tasks.c.created_at, review_tasks.c.task_id)
            ).all()
            return [self._task(conn, r) for r in rows]

    def list_tasks(self, query: QueueFilter, now: datetime) -> list[ReviewTask]:
        """Tasks matching ``query``, most urgent first, then the earliest due."""
        t = review_tasks.c
        lapsed = and_(t.status == TaskStatus.CLAIMED.value, t.lease_expires_at <= now)
        held = and_(t.status == TaskStatus.CLAIMED.value, t.lease_expires_at > now)
        wanted = []
        if TaskStatus.OPEN in query.statuses:
            wanted += [t.status == TaskStatus.OPEN.value, lapsed]
        if TaskStatus.CLAIMED in query.statuses:
            wanted.append(held)
        if TaskStatus.DONE in query.statuses:
            wanted.append(t.status == TaskStatus.DONE.value)
        if not wanted:
            return []
        conditions: list[Any] = [or_(*wanted), t.tier.in_([x.value for x in query.tiers])]
        if query.flow is not None:
            conditions.append(t.flow == query.flow)
        if query.priority is not None:
            conditions.append(t.priority == query.priority.value)
        if query.holder is not None:
            conditions.append(and_(held, t.claimed_by == query.holder))
        if query.exclude_for is not None:
            conditions.append(not_(self._excluded(query.exclude_for)))
        stmt = (
            select(review_tasks)
            .where(*conditions)
            .order_by(t.priority_rank, t.due_at, t.created_at, t.task_id)
        )
        with self._tx() as conn:
            rows = conn.execute(stmt).all()
            tasks = [self._task(conn, r) for r in rows]
        if query.reason is not None:  # reasons are a JSON list: filtered here, portably
            tasks = [task for task in tasks if query.reason in task.reasons]
        return tasks[: query.limit]

    @staticmethod
    def _excluded(reviewer_id: str) -> Any:
        x = review_task_exclusions.c
        return exists().where(x.task_id == review_tasks.c.task_id, x.reviewer_id == reviewer_id)

    def claim(
        self, task_id: str, reviewer_id: str, tiers: frozenset[Tier], now: datetime, until: datetime
    ) -> bool:
        """Take the task if it is open, lapsed, or already the caller's (renewing the lease)."""
        t = review_tasks.c
        free = or_(
            t.status == TaskStatus.OPEN.value,
            and_(
                t.status == TaskStatus.CLAIMED.value,
                or_(t.lease_expires_at <= now, t.claimed_by == reviewer_id),
            ),
        )
        stmt = (
            update(review_tasks)
            .where(
                t.task_id == task_id,
                free,
                t.tier.in_([x.value for x in tiers]),
                not_(self._excluded(reviewer_id)),
            )
            .values(
                status=TaskStatus.CLAIMED.value,
                claimed_by=reviewer_id,
                lease_expires_at=until,
                claims=t.claims + 1,
            )
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount == 1

    def renew(self, task_id: str, reviewer_id: str, now: datetime, until: datetime) -> bool:
        """Extend the caller's active lease; False if the caller no longer holds it."""
        t = review_tasks.c
        stmt = (
            update(review_tasks)
            .where(
                t.task_id == task_id,
                t.status == TaskStatus.CLAIMED.value,
                t.claimed_by == reviewer_id,
                t.lease_expires_at > now,
            )
            .values(lease_expires_at=until)
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount == 1

    def release(self, task_id: str, reviewer_id: str) -> bool:
        """Give a claimed task back to the queue; False if the caller does not hold it."""
        t = review_tasks.c
        stmt = (
            update(review_tasks)
            .where(
                t.task_id == task_id,
                t.status == TaskStatus.CLAIMED.value,
                t.claimed_by == reviewer_id,
            )
            .values(status=TaskStatus.OPEN.value, claimed_by=None, lease_expires_at=None)
        )
        with self._tx() as conn:
            return conn.execute(stmt).rowcount == 1

    def complete(self, completion: Completion, now: datetime) -> bool:
        """Record a verdict if the reviewer is still the claimer; nothing is written otherwise.

        A lapsed lease still counts while nobody else has claimed the task since: the claimer
        is whoever the row names, and a rival's claim replaces that name atomically.
        """
        t = review_tasks.c
        with self._tx() as conn:
            done = conn.execute(
                update(review_tasks)
                .where(
                    t.task_id == completion.task_id,
                    t.status == TaskStatus.CLAIMED.value,
                    t.claimed_by == completion.reviewer_id,
                )
                .values(
                    status=TaskStatus.DONE.value,
                    lease_expires_at=None,
                    completed_at=now,
                    completed_by=completion.reviewer_id,
                )
            ).rowcount
            if done != 1:
                return False
            v = completion.verdict
            conn.execute(
                insert(review_verdicts).values(
                    verdict_id=v.verdict_id,
                    task_id=v.task_id,
                    check_id=v.check_id,
                    kind=v.kind.value,
                    reviewer_id=v.reviewer_id,
                    label=v.verdict.label.value,
                    attack_type=v.verdict.attack_type.value if v.verdict.attack_type else None,
                    note=v.verdict.note,
                    created_at=v.created_at,
                )
            )
            for task in completion.follow_ups:
                self._insert_task(conn, task, f"{task.parent_task_id}:{task.kind.value}")
            if completion.pair is not None:
                p = completion.pair
                conn.execute(
                    insert(review_pairs).values(
                        pair_id=completion.task_id,
                        check_id=p.check_id,
                        first_reviewer=p.first_reviewer,
                        first_label=p.first_label.value,
                        second_reviewer=p.second_reviewer,
                        second_label=p.second_label.value,
                        adjudicated_label=None,
                        created_at=now,
                    )
                )
            if completion.adjudicates is not None:
                conn.execute(
                    update(review_pairs)
                    .where(review_pairs.c.pair_id == completion.adjudicates)
                    .values(adjudicated_label=v.verdict.label.value)
                )
            if completion.outcome is not None:
                o = completion.outcome
                conn.execute(
                    insert(review_outcomes).values(
                        task_id=o.task_id,
                        check_id=o.check_id,
                        label=o.label.value,
                        attack_type=o.attack_type.value if o.attack_type else None,
                        resolved_at=o.resolved_at,
                        decision_id=o.decision_id,
                        decision_applied=o.decision_applied,
                    )
                )
            for event in completion.events:
                insert_event(conn, event)
        return True

    # verdicts, outcomes, pairs

    def verdicts_for_check(self, check_id: str) -> list[StoredVerdict]:
        """Every verdict on a check, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(review_verdicts)
                .where(review_verdicts.c.check_id == check_id)
                .order_by(review_verdicts.c.created_at, review_verdicts.c.verdict_id)
            ).all()
        return [self._verdict(r) for r in rows]

    def verdict_for_task(self, task_id: str) -> StoredVerdict | None:
        """The verdict given on a task, or None."""
        with self._tx() as conn:
            row = conn.execute(
                select(review_verdicts).where(review_verdicts.c.task_id == task_id)
            ).first()
        return None if row is None else self._verdict(row)

    def outcomes(self) -> list[Outcome]:
        """Every settled case, oldest first."""
        return self._outcomes(None)

    def outcome(self, task_id: str) -> Outcome | None:
        """The outcome a task settled, or None."""
        found = self._outcomes(review_outcomes.c.task_id == task_id)
        return found[0] if found else None

    def pending_outcomes(self) -> list[Outcome]:
        """Settled cases whose decision has not been written to the check yet."""
        o = review_outcomes.c
        return self._outcomes(and_(o.decision_id.is_not(None), o.decision_applied.is_(False)))

    def _outcomes(self, condition: Any) -> list[Outcome]:
        o = review_outcomes.c
        stmt = select(review_outcomes).order_by(o.resolved_at, o.task_id)
        if condition is not None:
            stmt = stmt.where(condition)
        with self._tx() as conn:
            rows = conn.execute(stmt).all()
        return [
            Outcome(
                task_id=r.task_id,
                check_id=r.check_id,
                label=VerdictLabel(r.label),
                attack_type=AttackType(r.attack_type) if r.attack_type else None,
                resolved_at=utc(r.resolved_at),
                decision_id=r.decision_id,
                decision_applied=bool(r.decision_applied),
            )
            for r in rows
        ]

    def mark_outcome_applied(self, task_id: str) -> None:
        """Note that an outcome's decision is on the check."""
        with self._tx() as conn:
            conn.execute(
                update(review_outcomes)
                .where(review_outcomes.c.task_id == task_id)
                .values(decision_applied=True)
            )

    # row mapping

    # face box cache

    def set_face_box(self, task_id: str, box: Box | None) -> None:
        """Cache where the face is in the capture (None: searched, none found)."""
        with self._tx() as conn:
            conn.execute(
                update(review_tasks)
                .where(review_tasks.c.task_id == task_id)
                .values(face_searched=True, face_box=None if box is None else list(box))
            )

    def face_box(self, task_id: str) -> tuple[Box | None, bool]:
        """The cached face box and whether the capture was searched at all."""
        with self._tx() as conn:
            row = conn.execute(
                select(review_tasks.c.face_box, review_tasks.c.face_searched).where(
                    review_tasks.c.task_id == task_id
                )
            ).first()
        if row is None or not row.face_searched:
            return None, False
        b = row.face_box
        return (None if b is None else (int(b[0]), int(b[1]), int(b[2]), int(b[3]))), True

    def _task(self, conn: Connection, r: Any) -> ReviewTask:
        excluded = conn.execute(
            select(review_task_exclusions.c.reviewer_id).where(
                review_task_exclusions.c.task_id == r.task_id
            )
        ).scalars()
        lease = (
            Lease(holder=r.claimed_by, expires_at=utc(r.lease_expires_at))
            if r.claimed_by is not None and r.lease_expires_at is not None
            else None
        )
        return ReviewTask(
            task_id=r.task_id,
            check_id=r.check_id,
            flow=r.flow,
            kind=TaskKind(r.kind),
            reasons=tuple(TaskReason(x) for x in r.reasons),
            tier=Tier(r.tier),
            priority=Priority(r.priority),
            created_at=utc(r.created_at),
            due_at=utc(r.due_at),
            decides=bool(r.decides),
            risk=r.risk,
            status=TaskStatus(r.status),
            lease=lease,
            parent_task_id=r.parent_task_id,
            excluded=frozenset(excluded),
            completed_at=utc_or_none(r.completed_at),
            completed_by=r.completed_by,
        )

    @staticmethod
    def _verdict(r: Any) -> StoredVerdict:
        return StoredVerdict(
            verdict_id=r.verdict_id,
            task_id=r.task_id,
            check_id=r.check_id,
            kind=TaskKind(r.kind),
            reviewer_id=r.reviewer_id,
            verdict=Verdict(
                label=VerdictLabel(r.label),
                attack_type=AttackType(r.attack_type) if r.attack_type else None,
                note=r.note,
            ),
            created_at=utc(r.created_at),
        )
