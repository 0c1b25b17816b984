"""Review tasks, verdicts, outcomes and the audit trail in memory, as ``SqlReviewTasks`` and
``SqlReviewAudit`` keep them.

A claim is a compare-and-set under the world's write lock (what the conditional UPDATE is in
SQL); ``complete`` writes the verdict, follow-ups, pair, outcome and events in one
transaction, or nothing when the reviewer no longer holds the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from faceverdict.domain.review import Lease, ReviewTask, TaskStatus, Tier, VerdictLabel
from faceverdict.domain.review_qc import ReviewPair
from faceverdict.ports.review import (
    BacklogRow,
    Completion,
    Outcome,
    QueueFilter,
    StoredEvent,
    StoredVerdict,
)
from faceverdict.testing.world import Box, IntegrityViolation, PairRow, Tables, TaskRow, World


def _task(row: TaskRow) -> ReviewTask:
    """The task as the SQL adapter reads it back: a lease only while someone is named."""
    lease = None
    if row.claimed_by is not None and row.lease_expires_at is not None:
        lease = Lease(holder=row.claimed_by, expires_at=row.lease_expires_at)
    return replace(row.task, lease=lease)


def _held(row: TaskRow, now: datetime) -> bool:
    expires = row.lease_expires_at
    return row.task.status is TaskStatus.CLAIMED and expires is not None and expires > now


def _lapsed(row: TaskRow, now: datetime) -> bool:
    expires = row.lease_expires_at
    return row.task.status is TaskStatus.CLAIMED and expires is not None and expires <= now


def _insert_task(t: Tables, task: ReviewTask, dedupe_key: str) -> None:
    if task.task_id in t.review_tasks:
        raise IntegrityViolation(f"review task {task.task_id} exists already")
    if any(r.dedupe_key == dedupe_key for r in t.review_tasks.values()):
        raise IntegrityViolation(f"a review task with dedupe key {dedupe_key} exists already")
    if task.check_id not in t.checks:
        raise IntegrityViolation(f"review task of unknown check {task.check_id}")
    stored = replace(task, lease=None, completed_at=None, completed_by=None)
    t.review_tasks[task.task_id] = TaskRow(stored, None, None, 0, dedupe_key)


def _insert_event(t: Tables, event: StoredEvent) -> None:
    t.review_events.append(replace(event, detail=dict(event.detail)))


class MemoryReviewTasks:
    """Tasks, verdicts and outcomes; each call is one transaction of the world."""

    def __init__(self, world: World) -> None:
        self._world = world

    # tasks

    def add_task(
        self, task: ReviewTask, dedupe_key: str, events: Sequence[StoredEvent] = ()
    ) -> bool:
        """Insert a task unless one with the same dedupe key exists; False if it did."""
        if any(r.dedupe_key == dedupe_key for r in self._world.tables.review_tasks.values()):
            return False
        with self._world.transaction() as t:
            if any(r.dedupe_key == dedupe_key for r in t.review_tasks.values()):
                return False
            _insert_task(t, task, dedupe_key)
            for event in events:
                _insert_event(t, event)
        return True

    def get_task(self, task_id: str) -> ReviewTask | None:
        """The task with this id, or None."""
        row = self._world.tables.review_tasks.get(task_id)
        return None if row is None else _task(row)

    def tasks_for_check(self, check_id: str) -> list[ReviewTask]:
        """Every task of a check, oldest first."""
        rows = [r for r in self._world.tables.review_tasks.values() if r.task.check_id == check_id]
        rows.sort(key=lambda r: (r.task.created_at, r.task.task_id))
        return [_task(r) for r in rows]

    def list_tasks(self, query: QueueFilter, now: datetime) -> list[ReviewTask]:
        """Tasks matching ``query``, most urgent first, then the earliest due."""
        found: list[TaskRow] = []
        for row in self._world.tables.review_tasks.values():
            task = row.task
            wanted = (
                (
                    TaskStatus.OPEN in query.statuses
                    and (task.status is TaskStatus.OPEN or _lapsed(row, now))
                )
                or (TaskStatus.CLAIMED in query.statuses and _held(row, now))
                or (TaskStatus.DONE in query.statuses and task.status is TaskStatus.DONE)
            )
            if not wanted or task.tier not in query.tiers:
                continue
            if query.flow is not None and task.flow != query.flow:
                continue
            if query.priority is not None and task.priority is not query.priority:
                continue
            if query.holder is not None and not (
                _held(row, now) and row.claimed_by == query.holder
            ):
                continue
            if query.exclude_for is not None and query.exclude_for in task.excluded:
                continue
            if query.reason is not None and query.reason not in task.reasons:
                continue
            found.append(row)
        found.sort(
            key=lambda r: (r.task.priority.rank, r.task.due_at, r.task.created_at, r.task.task_id)
        )
        return [_task(r) for r in found[: query.limit]]

    def claim(
        self, task_id: str, reviewer_id: str, tiers: frozenset[Tier], now: datetime, until: datetime
    ) -> bool:
        """Take the task if it is open, lapsed, or already the caller's (renewing the lease)."""
        with self._world.transaction() as t:
            row = t.review_tasks.get(task_id)
            if row is None:
                return False
            status = row.task.status
            free = status is TaskStatus.OPEN or (
                status is TaskStatus.CLAIMED
                and (_lapsed(row, now) or row.claimed_by == reviewer_id)
            )
            if not free or row.task.tier not in tiers or reviewer_id in row.task.excluded:
                return False
            claimed = replace(row.task, status=TaskStatus.CLAIMED)
            t.review_tasks[task_id] = replace(
                row,
                task=claimed,
                claimed_by=reviewer_id,
                lease_expires_at=until,
                claims=row.claims + 1,
            )
            return True

    def renew(self, task_id: str, reviewer_id: str, now: datetime, until: datetime) -> bool:
        """Extend the caller's active lease; False if the caller no longer holds it."""
        with self._world.transaction() as t:
            row = t.review_tasks.get(task_id)
            if row is None or not _held(row, now) or row.claimed_by != reviewer_id:
                return False
            t.review_tasks[task_id] = replace(row, lease_expires_at=until)
            return True

    def release(self, task_id: str, reviewer_id: str) -> bool:
        """Give a claimed task back to the queue; False if the caller does not hold it."""
        with self._world.transaction() as t:
            row = t.review_tasks.get(task_id)
            if row is None or row.task.status is not TaskStatus.CLAIMED:
                return False
            if row.claimed_by != reviewer_id:
                return False
            opened = replace(row.task, status=TaskStatus.OPEN)
            t.review_tasks[task_id] = replace(
                row, task=opened, claimed_by=None, lease_expires_at=None
            )
            return True

    def complete(self, completion: Completion, now: datetime) -> bool:
        """Record a verdict if the reviewer is still the claimer (a lapsed lease counts while
        nobody else claimed the task since); nothing is written otherwise."""
        with self._world.transaction() as t:
            row = t.review_tasks.get(completion.task_id)
            if (
                row is None
                or row.task.status is not TaskStatus.CLAIMED
                or row.claimed_by != completion.reviewer_id
            ):
                return False
            done = replace(
                row.task,
                status=TaskStatus.DONE,
                completed_at=now,
                completed_by=completion.reviewer_id,
            )
            t.review_tasks[completion.task_id] = replace(row, task=done, lease_expires_at=None)
            _insert_verdict(t, completion.verdict)
            for task in completion.follow_ups:
                _insert_task(t, task, f"{task.parent_task_id}:{task.kind.value}")
            if completion.pair is not None:
                _insert_pair(t, completion.task_id, completion.pair, now)
            if completion.adjudicates is not None:
                pair = t.review_pairs.get(completion.adjudicates)
                if pair is not None:
                    label = completion.verdict.verdict.label.value
                    t.review_pairs[pair.pair_id] = replace(pair, adjudicated_label=label)
            if completion.outcome is not None:
                _insert_outcome(t, completion.outcome)
            for event in completion.events:
                _insert_event(t, event)
        return True

    # verdicts, outcomes

    def verdicts_for_check(self, check_id: str) -> list[StoredVerdict]:
        """Every verdict on a check, oldest first."""
        found = [v for v in self._world.tables.review_verdicts.values() if v.check_id == check_id]
        return sorted(found, key=lambda v: (v.created_at, v.verdict_id))

    def verdict_for_task(self, task_id: str) -> StoredVerdict | None:
        """The verdict given on a task, or None."""
        for verdict in self._world.tables.review_verdicts.values():
            if verdict.task_id == task_id:
                return verdict
        return None

    def outcomes(self) -> list[Outcome]:
        """Every settled case, oldest first."""
        found = self._world.tables.review_outcomes.values()
        return sorted(found, key=lambda o: (o.resolved_at, o.task_id))

    def outcome(self, task_id: str) -> Outcome | None:
        """The outcome a task settled, or None."""
        return self._world.tables.review_outcomes.get(task_id)

    def pending_outcomes(self) -> list[Outcome]:
        """Settled cases whose decision has not been written to the check yet."""
        return [o for o in self.outcomes() if o.decision_id is not None and not o.decision_applied]

    def mark_outcome_applied(self, task_id: str) -> None:
        """Note that an outcome's decision is on the check."""
        with self._world.transaction() as t:
            outcome = t.review_outcomes.get(task_id)
            if outcome is not None:
                t.review_outcomes[task_id] = replace(outcome, decision_applied=True)

    # face box cache

    def set_face_box(self, task_id: str, box: Box | None) -> None:
        """Cache where the face is in the capture (None: searched, none found)."""
        with self._world.transaction() as t:
            row = t.review_tasks.get(task_id)
            if row is not None:
                t.review_tasks[task_id] = replace(row, face_searched=True, face_box=box)

    def face_box(self, task_id: str) -> tuple[Box | None, bool]:
        """The cached face box and whether the capture was searched at all."""
        row = self._world.tables.review_tasks.get(task_id)
        if row is None or not row.face_searched:
            return None, False
        return row.face_box, True

    def claims(self, task_id: str) -> int:
        """How many times the task was claimed (for tests), 0 for an unknown task."""
        row = self._world.tables.review_tasks.get(task_id)
        return 0 if row is None else row.claims


