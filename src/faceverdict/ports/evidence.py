"""Ports of the evidence log: appending inside a transaction, reading for proofs and audits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faceverdict.evidence.entries import EvidenceEntry, JsonValue
from faceverdict.evidence.merkle import Node


@dataclass(frozen=True)
class EntryDraft:
    """An evidence entry before the log gives it its position (``seq``)."""

    kind: str
    check_id: str | None
    occurred_at: datetime
    payload: Mapping[str, JsonValue]


@dataclass(frozen=True)
class StoredEntry:
    """One row of the stored log: the canonical entry bytes, or None once expired (redacted)."""

    seq: int
    check_id: str | None
    kind: str
    body: bytes | None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: the note text and when it was signed."""

    size: int
    note: str
    signed_at: datetime


class EvidenceWriter(Protocol):
    """Appends to the evidence log inside the caller's transaction."""

    def append(self, drafts: Sequence[EntryDraft]) -> list[EvidenceEntry]:
        """Append entries in order under the log lock; they commit with the transaction."""
        ...

    def latest(self, kind: str) -> EvidenceEntry | None:
        """The newest readable entry of ``kind``, or None."""
        ...

    def redact(self, seqs: Sequence[int], when: datetime) -> int:
        """Remove the bodies of expired entries (leaf hashes stay); return how many changed."""
        ...

    def live_seqs_of(self, check_ids: Sequence[str]) -> list[int]:
        """Seqs of the not yet redacted entries of these checks, ascending."""
        ...


class EvidenceReader(Protocol):
    """Reads the stored log: entries, complete-subtree hashes and checkpoints."""

    def head(self) -> tuple[int, bytes]:
        """The committed tree size and root hash recorded with the last append."""
        ...

    def entries_of(self, check_id: str) -> list[StoredEntry]:
        """Every entry of one check, in log order."""
        ...

    def scan(self, start: int = 0, batch: int = 5000) -> Iterator[StoredEntry]:
        """Every stored entry row from ``start`` on, in ``seq`` order (for audits)."""
        ...

    def nodes(self, wanted: set[Node]) -> dict[Node, bytes]:
        """Stored hashes of the given complete subtrees (missing ones are left out)."""
        ...

    def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        """Stored hashes at ``level`` with index in [start, stop), by index (for audits)."""
        ...

    def node_counts(self) -> dict[int, int]:
        """How many subtree hashes are stored per level (for audits)."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest tree first."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, or None."""
        ...

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one for that size already exists."""
        ...
