"""What the evidence log records about a check: domain events turned into entry drafts.

Entries carry hashes, pointers, scores, versions and codes, never image bytes, heatmaps or
a client's user id (only its HMAC pseudonym). The payloads are the contract of
docs/evidence.md section 9; fields are only ever added.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from datetime import datetime

from faceverdict.domain.check import Check, Decision
from faceverdict.domain.detection import DetectorInfo, DetectorResult
from faceverdict.domain.events import CheckDecided, CheckReceived, DomainEvent
from faceverdict.evidence.entries import JsonValue
from faceverdict.ports.evidence import EntryDraft

RECEIVED = "check.received"
DETECTOR_RESULT = "detector.result"
DECIDED = "check.decided"
REVIEW_VERDICT = "review.verdict"
CAPTURE_READ = "capture.read"
CAPTURE_DELETED = "capture.deleted"
SUBJECT_ERASED = "subject.erased"
RETENTION_SWEPT = "retention.swept"
EVIDENCE_EXPIRED = "evidence.expired"
POLICY_ACTIVATED = "policy.activated"
MODELS_ACTIVATED = "models.activated"


def check_drafts(
    check: Check, events: Iterable[DomainEvent], *, capture_ref: str | None = None
) -> list[EntryDraft]:
    """Entry drafts for events of ``check``: received, detector results, decisions, others."""
    drafts: list[EntryDraft] = []
    for event in events:
        if isinstance(event, CheckReceived):
            drafts.append(_received(check, event, capture_ref))
        elif isinstance(event, CheckDecided):
            decision = _decision(check, event.decision_id)
            drafts += [
                EntryDraft(
                    DETECTOR_RESULT,
                    check.check_id,
                    event.occurred_at,
                    detector_payload(r, decision.decision_id),
                )
                for r in check.detector_results
            ]
            drafts.append(
                EntryDraft(DECIDED, check.check_id, event.occurred_at, decision_payload(decision))
            )
        else:
            drafts.append(generic_draft(event))
    return drafts


def _received(check: Check, event: CheckReceived, capture_ref: str | None) -> EntryDraft:
    c = check.capture
    payload: dict[str, JsonValue] = {
        "subject": check.subject_pseudonym,
        "flow": check.flow,
        "capture": {
            "sha256": c.sha256,
            "media_type": c.media_type,
            "width": c.width,
            "height": c.height,
            "byte_size": c.byte_size,
        },
        "capture_ref": capture_ref,
        "signals": dict(check.signals.as_dict()),
        "request_fingerprint": check.request_fingerprint,
    }
    return EntryDraft(RECEIVED, check.check_id, event.occurred_at, payload)


def _decision(check: Check, decision_id: str) -> Decision:
    for decision in check.decisions:
        if decision.decision_id == decision_id:
            return decision
    raise ValueError(f"check {check.check_id} has no decision {decision_id}")


def detector_payload(result: DetectorResult, decision_id: str) -> dict[str, JsonValue]:
    """One detector's result: version and weights hash, probability, codes (no heatmap)."""
    return {
        "decision_id": decision_id,
        "detector": result.detector,
        "version": result.version,
        "weights_sha256": result.weights_sha256,
        "fake_probability": result.fake_probability,
        "abstention": result.abstention.value if result.abstention else None,
        "outcome": result.outcome.value,
        "reasons": list(result.reasons),
        "details": {k: _json(v) for k, v in sorted(result.details.items())},
        "has_heatmap": result.heatmap is not None,
        "elapsed_ms": result.elapsed_ms,
    }


def decision_payload(decision: Decision) -> dict[str, JsonValue]:
    """A decision with everything that explains it: score, band, codes, versions."""
    return {
        "decision_id": decision.decision_id,
        "stage": decision.stage,
        "supersedes": decision.supersedes,
        "authenticity_score": decision.authenticity_score,
        "abstention": decision.abstention.value if decision.abstention else None,
        "band": decision.band,
        "action": decision.action.value,
        "reasons": list(decision.reasons),
        "composite_risk": decision.composite_risk,
        "final": decision.final,
        "policy_version": decision.policy_version,
        "model_versions": dict(sorted(decision.model_versions.items())),
    }


def models_payload(
    infos: Iterable[DetectorInfo], versions: Mapping[str, str]
) -> dict[str, JsonValue]:
    """The active models: every detector's version and weights hash, plus all versions."""
    detectors: list[JsonValue] = [
        {
            "name": i.name,
            "version": i.version,
            "kind": i.kind.value,
            "weights_sha256": i.weights_sha256,
        }
        for i in sorted(infos, key=lambda info: info.name)
    ]
    return {"model_versions": dict(sorted(versions.items())), "detectors": detectors}


def generic_draft(event: DomainEvent) -> EntryDraft:
    """Any other domain event: its name as kind and its fields as payload."""
    payload = {
        f.name: _json(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in ("check_id", "occurred_at")
    }
    return EntryDraft(event.name, event.check_id, event.occurred_at, payload)


def _json(value: object) -> JsonValue:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity; keep the fact, not a crash
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v) for v in value]
    return str(value)
