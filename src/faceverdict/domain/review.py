"""Human review: tasks, priorities, SLAs, triage, leases, QC sampling, verdicts, agreement.

Pure rules only. The review policy (which checks need a person, how urgently, who may take
them, how often a verdict is checked by a second reviewer) is data loaded from the policy
file; this module holds its shape and the functions that apply it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from faceverdict.domain.detection import DetectorResult
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.policy import Action

MAX_NOTE = 2000


class Tier(StrEnum):
    """Who may work a task: anyone (junior), or only senior reviewers."""

    JUNIOR = "junior"
    SENIOR = "senior"


class Role(StrEnum):
    """A reviewer account's role: reviewers work junior tasks; seniors and admins work all."""

    REVIEWER = "reviewer"
    SENIOR = "senior"
    ADMIN = "admin"

    def can_work(self, tier: Tier) -> bool:
        """Whether this role may claim a task of ``tier``."""
        return tier is Tier.JUNIOR or self in (Role.SENIOR, Role.ADMIN)

    @property
    def tiers(self) -> frozenset[Tier]:
        """The tiers this role may claim."""
        return frozenset(t for t in Tier if self.can_work(t))

    @property
    def sees_reports(self) -> bool:
        """Whether this role may read agreement rates and the backlog report."""
        return self in (Role.SENIOR, Role.ADMIN)


class Priority(StrEnum):
    """How urgent a task is; the queue sorts by rank, then by SLA due time."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for the most urgent."""
        return _PRIORITY_ORDER.index(self)

    def raised(self) -> Priority:
        """One level more urgent (URGENT stays URGENT)."""
        return _PRIORITY_ORDER[max(0, self.rank - 1)]


_PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)


class TaskReason(StrEnum):
    """Why a task exists."""

    POLICY_ACTION = "policy_action"  # the decision's action needs a person (review, block)
    DETECTOR_CONFLICT = "detector_conflict"  # detectors disagree strongly
    ASSURANCE_ESCALATION = "assurance_escalation"  # asynchronous assurance asked for a person
    QC_SAMPLE = "qc_sample"  # random audit of an automated decision
    SECOND_REVIEW = "second_review"  # independent double review of a verdict
    DISAGREEMENT = "disagreement"  # two reviewers disagreed: a senior adjudicates


class TaskKind(StrEnum):
    """A first look, an independent second look, or a senior's adjudication."""

    PRIMARY = "primary"
    SECOND = "second"
    ADJUDICATION = "adjudication"


class TaskStatus(StrEnum):
    """Stored status; a CLAIMED task whose lease has expired is open again."""

    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"


class VerdictLabel(StrEnum):
    """What the reviewer concluded about the capture."""

    GENUINE = "genuine"
    FAKE = "fake"
    INCONCLUSIVE = "inconclusive"


class AttackType(StrEnum):
    """How a fake capture was made."""

    FACE_SWAP = "face_swap"
    FULLY_SYNTHETIC = "fully_synthetic"
    MORPH = "morph"
    EDITED = "edited"
    PRESENTATION_ATTACK = "presentation_attack"
    OTHER = "other"


class InvalidVerdict(ValueError):
    """A verdict lacks what its label requires (an attack type, a note)."""


@dataclass(frozen=True)
class Verdict:
    """A reviewer's conclusion: genuine, fake with an attack type, or inconclusive with a note."""

    label: VerdictLabel
    attack_type: AttackType | None = None
    note: str = ""

    def __post_init__(self) -> None:
        note = self.note.strip()
        object.__setattr__(self, "note", note)
        if len(note) > MAX_NOTE:
            raise InvalidVerdict(f"the note is limited to {MAX_NOTE} characters")
        if self.label is VerdictLabel.FAKE and self.attack_type is None:
            raise InvalidVerdict("a 'fake' verdict needs an attack type")
        if self.label is not VerdictLabel.FAKE and self.attack_type is not None:
            raise InvalidVerdict("only a 'fake' verdict has an attack type")
        if self.label is VerdictLabel.INCONCLUSIVE and not note:
            raise InvalidVerdict("an 'inconclusive' verdict needs a note saying why")

    def agrees_with(self, other: Verdict) -> bool:
        """Two verdicts agree when their labels match (attack types may differ)."""
        return self.label is other.label

    @property
    def reasons(self) -> tuple[str, ...]:
        """Stable reason codes for the decision this verdict produces."""
        return review_reasons(self.label, self.attack_type)


