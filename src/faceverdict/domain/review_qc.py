"""Quality control of human review: reproducible sampling, double review, agreement.

A sampled primary verdict waits for an independent second look; agreeing verdicts settle the
case, disagreeing ones go to a senior. Agreement per reviewer is what the QC report shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from faceverdict.domain.review import (
    ReviewTask,
    TaskKind,
    TaskReason,
    Tier,
    Verdict,
    VerdictLabel,
    check_fraction,
)


def sample_draw(salt: str, subject: str) -> float:
    """A uniform number in [0, 1) fixed by ``salt`` and ``subject``.

    QC sampling is reproducible for an auditor who knows the salt, and unpredictable to a
    reviewer who does not.
    """
    digest = hashlib.sha256(f"{salt}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def qc_selected(fraction: float, draw: float) -> bool:
    """Whether a draw in [0, 1) falls in the sampled ``fraction``."""
    check_fraction("fraction", fraction)
    return draw < fraction


@dataclass(frozen=True)
class Resolution:
    """What one verdict leads to.

    ``settled`` is the verdict that ends the case (None while a second look is pending);
    ``follow_up`` the kind of task to create next; ``agreed`` whether a second review agreed
    with the first (None when no pair was compared).
    """

    settled: Verdict | None
    follow_up: TaskKind | None
    agreed: bool | None = None


def resolve(
    kind: TaskKind, verdict: Verdict, first: Verdict | None, double_review: bool
) -> Resolution:
    """Apply the double-review rules to a verdict given on a task of ``kind``.

    A sampled primary verdict waits for an independent second one; agreeing verdicts settle
    the case with the first, disagreeing ones go to a senior whose verdict settles it.
    """
    if kind is TaskKind.PRIMARY:
        if double_review:
            return Resolution(settled=None, follow_up=TaskKind.SECOND)
        return Resolution(settled=verdict, follow_up=None)
    if kind is TaskKind.SECOND:
        if first is None:
            raise ValueError("a second review needs the first verdict to compare with")
        if verdict.agrees_with(first):
            return Resolution(settled=first, follow_up=None, agreed=True)
        return Resolution(settled=None, follow_up=TaskKind.ADJUDICATION, agreed=False)
    return Resolution(settled=verdict, follow_up=None)


def follow_up_task(
    parent: ReviewTask,
    kind: TaskKind,
    task_id: str,
    now: datetime,
    excluded: Iterable[str],
) -> ReviewTask:
    """The second review or adjudication that follows ``parent``.

    It keeps the parent's due time (the customer is still waiting); an adjudication goes to a
    senior, one priority level up, and none of the reviewers before may take it.
    """
    if kind is TaskKind.PRIMARY:
        raise ValueError("a follow-up is a second review or an adjudication")
    reason = TaskReason.SECOND_REVIEW if kind is TaskKind.SECOND else TaskReason.DISAGREEMENT
    adjudication = kind is TaskKind.ADJUDICATION
    return ReviewTask(
        task_id=task_id,
        check_id=parent.check_id,
        flow=parent.flow,
        kind=kind,
        reasons=(reason,),
        tier=Tier.SENIOR if adjudication else parent.tier,
        priority=parent.priority.raised() if adjudication else parent.priority,
        created_at=now,
        due_at=parent.due_at,
        decides=parent.decides,
        risk=parent.risk,
        parent_task_id=parent.task_id,
        excluded=frozenset(excluded),
    )


@dataclass(frozen=True)
class ReviewPair:
    """Two independent verdicts on one case, and the senior's, where they disagreed."""

    check_id: str
    first_reviewer: str
    first_label: VerdictLabel
    second_reviewer: str
    second_label: VerdictLabel
    adjudicated_label: VerdictLabel | None = None

    @property
    def agreed(self) -> bool:
        """Whether the two reviewers gave the same label."""
        return self.first_label is self.second_label


@dataclass(frozen=True)
class AgreementRate:
    """How often a reviewer agreed with an independent second look, and was upheld."""

    reviewer_id: str
    compared: int
    agreed: int
    adjudicated: int = 0
    upheld: int = 0

    @property
    def rate(self) -> float | None:
        """Agreements over comparisons; None before any comparison."""
        return None if self.compared == 0 else self.agreed / self.compared

    @property
    def upheld_rate(self) -> float | None:
        """How often a senior adjudication sided with this reviewer."""
        return None if self.adjudicated == 0 else self.upheld / self.adjudicated


def agreement_rates(pairs: Iterable[ReviewPair]) -> list[AgreementRate]:
    """Per-reviewer agreement over QC pairs, sorted by reviewer id."""
    counts: dict[str, list[int]] = {}
    for pair in pairs:
        for reviewer, label in (
            (pair.first_reviewer, pair.first_label),
            (pair.second_reviewer, pair.second_label),
        ):
            c = counts.setdefault(reviewer, [0, 0, 0, 0])
            c[0] += 1
            c[1] += int(pair.agreed)
            if pair.adjudicated_label is not None:
                c[2] += 1
                c[3] += int(label is pair.adjudicated_label)
    return [
        AgreementRate(reviewer_id=r, compared=c[0], agreed=c[1], adjudicated=c[2], upheld=c[3])
        for r, c in sorted(counts.items())
    ]
