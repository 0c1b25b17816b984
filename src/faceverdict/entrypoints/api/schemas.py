"""Response bodies of the API: stable, documented, and built only from domain objects."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from faceverdict.domain.check import Check, CheckState, Decision
from faceverdict.domain.detection import Abstention, DetectorOutcome, DetectorResult
from faceverdict.domain.policy import Action


class HeatmapOut(BaseModel):
    """Where a detector saw manipulation: a width x height grid over ``box``."""

    width: int
    height: int
    values: list[float]
    box: list[int] = Field(description="x0, y0, x1, y1 in the oriented capture's pixels")


class DetectorOut(BaseModel):
    """One detector's result."""

    name: str
    version: str
    fake_probability: float | None = Field(description="null: no opinion")
    reasons: list[str]
    elapsed_ms: float
    weights_sha256: str | None
    abstention: Abstention | None
    outcome: DetectorOutcome = Field(
        description="answered, or why not (failed, timed_out, unavailable): a check with "
        "a detector that did not answer is degraded and never accepted"
    )
    details: dict[str, float | str | bool]
    heatmap: HeatmapOut | None

    @classmethod
    def of(cls, r: DetectorResult) -> DetectorOut:
        """From a domain result."""
        hm = r.heatmap
        return cls(
            name=r.detector,
            version=r.version,
            fake_probability=None if r.fake_probability is None else round(r.fake_probability, 4),
            reasons=list(r.reasons),
            elapsed_ms=r.elapsed_ms,
            weights_sha256=r.weights_sha256,
            abstention=r.abstention,
            outcome=r.outcome,
            details=r.details,
            heatmap=None
            if hm is None
            else HeatmapOut(
                width=hm.width, height=hm.height, values=list(hm.values), box=list(hm.box)
            ),
        )


class DecisionOut(BaseModel):
    """One decision (the first inline one, or a later one superseding it)."""

    decision_id: str
    stage: str
    authenticity_score: float | None = Field(description="0-100, 100 = genuine; null if abstained")
    abstention: Abstention | None
    band: str
    action: Action
    reasons: list[str]
    composite_risk: float | None
    policy_version: str
    model_versions: dict[str, str]
    final: bool
    decided_at: datetime
    supersedes: str | None

    @classmethod
    def of(cls, d: Decision) -> DecisionOut:
        """From a domain decision."""
        return cls(
            decision_id=d.decision_id,
            stage=d.stage,
            authenticity_score=d.authenticity_score,
            abstention=d.abstention,
            band=d.band,
            action=d.action,
            reasons=list(d.reasons),
            composite_risk=d.composite_risk,
            policy_version=d.policy_version,
            model_versions=dict(d.model_versions),
            final=d.final,
            decided_at=d.decided_at,
            supersedes=d.supersedes,
        )


class CaptureOut(BaseModel):
    """What validation learned about the upload (never the image itself)."""

    sha256: str
    media_type: str
    width: int
    height: int
    byte_size: int


class CheckOut(BaseModel):
    """A check with its current decision at the top level and the full decision history."""

    check_id: str
    state: str
    flow: str
    created_at: datetime
    capture: CaptureOut
    signals: dict[str, float]
    decision_id: str
    authenticity_score: float | None
    abstention: Abstention | None
    band: str
    action: Action
    reasons: list[str]
    composite_risk: float | None
    policy_version: str
    model_versions: dict[str, str]
    final: bool
    detectors: list[DetectorOut]
    decisions: list[DecisionOut]

    @classmethod
    def of(cls, check: Check) -> CheckOut:
        """From a domain check that has at least one decision."""
        d = check.current_decision
        if d is None:
            raise ValueError("check has no decision yet")
        c = check.capture
        return cls(
            check_id=check.check_id,
            state=check.state.value,
            flow=check.flow,
            created_at=check.created_at,
            capture=CaptureOut(
                sha256=c.sha256,
                media_type=c.media_type,
                width=c.width,
                height=c.height,
                byte_size=c.byte_size,
            ),
            signals=check.signals.as_dict(),
            decision_id=d.decision_id,
            authenticity_score=d.authenticity_score,
            abstention=d.abstention,
            band=d.band,
            action=d.action,
            reasons=list(d.reasons),
            composite_risk=d.composite_risk,
            policy_version=d.policy_version,
            model_versions=dict(d.model_versions),
            # The check is settled: a final decision, or assurance confirmed a provisional one.
            final=d.final or check.state is CheckState.FINAL,
            detectors=[DetectorOut.of(r) for r in check.detector_results],
            decisions=[DecisionOut.of(x) for x in check.decisions],
        )


class Health(BaseModel):
    """Liveness/readiness answer."""

    status: str
    policy_version: str | None = None
    model_versions: dict[str, str] | None = None
