"""A detector's guard: late answers count as failures, a stuck call switches it off."""

from __future__ import annotations

import pybreaker
import pytest

from faceverdict.detectors.guard import DetectorGuard, TooSlow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_late_answer_is_dropped_and_counts_towards_the_breaker() -> None:
    clock = Clock()
    guard = DetectorGuard("x", timeout_seconds=1.0, fail_max=2, monotonic=clock)

    def slow() -> str:
        clock.now += 1.5
        return "too late"

    with pytest.raises(TooSlow):
        guard.call(slow)
    assert guard.state == "closed"
    with pytest.raises(TooSlow):  # the second failure in a row opens the breaker
        guard.call(slow)
    assert guard.state == "open"
    with pytest.raises(pybreaker.CircuitBreakerError):
        guard.call(lambda: "not called")


def test_answers_in_time_pass_through_and_reset_the_count() -> None:
    guard = DetectorGuard("x", timeout_seconds=1.0, fail_max=2, monotonic=Clock())
    with pytest.raises(RuntimeError):
        guard.call(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert guard.call(lambda: 42) == 42
    with pytest.raises(RuntimeError):
        guard.call(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert guard.state == "closed"  # not two in a row


def test_a_call_running_past_its_timeout_makes_the_detector_unavailable() -> None:
    clock = Clock()
    guard = DetectorGuard("x", timeout_seconds=1.0, monotonic=clock)
    seen: list[bool] = []

    def hangs() -> None:
        clock.now += 0.5
        seen.append(guard.available())  # still within its timeout
        clock.now += 1.0
        seen.append(guard.available())  # now stuck: nobody calls it again meanwhile

    with pytest.raises(TooSlow):
        guard.call(hangs)
    assert seen == [True, False]
    assert guard.available()  # the call returned: it may be called again
