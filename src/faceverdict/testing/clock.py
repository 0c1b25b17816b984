"""ManualClock: a clock that tests move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class ManualClock:
    """Starts at ``start`` (default 2026-11-23 12:00 UTC) and moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._current = _aware(start or DEFAULT_START)

    @property
    def current(self) -> datetime:
        """The time the clock shows."""
        return self._current

    def now(self) -> datetime:
        """The current (fixed) time, timezone-aware UTC."""
        return self._current

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new time."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError("a clock does not run backwards: use set() to rewind on purpose")
        with self._lock:
            self._current += step
            return self._current

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (aware; converted to UTC) and return it."""
        with self._lock:
            self._current = _aware(moment)
            return self._current


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    return moment.astimezone(UTC)
