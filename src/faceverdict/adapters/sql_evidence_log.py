"""The evidence log in SQL: gapless appends under a lock on the head row, O(log n) proofs.

Writers append inside the caller's transaction (the unit of work), so the entries of a check
commit or vanish together with the check. The head row is locked first (``SELECT ... FOR
UPDATE`` on PostgreSQL; on SQLite the unit of work holds the single write lock from
``BEGIN IMMEDIATE``), so positions are handed out one writer at a time, without gaps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Row,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_check_repository import SQLITE_BEGIN
from faceverdict.adapters.sql_schema import (
    HEAD_ID,
    evidence_checkpoints,
    evidence_entries,
    evidence_head,
    evidence_nodes,
)
from faceverdict.adapters.sql_support import utc
from faceverdict.errors import IntegrityFailure
from faceverdict.evidence.entries import (
    EvidenceEntry,
    entry_bytes,
    format_timestamp,
    parse_entry_bytes,
)
from faceverdict.evidence.merkle import EMPTY_ROOT, Frontier, Node, leaf_hash, root_plan
from faceverdict.ports.evidence import EntryDraft, StoredCheckpoint, StoredEntry

# Many drivers cap bound parameters per statement; node look-ups are chunked below this.
_NODE_CHUNK = 400
# Read bodies as bytes even if someone stored text in the column (audits must not crash).
_ENTRY_COLUMNS = (
    evidence_entries.c.seq,
    evidence_entries.c.check_id,
    evidence_entries.c.kind,
    cast(evidence_entries.c.body, LargeBinary).label("body"),
)


# Built once: statement construction costs more than SQLite executing them.
_LOCK_HEAD = (
    select(evidence_head.c.size, evidence_head.c.root_hash)
    .where(evidence_head.c.id == HEAD_ID)
    .with_for_update()
)
_UPDATE_HEAD = (
    update(evidence_head)
    .where(evidence_head.c.id == HEAD_ID)
    .values(size=bindparam("new_size"), root_hash=bindparam("new_root"))
)
_INSERT_ENTRIES = insert(evidence_entries)
_INSERT_NODES = insert(evidence_nodes)


class FrontierCache:
    """The writer's right edge, reused across appends while it matches the stored head.

    A cached edge is used only if its size AND root equal the locked head row, so an edge
    left by a rolled-back transaction, or by another process's appends, is never reused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[int, bytes, tuple[bytes, ...]] | None = None

    def get(self, size: int, root: bytes) -> Frontier | None:
        """A fresh frontier for the head (size, root), if one is cached."""
        with self._lock:
            cached = self._cached
        if cached is None or cached[0] != size or cached[1] != root:
            return None
        return Frontier(size, cached[2])

    def put(self, frontier: Frontier, root: bytes) -> None:
        """Remember the edge after an append."""
        with self._lock:
            self._cached = (frontier.size, root, frontier.edge)


def fetch_nodes(conn: Connection, wanted: set[Node]) -> dict[Node, bytes]:
    """The stored hashes of ``wanted`` complete subtrees, in as few queries as possible.

    A proof names a few dozen (level, index) pairs. The query is written as plain SQL with
    driver placeholders: building the same OR of pairs as SQLAlchemy expressions costs ten
    times the query itself. Only integers are bound; the SQL text is fixed.
    """
    found: dict[Node, bytes] = {}
    ordered = sorted(wanted, key=lambda n: (n.level, n.index))
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(ordered), _NODE_CHUNK):
        chunk = ordered[start : start + _NODE_CHUNK]
        # OR of (level = ? AND idx = ?) uses the primary key on every backend; SQLite scans
        # the whole table for the row-value IN (VALUES ...) form.
        pairs = " OR ".join(f"(level = {mark} AND idx = {mark})" for _ in chunk)
        params = tuple(v for n in chunk for v in (n.level, n.index))
        sql = f"SELECT level, idx, hash FROM evidence_nodes WHERE {pairs}"
        for level, index, digest in conn.exec_driver_sql(sql, params):
            found[Node(int(level), int(index))] = bytes(digest)
    return found


