"""Which decided checks go to a person, why, how urgently, and to which tier."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from faceverdict.domain.detection import DetectorResult
from faceverdict.domain.policy import Action
from faceverdict.domain.review import (
    FlowReviewRules,
    Priority,
    TaskKind,
    TaskReason,
    Tier,
    sla_due,
)
from faceverdict.domain.review_qc import qc_selected


def detector_conflict(
    results: Iterable[DetectorResult], spread: float | None, reference: str | None = None
) -> bool:
    """Whether detectors with an opinion are at least ``spread`` apart.

    With a ``reference`` detector (the policy's default: provenance, hard evidence), only
    disagreement with it counts: specialised learned detectors are *meant* to disagree (a
    face swap fires the blending detector, not the synthetic-image one). Without one, any
    two detectors ``spread`` apart conflict.
    """
    if spread is None:
        return False
    opinions = {
        r.detector: r.fake_probability
        for r in results
        if r.fake_probability is not None and r.abstention is None
    }
    if len(opinions) < 2:
        return False
    if reference is None:
        return max(opinions.values()) - min(opinions.values()) >= spread
    anchor = opinions.pop(reference, None)
    if anchor is None:
        return False
    return any(abs(p - anchor) >= spread for p in opinions.values())


def triage(
    rules: FlowReviewRules,
    reasons: Collection[TaskReason],
    risk: float | None,
    kind: TaskKind = TaskKind.PRIMARY,
) -> Tier:
    """Route high-risk work to seniors: adjudications, high composite risk, senior reasons."""
    if kind is TaskKind.ADJUDICATION or TaskReason.RESCAN_DISAGREEMENT in reasons:
        return Tier.SENIOR  # settling a disagreement, or reconsidering a person's verdict
    if risk is not None and risk >= rules.senior_min_risk:
        return Tier.SENIOR
    if any(r in rules.senior_reasons for r in reasons):
        return Tier.SENIOR
    return Tier.JUNIOR


@dataclass(frozen=True)
class TaskPlan:
    """What the policy asks for a decided check: a task's reasons, urgency and tier."""

    reasons: tuple[TaskReason, ...]
    priority: Priority
    tier: Tier
    due_at: datetime
    decides: bool


def plan_review(
    rules: FlowReviewRules,
    *,
    action: Action,
    final: bool,
    risk: float | None,
    results: Iterable[DetectorResult],
    now: datetime,
    audit_draw: float,
    extra_reasons: tuple[TaskReason, ...] = (),
) -> TaskPlan | None:
    """The review a decision needs under ``rules``, or None.

    A decision that is not final waits for the verdict (flow SLA and priority); a final
    one is only audited (audit SLA and priority): its verdict becomes a label and a QC
    measure, not a new decision.
    """
    reasons = list(extra_reasons)
    if action in rules.task_actions:
        reasons.append(TaskReason.POLICY_ACTION)
    if detector_conflict(results, rules.conflict_spread, rules.conflict_reference):
        reasons.append(TaskReason.DETECTOR_CONFLICT)
    # Only final automated decisions are audited: one still pending (a step-up waiting for
    # assurance) would otherwise hold a QC task that blocks the escalation that follows.
    if not reasons and final and qc_selected(rules.audit_fraction, audit_draw):
        reasons.append(TaskReason.QC_SAMPLE)
    if not reasons:
        return None
    ordered = tuple(dict.fromkeys(reasons))
    # A verdict a newer model disagrees with is reconsidered by a senior, whose verdict
    # settles the check again; any other final decision is only audited.
    waiting = not final or TaskReason.RESCAN_DISAGREEMENT in ordered
    return TaskPlan(
        reasons=ordered,
        priority=rules.priority if waiting else rules.audit_priority,
        tier=triage(rules, ordered, risk),
        due_at=sla_due(now, rules.sla if waiting else rules.audit_sla),
        decides=waiting,
    )
