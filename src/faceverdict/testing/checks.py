"""MemoryCheckRepository: checks and decisions in the shared in-memory world.

Mirrors ``SqlCheckRepository``: a check is stored without its pending events, every call sees
committed data (or its transaction's), and what goes in or comes out is a deep copy, so a
caller cannot change stored state by mutating a ``Check``. ``updated_at`` comes from the
world's clock (the SQL adapter uses the wall clock), so a test moves leases by moving time.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime

from faceverdict.domain.check import Check, CheckState
from faceverdict.ports.checks import DecisionConflict, DuplicateIdempotencyKey
from faceverdict.testing.world import CheckRow, IntegrityViolation, Scope, Tables, World


def stored_copy(check: Check) -> Check:
    """A deep copy of ``check`` without pending events, as a store keeps it."""
    return copy.deepcopy(dataclasses.replace(check, events=[]))


class MemoryCheckRepository:
    """Stores checks in memory; built on the world (each call commits) or in a transaction."""

    def __init__(self, world: World, tables: Tables | None = None) -> None:
        self._scope = Scope(world, tables)

    def add(self, check: Check) -> None:
        """Insert a new check with its results and decisions, atomically."""
        with self._scope.write() as t:
            key = check.idempotency_key
            if key is not None and key in t.idempotency:
                raise DuplicateIdempotencyKey(key)
            if check.check_id in t.checks:
                raise IntegrityViolation(f"check {check.check_id} exists already")
            for decision in check.decisions:
                if decision.decision_id in t.decision_ids:
                    raise IntegrityViolation(f"decision {decision.decision_id} exists already")
                t.decision_ids[decision.decision_id] = check.check_id
            t.checks[check.check_id] = CheckRow(stored_copy(check), self._scope.clock.now())
            if key is not None:
                t.idempotency[key] = check.check_id

    def save_decision(self, check: Check) -> None:
        """Persist the state, results and newest decision of an existing check;
        DecisionConflict if another decision took its place meanwhile."""
        decision = check.current_decision
        if decision is None:
            raise ValueError("check has no decision to save")
        with self._scope.write() as t:
            row = t.checks.get(check.check_id)
            if row is None or len(row.check.decisions) != len(check.decisions) - 1:
                raise DecisionConflict(check.check_id)
            if decision.decision_id in t.decision_ids:
                raise DecisionConflict(check.check_id)
            stored = dataclasses.replace(
                row.check,
                state=check.state,
                detector_results=copy.deepcopy(check.detector_results),
                decisions=[*row.check.decisions, copy.deepcopy(decision)],
            )
            t.decision_ids[decision.decision_id] = check.check_id
            t.checks[check.check_id] = CheckRow(stored, self._scope.clock.now())

    def transition(self, check_id: str, source: CheckState, target: CheckState) -> bool:
        """Move a check from ``source`` to ``target`` only if it is still in ``source``
        (``source == target`` touches it: a lease on work in that state is renewed)."""
        with self._scope.write() as t:
            row = t.checks.get(check_id)
            if row is None or row.check.state is not source:
                return False
            moved = dataclasses.replace(row.check, state=target)
            t.checks[check_id] = CheckRow(moved, self._scope.clock.now())
            return True

    def stale(self, state: CheckState, updated_before: datetime, limit: int = 500) -> list[str]:
        """Ids of checks in ``state`` not updated since ``updated_before``, oldest first."""
        rows = [
            r
            for r in self._scope.read().checks.values()
            if r.check.state is state and r.updated_at < updated_before
        ]
        rows.sort(key=lambda r: (r.updated_at, r.check.check_id))
        return [r.check.check_id for r in rows[:limit]]

    def get(self, check_id: str) -> Check | None:
        """The check with this id, or None."""
        row = self._scope.read().checks.get(check_id)
        return None if row is None else copy.deepcopy(row.check)

    def get_by_idempotency_key(self, key: str) -> Check | None:
        """The check created with this Idempotency-Key, or None."""
        check_id = self._scope.read().idempotency.get(key)
        return None if check_id is None else self.get(check_id)

    def ping(self) -> None:
        """Memory is always reachable."""

    def updated_at(self, check_id: str) -> datetime | None:
        """When the check last changed (for tests of leases and sweeps), or None."""
        row = self._scope.read().checks.get(check_id)
        return None if row is None else row.updated_at
