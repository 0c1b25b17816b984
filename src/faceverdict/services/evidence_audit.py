"""Audit of the whole stored log: re-hash every entry, rebuild the tree, check every checkpoint.

What it proves (docs/evidence.md section 10): every stored entry is canonical and sits at
its own position; the leaf and subtree hashes stored for proofs are exactly those recomputed
from the entry bytes, with nothing missing or extra; the head matches; every checkpoint is
signed by the trusted key for this log and its root is the recomputed root at its size;
each checkpoint extends the previous one (consistency proof from the stored hashes); and
every expired (redacted) entry was expired by a retention record that is itself in the log.
Memory stays O(batch): entries are streamed and their hashes compared batch by batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from faceverdict.evidence.checkpoint import Checkpoint, VerifierKey, verify_checkpoint
from faceverdict.evidence.entries import EvidenceEntry, parse_entry_bytes
from faceverdict.evidence.errors import EvidenceError
from faceverdict.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    NewNode,
    assemble,
    consistency_plan,
    leaf_hash,
    plan_nodes,
    verify_consistency,
)
from faceverdict.ports.evidence import EvidenceReader, StoredCheckpoint, StoredEntry
from faceverdict.services.evidence_events import RETENTION_SWEPT

BATCH = 5000
MAX_REPORTED = 50


@dataclass
class AuditReport:
    """The outcome of an audit; ``problems`` is empty when everything verified."""

    size: int = 0
    entries_checked: int = 0
    entries_expired: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: int | None = None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return self.problem_count == 0

    @property
    def unsigned(self) -> int:
        """Entries appended after the latest checkpoint (normal; signed on the next one)."""
        return self.size - (self.latest_checkpoint or 0)

    def fail(self, problem: str) -> None:
        """Record one problem (the first MAX_REPORTED are kept verbatim)."""
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)


def _expired_ranges(entry: EvidenceEntry) -> list[tuple[int, int]]:
    """The ``[start, stop)`` ranges a ``retention.swept`` entry says it redacted."""
    ranges = entry.payload.get("redacted_seqs")
    found: list[tuple[int, int]] = []
    for item in ranges if isinstance(ranges, list) else []:
        if isinstance(item, list) and len(item) == 2:
            start, stop = item
            if type(start) is int and type(stop) is int:
                found.append((start, stop))
    return found


def _unjustified(redacted: list[int], justified: list[tuple[int, int, int]]) -> list[int]:
    """Redacted positions that no later ``retention.swept`` entry accounts for."""
    ranges = sorted(justified)
    starts = [start for start, _stop, _by in ranges]
    missing = []
    for seq in redacted:
        at = bisect.bisect_right(starts, seq) - 1
        if at < 0 or not (seq < ranges[at][1] and seq < ranges[at][2]):
            missing.append(seq)
    return missing


class _Batch:
    """Leaf hashes and the subtree hashes they close, compared with the store per level."""

    def __init__(self) -> None:
        self.created: list[NewNode] = []

    def compare(self, reader: EvidenceReader, report: AuditReport) -> None:
        by_level: dict[int, dict[int, bytes]] = {}
        for new in self.created:
            by_level.setdefault(new.node.level, {})[new.node.index] = new.hash
        for level, expected in by_level.items():
            stored = reader.node_range(level, min(expected), max(expected) + 1)
            for index, digest in expected.items():
                have = stored.get(index)
                if have == digest:
                    continue
                if level == 0:
                    what = "no stored leaf hash" if have is None else "bytes do not match its leaf"
                    report.fail(f"entry {index}: {what} (changed or reordered)")
                else:
                    what = "missing" if have is None else "differs from the recomputed hash"
                    report.fail(f"subtree hash ({level}, {index}) {what}")
        self.created.clear()


def audit_log(
    reader: EvidenceReader,
    vkey: VerifierKey,
    origin: str,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Re-verify the stored log against the trusted ``vkey`` and ``origin``."""
    report = AuditReport()
    size, head_root = reader.head()
    report.size = size
    checkpoints = reader.checkpoints()
    wanted_roots = {c.size for c in checkpoints}
    roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in wanted_roots else {}

    frontier = Frontier()
    batch = _Batch()
    justified: list[tuple[int, int, int]] = []  # (start, stop, seq of the record)
    redacted: list[int] = []
    beyond: list[int] = []
    expected = 0

    def leaf_for_missing(seq: int) -> bytes | None:
        return reader.node_range(0, seq, seq + 1).get(seq)

    def add(leaf: bytes) -> None:
        batch.created.extend(frontier.append(leaf))
        if frontier.size in wanted_roots:
            roots[frontier.size] = frontier.root()

    for row in reader.scan():
        if row.seq >= size:
            beyond.append(row.seq)
            continue
        while expected < row.seq:  # rows deleted: carry on with the stored leaf if any
            report.fail(f"entry {expected} is missing (row deleted)")
            stored_leaf = leaf_for_missing(expected)
            if stored_leaf is None:
                report.fail("the tree cannot be recomputed past a missing leaf")
                return _finish(report, reader, vkey, origin, checkpoints, roots, size)
            add(stored_leaf)
            expected += 1
        leaf = _check_row(row, report, justified, redacted)
        if leaf is None:  # expired: the stored leaf stands in (justified below)
            stored_leaf = leaf_for_missing(row.seq)
            if stored_leaf is None:
                report.fail(f"entry {row.seq}: expired, and its leaf hash is gone too")
                return _finish(report, reader, vkey, origin, checkpoints, roots, size)
            leaf = stored_leaf
        add(leaf)
        expected += 1
        report.entries_checked += 1
        if len(batch.created) >= 2 * BATCH:
            batch.compare(reader, report)
            if progress is not None:
                progress(frontier.size)
    batch.compare(reader, report)
    if expected < size:
        report.fail(f"entries {expected}..{size - 1} are missing (the head says {size})")
    elif frontier.root() != head_root:
        report.fail("the head's root hash is not the recomputed root")

    # Rows past the head are fine only if they were appended while we read.
    new_size, _ = reader.head()
    for seq in beyond:
        if seq >= new_size:
            report.fail(f"entry {seq} lies beyond the log head {new_size} (inserted row)")
    for level, count in reader.node_counts().items():
        if count > new_size >> level:
            report.fail(f"{count - (new_size >> level)} extra subtree hashes at level {level}")

    for seq in _unjustified(redacted, justified):
        report.fail(f"entry {seq}: body removed without a retention record")
    report.entries_expired = len(redacted)
    return _finish(report, reader, vkey, origin, checkpoints, roots, size)


