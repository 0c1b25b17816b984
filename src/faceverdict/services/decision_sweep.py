"""Catch-up over settled decisions: the work a hook should have done after each decision.

Hooks run after a decision commits (webhook deliveries, review tasks); a process that stops in
between leaves that work undone. A sweep reads every decision made since its stored mark and
older than a grace period (younger ones are still their hook's), in pages, hands them to the
caller (who must be idempotent) and moves the mark.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from faceverdict.domain.check import Check, Decision
from faceverdict.ports import DecisionFeed, SweepMarks

SettledDecisions = list[tuple[Check, Decision]]


class InProcessMarks:
    """Marks kept in memory: for services built without a database (tests, ``scan``)."""

    def __init__(self) -> None:
        self._marks: dict[str, datetime] = {}

    def get(self, name: str) -> datetime | None:
        """The mark called ``name``, or None."""
        return self._marks.get(name)

    def set(self, name: str, mark: datetime) -> None:
        """Move the mark called ``name``."""
        self._marks[name] = mark


def sweep_settled_decisions(
    feed: DecisionFeed,
    marks: SweepMarks,
    name: str,
    now: datetime,
    handle: Callable[[SettledDecisions], int],
    *,
    window: timedelta = timedelta(minutes=15),
    grace: timedelta = timedelta(minutes=1),
    limit: int = 200,
    max_pages: int = 50,
) -> int:
    """Run ``handle`` on every settled decision since the mark ``name``; the sum it returns.

    The first sweep (no mark) looks back ``window``. Pages of ``limit`` checks (more when
    one instant holds more decisions than a page), at most ``max_pages`` a sweep: the next
    sweep goes on from the mark. ``handle`` sees a decision again when a page ends on its
    instant, so it must be idempotent.
    """
    settled = now - grace
    stored = marks.get(name)
    start = stored or now - window
    total, page = 0, limit
    for _ in range(max_pages):
        checks = feed.decided_since(start, page)
        due = [(c, d) for c in checks for d in c.decisions if start <= d.decided_at <= settled]
        total += handle(due) if due else 0
        newest = max((d.decided_at for _, d in due), default=start)
        if len(checks) < page:  # nothing after this page
            start = newest
            break
        if newest > start:
            start, page = newest, limit
        elif any(d.decided_at > settled for c in checks for d in c.decisions):
            break  # the rest is younger than the grace period: the next sweep
        else:
            page *= 2  # decisions of a single instant fill the page: widen it
    if start != stored:  # the mark is the newest decision handled: no write when idle
        marks.set(name, start)
    return total
