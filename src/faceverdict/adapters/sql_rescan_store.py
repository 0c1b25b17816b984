"""SqlRescanStore: re-scan runs, their items, and the stored captures they go through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_check_repository import SQLITE_BEGIN
from faceverdict.adapters.sql_schema import captures, rescan_items, rescan_runs
from faceverdict.adapters.sql_support import unavailable_on_outage, utc, utc_or_none
from faceverdict.ports.rescans import RescanRun


class SqlRescanStore:
    """Re-scan bookkeeping through SQLAlchemy Core (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[Connection]:
        """A transaction; ``immediate``: one that reads before it writes takes SQLite's write
        lock up front (waiting for it), so a concurrent writer cannot make it fail."""
        with unavailable_on_outage(), self._engine.connect() as conn:
            if immediate:
                conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                yield conn

    def create_run(self, run: RescanRun) -> bool:
        """Insert a run; False if its id exists."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(rescan_runs),
                    {
                        "run_id": run.run_id,
                        "model_version": run.model_version,
                        "since": run.since,
                        "flow": run.flow,
                        "created_at": run.created_at,
                        "cursor_at": None,
                        "cursor_check": None,
                        "enqueued": 0,
                        "done": 0,
                        "changed": 0,
                        "listed_all": False,
                        "updated_at": datetime.now(UTC),
                    },
                )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _run(row: Any) -> RescanRun:
        cursor_at = utc_or_none(row.cursor_at)
        return RescanRun(
            run_id=row.run_id,
            model_version=row.model_version,
            since=utc_or_none(row.since),
            flow=row.flow,
            created_at=utc_or_none(row.created_at) or datetime.now(UTC),
            cursor=(cursor_at, row.cursor_check) if cursor_at and row.cursor_check else None,
            enqueued=row.enqueued,
            done=row.done,
            changed=row.changed,
            listed_all=row.listed_all,
        )

    def get_run(self, run_id: str) -> RescanRun | None:
        """The run with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(select(rescan_runs).where(rescan_runs.c.run_id == run_id)).first()
            return None if row is None else self._run(row)

    def candidates(
        self,
        *,
        since: datetime | None,
        flow: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[datetime, str]]:
        """(stored_at, check_id) of stored, not erased captures after ``after``, in order."""
        query = select(captures.c.stored_at, captures.c.check_id).where(
            captures.c.deleted_at.is_(None)
        )
        if since is not None:
            query = query.where(captures.c.stored_at >= since)
        if flow is not None:
            query = query.where(captures.c.flow == flow)
        if after is not None:
            at, check_id = after
            query = query.where(
                or_(
                    captures.c.stored_at > at,
                    and_(captures.c.stored_at == at, captures.c.check_id > check_id),
                )
            )
        query = query.order_by(captures.c.stored_at, captures.c.check_id).limit(limit)
        with self._tx() as conn:
            return [(utc(r.stored_at), r.check_id) for r in conn.execute(query)]

    def add_items(
        self, run_id: str, check_ids: list[str], cursor: tuple[datetime, str] | None, done: bool
    ) -> int:
        """Add items (existing ones are kept), move the cursor; how many were new."""
        with self._tx(immediate=True) as conn:
            existing = set(
                conn.execute(
                    select(rescan_items.c.check_id).where(
                        rescan_items.c.run_id == run_id, rescan_items.c.check_id.in_(check_ids)
                    )
                ).scalars()
            )
            new = [c for c in check_ids if c not in existing]
            if new:
                conn.execute(
                    insert(rescan_items),
                    [
                        {"run_id": run_id, "check_id": c, "done": False, "changed": False}
                        for c in new
                    ],
                )
            values: dict[str, Any] = {
                "enqueued": rescan_runs.c.enqueued + len(new),
                "listed_all": done,
                "updated_at": datetime.now(UTC),
            }
            if cursor is not None:
                values.update(cursor_at=cursor[0], cursor_check=cursor[1])
            conn.execute(update(rescan_runs).where(rescan_runs.c.run_id == run_id).values(values))
            return len(new)

    def finish_item(self, run_id: str, check_id: str, changed: bool) -> bool:
        """Mark an item done once (False if it was done already) and count it on the run."""
        with self._tx() as conn:
            result = conn.execute(
                update(rescan_items)
                .where(
                    rescan_items.c.run_id == run_id,
                    rescan_items.c.check_id == check_id,
                    rescan_items.c.done.is_(False),
                )
                .values(done=True, changed=changed)
            )
            if not result.rowcount:
                return False
            conn.execute(
                update(rescan_runs)
                .where(rescan_runs.c.run_id == run_id)
                .values(
                    done=rescan_runs.c.done + 1,
                    changed=rescan_runs.c.changed + (1 if changed else 0),
                    updated_at=datetime.now(UTC),
                )
            )
            return True

    def stalled_runs(self, before: datetime, limit: int = 20) -> list[RescanRun]:
        """Unfinished runs without progress since ``before``; each is touched (a new lease)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(rescan_runs)
                .where(
                    rescan_runs.c.updated_at < before,
                    or_(
                        rescan_runs.c.listed_all.is_(False),
                        rescan_runs.c.done < rescan_runs.c.enqueued,
                    ),
                )
                .order_by(rescan_runs.c.updated_at)
                .limit(limit)
            ).all()
            taken = []
            for row in rows:
                touched = conn.execute(
                    update(rescan_runs)
                    .where(
                        rescan_runs.c.run_id == row.run_id,
                        rescan_runs.c.updated_at == row.updated_at,
                    )
                    .values(updated_at=datetime.now(UTC))
                )
                if touched.rowcount:  # another sweeper did not take it first
                    taken.append(self._run(row))
            return taken

    def pending_items(self, run_id: str) -> list[str]:
        """Check ids of the run's items not done yet."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    select(rescan_items.c.check_id).where(
                        rescan_items.c.run_id == run_id, rescan_items.c.done.is_(False)
                    )
                ).scalars()
            )