def review_reasons(label: VerdictLabel, attack_type: AttackType | None) -> tuple[str, ...]:
    """Reason codes of a review decision, e.g. ``REVIEW_FAKE``, ``ATTACK_FACE_SWAP``."""
    codes = [f"REVIEW_{label.value.upper()}"]
    if attack_type is not None:
        codes.append(f"ATTACK_{attack_type.value.upper()}")
    return tuple(codes)


DEFAULT_VERDICT_ACTIONS: Mapping[VerdictLabel, Action] = {
    VerdictLabel.GENUINE: Action.ACCEPT,
    VerdictLabel.FAKE: Action.REJECT,
    VerdictLabel.INCONCLUSIVE: Action.STEP_UP,
}


def _fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True)
class FlowReviewRules:
    """The review rules of one flow."""

    task_actions: frozenset[Action] = frozenset({Action.REVIEW})
    priority: Priority = Priority.NORMAL
    sla: timedelta = timedelta(hours=24)
    senior_min_risk: float = 0.8
    senior_reasons: frozenset[TaskReason] = frozenset(
        {TaskReason.DETECTOR_CONFLICT, TaskReason.ASSURANCE_ESCALATION}
    )
    conflict_spread: float | None = 0.6
    conflict_reference: str | None = "provenance"
    audit_fraction: float = 0.0
    audit_priority: Priority = Priority.LOW
    audit_sla: timedelta = timedelta(days=3)
    double_review_fraction: float = 0.1
    verdict_actions: Mapping[VerdictLabel, Action] = field(
        default_factory=lambda: dict(DEFAULT_VERDICT_ACTIONS)
    )

    def __post_init__(self) -> None:
        if self.sla <= timedelta(0) or self.audit_sla <= timedelta(0):
            raise ValueError("SLAs must be positive")
        _fraction("senior_min_risk", self.senior_min_risk)
        _fraction("audit_fraction", self.audit_fraction)
        _fraction("double_review_fraction", self.double_review_fraction)
        if self.conflict_spread is not None and not 0.0 < self.conflict_spread <= 1.0:
            raise ValueError("conflict_spread must be within (0, 1]")
        missing = set(VerdictLabel) - set(self.verdict_actions)
        if missing:
            raise ValueError(f"no action for verdicts {sorted(v.value for v in missing)}")
        if Action.REVIEW in self.verdict_actions.values():
            raise ValueError("a verdict cannot lead to another 'review'")


@dataclass(frozen=True)
class ReviewPolicy:
    """Versioned review rules: defaults, and overrides per flow."""

    version: str
    defaults: FlowReviewRules = field(default_factory=FlowReviewRules)
    flows: Mapping[str, FlowReviewRules] = field(default_factory=dict)

    def for_flow(self, flow: str) -> FlowReviewRules:
        """The rules of ``flow``, or the defaults for a flow without its own section."""
        return self.flows.get(flow, self.defaults)


def sla_due(created_at: datetime, sla: timedelta) -> datetime:
    """When a task created at ``created_at`` under ``sla`` is due."""
    return created_at + sla


@dataclass(frozen=True)
class Sla:
    """A task's service-level window."""

    created_at: datetime
    due_at: datetime

    def time_left(self, now: datetime) -> timedelta:
        """Time until the task is due; negative once breached."""
        return self.due_at - now

    def breached(self, now: datetime, completed_at: datetime | None = None) -> bool:
        """Whether the task was (or, still open, is) later than its due time."""
        return (completed_at or now) > self.due_at

    def used(self, now: datetime) -> float:
        """Fraction of the window already used (above 1 once breached)."""
        window = (self.due_at - self.created_at).total_seconds()
        if window <= 0:
            return 1.0
        return max(0.0, (now - self.created_at).total_seconds() / window)


@dataclass(frozen=True)
class Lease:
    """A reviewer's claim on a task until ``expires_at``; an abandoned claim lapses."""

    holder: str
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        """Whether the lease still holds at ``now``."""
        return now < self.expires_at

    def held_by(self, reviewer_id: str, now: datetime) -> bool:
        """Whether ``reviewer_id`` holds this lease at ``now``."""
        return self.holder == reviewer_id and self.active(now)


