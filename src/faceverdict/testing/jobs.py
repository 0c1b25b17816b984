"""ImmediateJobQueue: jobs run in the caller's thread, at once, without a worker thread.

Once ``start_worker(handle)`` was called, ``enqueue`` runs the job before it returns (jobs
enqueued earlier run at the start). A job that enqueues another job does not nest: the new
job runs after the current one, in order. Delayed jobs (``delay_seconds > 0``) wait until a
test runs them with ``run_due(now)`` or ``run_pending()``; nothing sleeps.

A failing job is logged and kept in ``failures`` (the SQL-backed Huey queue logs and retries
it); with ``raise_errors`` the exception reaches the caller instead. There are no retries.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta

from faceverdict.adapters.system_clock import SystemClock
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import Job, JobHandler

log = logging.getLogger(__name__)


class ImmediateJobQueue:
    """A ``JobQueue`` that runs jobs synchronously, for tests."""

    def __init__(self, clock: Clock | None = None, *, raise_errors: bool = False) -> None:
        self.clock: Clock = clock or SystemClock()
        self.raise_errors = raise_errors
        self.ran: list[Job] = []
        self.failures: list[tuple[Job, Exception]] = []
        self._lock = threading.Lock()
        self._ready: deque[Job] = deque()
        self._delayed: list[tuple[datetime, int, Job]] = []
        self._counter = 0
        self._handler: JobHandler | None = None
        self._draining = False

    def enqueue(self, job: Job, *, delay_seconds: float = 0.0) -> None:
        """Add a job: run it now (after the running one, if any), or keep it for later."""
        with self._lock:
            if delay_seconds > 0:
                due = self.clock.now() + timedelta(seconds=delay_seconds)
                self._counter += 1
                self._delayed.append((due, self._counter, job))
                return
            self._ready.append(job)
        self._drain()

    def pending(self) -> int:
        """How many jobs wait to run now (not counting delayed ones)."""
        with self._lock:
            return len(self._ready)

    def scheduled(self) -> int:
        """How many delayed jobs wait for their time."""
        with self._lock:
            return len(self._delayed)

    def start_worker(self, handle: JobHandler, *, threads: int = 1) -> None:
        """Run jobs with ``handle`` from now on (``threads`` is ignored), waiting ones first."""
        del threads
        with self._lock:
            self._handler = handle
        self._drain()

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Stop running jobs: later ones wait until the worker starts again."""
        del timeout
        with self._lock:
            self._handler = None

    def close(self) -> None:
        """Stop the worker (there is nothing else to release)."""
        self.stop_worker()

    def run_due(self, now: datetime | None = None) -> int:
        """Run the delayed jobs due at ``now`` (default: the clock's time); how many jobs ran."""
        moment = now or self.clock.now()
        with self._lock:
            due = sorted(d for d in self._delayed if d[0] <= moment)
            self._delayed = [d for d in self._delayed if d[0] > moment]
            self._ready.extend(job for _, _, job in due)
        return self._drain()

    def run_pending(self) -> int:
        """Run every waiting job, delayed ones included whatever their time; how many ran."""
        with self._lock:
            due = sorted(self._delayed)
            self._delayed = []
            self._ready.extend(job for _, _, job in due)
        return self._drain()

    def _drain(self) -> int:
        with self._lock:
            if self._handler is None or self._draining:
                return 0  # the running drain (maybe this very call's caller) takes it
            self._draining = True
        count = 0
        try:
            while True:
                with self._lock:
                    handler = self._handler
                    if handler is None or not self._ready:
                        self._draining = False
                        return count
                    job = self._ready.popleft()
                count += 1
                self._run(handler, job)
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    def _run(self, handler: JobHandler, job: Job) -> None:
        self.ran.append(job)
        try:
            handler(job)
        except Exception as exc:
            self.failures.append((job, exc))
            log.exception("job %s %s failed", job.kind, job.key)
            if self.raise_errors:
                raise
