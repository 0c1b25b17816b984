"""Periodic upkeep while `faceverdict serve` runs: checkpoints and the retention sweep.

One daemon thread. A checkpoint is signed when ``checkpoint_every_entries`` entries are
unsigned or the latest checkpoint is ``checkpoint_every_seconds`` old (and the log grew);
the retention sweeper runs every ``retention_sweep_every_seconds``. Failures are logged and
retried on the next tick, never fatal to the API. Several processes may run this at once:
checkpoints of one size are stored once, and sweeps are idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from faceverdict.wiring.records import Records

log = logging.getLogger(__name__)


class Maintenance:
    """Runs ``tick`` every ``poll_seconds`` in a daemon thread until stopped."""

    def __init__(
        self,
        records: Records,
        *,
        poll_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = records.settings
        self.records = records
        self.poll_seconds = poll_seconds or max(
            0.5, min(5.0, settings.checkpoint_every_seconds / 2)
        )
        self.sweep_every = settings.retention_sweep_every_seconds
        self._monotonic = monotonic
        self._next_sweep = monotonic()  # sweep once at start: catch up after downtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One round: sign a checkpoint if due, sweep if due."""
        try:
            self.records.evidence.maybe_checkpoint()
        except Exception:
            log.exception("periodic checkpoint failed; retrying on the next tick")
        if self._monotonic() >= self._next_sweep:
            self._next_sweep = self._monotonic() + self.sweep_every
            try:
                self.records.retention.sweep()
            except Exception:
                log.exception("retention sweep failed; retrying at the next interval")

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.tick()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self.tick()
            self._thread = threading.Thread(
                target=self._run, name="faceverdict-upkeep", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and sign a last checkpoint, so nothing appended stays unsigned."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            self.records.evidence.checkpoint()
        except Exception:
            log.exception("final checkpoint failed")
