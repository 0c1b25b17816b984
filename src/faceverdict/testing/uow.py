"""MemoryUnitOfWork: transactions over the shared in-memory world.

A transaction works on a copy of the world's tables and publishes it when the block ends
normally; an exception discards every write of the block (checks, evidence, capture
records, privacy writes, outbox events). Writers take turns, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from faceverdict.testing.captures import MemoryCaptureRecords, MemoryPrivacyWriter
from faceverdict.testing.checks import MemoryCheckRepository
from faceverdict.testing.events import MemoryEventOutbox
from faceverdict.testing.evidence import MemoryEvidenceWriter
from faceverdict.testing.world import World


@dataclass(frozen=True)
class MemoryTransaction:
    """The stores of one open transaction (they share its tables)."""

    checks: MemoryCheckRepository
    evidence: MemoryEvidenceWriter
    events: MemoryEventOutbox
    captures: MemoryCaptureRecords
    privacy: MemoryPrivacyWriter


class MemoryUnitOfWork:
    """Opens transactions spanning every table of the world."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.purges = 0

    @contextmanager
    def begin(self) -> Iterator[MemoryTransaction]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        world = self._world
        with world.transaction() as tables:
            yield MemoryTransaction(
                checks=MemoryCheckRepository(world, tables),
                evidence=MemoryEvidenceWriter(world, tables),
                events=MemoryEventOutbox(world, tables, world.clock.now()),
                captures=MemoryCaptureRecords(world, tables),
                privacy=MemoryPrivacyWriter(world, tables),
            )

    def purge_deleted(self) -> bool:
        """Deleted rows are gone from memory at once: always complete (counted in ``purges``)."""
        self.purges += 1
        return True
