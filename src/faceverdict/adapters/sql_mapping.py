"""Maps domain objects to and from JSON-able rows for the SQL adapters."""

from __future__ import annotations

from typing import Any

from faceverdict.domain.check import Decision
from faceverdict.domain.detection import Abstention, DetectorOutcome, DetectorResult, Heatmap
from faceverdict.domain.policy import Action


def result_to_json(result: DetectorResult) -> dict[str, Any]:
    """A detector result as a JSON-able dict (heatmap included)."""
    heatmap = result.heatmap
    return {
        "detector": result.detector,
        "version": result.version,
        "fake_probability": result.fake_probability,
        "reasons": list(result.reasons),
        "elapsed_ms": result.elapsed_ms,
        "weights_sha256": result.weights_sha256,
        "abstention": result.abstention.value if result.abstention else None,
        "details": dict(result.details),
        "outcome": result.outcome.value,
        "heatmap": None
        if heatmap is None
        else {
            "width": heatmap.width,
            "height": heatmap.height,
            "values": list(heatmap.values),
            "box": list(heatmap.box),
        },
    }


def result_from_json(data: dict[str, Any]) -> DetectorResult:
    """The inverse of ``result_to_json``."""
    hm = data.get("heatmap")
    return DetectorResult(
        detector=data["detector"],
        version=data["version"],
        fake_probability=data["fake_probability"],
        reasons=tuple(data["reasons"]),
        elapsed_ms=data["elapsed_ms"],
        weights_sha256=data.get("weights_sha256"),
        abstention=Abstention(data["abstention"]) if data.get("abstention") else None,
        details=dict(data.get("details") or {}),
        outcome=DetectorOutcome(data.get("outcome") or DetectorOutcome.ANSWERED.value),
        heatmap=None
        if hm is None
        else Heatmap(
            width=hm["width"],
            height=hm["height"],
            values=tuple(hm["values"]),
            box=(hm["box"][0], hm["box"][1], hm["box"][2], hm["box"][3]),
        ),
    )


def decision_to_row(decision: Decision, seq: int) -> dict[str, Any]:
    """A decision as a row of the ``decisions`` table."""
    return {
        "decision_id": decision.decision_id,
        "check_id": decision.check_id,
        "seq": seq,
        "authenticity_score": decision.authenticity_score,
        "abstention": decision.abstention.value if decision.abstention else None,
        "band": decision.band,
        "action": decision.action.value,
        "reasons": list(decision.reasons),
        "policy_version": decision.policy_version,
        "model_versions": dict(decision.model_versions),
        "composite_risk": decision.composite_risk,
        "final": decision.final,
        "decided_at": decision.decided_at,
        "supersedes": decision.supersedes,
        "stage": decision.stage,
    }


def decision_from_row(row: Any) -> Decision:
    """A decision from a ``decisions`` row."""
    return Decision(
        decision_id=row.decision_id,
        check_id=row.check_id,
        authenticity_score=row.authenticity_score,
        abstention=Abstention(row.abstention) if row.abstention else None,
        band=row.band,
        action=Action(row.action),
        reasons=tuple(row.reasons),
        policy_version=row.policy_version,
        model_versions=dict(row.model_versions),
        composite_risk=row.composite_risk,
        final=bool(row.final),
        decided_at=row.decided_at,
        supersedes=row.supersedes,
        stage=row.stage,
    )
