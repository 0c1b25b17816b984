"""Erasing a subject: crypto-shred the data key, delete the blobs, keep explainable evidence."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faceverdict.errors import InvalidRequest
from faceverdict.evidence.entries import JsonValue
from faceverdict.ports.captures import CaptureVault
from faceverdict.ports.clock import Clock
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.uow import UnitOfWork
from faceverdict.services.evidence_events import CAPTURE_DELETED, SUBJECT_ERASED
from faceverdict.services.pseudonyms import Pseudonymizer

log = logging.getLogger(__name__)

MAX_SUBJECT_REF = 256


@dataclass(frozen=True)
class Erasure:
    """What an erasure did; ``evidence_seq`` is the position of its ``subject.erased`` entry."""

    subject_pseudonym: str
    checks: tuple[str, ...]
    captures_deleted: int
    keys_destroyed: tuple[str, ...]
    evidence_seq: int
    purged: bool


class ErasureService:
    """Erases a subject's raw data; decisions stay explainable by hashes and codes."""

    def __init__(
        self, *, uow: UnitOfWork, vault: CaptureVault, pseudonymizer: Pseudonymizer, clock: Clock
    ) -> None:
        self.uow = uow
        self.vault = vault
        self.pseudonymizer = pseudonymizer
        self.clock = clock

    def erase(self, subject_ref: str, *, requested_by: str) -> Erasure:
        """Destroy the subject's data key, delete its captures, and log the erasure.

        In one transaction: the wrapped data key rows are deleted (every capture of the
        subject, wherever a copy lives, becomes undecryptable: crypto-shredding), capture
        records are marked erased, and ``capture.deleted`` + ``subject.erased`` entries are
        appended. Then the ciphertext files are removed and the database purged of deleted
        pages. Idempotent: a repeated erasure finds nothing left and records that it ran.
        """
        if not subject_ref or len(subject_ref) > MAX_SUBJECT_REF:
            raise InvalidRequest(f"subject_ref must be 1 to {MAX_SUBJECT_REF} characters")
        pseudonym = self.pseudonymizer.pseudonym(subject_ref)
        now = self.clock.now()
        with self.uow.begin() as tx:
            records = tx.privacy.captures_of(pseudonym)
            live = [r for r in records if r.deleted_at is None]
            tx.privacy.mark_deleted([r.check_id for r in live], now, "erasure")
            key_ids = tx.privacy.destroy_subject_keys(pseudonym)
            drafts = [
                EntryDraft(
                    CAPTURE_DELETED,
                    r.check_id,
                    now,
                    {
                        "reason": "erasure",
                        "capture_ref": r.blob_key,
                        "capture_sha256": r.sha256,
                        "key_id": r.key_id,
                    },
                )
                for r in live
            ]
            checks: list[JsonValue] = [r.check_id for r in records]
            destroyed: list[JsonValue] = list(key_ids)
            drafts.append(
                EntryDraft(
                    SUBJECT_ERASED,
                    None,
                    now,
                    {
                        "subject": pseudonym,
                        "checks": checks,
                        "captures_deleted": len(live),
                        "keys_destroyed": destroyed,
                        "requested_by": requested_by,
                    },
                )
            )
            entries = tx.evidence.append(drafts)
        for record in records:  # every one, so a retried erasure finishes an interrupted one
            self.vault.delete(record.blob_key)
        purged = self.uow.purge_deleted()
        log.info("erased subject: %d captures, %d keys", len(live), len(key_ids))
        return Erasure(
            subject_pseudonym=pseudonym,
            checks=tuple(r.check_id for r in records),
            captures_deleted=len(live),
            keys_destroyed=tuple(key_ids),
            evidence_seq=entries[-1].seq,
            purged=purged,
        )
