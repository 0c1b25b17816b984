"""Reading a raw capture: allowed only with a stated reason, and always logged as evidence."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from faceverdict.domain.check import Check
from faceverdict.errors import CaptureGone, IntegrityFailure, InvalidRequest, NotFound
from faceverdict.ports.captures import CaptureRecords, CaptureVault
from faceverdict.ports.checks import CheckRepository
from faceverdict.services.evidence_events import CAPTURE_READ
from faceverdict.services.evidence_log import EvidenceLog

MAX_REASON = 500
CHANNELS = frozenset({"api", "ui", "export", "cli"})


@dataclass(frozen=True)
class CaptureCopy:
    """A decrypted capture handed to one caller, with the evidence entry that logged it."""

    check_id: str
    data: bytes
    media_type: str
    sha256: str
    evidence_seq: int


def caller_id(secret: str) -> str:
    """A short, stable, non-reversible id of an API key or session token for the log."""
    return "key:" + hashlib.sha256(b"faceverdict-caller\x00" + secret.encode()).hexdigest()[:16]


class CaptureAccess:
    """Hands out raw captures (to reviewers, investigators, exports) and logs each read."""

    def __init__(
        self,
        *,
        repository: CheckRepository,
        records: CaptureRecords,
        vault: CaptureVault,
        evidence: EvidenceLog,
    ) -> None:
        self.repository = repository
        self.records = records
        self.vault = vault
        self.evidence = evidence

    def read(self, check_id: str, *, caller: str, reason: str, channel: str = "api") -> CaptureCopy:
        """Decrypt a check's capture for ``caller``, logging who, why and through what.

        The ``capture.read`` entry is committed before the bytes are returned: a read that
        cannot be logged does not happen.
        """
        reason = " ".join(reason.split())
        if not reason or len(reason) > MAX_REASON or not reason.isprintable():
            raise InvalidRequest(f"a reason of 1 to {MAX_REASON} printable characters is required")
        if not caller or channel not in CHANNELS:
            raise InvalidRequest(
                f"caller and a channel ({', '.join(sorted(CHANNELS))}) are required"
            )
        if self.repository.get(check_id) is None:
            raise NotFound(f"no check with id {check_id!r}")
        record = self.records.get(check_id)
        if record is None:
            raise CaptureGone(f"check {check_id} has no stored capture (storage was off)")
        if record.deleted_at is not None:
            raise CaptureGone(
                f"the capture of {check_id} was deleted ({record.deleted_reason}) "
                f"on {record.deleted_at.date().isoformat()}"
            )
        data = self.vault.get(record.blob_key)
        digest = hashlib.sha256(data).hexdigest()
        if digest != record.sha256:
            raise IntegrityFailure(f"the capture of {check_id} does not match its recorded hash")
        entry = self.evidence.append(
            CAPTURE_READ,
            {
                "caller": caller,
                "reason": reason,
                "channel": channel,
                "capture_sha256": digest,
                "capture_ref": record.blob_key,
            },
            check_id=check_id,
        )
        return CaptureCopy(check_id, data, record.media_type, digest, entry.seq)

    def reader(self, channel: str = "ui") -> Callable[[Check, str, str], bytes]:
        """A ``(check, who, why) -> bytes`` reader for the review UI and exports; each read
        is logged like an API read, under ``channel``."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")

        def read(check: Check, who: str, why: str) -> bytes:
            return self.read(check.check_id, caller=who, reason=why, channel=channel).data

        return read
