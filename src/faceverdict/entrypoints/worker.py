"""The job worker: runs queued jobs (assurance, ...) and sweeps for lost ones.

``faceverdict serve`` runs one inside the API process (the embedded default);
``faceverdict worker`` runs one as its own process (scale-out). Both are the same code.
"""

from __future__ import annotations

import logging
import threading

from faceverdict.ports.jobs import Job, JobHandler
from faceverdict.services.assurance import ASSURANCE_JOB
from faceverdict.services.rescan import RESCAN_JOB
from faceverdict.services.webhooks import WEBHOOK_JOB
from faceverdict.wiring.bootstrap import Application

log = logging.getLogger(__name__)


class JobWorker:
    """Runs the application's jobs in threads, and the reconciliation sweep in another."""

    def __init__(self, application: Application, *, sweep_every: float | None = None) -> None:
        self.application = application
        self.jobs = application.jobs
        self.sweep_every = sweep_every or application.settings.assurance_sweep_every_seconds
        self.handlers: dict[str, JobHandler] = {
            ASSURANCE_JOB: application.assurance.handle,
            WEBHOOK_JOB: application.webhooks.handle,
            RESCAN_JOB: application.rescans.handle,
        }
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def dispatch(self, job: Job) -> None:
        """Run one job with the handler of its kind (unknown kinds are logged and dropped)."""
        handler = self.handlers.get(job.kind)
        if handler is None:
            log.error("no handler for job kind %r (key %s); dropped", job.kind, job.key)
            return
        handler(job)

    def sweep(self) -> int:
        """Run the reactions that stopped processes left undone (the bus's catch-up), and
        re-enqueue work whose job was lost (checks stuck in ``assuring``, overdue webhook
        deliveries, stalled re-scans); start the scheduled re-scan when it is due."""
        app = self.application
        found = app.bus.catch_up()
        found += app.assurance.reconcile()
        found += app.webhooks.reconcile()
        found += app.rescans.reconcile()
        app.bus.purge()  # settled events are done with; the outbox stays small
        schedule = app.rescan_schedule
        if schedule is not None:
            run = app.rescans.scheduled(schedule)
            if run is not None:
                log.info("scheduled re-scan %s started", run.run_id)
        return found

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.sweep()
                if found:
                    log.warning("re-enqueued %d jobs that were lost or overdue", found)
            except Exception:
                log.exception("reconciliation sweep failed; retrying at the next interval")
            self._stop.wait(self.sweep_every)

    def start(self) -> None:
        """Load the assurance models (a bad one fails here), start job and sweep threads."""
        _ = self.application.assurance.assessor
        self.jobs.start_worker(self.dispatch, threads=self.application.settings.worker_threads)
        if self._sweeper is None:
            self._stop.clear()
            self._sweeper = threading.Thread(
                target=self._sweep_loop, name="faceverdict-sweep", daemon=True
            )
            self._sweeper.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sweeping and let running jobs finish (up to ``timeout``)."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout)
            self._sweeper = None
        self.jobs.stop_worker(timeout)