def _check_row(
    row: StoredEntry,
    report: AuditReport,
    justified: list[tuple[int, int, int]],
    redacted: list[int],
) -> bytes | None:
    """The leaf hash recomputed from a row's bytes, or None for an expired row."""
    if row.body is None:
        redacted.append(row.seq)
        return None
    try:
        entry = parse_entry_bytes(row.body)
    except EvidenceError as exc:
        report.fail(f"entry {row.seq}: {exc.detail}")
        return leaf_hash(row.body)
    if entry.seq != row.seq:
        report.fail(f"entry {row.seq}: its bytes say seq {entry.seq} (moved or reordered)")
    if entry.check_id != row.check_id or entry.kind != row.kind:
        report.fail(f"entry {row.seq}: check_id/kind columns disagree with its bytes")
    if entry.kind == RETENTION_SWEPT:
        justified += [(start, stop, entry.seq) for start, stop in _expired_ranges(entry)]
    return leaf_hash(row.body)


def _finish(
    report: AuditReport,
    reader: EvidenceReader,
    vkey: VerifierKey,
    origin: str,
    checkpoints: list[StoredCheckpoint],
    roots: dict[int, bytes],
    size: int,
) -> AuditReport:
    """Check every checkpoint: signature, origin, size, root, and consistency with the last."""
    previous: Checkpoint | None = None
    for stored in checkpoints:
        report.checkpoints_checked += 1
        try:
            checkpoint = verify_checkpoint(stored.note, vkey, origin=origin)
        except EvidenceError as exc:
            report.fail(f"checkpoint {stored.size}: {exc.slug}: {exc.detail}")
            continue
        if checkpoint.size != stored.size:
            report.fail(f"checkpoint {stored.size}: its signed size is {checkpoint.size}")
            continue
        if checkpoint.size > size:
            report.fail(f"checkpoint {stored.size} is beyond the log head {size}")
            continue
        recomputed = roots.get(checkpoint.size)
        if recomputed is not None and recomputed != checkpoint.root_hash:
            report.fail(f"checkpoint {stored.size}: signed root is not the recomputed root")
        if previous is not None:
            plan = consistency_plan(previous.size, checkpoint.size)
            hashes = reader.nodes(plan_nodes(plan))
            proof = assemble(plan, hashes) if all(n in hashes for n in plan_nodes(plan)) else None
            if proof is None or not verify_consistency(
                previous.size, checkpoint.size, previous.root_hash, checkpoint.root_hash, proof
            ):
                report.fail(
                    f"checkpoint {checkpoint.size} is not consistent with checkpoint "
                    f"{previous.size}"
                )
        previous = checkpoint
        report.latest_checkpoint = checkpoint.size
    return report
