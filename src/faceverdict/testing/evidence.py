"""The evidence log in memory: the same rows as ``sql_evidence_log`` (entries with canonical
bytes, complete-subtree hashes, a head, checkpoints), so ``EvidenceLog``, proofs, packages and
audits run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from faceverdict.errors import IntegrityFailure
from faceverdict.evidence.entries import (
    EvidenceEntry,
    entry_bytes,
    format_timestamp,
    parse_entry_bytes,
)
from faceverdict.evidence.merkle import Frontier, Node, leaf_hash, root_plan
from faceverdict.ports.evidence import EntryDraft, StoredCheckpoint, StoredEntry
from faceverdict.testing.world import EntryRow, Scope, Tables, World


def _stored(row: EntryRow) -> StoredEntry:
    return StoredEntry(seq=row.seq, check_id=row.check_id, kind=row.kind, body=row.body)


def _frontier(t: Tables) -> Frontier:
    """The right edge of the stored tree, checked against the head (as the SQL writer does)."""
    size, root = t.evidence_head
    plan = root_plan(size)
    missing = [n for n in plan if (n.level, n.index) not in t.evidence_nodes]
    if missing:
        raise IntegrityFailure(f"evidence log is damaged: subtree hashes {missing} are missing")
    frontier = Frontier(size, [t.evidence_nodes[(n.level, n.index)] for n in plan])
    if frontier.root() != root:
        raise IntegrityFailure("evidence log is damaged: stored subtrees disagree with the head")
    return frontier


class MemoryEvidenceWriter:
    """Appends entries within one transaction (see ``MemoryUnitOfWork``)."""

    def __init__(self, world: World, tables: Tables | None = None) -> None:
        self._scope = Scope(world, tables)

    def append(self, drafts: Sequence[EntryDraft]) -> list[EvidenceEntry]:
        """Append entries in order; they commit with the transaction."""
        if not drafts:
            return []
        with self._scope.write() as t:
            frontier = _frontier(t)
            size = frontier.size
            entries: list[EvidenceEntry] = []
            for offset, draft in enumerate(drafts):
                entry = EvidenceEntry(
                    seq=size + offset,
                    check_id=draft.check_id,
                    kind=draft.kind,
                    occurred_at=format_timestamp(draft.occurred_at),
                    payload=dict(draft.payload),
                )
                body = entry_bytes(entry)
                for new in frontier.append(leaf_hash(body)):
                    t.evidence_nodes[(new.node.level, new.node.index)] = new.hash
                t.evidence_entries[entry.seq] = EntryRow(
                    entry.seq, entry.check_id, entry.kind, body
                )
                entries.append(entry)
            t.evidence_head = (frontier.size, frontier.root())
            return entries

    def latest(self, kind: str) -> EvidenceEntry | None:
        """The newest readable entry of ``kind``, or None."""
        rows = self._scope.read().evidence_entries
        for seq in sorted(rows, reverse=True):
            row = rows[seq]
            if row.kind == kind and row.body is not None:
                return parse_entry_bytes(row.body)
        return None

    def redact(self, seqs: Sequence[int], when: datetime) -> int:
        """Remove the bodies of expired entries (leaf hashes stay); return how many changed."""
        changed = 0
        with self._scope.write() as t:
            for seq in dict.fromkeys(seqs):
                row = t.evidence_entries.get(seq)
                if row is not None and row.body is not None:
                    t.evidence_entries[seq] = EntryRow(row.seq, row.check_id, row.kind, None, when)
                    changed += 1
        return changed

    def live_seqs_of(self, check_ids: Sequence[str]) -> list[int]:
        """Seqs of the not yet redacted entries of these checks, ascending."""
        wanted = set(check_ids)
        rows = self._scope.read().evidence_entries.values()
        return sorted(r.seq for r in rows if r.check_id in wanted and r.body is not None)


class MemoryEvidenceReader:
    """Reads the committed log."""

    def __init__(self, world: World) -> None:
        self._world = world

    def head(self) -> tuple[int, bytes]:
        """The committed tree size and root hash recorded with the last append."""
        return self._world.tables.evidence_head

    def entries_of(self, check_id: str) -> list[StoredEntry]:
        """Every entry of one check, in log order."""
        rows = self._world.tables.evidence_entries
        return [_stored(rows[s]) for s in sorted(rows) if rows[s].check_id == check_id]

    def scan(self, start: int = 0, batch: int = 5000) -> Iterator[StoredEntry]:
        """Every stored entry row from ``start`` on, in ``seq`` order (for audits)."""
        del batch  # one snapshot holds every row
        rows = self._world.tables.evidence_entries
        for seq in sorted(s for s in rows if s >= start):
            yield _stored(rows[seq])

    def nodes(self, wanted: set[Node]) -> dict[Node, bytes]:
        """Stored hashes of the given complete subtrees (missing ones are left out)."""
        stored = self._world.tables.evidence_nodes
        return {n: stored[(n.level, n.index)] for n in wanted if (n.level, n.index) in stored}

    def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        """Stored hashes at ``level`` with index in [start, stop), by index (for audits)."""
        stored = self._world.tables.evidence_nodes
        if stop - start <= len(stored):
            return {i: stored[(level, i)] for i in range(start, stop) if (level, i) in stored}
        return {i: h for (lv, i), h in stored.items() if lv == level and start <= i < stop}

    def node_counts(self) -> dict[int, int]:
        """How many subtree hashes are stored per level (for audits)."""
        counts: dict[int, int] = {}
        for level, _index in self._world.tables.evidence_nodes:
            counts[level] = counts.get(level, 0) + 1
        return counts

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest tree first."""
        stored = self._world.tables.evidence_checkpoints
        return [stored[size] for size in sorted(stored)]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, or None."""
        stored = self._world.tables.evidence_checkpoints
        return stored[max(stored)] if stored else None

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one for that size already exists."""
        with self._world.transaction() as t:
            if checkpoint.size in t.evidence_checkpoints:
                return False
            t.evidence_checkpoints[checkpoint.size] = checkpoint
            return True
