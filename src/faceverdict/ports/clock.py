"""The clock port: services ask it the time, so tests can move it by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time (UTC); tests pass a fixed clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...
