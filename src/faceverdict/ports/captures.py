"""Ports of raw captures: blob storage, key encryption, per-subject keys, erasure writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


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