def new_lease(holder: str, now: datetime, duration: timedelta) -> Lease:
    """A lease for ``holder`` from ``now``."""
    if duration <= timedelta(0):
        raise ValueError("a lease must last a positive time")
    return Lease(holder=holder, expires_at=now + duration)


@dataclass(frozen=True)
class ReviewTask:
    """One unit of human review work on one check."""

    task_id: str
    check_id: str
    flow: str
    kind: TaskKind
    reasons: tuple[TaskReason, ...]
    tier: Tier
    priority: Priority
    created_at: datetime
    due_at: datetime
    decides: bool  # whether its resolution produces the check's final decision
    risk: float | None = None
    status: TaskStatus = TaskStatus.OPEN
    lease: Lease | None = None
    parent_task_id: str | None = None
    excluded: frozenset[str] = frozenset()  # reviewers who may not take it (independence)
    completed_at: datetime | None = None
    completed_by: str | None = None

    @property
    def sla(self) -> Sla:
        """The task's SLA window."""
        return Sla(created_at=self.created_at, due_at=self.due_at)

    @property
    def blind(self) -> bool:
        """A second review must not see the first verdict."""
        return self.kind is TaskKind.SECOND

    def effective_status(self, now: datetime) -> TaskStatus:
        """The status, with a lapsed claim counted as open."""
        if self.status is TaskStatus.CLAIMED and (self.lease is None or not self.lease.active(now)):
            return TaskStatus.OPEN
        return self.status

    def held_by(self, reviewer_id: str, now: datetime) -> bool:
        """Whether ``reviewer_id`` holds an active claim on this task."""
        return (
            self.status is TaskStatus.CLAIMED
            and self.lease is not None
            and self.lease.held_by(reviewer_id, now)
        )

    def claimable_by(self, reviewer_id: str, role: Role, now: datetime) -> bool:
        """Whether ``reviewer_id`` (with ``role``) may claim the task now."""
        if self.status is TaskStatus.DONE or reviewer_id in self.excluded:
            return False
        if not role.can_work(self.tier):
            return False
        status = self.effective_status(now)
        return status is TaskStatus.OPEN or self.held_by(reviewer_id, now)


def queue_order(task: ReviewTask) -> tuple[int, datetime, datetime]:
    """Sort key of the queue: most urgent first, then the earliest due, then the oldest."""
    return (task.priority.rank, task.due_at, task.created_at)


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
    reasons: Iterable[TaskReason],
    risk: float | None,
    kind: TaskKind = TaskKind.PRIMARY,
) -> Tier:
    """Route high-risk work to seniors: adjudications, high composite risk, senior reasons."""
    if kind is TaskKind.ADJUDICATION:
        return Tier.SENIOR
    if risk is not None and risk >= rules.senior_min_risk:
        return Tier.SENIOR
    if any(r in rules.senior_reasons for r in reasons):
        return Tier.SENIOR
    return Tier.JUNIOR


def sample_draw(salt: str, subject: str) -> float:
    """A uniform number in [0, 1) fixed by ``salt`` and ``subject``.

    QC sampling is reproducible for an auditor who knows the salt, and unpredictable to a
    reviewer who does not.
    """
    digest = hashlib.sha256(f"{salt}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def qc_selected(fraction: float, draw: float) -> bool:
    """Whether a draw in [0, 1) falls in the sampled ``fraction``."""
    _fraction("fraction", fraction)
    return draw < fraction


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
    if not reasons and qc_selected(rules.audit_fraction, audit_draw):
        reasons.append(TaskReason.QC_SAMPLE)
    if not reasons:
        return None
    ordered = tuple(dict.fromkeys(reasons))
    waiting = not final
    return TaskPlan(
        reasons=ordered,
        priority=rules.priority if waiting else rules.audit_priority,
        tier=triage(rules, ordered, risk),
        due_at=sla_due(now, rules.sla if waiting else rules.audit_sla),
        decides=waiting,
    )


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


@dataclass(frozen=True)
class ReviewEvent(DomainEvent):
    """Something that happened in review: task created, claimed, verdict, reveal, ..."""

    kind: str
    task_id: str | None
    actor: str | None
    detail: Mapping[str, str | float | bool | None]

    @property
    def name(self) -> str:
        """The dotted event name, e.g. ``review.verdict_recorded``."""
        return f"review.{self.kind}"
