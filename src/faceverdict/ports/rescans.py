"""Ports of re-scans: runs with a cursor (resumable) and their items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class RescanRun:
    """One re-scan of stored captures with a model version; ``cursor`` makes it resumable."""

    run_id: str
    model_version: str
    since: datetime | None
    flow: str | None
    created_at: datetime
    cursor: tuple[datetime, str] | None = None
    enqueued: int = 0
    done: int = 0
    changed: int = 0
    listed_all: bool = False

    @property
    def finished(self) -> bool:
        """Every candidate was enqueued and every item is done."""
        return self.listed_all and self.done >= self.enqueued


class RescanStore(Protocol):
    """Stores re-scan runs and their items, and finds the captures to re-scan."""

    def create_run(self, run: RescanRun) -> bool:
        """Insert a run; False if its id exists (a schedule period already started one)."""
        ...

    def get_run(self, run_id: str) -> RescanRun | None:
        """The run with this id, or None."""
        ...

    def candidates(
        self,
        *,
        since: datetime | None,
        flow: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[datetime, str]]:
        """(stored_at, check_id) of stored, not erased captures after ``after``, in order."""
        ...

    def add_items(
        self, run_id: str, check_ids: list[str], cursor: tuple[datetime, str] | None, done: bool
    ) -> int:
        """Add items (existing ones are kept), move the cursor; how many were new."""
        ...

    def finish_item(self, run_id: str, check_id: str, changed: bool) -> bool:
        """Mark an item done once (False if it was done already) and count it on the run."""
        ...

    def stalled_runs(self, before: datetime, limit: int = 20) -> list[RescanRun]:
        """Unfinished runs without progress since ``before``; each is touched (a new lease)."""
        ...

    def pending_items(self, run_id: str) -> list[str]:
        """Check ids of the run's items not done yet."""
        ...
