"""Ports of the check store: checks with their decisions, and conditional state changes."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from faceverdict.domain.check import Check, CheckState


class DuplicateIdempotencyKey(Exception):
    """Raised by ``CheckRepository.add``: another check holds the same Idempotency-Key."""


class DecisionConflict(Exception):
    """Raised by ``CheckRepository.save_decision``: another decision already took its place."""


class CheckRepository(Protocol):
    """Stores checks with their detector results and decisions."""

    def add(self, check: Check) -> None:
        """Insert a new check with its results and decisions, atomically."""
        ...

    def save_decision(self, check: Check) -> None:
        """Persist the state, results and newest decision of an existing check;
        DecisionConflict if another decision took its place meanwhile."""
        ...

    def transition(self, check_id: str, source: CheckState, target: CheckState) -> bool:
        """Move a check from ``source`` to ``target`` only if it is still in ``source``
        (``source == target`` touches it: a lease on work in that state is renewed)."""
        ...

    def stale(self, state: CheckState, updated_before: datetime, limit: int = 500) -> list[str]:
        """Ids of checks in ``state`` not updated since ``updated_before``, oldest first."""
        ...

    def get(self, check_id: str) -> Check | None:
        """The check with this id, or None."""
        ...

    def get_by_idempotency_key(self, key: str) -> Check | None:
        """The check created with this Idempotency-Key, or None."""
        ...

    def ping(self) -> None:
        """Raise Unavailable if the store cannot be reached."""
        ...
