"""SqlReviewAudit: the review audit trail, QC pairs and backlog queries.

``SqlReviewTasks`` writes the tasks, verdicts and events these read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, case, func, insert, select

from faceverdict.adapters.sql_schema import review_events, review_pairs, review_tasks
from faceverdict.adapters.sql_support import unavailable_on_outage, utc, utc_or_none
from faceverdict.domain.review import Priority, TaskStatus, Tier, VerdictLabel
from faceverdict.domain.review_qc import ReviewPair
from faceverdict.ports.review import BacklogRow, StoredEvent


def insert_event(conn: Connection, event: StoredEvent) -> None:
    """Append ``event`` to the audit trail inside an open transaction."""
    conn.execute(
        insert(review_events).values(
            occurred_at=event.occurred_at,
            kind=event.kind,
            check_id=event.check_id,
            task_id=event.task_id,
            actor=event.actor,
            detail=dict(event.detail),
        )
    )


class SqlReviewAudit:
    """Reads and appends that do not change a task's state (one transaction per call)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    # QC pairs

    def pairs(self) -> list[ReviewPair]:
        """Every double-review pair, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(review_pairs).order_by(review_pairs.c.created_at, review_pairs.c.pair_id)
            ).all()
        return [
            ReviewPair(
                check_id=r.check_id,
                first_reviewer=r.first_reviewer,
                first_label=VerdictLabel(r.first_label),
                second_reviewer=r.second_reviewer,
                second_label=VerdictLabel(r.second_label),
                adjudicated_label=VerdictLabel(r.adjudicated_label)
                if r.adjudicated_label
                else None,
            )
            for r in rows
        ]

    # audit trail

    def add_event(self, event: StoredEvent) -> None:
        """Append to the review audit trail."""
        with self._tx() as conn:
            insert_event(conn, event)

    def events(
        self, *, check_id: str | None = None, kinds: frozenset[str] | None = None
    ) -> list[StoredEvent]:
        """Audit-trail rows, oldest first, optionally of one check and some kinds."""
        e = review_events.c
        stmt = select(review_events).order_by(e.occurred_at, e.event_id)
        if check_id is not None:
            stmt = stmt.where(e.check_id == check_id)
        if kinds is not None:
            stmt = stmt.where(e.kind.in_(sorted(kinds)))
        with self._tx() as conn:
            rows = conn.execute(stmt).all()
        return [
            StoredEvent(
                occurred_at=utc(r.occurred_at),
                kind=r.kind,
                check_id=r.check_id,
                task_id=r.task_id,
                actor=r.actor,
                detail=dict(r.detail),
            )
            for r in rows
        ]

    # backlog

    def backlog(self, now: datetime) -> list[BacklogRow]:
        """Open work and open SLA breaches per flow, tier and priority."""
        t = review_tasks.c
        held = and_(t.status == TaskStatus.CLAIMED.value, t.lease_expires_at > now)
        stmt = (
            select(
                t.flow,
                t.tier,
                t.priority,
                func.count().label("total"),
                func.sum(case((held, 1), else_=0)).label("claimed"),
                func.sum(case((t.due_at < now, 1), else_=0)).label("breached"),
                func.min(t.created_at).label("oldest"),
            )
            .where(t.status != TaskStatus.DONE.value)
            .group_by(t.flow, t.tier, t.priority)
            .order_by(t.flow, t.tier, t.priority)
        )
        with self._tx() as conn:
            rows = conn.execute(stmt).all()
        return [
            BacklogRow(
                flow=r.flow,
                tier=Tier(r.tier),
                priority=Priority(r.priority),
                open=int(r.total) - int(r.claimed or 0),
                claimed=int(r.claimed or 0),
                breached=int(r.breached or 0),
                oldest_created_at=utc_or_none(r.oldest),
            )
            for r in rows
        ]

    def completed_late(self) -> dict[str, int]:
        """Completed tasks that missed their SLA, per flow."""
        t = review_tasks.c
        stmt = (
            select(t.flow, func.count())
            .where(t.status == TaskStatus.DONE.value, t.completed_at > t.due_at)
            .group_by(t.flow)
        )
        with self._tx() as conn:
            return {flow: int(n) for flow, n in conn.execute(stmt).all()}
