"""What one verdict makes: the stored verdict, a follow-up task, a settled outcome, a QC pair,
and (once settled) the superseding decision on the check. No storage here: ``ReviewService``
writes what these functions build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from faceverdict.domain.check import REVIEW_STAGE, Decision
from faceverdict.domain.review import (
    FlowReviewRules,
    ReviewTask,
    TaskKind,
    Verdict,
    review_reasons,
)
from faceverdict.domain.review_qc import (
    ReviewPair,
    follow_up_task,
    resolve,
)
from faceverdict.ports.review import Outcome, StoredVerdict
from faceverdict.services.checks import new_id


@dataclass(frozen=True)
class Settlement:
    """The records one verdict produces."""

    verdict: StoredVerdict
    follow_up: ReviewTask | None
    outcome: Outcome | None
    pair: ReviewPair | None
    agreed: bool | None


def settle(
    task: ReviewTask,
    reviewer_id: str,
    verdict: Verdict,
    first: StoredVerdict | None,
    double: bool,
    now: datetime,
) -> Settlement:
    """Resolve ``verdict`` on ``task`` (``first``: the verdict a second look is compared with;
    ``double``: whether QC drew this primary task for an independent second look)."""
    resolution = resolve(task.kind, verdict, None if first is None else first.verdict, double)
    stored = StoredVerdict(
        verdict_id=new_id("vrd"),
        task_id=task.task_id,
        check_id=task.check_id,
        kind=task.kind,
        reviewer_id=reviewer_id,
        verdict=verdict,
        created_at=now,
    )
    follow_up = None
    if resolution.follow_up is not None:
        follow_up = follow_up_task(
            task, resolution.follow_up, new_id("rvt"), now, task.excluded | {reviewer_id}
        )
    outcome = None
    if resolution.settled is not None:
        outcome = Outcome(
            task_id=task.task_id,
            check_id=task.check_id,
            label=resolution.settled.label,
            attack_type=resolution.settled.attack_type,
            resolved_at=now,
            decision_id=new_id("dec") if task.decides else None,
        )
    pair = None
    if task.kind is TaskKind.SECOND and first is not None:
        pair = ReviewPair(
            check_id=task.check_id,
            first_reviewer=first.reviewer_id,
            first_label=first.verdict.label,
            second_reviewer=reviewer_id,
            second_label=verdict.label,
        )
    return Settlement(stored, follow_up, outcome, pair, resolution.agreed)


def review_decision(
    decision_id: str,
    outcome: Outcome,
    previous: Decision,
    rules: FlowReviewRules,
    policy_version: str,
    now: datetime,
) -> Decision:
    """The final decision a settled outcome puts on its check, superseding ``previous``.

    The score and evidence stay the machine's; the band, action and reasons are the review's.
    """
    return Decision(
        decision_id=decision_id,
        check_id=previous.check_id,
        authenticity_score=previous.authenticity_score,
        abstention=previous.abstention,
        band=f"review_{outcome.label.value}",
        action=rules.verdict_actions[outcome.label],
        reasons=review_reasons(outcome.label, outcome.attack_type),
        policy_version=policy_version,
        model_versions=dict(previous.model_versions),
        composite_risk=previous.composite_risk,
        final=True,
        decided_at=now,
        supersedes=previous.decision_id,
        stage=REVIEW_STAGE,
    )
