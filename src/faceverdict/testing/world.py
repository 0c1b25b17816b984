"""The in-memory "database" every memory store shares: its tables, and transactions over them.

``World`` holds one ``Tables`` snapshot. A published snapshot is never changed: a write copies
the table containers (shallow: rows are immutable values), changes the copy, and publishes a
new snapshot when it ends normally; an exception discards the copy. So readers take the
current snapshot without a lock and always see committed data, and a transaction
(``World.transaction``) commits or rolls back as one, across every table.

Writers are serialised by one lock, held for a whole transaction, like SQLite's write lock.
A thread that writes outside the transaction it has open would wait for itself on SQLite;
here it raises ``NestedWrite`` at once.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faceverdict.domain.check import Check
from faceverdict.domain.review import ReviewTask
from faceverdict.evidence.merkle import EMPTY_ROOT
from faceverdict.ports.captures import CaptureRecord, SubjectKey
from faceverdict.ports.clock import Clock
from faceverdict.ports.evidence import StoredCheckpoint
from faceverdict.ports.review import (
    Outcome,
    ReviewerAccount,
    SessionRecord,
    StoredEvent,
    StoredVerdict,
)
from faceverdict.ports.webhooks import Delivery, Endpoint

Box = tuple[int, int, int, int]


class NestedWrite(RuntimeError):
    """A thread wrote outside the transaction it holds open (SQLite would wait for itself)."""


class IntegrityViolation(ValueError):
    """A write broke a key or reference constraint that the SQL schema enforces."""


@dataclass(frozen=True)
class CheckRow:
    """A stored check (no pending events) and when it last changed."""

    check: Check
    updated_at: datetime


@dataclass(frozen=True)
class EntryRow:
    """An evidence entry row: canonical bytes, or None once redacted."""

    seq: int
    check_id: str | None
    kind: str
    body: bytes | None
    redacted_at: datetime | None = None


@dataclass(frozen=True)
class KeyRow:
    """A wrapped subject key and when it was made."""

    key: SubjectKey
    created_at: datetime


@dataclass(frozen=True)
class OutboxRow:
    """An outbox event as stored: its name and JSON fields, its claim and settlement."""

    event_id: int
    check_id: str
    name: str
    occurred_at: datetime
    recorded_at: datetime
    payload: dict[str, Any]
    claimed_until: datetime
    settled_at: datetime | None = None


@dataclass(frozen=True)
class TaskRow:
    """A review task row: the task (status, lease, completion) and the columns beside it."""

    task: ReviewTask
    claimed_by: str | None
    lease_expires_at: datetime | None
    claims: int
    dedupe_key: str
    face_searched: bool = False
    face_box: Box | None = None


@dataclass(frozen=True)
class PairRow:
    """A double-review pair as stored (its id is the second-review task)."""

    pair_id: str
    check_id: str
    first_reviewer: str
    first_label: str
    second_reviewer: str
    second_label: str
    adjudicated_label: str | None
    created_at: datetime


@dataclass(frozen=True)
class RunRow:
    """A re-scan run row."""

    run_id: str
    model_version: str
    since: datetime | None
    flow: str | None
    created_at: datetime
    cursor: tuple[datetime, str] | None
    enqueued: int
    done: int
    changed: int
    listed_all: bool
    updated_at: datetime


@dataclass(frozen=True)
class ItemRow:
    """A re-scan item row."""

    done: bool = False
    changed: bool = False


class Tables:
    """Every table; containers are copied on write, rows are immutable values."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckRow] = {}
        self.idempotency: dict[str, str] = {}
        self.decision_ids: dict[str, str] = {}
        self.evidence_head: tuple[int, bytes] = (0, EMPTY_ROOT)
        self.evidence_entries: dict[int, EntryRow] = {}
        self.evidence_nodes: dict[tuple[int, int], bytes] = {}
        self.evidence_checkpoints: dict[int, StoredCheckpoint] = {}
        self.subject_keys: dict[str, KeyRow] = {}
        self.captures: dict[str, CaptureRecord] = {}
        self.outbox: dict[int, OutboxRow] = {}
        self.outbox_next_id: int = 1
        self.handled: dict[tuple[int, str], datetime] = {}
        self.review_tasks: dict[str, TaskRow] = {}
        self.review_verdicts: dict[str, StoredVerdict] = {}
        self.review_pairs: dict[str, PairRow] = {}
        self.review_outcomes: dict[str, Outcome] = {}
        self.review_events: list[StoredEvent] = []
        self.reviewers: dict[str, ReviewerAccount] = {}
        self.review_sessions: dict[str, SessionRecord] = {}
        self.rescan_runs: dict[str, RunRow] = {}
        self.rescan_items: dict[tuple[str, str], ItemRow] = {}
        self.webhook_endpoints: dict[str, Endpoint] = {}
        self.webhook_deliveries: dict[str, Delivery] = {}

    def copy(self) -> Tables:
        """A writable copy: every container copied, the rows shared."""
        clone = Tables.__new__(Tables)
        for name, value in vars(self).items():
            setattr(clone, name, copy.copy(value))
        return clone

    def absorb(self, other: Tables) -> None:
        """Take every table of ``other`` (a copy of this one that was written to)."""
        for name, value in vars(other).items():
            setattr(self, name, value)


class World:
    """The committed tables, the writers' lock and the clock that stamps rows."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tables = Tables()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._open: Tables | None = None

    @property
    def tables(self) -> Tables:
        """The committed snapshot (never changed once published: read without a lock)."""
        return self._tables

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread holds a transaction open."""
        return bool(getattr(self._local, "open", False))

    def is_open(self, tables: Tables) -> bool:
        """Whether ``tables`` are the working set of the transaction open now."""
        return tables is self._open

    @contextmanager
    def transaction(self) -> Iterator[Tables]:
        """Writable tables, published if the block ends normally, discarded if it raises."""
        if self.in_transaction:
            raise NestedWrite(
                "this thread writes outside the transaction it holds open; on SQLite it would "
                "wait for its own write lock: write through the transaction instead"
            )
        with self._lock:
            self._local.open = True
            working = self._tables.copy()
            self._open = working
            try:
                yield working
                self._tables = working
            finally:
                self._open = None
                self._local.open = False


class Scope:
    """Where a store reads and writes: the committed world, or one open transaction."""

    def __init__(self, world: World, working: Tables | None = None) -> None:
        self.world = world
        self._working = working

    @property
    def clock(self) -> Clock:
        """The clock that stamps rows."""
        return self.world.clock

    @property
    def in_transaction(self) -> bool:
        """Whether this scope is an open transaction."""
        return self._working is not None

    def _open(self) -> Tables:
        working = self._working
        assert working is not None
        if not self.world.is_open(working):
            raise RuntimeError("this transaction has ended: its stores cannot be used any more")
        return working

    def read(self) -> Tables:
        """The tables as this scope sees them."""
        return self.world.tables if self._working is None else self._open()

    @contextmanager
    def write(self) -> Iterator[Tables]:
        """Writable tables: a transaction of its own, or a savepoint in the open one."""
        if self._working is None:
            with self.world.transaction() as tables:
                yield tables
            return
        working = self._open()
        scratch = working.copy()
        yield scratch
        working.absorb(scratch)
