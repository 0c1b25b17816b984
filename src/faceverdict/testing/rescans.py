"""MemoryRescanStore: re-scan runs and items; candidates are the world's capture records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from faceverdict.ports.rescans import RescanRun
from faceverdict.testing.world import ItemRow, RunRow, World


def _run(row: RunRow) -> RescanRun:
    return RescanRun(
        run_id=row.run_id,
        model_version=row.model_version,
        since=row.since,
        flow=row.flow,
        created_at=row.created_at,
        cursor=row.cursor,
        enqueued=row.enqueued,
        done=row.done,
        changed=row.changed,
        listed_all=row.listed_all,
    )


class MemoryRescanStore:
    """Re-scan bookkeeping as ``SqlRescanStore`` keeps it; progress is stamped by the world's
    clock (the SQL adapter uses the wall clock)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def create_run(self, run: RescanRun) -> bool:
        """Insert a run (with no progress yet); False if its id exists."""
        with self._world.transaction() as t:
            if run.run_id in t.rescan_runs:
                return False
            t.rescan_runs[run.run_id] = RunRow(
                run_id=run.run_id,
                model_version=run.model_version,
                since=run.since,
                flow=run.flow,
                created_at=run.created_at,
                cursor=None,
                enqueued=0,
                done=0,
                changed=0,
                listed_all=False,
                updated_at=self._world.clock.now(),
            )
            return True

    def get_run(self, run_id: str) -> RescanRun | None:
        """The run with this id, or None."""
        row = self._world.tables.rescan_runs.get(run_id)
        return None if row is None else _run(row)

    def candidates(
        self,
        *,
        since: datetime | None,
        flow: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[datetime, str]]:
        """(stored_at, check_id) of stored, not erased captures after ``after``, in order."""
        found = [
            (r.stored_at, r.check_id)
            for r in self._world.tables.captures.values()
            if r.deleted_at is None
            and (since is None or r.stored_at >= since)
            and (flow is None or r.flow == flow)
            and (after is None or (r.stored_at, r.check_id) > after)
        ]
        return sorted(found)[:limit]

    def add_items(
        self, run_id: str, check_ids: list[str], cursor: tuple[datetime, str] | None, done: bool
    ) -> int:
        """Add items (existing ones are kept), move the cursor; how many were new."""
        with self._world.transaction() as t:
            new = [c for c in dict.fromkeys(check_ids) if (run_id, c) not in t.rescan_items]
            for check_id in new:
                t.rescan_items[(run_id, check_id)] = ItemRow()
            row = t.rescan_runs.get(run_id)
            if row is not None:
                t.rescan_runs[run_id] = replace(
                    row,
                    enqueued=row.enqueued + len(new),
                    listed_all=done,
                    updated_at=self._world.clock.now(),
                    cursor=row.cursor if cursor is None else cursor,
                )
            return len(new)

    def finish_item(self, run_id: str, check_id: str, changed: bool) -> bool:
        """Mark an item done once (False if it was done already) and count it on the run."""
        with self._world.transaction() as t:
            item = t.rescan_items.get((run_id, check_id))
            if item is None or item.done:
                return False
            t.rescan_items[(run_id, check_id)] = ItemRow(done=True, changed=changed)
            row = t.rescan_runs.get(run_id)
            if row is not None:
                t.rescan_runs[run_id] = replace(
                    row,
                    done=row.done + 1,
                    changed=row.changed + (1 if changed else 0),
                    updated_at=self._world.clock.now(),
                )
            return True

    def stalled_runs(self, before: datetime, limit: int = 20) -> list[RescanRun]:
        """Unfinished runs without progress since ``before``; each is touched (a new lease)."""
        with self._world.transaction() as t:
            rows = sorted(
                (
                    r
                    for r in t.rescan_runs.values()
                    if r.updated_at < before and (not r.listed_all or r.done < r.enqueued)
                ),
                key=lambda r: (r.updated_at, r.run_id),
            )[:limit]
            now = self._world.clock.now()
            for row in rows:
                t.rescan_runs[row.run_id] = replace(row, updated_at=now)
            return [_run(r) for r in rows]

    def pending_items(self, run_id: str) -> list[str]:
        """Check ids of the run's items not done yet (in the order they were added)."""
        items = self._world.tables.rescan_items
        return [c for (r, c), item in items.items() if r == run_id and not item.done]