class SqlEvidenceWriter:
    """Appends entries within one transaction (see the unit of work)."""

    def __init__(self, conn: Connection, cache: FrontierCache) -> None:
        self._conn = conn
        self._cache = cache

    def _lock_head(self) -> tuple[int, bytes]:
        row = self._conn.execute(_LOCK_HEAD).one()
        return int(row.size), bytes(row.root_hash)

    def _frontier(self, size: int, root: bytes) -> Frontier:
        cached = self._cache.get(size, root)
        if cached is not None:
            return cached
        plan = root_plan(size)
        hashes = fetch_nodes(self._conn, set(plan))
        missing = [n for n in plan if n not in hashes]
        if missing:
            raise IntegrityFailure(f"evidence log is damaged: subtree hashes {missing} are missing")
        frontier = Frontier(size, [hashes[n] for n in plan])
        if frontier.root() != root:
            raise IntegrityFailure(
                "evidence log is damaged: stored subtrees disagree with the head"
            )
        return frontier

    def append(self, drafts: Sequence[EntryDraft]) -> list[EvidenceEntry]:
        """Append entries in order under the head lock; they commit with the transaction."""
        if not drafts:
            return []
        size, root = self._lock_head()
        frontier = self._frontier(size, root)
        entries: list[EvidenceEntry] = []
        entry_rows: list[dict[str, object]] = []
        node_rows: list[dict[str, object]] = []
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
                node_rows.append({"level": new.node.level, "idx": new.node.index, "hash": new.hash})
            entry_rows.append(
                {"seq": entry.seq, "check_id": entry.check_id, "kind": entry.kind, "body": body}
            )
            entries.append(entry)
        new_root = frontier.root()
        self._conn.execute(_INSERT_ENTRIES, entry_rows)
        self._conn.execute(_INSERT_NODES, node_rows)
        self._conn.execute(_UPDATE_HEAD, {"new_size": frontier.size, "new_root": new_root})
        self._cache.put(frontier, new_root)
        return entries

    def latest(self, kind: str) -> EvidenceEntry | None:
        """The newest readable entry of ``kind``, or None."""
        row = self._conn.execute(
            select(evidence_entries.c.body)
            .where(evidence_entries.c.kind == kind, evidence_entries.c.body.is_not(None))
            .order_by(evidence_entries.c.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else parse_entry_bytes(bytes(row.body))

    def redact(self, seqs: Sequence[int], when: datetime) -> int:
        """Remove the bodies of expired entries (their leaf hashes stay in the tree)."""
        changed = 0
        for start in range(0, len(seqs), _NODE_CHUNK):
            chunk = list(seqs[start : start + _NODE_CHUNK])
            result = self._conn.execute(
                update(evidence_entries)
                .where(evidence_entries.c.seq.in_(chunk), evidence_entries.c.body.is_not(None))
                .values(body=None, redacted_at=when)
            )
            changed += result.rowcount
        return changed

    def live_seqs_of(self, check_ids: Sequence[str]) -> list[int]:
        """Seqs of the not yet redacted entries of these checks, ascending."""
        seqs: list[int] = []
        for start in range(0, len(check_ids), _NODE_CHUNK):
            chunk = list(check_ids[start : start + _NODE_CHUNK])
            seqs += [
                int(s)
                for s in self._conn.execute(
                    select(evidence_entries.c.seq).where(
                        evidence_entries.c.check_id.in_(chunk),
                        evidence_entries.c.body.is_not(None),
                    )
                ).scalars()
            ]
        return sorted(seqs)


class SqlEvidenceReader:
    """Reads the stored log; each call is one short read transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def head(self) -> tuple[int, bytes]:
        """The committed tree size and root hash."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(evidence_head.c.size, evidence_head.c.root_hash).where(
                    evidence_head.c.id == HEAD_ID
                )
            ).first()
        return (0, EMPTY_ROOT) if row is None else (int(row.size), bytes(row.root_hash))

    def entries_of(self, check_id: str) -> list[StoredEntry]:
        """Every entry of one check, in log order."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(*_ENTRY_COLUMNS)
                .where(evidence_entries.c.check_id == check_id)
                .order_by(evidence_entries.c.seq)
            ).all()
        return [_stored(r) for r in rows]

    def scan(self, start: int = 0, batch: int = 5000) -> Iterator[StoredEntry]:
        """Every entry row from ``start`` on, in ``seq`` order, fetched in batches."""
        position = start
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(*_ENTRY_COLUMNS)
                    .where(evidence_entries.c.seq >= position)
                    .order_by(evidence_entries.c.seq)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _stored(row)
            position = int(rows[-1].seq) + 1

    def nodes(self, wanted: set[Node]) -> dict[Node, bytes]:
        """Stored hashes of the given complete subtrees (missing ones are left out)."""
        with self._engine.connect() as conn:
            return fetch_nodes(conn, wanted)

    def node_range(self, level: int, start: int, stop: int) -> dict[int, bytes]:
        """Stored hashes at ``level`` with index in [start, stop), by index."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(evidence_nodes.c.idx, evidence_nodes.c.hash).where(
                    evidence_nodes.c.level == level,
                    evidence_nodes.c.idx >= start,
                    evidence_nodes.c.idx < stop,
                )
            ).all()
        return {int(r.idx): bytes(r.hash) for r in rows}

    def node_counts(self) -> dict[int, int]:
        """How many subtree hashes are stored per level."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(evidence_nodes.c.level, func.count()).group_by(evidence_nodes.c.level)
            ).all()
        return {int(level): int(count) for level, count in rows}

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest tree first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(evidence_checkpoints).order_by(evidence_checkpoints.c.size)
            ).all()
        return [StoredCheckpoint(int(r.size), r.note, utc(r.signed_at)) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(evidence_checkpoints).order_by(evidence_checkpoints.c.size.desc()).limit(1)
            ).first()
        return (
            None if row is None else StoredCheckpoint(int(row.size), row.note, utc(row.signed_at))
        )

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one for that size already exists."""
        try:
            with self._engine.connect() as conn, _immediate(conn).begin():
                exists = conn.execute(
                    select(evidence_checkpoints.c.size).where(
                        evidence_checkpoints.c.size == checkpoint.size
                    )
                ).first()
                if exists is not None:
                    return False
                conn.execute(
                    insert(evidence_checkpoints).values(
                        size=checkpoint.size, note=checkpoint.note, signed_at=checkpoint.signed_at
                    )
                )
        except IntegrityError:
            return False  # another process signed the same size first
        return True


def _immediate(conn: Connection) -> Connection:
    """Ask SQLite for the write lock at BEGIN: this transaction reads, then writes."""
    return conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


def _stored(row: Row[Any]) -> StoredEntry:
    return StoredEntry(
        seq=int(row.seq),
        check_id=row.check_id,
        kind=row.kind,
        body=None if row.body is None else bytes(row.body),
    )
