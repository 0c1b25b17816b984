"""A job queue whose broker loses jobs on demand (the sweeps' reason to exist)."""

from __future__ import annotations

from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import Job
from faceverdict.testing.jobs import ImmediateJobQueue


class LosingJobQueue(ImmediateJobQueue):
    """An ``ImmediateJobQueue`` that drops every job enqueued while ``losing`` is set, as a
    broker that lost its messages (or a process that died before enqueuing) would."""

    def __init__(self, clock: Clock, *, losing: bool = True) -> None:
        super().__init__(clock)
        self.losing = losing
        self.lost: list[Job] = []

    def enqueue(self, job: Job, *, delay_seconds: float = 0.0) -> None:
        """Drop the job while ``losing``; otherwise queue (and run) it as usual."""
        if self.losing:
            self.lost.append(job)
            return
        super().enqueue(job, delay_seconds=delay_seconds)
