"""The retention sweeper: deletes what the policy says is due, and records what it removed.

Per flow (``[defaults.retention]``, ``[flows.<name>.retention]`` in the policy):

* a raw capture is due ``capture_days`` after it was stored: its ciphertext is deleted and a
  ``capture.deleted`` entry (reason ``retention``) is appended;
* a check's evidence is due ``evidence_days`` after the check: its entries' bodies are
  removed (their leaf hashes stay, so every proof and checkpoint still verifies) and the
  check's rows are deleted.

One ``retention.swept`` entry lists what the sweep removed, including the exact positions
of the expired entries (``redacted_seqs``), which is what lets ``audit`` tell an expiry from
tampering. A sweep with nothing due writes nothing: running it twice is the same as once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.domain.policy import Policy
from faceverdict.evidence.entries import JsonValue, format_timestamp
from faceverdict.ports.captures import CaptureRecord, CaptureVault
from faceverdict.ports.clock import Clock
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.uow import UnitOfWork
from faceverdict.services.evidence_events import CAPTURE_DELETED, RETENTION_SWEPT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep removed (empty when nothing was due)."""

    captures_deleted: tuple[str, ...]
    checks_expired: tuple[str, ...]
    entries_expired: int
    evidence_seq: int | None
    purged: bool

    @property
    def removed_anything(self) -> bool:
        """True if the sweep deleted or expired anything."""
        return bool(self.captures_deleted or self.checks_expired)


def seq_ranges(seqs: Sequence[int]) -> list[list[int]]:
    """Sorted positions as half-open ``[start, stop)`` ranges: [1, 2, 3, 7] -> [[1, 4], [7, 8]]."""
    ranges: list[list[int]] = []
    for seq in sorted(seqs):
        if ranges and ranges[-1][1] == seq:
            ranges[-1][1] = seq + 1
        else:
            ranges.append([seq, seq + 1])
    return ranges


class RetentionSweeper:
    """Enforces the policy's retention periods."""

    def __init__(
        self, *, uow: UnitOfWork, vault: CaptureVault, policy: Policy, clock: Clock
    ) -> None:
        self.uow = uow
        self.vault = vault
        self.policy = policy
        self.clock = clock

    def sweep(self) -> SweepReport:
        """Delete due captures and expire due evidence, atomically recorded in the log."""
        now = self.clock.now()
        with self.uow.begin() as tx:
            due: list[CaptureRecord] = []
            for flow in tx.privacy.stored_capture_flows():
                days = self.policy.retention_for(flow).capture_days
                due += tx.privacy.captures_stored_before(flow, now - timedelta(days=days))
            expired: list[str] = []
            for flow in tx.privacy.check_flows():
                days = self.policy.retention_for(flow).evidence_days
                expired += tx.privacy.checks_created_before(flow, now - timedelta(days=days))
            if not due and not expired:
                return SweepReport((), (), 0, None, True)
            expired_set = set(expired)
            seqs = tx.evidence.live_seqs_of(expired)
            tx.privacy.mark_deleted([r.check_id for r in due], now, "retention")
            drafts = [
                EntryDraft(
                    CAPTURE_DELETED,
                    r.check_id,
                    now,
                    {
                        "reason": "retention",
                        "capture_ref": r.blob_key,
                        "capture_sha256": r.sha256,
                        "stored_at": format_timestamp(r.stored_at),
                        "capture_days": self.policy.retention_for(r.flow).capture_days,
                        "policy_version": self.policy.version,
                    },
                )
                for r in due
                if r.check_id not in expired_set  # their entries expire below anyway
            ]
            deleted: list[JsonValue] = [r.check_id for r in due]
            expired_ids: list[JsonValue] = list(expired)
            ranges: list[JsonValue] = [[start, stop] for start, stop in seq_ranges(seqs)]
            drafts.append(
                EntryDraft(
                    RETENTION_SWEPT,
                    None,
                    now,
                    {
                        "policy_version": self.policy.version,
                        "captures_deleted": deleted,
                        "checks_expired": expired_ids,
                        "redacted_seqs": ranges,
                    },
                )
            )
            entries = tx.evidence.append(drafts)
            tx.evidence.redact(seqs, now)
            tx.privacy.delete_checks(expired)
            # Before commit: a crash now leaves rows to sweep again, never a due blob behind.
            for record in due:
                self.vault.delete(record.blob_key)
        purged = self.uow.purge_deleted()
        log.info("retention: %d captures deleted, %d checks expired", len(due), len(expired))
        return SweepReport(
            captures_deleted=tuple(r.check_id for r in due),
            checks_expired=tuple(expired),
            entries_expired=len(seqs),
            evidence_seq=entries[-1].seq,
            purged=purged,
        )
