"""Human review: tasks, priorities, SLAs, leases, verdicts, the review policy's shape.

Routing a decided check to review is in ``review_routing``; QC sampling, double review and
agreement in ``review_qc``. Pure rules only. The review policy (which checks need a person,
how urgently, who may take them, how often a verdict is checked by a second reviewer) is data
loaded from the policy file; this module holds its shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

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
    RESCAN_DISAGREEMENT = "rescan_disagreement"  # a newer model disagrees with a verdict


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


def check_fraction(name: str, value: float) -> None:
    """Refuse a policy fraction outside [0, 1] (``name`` says which)."""
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
        check_fraction("senior_min_risk", self.senior_min_risk)
        check_fraction("audit_fraction", self.audit_fraction)
        check_fraction("double_review_fraction", self.double_review_fraction)
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
