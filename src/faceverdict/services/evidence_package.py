"""The evidence package of one check: its entries with inclusion proofs, rationale, retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from faceverdict.domain.check import Check
from faceverdict.domain.policy import Policy
from faceverdict.errors import IntegrityFailure, NotFound
from faceverdict.evidence.checkpoint import parse_checkpoint
from faceverdict.evidence.entries import format_timestamp, parse_entry_bytes
from faceverdict.evidence.package import PackagedEntry, build_package
from faceverdict.evidence.verify import verify_package
from faceverdict.ports.captures import CaptureRecord, CaptureRecords
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.services.evidence_events import decision_payload
from faceverdict.services.evidence_log import EvidenceLog


class EvidencePackager:
    """Builds the offline-verifiable package of a check (docs/evidence.md section 6)."""

    def __init__(
        self,
        *,
        evidence: EvidenceLog,
        repository: CheckRepository,
        records: CaptureRecords,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self.evidence = evidence
        self.repository = repository
        self.records = records
        self.policy = policy
        self.clock = clock

    def package(self, check_id: str) -> dict[str, Any]:
        """The package: every live entry of the check, proven against a signed checkpoint.

        A checkpoint is signed on demand when the latest one predates the check's newest
        entry. The package is verified before it is returned: the service never hands out
        evidence that would not verify.
        """
        check = self.repository.get(check_id)
        if check is None:
            raise NotFound(f"no check with id {check_id!r}")
        stored = [e for e in self.evidence.reader.entries_of(check_id) if e.body is not None]
        if not stored:
            raise NotFound(f"check {check_id!r} has no evidence entries")
        entries = [parse_entry_bytes(e.body) for e in stored if e.body is not None]
        signed = self.evidence.checkpoint_covering(max(e.seq for e in entries))
        size = parse_checkpoint(signed.note).size
        proofs = self.evidence.inclusion_proofs([e.seq for e in entries], size)
        vkey = self.evidence.signer.vkey
        package = build_package(
            signed.note, vkey, [PackagedEntry(e, e.seq, proofs[e.seq]) for e in entries]
        )
        report = verify_package(package, trusted_vkey=vkey)
        if not report.ok:
            raise IntegrityFailure(
                "evidence package failed self-verification: " + report.failures[0]
            )
        package["check"] = rationale(check)
        package["retention"] = self.retention(check, self.records.get(check_id))
        package["generated_at"] = format_timestamp(self.clock.now())
        return package

    def retention(self, check: Check, record: CaptureRecord | None) -> dict[str, Any]:
        """How long the capture and the evidence of this check are kept, and their status."""
        retention = self.policy.retention_for(check.flow)
        capture: dict[str, Any] = {"status": "not_stored"}
        if record is not None:
            status = "stored"
            if record.deleted_at is not None:
                status = "erased" if record.deleted_reason == "erasure" else "expired"
            capture = {
                "status": status,
                "stored_at": format_timestamp(record.stored_at),
                "delete_due_at": format_timestamp(
                    record.stored_at + timedelta(days=retention.capture_days)
                ),
                "deleted_at": None
                if record.deleted_at is None
                else format_timestamp(record.deleted_at),
                "deleted_reason": record.deleted_reason,
            }
        return {
            "policy_version": self.policy.version,
            "capture_days": retention.capture_days,
            "evidence_days": retention.evidence_days,
            "capture": capture,
            "evidence_expires_at": format_timestamp(
                check.created_at + timedelta(days=retention.evidence_days)
            ),
        }


def rationale(check: Check) -> dict[str, Any]:
    """The current decision and its history, as recorded (a summary of the signed entries)."""
    current = check.current_decision
    c = check.capture
    return {
        "check_id": check.check_id,
        "flow": check.flow,
        "state": check.state.value,
        "created_at": format_timestamp(check.created_at),
        "capture": {
            "sha256": c.sha256,
            "media_type": c.media_type,
            "width": c.width,
            "height": c.height,
            "byte_size": c.byte_size,
        },
        "decision": None if current is None else decision_payload(current),
        "decisions": [decision_payload(d) for d in check.decisions],
    }
