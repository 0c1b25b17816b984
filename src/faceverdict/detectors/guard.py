"""A detector's guard: its timeout, its circuit breaker and its calls in flight.

A detector that raises, answers late or hangs must never stall a check or end in ``accept``:
the ensemble waits for it no longer than its timeout (and the check's deadline), records a
typed outcome instead of an opinion, and the check is degraded. The guard adds two things:

- a circuit breaker (pybreaker): after ``fail_max`` failures in a row (raised or too slow)
  the detector is switched off (``unavailable``) and probed again after ``reset_seconds``;
- a stuck-call check: while one of its calls has been running past its timeout, the
  detector is not called again, so a hung model holds one worker thread, not all of them.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pybreaker

log = logging.getLogger(__name__)

T = TypeVar("T")


class TooSlow(Exception):
    """A call returned after its timeout: its answer is dropped and it counts as a failure."""


class DetectorGuard:
    """Guards the calls of one detector (thread-safe)."""

    def __init__(
        self,
        name: str,
        *,
        timeout_seconds: float,
        fail_max: int = 5,
        reset_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            name=name,
            throw_new_error_on_trip=False,
        )
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._in_flight: dict[int, float] = {}

    @property
    def state(self) -> str:
        """The breaker's state: ``closed``, ``open`` or ``half-open``."""
        return str(self._breaker.current_state)

    def stuck(self) -> bool:
        """Whether a call has been running for longer than the timeout."""
        now = self._monotonic()
        with self._lock:
            return any(now - start > self.timeout_seconds for start in self._in_flight.values())

    def available(self) -> bool:
        """Whether the detector may be called now: no call of it is stuck. (An open breaker
        refuses the call itself, and lets one through as a probe after its reset period.)"""
        return not self.stuck()

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` through the breaker; a late answer raises ``TooSlow`` (a failure).

        ``pybreaker.CircuitBreakerError`` when the breaker is open.
        """
        call_id = next(self._ids)
        started = self._monotonic()
        with self._lock:
            self._in_flight[call_id] = started
        try:
            result: T = self._breaker.call(self._timed, work, started)
            return result
        finally:
            with self._lock:
                del self._in_flight[call_id]

    def _timed(self, work: Callable[[], T], started: float) -> T:
        result = work()
        elapsed = self._monotonic() - started
        if elapsed > self.timeout_seconds:
            raise TooSlow(f"{self.name} answered after {elapsed:.2f} s")
        return result
