"""Ports: the interfaces that services depend on and adapters implement."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from faceverdict.domain.check import Check
from faceverdict.evidence.entries import EvidenceEntry, JsonValue
from faceverdict.evidence.merkle import Node


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
        """Persist the state, results and newest decision of an existing check."""
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


@runtime_checkable
class DecisionFeed(Protocol):
    """Recent decisions, for sweeps that catch up on what a stopped process left undone."""

    def decided_since(self, cutoff: datetime, limit: int = 500) -> list[Check]:
        """Checks with a decision made at or after ``cutoff``, oldest decision first."""
        ...


class SweepMarks(Protocol):
    """Named time marks from which catch-up sweeps resume."""

    def get(self, name: str) -> datetime | None:
        """The mark called ``name``, or None if that sweep never ran."""
        ...

    def set(self, name: str, mark: datetime) -> None:
        """Move the mark called ``name``."""
        ...


class BlobStore(Protocol):
    """Stores capture bytes under an opaque key."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (all or nothing)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; KeyError if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are ignored."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...


class Clock(Protocol):
    """Tells the time (UTC); tests pass a fixed clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# --- Evidence log -------------------------------------------------------------------------


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


# --- Captures and keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: the plaintext for immediate use and its wrapped (encrypted) form."""

    plaintext: bytes = field(repr=False)
    wrapped: bytes
    kek_id: str


class KeyStore(Protocol):
    """Wraps and unwraps per-subject data keys with a key-encryption key (KEK)."""

    @property
    def kek_id(self) -> str:
        """Identifies the KEK (no secret in it), stored with every wrapped key."""
        ...

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        """A new 256-bit data key, wrapped under the KEK and bound to ``context``."""
        ...

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext data key; KeyUnavailable if it cannot be unwrapped."""
        ...


@dataclass(frozen=True)
class SubjectKey:
    """A subject's wrapped data key as stored."""

    key_id: str
    subject_pseudonym: str
    wrapped: bytes = field(repr=False)
    kek_id: str


class SubjectKeys(Protocol):
    """Stores the wrapped data key of each subject; deleting it crypto-shreds the subject."""

    def get(self, subject_pseudonym: str) -> SubjectKey | None:
        """The subject's key, or None."""
        ...

    def get_by_id(self, key_id: str) -> SubjectKey | None:
        """The key with this id, or None (destroyed or never made)."""
        ...

    def create(self, key: SubjectKey, now: datetime) -> SubjectKey:
        """Store a new key; if the subject already has one (a race), return that one."""
        ...


class CaptureVault(Protocol):
    """Stores raw captures encrypted under their subject's data key (envelope encryption)."""

    def put(self, key: str, data: bytes, *, subject_pseudonym: str) -> str:
        """Encrypt and store ``data`` under blob ``key``; return the id of the data key used."""
        ...

    def get(self, key: str) -> bytes:
        """The decrypted capture; CaptureGone if it or its data key no longer exists."""
        ...

    def delete(self, key: str) -> None:
        """Remove the stored ciphertext; absent keys are ignored."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ciphertext is stored under ``key``."""
        ...


@dataclass(frozen=True)
class CaptureRecord:
    """Where a check's raw capture is kept, under which key, and whether it is gone."""

    check_id: str
    subject_pseudonym: str
    flow: str
    blob_key: str
    key_id: str
    sha256: str
    media_type: str
    stored_at: datetime
    deleted_at: datetime | None = None
    deleted_reason: str | None = None


class CaptureRecords(Protocol):
    """The index of stored captures (written in the check's transaction)."""

    def add(self, record: CaptureRecord) -> None:
        """Record a stored capture."""
        ...

    def get(self, check_id: str) -> CaptureRecord | None:
        """The capture of a check, or None if it was never stored."""
        ...


class PrivacyWriter(Protocol):
    """Erasure and retention writes, inside the caller's transaction."""

    def captures_of(self, subject_pseudonym: str) -> list[CaptureRecord]:
        """Every capture record of a subject, deleted or not."""
        ...

    def captures_stored_before(self, flow: str, cutoff: datetime) -> list[CaptureRecord]:
        """Captures of ``flow`` still stored and stored at or before ``cutoff``."""
        ...

    def stored_capture_flows(self) -> list[str]:
        """The flows that still have stored captures."""
        ...

    def mark_deleted(self, check_ids: Sequence[str], when: datetime, reason: str) -> None:
        """Mark captures as deleted (the blob is removed after commit)."""
        ...

    def destroy_subject_keys(self, subject_pseudonym: str) -> list[str]:
        """Delete the subject's wrapped data keys; return their ids."""
        ...

    def checks_created_before(self, flow: str, cutoff: datetime) -> list[str]:
        """Ids of the checks of ``flow`` created at or before ``cutoff``."""
        ...

    def check_flows(self) -> list[str]:
        """The flows that have checks."""
        ...

    def delete_checks(self, check_ids: Sequence[str]) -> None:
        """Delete checks with their decisions and capture records (evidence expiry)."""
        ...


class Transaction(Protocol):
    """Everything written together: commits or rolls back as one."""

    @property
    def checks(self) -> CheckRepository:
        """Checks and decisions."""
        ...

    @property
    def evidence(self) -> EvidenceWriter:
        """The evidence log."""
        ...

    @property
    def captures(self) -> CaptureRecords:
        """Capture records."""
        ...

    @property
    def privacy(self) -> PrivacyWriter:
        """Erasure and retention writes."""
        ...


class UnitOfWork(Protocol):
    """Opens write transactions across the check store and the evidence log."""

    def begin(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        ...

    def purge_deleted(self) -> bool:
        """Make deleted rows unrecoverable from the store's files; True if complete."""
        ...