def _insert_verdict(t: Tables, verdict: StoredVerdict) -> None:
    if verdict.task_id not in t.review_tasks:
        raise IntegrityViolation(f"verdict on unknown task {verdict.task_id}")
    if verdict.verdict_id in t.review_verdicts or any(
        v.task_id == verdict.task_id for v in t.review_verdicts.values()
    ):
        raise IntegrityViolation(f"task {verdict.task_id} has a verdict already")
    t.review_verdicts[verdict.verdict_id] = verdict


def _insert_pair(t: Tables, pair_id: str, pair: ReviewPair, now: datetime) -> None:
    if pair_id in t.review_pairs:
        raise IntegrityViolation(f"pair {pair_id} exists already")
    t.review_pairs[pair_id] = PairRow(
        pair_id=pair_id,
        check_id=pair.check_id,
        first_reviewer=pair.first_reviewer,
        first_label=pair.first_label.value,
        second_reviewer=pair.second_reviewer,
        second_label=pair.second_label.value,
        adjudicated_label=None,
        created_at=now,
    )


def _insert_outcome(t: Tables, outcome: Outcome) -> None:
    if outcome.task_id not in t.review_tasks:
        raise IntegrityViolation(f"outcome of unknown task {outcome.task_id}")
    if outcome.task_id in t.review_outcomes:
        raise IntegrityViolation(f"task {outcome.task_id} has an outcome already")
    t.review_outcomes[outcome.task_id] = outcome


