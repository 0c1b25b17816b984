"""HueyJobQueue: the job queue on Huey, stored in SQLite (embedded) or Redis (scale-out).

Huey pops a message when a worker takes it and has no acknowledgement: a job held by a killed
worker is lost. Callers therefore keep their own durable state (a check in ``assuring``, a
delivery row) and re-enqueue from a reconciliation sweep; handlers are idempotent. See
docs/decisions/0005-async-assurance.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from faceverdict.ports.jobs import Job, JobHandler

log = logging.getLogger(__name__)

QUEUE_NAME = "faceverdict"
TASK_NAME = "faceverdict.job"


class _HostedConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer without signal handlers: the host process (uvicorn, our CLI) owns them."""

    def _set_signal_handlers(self) -> None:
        pass


class HueyJobQueue:
    """Enqueues jobs as one Huey task; ``start_worker`` runs them in threads of this process."""

    def __init__(self, huey: Huey, *, retries: int = 2, retry_delay: float = 2.0) -> None:
        self._huey = huey
        self._handler: JobHandler | None = None
        self._consumer: _HostedConsumer | None = None
        self._task: Any = huey.task(retries=retries, retry_delay=retry_delay, name=TASK_NAME)(
            self._run
        )

    @classmethod
    def sqlite(cls, path: Path) -> HueyJobQueue:
        """Jobs in a SQLite file (the embedded default): durable across restarts."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(SqliteHuey(QUEUE_NAME, filename=str(path), results=False))

    @classmethod
    def redis(cls, url: str, name: str = QUEUE_NAME) -> HueyJobQueue:
        """Jobs in Redis (scale-out): API processes enqueue, ``faceverdict worker`` runs them."""
        return cls(RedisHuey(name, url=url, results=False, read_timeout=1))

    def _run(self, kind: str, key: str) -> None:
        if self._handler is None:
            raise RuntimeError("a job reached a process that runs no worker")
        self._handler(Job(kind=kind, key=key))

    def enqueue(self, job: Job, *, delay_seconds: float = 0.0) -> None:
        """Add a job, to run after ``delay_seconds``."""
        if delay_seconds > 0:
            self._task.schedule(args=(job.kind, job.key), delay=delay_seconds)
        else:
            self._task(job.kind, job.key)

    def pending(self) -> int:
        """How many jobs wait to run now (not counting delayed ones)."""
        return int(self._huey.pending_count())

    def scheduled(self) -> int:
        """How many delayed jobs wait for their time."""
        return int(self._huey.scheduled_count())

    def start_worker(self, handle: JobHandler, *, threads: int = 1) -> None:
        """Start running jobs with ``handle`` in ``threads`` threads (plus Huey's scheduler)."""
        if self._consumer is not None:
            return
        self._handler = handle
        consumer = _HostedConsumer(
            self._huey,
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            check_worker_health=False,
        )
        consumer.start()
        self._consumer = consumer

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Stop the worker threads, letting running jobs finish (up to ``timeout``)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.shutdown_timeout = timeout
            consumer.stop(graceful=True)

    def close(self) -> None:
        """Stop the worker and release the storage connection."""
        self.stop_worker()
        try:
            self._huey.storage.close()
        except Exception:  # closing is best effort
            log.debug("closing the job storage failed", exc_info=True)
