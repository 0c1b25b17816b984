"""The job queue that assurance, webhooks and re-scans share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Job:
    """One unit of background work, named by ids only (never personal data).

    ``kind`` picks the handler (``assurance``, ``webhook``, ``rescan``); ``key`` is what it
    works on (a check id, a delivery id). Handlers reload state, so a job may run twice.
    """

    kind: str
    key: str


JobHandler = Callable[[Job], None]


class JobQueue(Protocol):
    """Durable queue of jobs, executed at least once by workers."""

    def enqueue(self, job: Job, *, delay_seconds: float = 0.0) -> None:
        """Add a job, to run after ``delay_seconds``."""
        ...

    def pending(self) -> int:
        """How many jobs wait to run now (not counting delayed ones)."""
        ...

    def start_worker(self, handle: JobHandler, *, threads: int = 1) -> None:
        """Start running jobs with ``handle`` in background threads of this process."""
        ...

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Stop the worker threads, letting running jobs finish (up to ``timeout``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
