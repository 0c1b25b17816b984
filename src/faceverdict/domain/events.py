"""Domain events: every transition of a check is one, and their names live here.

The check aggregate collects its events; the service that saves the check writes them to the
outbox in the same transaction and hands them to the message bus after the commit. Reactions
(review tasks, assurance selection, webhooks, metrics) are handlers of these events, registered
in one table (``faceverdict.services.handlers``); the evidence log records each of them.

    received ──CheckDecided──► decided ──AssuranceStarted──► assuring
                 │                │  ▲                          │
                 │                │  └───AssuranceAbandoned─────┤
                 │                ├──ReviewOpened──► in_review  │
                 │                │                     │       ├─AssuranceConfirmed─► final
                 └── (final) ─────┴─CheckDecided(final)─┴───────┴─CheckDecided(final)─► final

``ReviewRequested`` moves nothing: a stage asks for a person without deciding (a re-scan that
disagrees with a human verdict).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    """Base of all domain events."""

    check_id: str
    occurred_at: datetime

    @property
    def name(self) -> str:
        """Stable dotted event name, e.g. ``check.received``."""
        return EVENT_NAMES[type(self)]


@dataclass(frozen=True)
class CheckReceived(DomainEvent):
    """A valid capture was accepted for judging."""

    flow: str
    capture_sha256: str


@dataclass(frozen=True)
class CheckDecided(DomainEvent):
    """A decision was made (inline, or a later one superseding it); ``state`` is the new one."""

    decision_id: str
    action: str
    authenticity_score: float | None
    policy_version: str
    supersedes: str | None
    stage: str = "inline"
    final: bool = False
    state: str = "decided"


@dataclass(frozen=True)
class AssuranceStarted(DomainEvent):
    """A decided check went to asynchronous assurance (``decided -> assuring``)."""

    decision_id: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssuranceConfirmed(DomainEvent):
    """Assurance kept the decision, which is now final (``assuring -> final``).

    ``assured_action`` is set when assurance would have taken another action that the
    policy does not let it take (a relaxation with ``may_relax = false``).
    """

    decision_id: str
    action: str
    authenticity_score: float | None
    model_versions: dict[str, str]
    assured_action: str | None = None
    kept_because: str | None = None


@dataclass(frozen=True)
class AssuranceAbandoned(DomainEvent):
    """Assurance could not run (the capture was erased); the decision stands, not final
    (``assuring -> decided``)."""

    decision_id: str
    reason: str


@dataclass(frozen=True)
class ReviewOpened(DomainEvent):
    """A person now decides the check: a review task that settles it was queued
    (``decided | assuring -> in_review``)."""

    decision_id: str
    task_id: str


@dataclass(frozen=True)
class ReviewRequested(DomainEvent):
    """An automated stage asks for a person without deciding (no state change), e.g. a
    re-scan that disagrees with a human verdict it may not overrule."""

    decision_id: str
    reason: str
    proposed_action: str | None = None


EVENT_NAMES: dict[type[DomainEvent], str] = {
    CheckReceived: "check.received",
    CheckDecided: "check.decided",
    AssuranceStarted: "assurance.started",
    AssuranceConfirmed: "assurance.confirmed",
    AssuranceAbandoned: "assurance.abandoned",
    ReviewOpened: "review.opened",
    ReviewRequested: "review.requested",
}
_BY_NAME = {name: cls for cls, name in EVENT_NAMES.items()}


def event_fields(event: DomainEvent) -> dict[str, Any]:
    """The event's fields other than ``check_id`` and ``occurred_at`` (for storage)."""
    return {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in ("check_id", "occurred_at")
    }


def event_from_fields(
    name: str, check_id: str, occurred_at: datetime, fields: dict[str, Any]
) -> DomainEvent:
    """Rebuild a stored event; KeyError for a name this version does not know."""
    cls = _BY_NAME[name]
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in fields.items() if k in known}
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])  # JSON has no tuples
    return cls(check_id=check_id, occurred_at=occurred_at, **values)
