"""Domain events: every transition of a check is one.

Webhooks, the evidence log and metrics hang off these events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DomainEvent:
    """Base of all domain events."""

    check_id: str
    occurred_at: datetime

    @property
    def name(self) -> str:
        """Stable dotted event name, e.g. ``check.received``."""
        return _NAMES[type(self)]


@dataclass(frozen=True)
class CheckReceived(DomainEvent):
    """A valid capture was accepted for judging."""

    flow: str
    capture_sha256: str


@dataclass(frozen=True)
class CheckDecided(DomainEvent):
    """A decision was made (inline, or a later one superseding it)."""

    decision_id: str
    action: str
    authenticity_score: float | None
    policy_version: str
    supersedes: str | None


_NAMES: dict[type[DomainEvent], str] = {
    CheckReceived: "check.received",
    CheckDecided: "check.decided",
}
