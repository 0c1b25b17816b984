"""Captures in memory: blobs, wrapped subject keys, capture records and erasure writes.

For the key-encryption key use the real ``LocalKeyStore``: it takes the raw 32 key bytes
(``local_key_store()`` below makes one with a fixed test key), so the envelope encryption
of ``EncryptingBlobStore`` runs unchanged over ``MemoryBlobStore``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from faceverdict.adapters.local_key_store import LocalKeyStore
from faceverdict.ports.captures import CaptureRecord, SubjectKey
from faceverdict.testing.world import IntegrityViolation, KeyRow, Scope, Tables, World

# The key rule of LocalBlobStore and S3BlobStore: a key a fake accepts, the real ones accept.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")
TEST_KEK = bytes(range(32))


def local_key_store(kek: bytes = TEST_KEK) -> LocalKeyStore:
    """The real AES-256-GCM key store on a fixed (or given) 32-byte test KEK."""
    return LocalKeyStore(kek)


class MemoryBlobStore:
    """Blobs in a dict; keys are validated as the file and S3 stores validate them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, bytes] = {}

    @staticmethod
    def _check(key: str) -> str:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return key

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically (all or nothing)."""
        with self._lock:
            self._blobs[self._check(key)] = bytes(data)

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; KeyError if absent."""
        with self._lock:
            return self._blobs[self._check(key)]

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are ignored."""
        with self._lock:
            self._blobs.pop(self._check(key), None)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        with self._lock:
            return self._check(key) in self._blobs

    def keys(self) -> list[str]:
        """Every stored key, sorted (for assertions)."""
        with self._lock:
            return sorted(self._blobs)


class MemorySubjectKeys:
    """One wrapped data key per subject; erasure deletes it (crypto-shredding)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def get(self, subject_pseudonym: str) -> SubjectKey | None:
        """The subject's key, or None."""
        for row in self._world.tables.subject_keys.values():
            if row.key.subject_pseudonym == subject_pseudonym:
                return row.key
        return None

    def get_by_id(self, key_id: str) -> SubjectKey | None:
        """The key with this id, or None (destroyed or never made)."""
        row = self._world.tables.subject_keys.get(key_id)
        return None if row is None else row.key

    def create(self, key: SubjectKey, now: datetime) -> SubjectKey:
        """Store a new key; if the subject already has one (a race), return that one."""
        with self._world.transaction() as t:
            for row in t.subject_keys.values():
                if row.key.subject_pseudonym == key.subject_pseudonym:
                    return row.key
            if key.key_id in t.subject_keys:
                raise IntegrityViolation(f"subject key {key.key_id} exists already")
            t.subject_keys[key.key_id] = KeyRow(key, now)
            return key


class MemoryCaptureRecords:
    """Capture records; added inside a unit of work, read anywhere."""

    def __init__(self, world: World, tables: Tables | None = None) -> None:
        self._scope = Scope(world, tables)

    def add(self, record: CaptureRecord) -> None:
        """Record a stored capture (inside a unit of work, as the SQL adapter requires)."""
        if not self._scope.in_transaction:
            raise RuntimeError("capture records are added inside a unit of work")
        with self._scope.write() as t:
            if record.check_id not in t.checks:
                raise IntegrityViolation(f"capture of unknown check {record.check_id}")
            if record.check_id in t.captures:
                raise IntegrityViolation(f"check {record.check_id} has a capture record already")
            t.captures[record.check_id] = record

    def get(self, check_id: str) -> CaptureRecord | None:
        """The capture of a check, or None if it was never stored."""
        return self._scope.read().captures.get(check_id)


def _by_stored_at(records: list[CaptureRecord]) -> list[CaptureRecord]:
    return sorted(records, key=lambda r: (r.stored_at, r.check_id))


class MemoryPrivacyWriter:
    """Erasure and retention writes inside one transaction."""

    def __init__(self, world: World, tables: Tables) -> None:
        self._scope = Scope(world, tables)

    def captures_of(self, subject_pseudonym: str) -> list[CaptureRecord]:
        """Every capture record of a subject, deleted or not."""
        found = self._scope.read().captures.values()
        return _by_stored_at([r for r in found if r.subject_pseudonym == subject_pseudonym])

    def captures_stored_before(self, flow: str, cutoff: datetime) -> list[CaptureRecord]:
        """Captures of ``flow`` still stored and stored at or before ``cutoff``."""
        found = self._scope.read().captures.values()
        return _by_stored_at(
            [r for r in found if r.flow == flow and r.deleted_at is None and r.stored_at <= cutoff]
        )

    def stored_capture_flows(self) -> list[str]:
        """The flows that still have stored captures."""
        found = self._scope.read().captures.values()
        return sorted({r.flow for r in found if r.deleted_at is None})

    def mark_deleted(self, check_ids: Sequence[str], when: datetime, reason: str) -> None:
        """Mark captures as deleted (the blob is removed after commit)."""
        with self._scope.write() as t:
            for check_id in check_ids:
                record = t.captures.get(check_id)
                if record is not None and record.deleted_at is None:
                    t.captures[check_id] = replace(record, deleted_at=when, deleted_reason=reason)

    def destroy_subject_keys(self, subject_pseudonym: str) -> list[str]:
        """Delete the subject's wrapped data keys; return their ids."""
        with self._scope.write() as t:
            ids = sorted(
                key_id
                for key_id, row in t.subject_keys.items()
                if row.key.subject_pseudonym == subject_pseudonym
            )
            for key_id in ids:
                del t.subject_keys[key_id]
        return ids

    def checks_created_before(self, flow: str, cutoff: datetime) -> list[str]:
        """Ids of the checks of ``flow`` created at or before ``cutoff``."""
        rows = [
            r.check
            for r in self._scope.read().checks.values()
            if r.check.flow == flow and r.check.created_at <= cutoff
        ]
        return [c.check_id for c in sorted(rows, key=lambda c: (c.created_at, c.check_id))]

    def check_flows(self) -> list[str]:
        """The flows that have checks."""
        return sorted({r.check.flow for r in self._scope.read().checks.values()})

    def delete_checks(self, check_ids: Sequence[str]) -> None:
        """Delete checks and every row that references them (evidence expiry): decisions,
        capture records, outbox events and their marks, review tasks with their verdicts
        and outcomes, as the foreign keys of the SQL schema cascade."""
        gone = set(check_ids)
        with self._scope.write() as t:
            for check_id in gone:
                row = t.checks.pop(check_id, None)
                if row is None:
                    continue
                if row.check.idempotency_key is not None:
                    t.idempotency.pop(row.check.idempotency_key, None)
                for decision in row.check.decisions:
                    t.decision_ids.pop(decision.decision_id, None)
                t.captures.pop(check_id, None)
            events = {i for i, e in t.outbox.items() if e.check_id in gone}
            t.outbox = {i: e for i, e in t.outbox.items() if i not in events}
            t.handled = {k: v for k, v in t.handled.items() if k[0] not in events}
            tasks = {i for i, r in t.review_tasks.items() if r.task.check_id in gone}
            t.review_tasks = {i: r for i, r in t.review_tasks.items() if i not in tasks}
            t.review_verdicts = {
                i: v for i, v in t.review_verdicts.items() if v.task_id not in tasks
            }
            t.review_outcomes = {
                i: o for i, o in t.review_outcomes.items() if o.task_id not in tasks
            }