class MemoryReviewAudit:
    """The review audit trail, QC pairs and backlog figures."""

    def __init__(self, world: World) -> None:
        self._world = world

    def add_event(self, event: StoredEvent) -> None:
        """Append to the review audit trail."""
        with self._world.transaction() as t:
            _insert_event(t, event)

    def events(
        self, *, check_id: str | None = None, kinds: frozenset[str] | None = None
    ) -> list[StoredEvent]:
        """Audit-trail rows, oldest first (then in the order written), optionally filtered."""
        rows = [
            e
            for e in self._world.tables.review_events
            if (check_id is None or e.check_id == check_id) and (kinds is None or e.kind in kinds)
        ]
        ordered = sorted(enumerate(rows), key=lambda item: (item[1].occurred_at, item[0]))
        return [replace(e, detail=dict(e.detail)) for _, e in ordered]

    def pairs(self) -> list[ReviewPair]:
        """Every double-review pair, oldest first."""
        rows = sorted(
            self._world.tables.review_pairs.values(), key=lambda p: (p.created_at, p.pair_id)
        )
        return [
            ReviewPair(
                check_id=p.check_id,
                first_reviewer=p.first_reviewer,
                first_label=VerdictLabel(p.first_label),
                second_reviewer=p.second_reviewer,
                second_label=VerdictLabel(p.second_label),
                adjudicated_label=VerdictLabel(p.adjudicated_label)
                if p.adjudicated_label
                else None,
            )
            for p in rows
        ]

    def backlog(self, now: datetime) -> list[BacklogRow]:
        """Open work and open SLA breaches per flow, tier and priority."""
        groups: dict[tuple[str, str, str], list[TaskRow]] = {}
        for row in self._world.tables.review_tasks.values():
            task = row.task
            if task.status is not TaskStatus.DONE:
                key = (task.flow, task.tier.value, task.priority.value)
                groups.setdefault(key, []).append(row)
        found: list[BacklogRow] = []
        for (flow, _tier, _priority), rows in sorted(groups.items()):
            claimed = sum(1 for r in rows if _held(r, now))
            first = rows[0].task
            found.append(
                BacklogRow(
                    flow=flow,
                    tier=first.tier,
                    priority=first.priority,
                    open=len(rows) - claimed,
                    claimed=claimed,
                    breached=sum(1 for r in rows if r.task.due_at < now),
                    oldest_created_at=min(r.task.created_at for r in rows),
                )
            )
        return found

    def completed_late(self) -> dict[str, int]:
        """Completed tasks that missed their SLA, per flow."""
        late: dict[str, int] = {}
        for row in self._world.tables.review_tasks.values():
            task = row.task
            if (
                task.status is TaskStatus.DONE
                and task.completed_at is not None
                and task.completed_at > task.due_at
            ):
                late[task.flow] = late.get(task.flow, 0) + 1
        return late
