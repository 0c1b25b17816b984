"""Ports of human review, one per role: tasks and verdicts, the audit trail, reviewer accounts;
and the password hasher. With the records they pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from faceverdict.domain.review import (
    AttackType,
    Priority,
    ReviewTask,
    Role,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.domain.review_qc import (
    ReviewPair,
)

EventDetail = Mapping[str, str | float | bool | None]


class DuplicateUsername(Exception):
    """Raised by ``ReviewRepository.add_reviewer``: the username is taken."""


@dataclass(frozen=True)
class ReviewerAccount:
    """A person who reviews; ``password_hash`` is an argon2id PHC string."""

    reviewer_id: str
    username: str
    display_name: str
    role: Role
    password_hash: str
    created_at: datetime
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A signed-in browser session; only the token's hash is stored."""

    token_hash: str
    reviewer_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class StoredVerdict:
    """A verdict as recorded on one task."""

    verdict_id: str
    task_id: str
    check_id: str
    kind: TaskKind
    reviewer_id: str
    verdict: Verdict
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    """How a case ended: the settling verdict, and the decision it produced (if any)."""

    task_id: str
    check_id: str
    label: VerdictLabel
    attack_type: AttackType | None
    resolved_at: datetime
    decision_id: str | None
    decision_applied: bool = False


@dataclass(frozen=True)
class StoredEvent:
    """One row of the review audit trail."""

    occurred_at: datetime
    kind: str
    check_id: str | None = None
    task_id: str | None = None
    actor: str | None = None
    detail: EventDetail = field(default_factory=dict)


@dataclass(frozen=True)
class QueueFilter:
    """Which tasks a queue page lists.

    ``statuses`` are effective statuses (a lapsed claim counts as open); ``holder`` keeps only
    tasks claimed by that reviewer; ``exclude_for`` drops tasks that reviewer may not take.
    """

    statuses: frozenset[TaskStatus] = frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED})
    tiers: frozenset[Tier] = frozenset(Tier)
    flow: str | None = None
    priority: Priority | None = None
    reason: TaskReason | None = None
    holder: str | None = None
    exclude_for: str | None = None
    limit: int = 200


@dataclass(frozen=True)
class BacklogRow:
    """Open work and SLA breaches for one flow, tier and priority."""

    flow: str
    tier: Tier
    priority: Priority
    open: int
    claimed: int
    breached: int
    oldest_created_at: datetime | None


@dataclass(frozen=True)
class Completion:
    """Everything a verdict writes, in one transaction."""

    task_id: str
    reviewer_id: str
    verdict: StoredVerdict
    follow_ups: Sequence[ReviewTask] = ()
    pair: ReviewPair | None = None
    adjudicates: str | None = None  # the second-review task whose disagreement this settles
    outcome: Outcome | None = None
    events: Sequence[StoredEvent] = ()


class ReviewTasks(Protocol):
    """Review tasks under leases, their verdicts, the outcomes that settle cases."""

    def add_task(
        self, task: ReviewTask, dedupe_key: str, events: Sequence[StoredEvent] = ()
    ) -> bool:
        """Insert a task unless one with the same dedupe key exists; False if it did."""
        ...

    def get_task(self, task_id: str) -> ReviewTask | None:
        """The task with this id, or None."""
        ...

    def tasks_for_check(self, check_id: str) -> list[ReviewTask]:
        """Every task of a check, oldest first."""
        ...

    def list_tasks(self, query: QueueFilter, now: datetime) -> list[ReviewTask]:
        """Tasks matching ``query``, most urgent first."""
        ...

    def claim(
        self, task_id: str, reviewer_id: str, tiers: frozenset[Tier], now: datetime, until: datetime
    ) -> bool:
        """Take the task if nobody holds an active lease on it; atomic (a conditional UPDATE)."""
        ...

    def renew(self, task_id: str, reviewer_id: str, now: datetime, until: datetime) -> bool:
        """Extend the caller's active lease; False if the caller no longer holds it."""
        ...

    def release(self, task_id: str, reviewer_id: str) -> bool:
        """Give a claimed task back to the queue; False if the caller does not hold it."""
        ...

    def complete(self, completion: Completion, now: datetime) -> bool:
        """Record a verdict if the reviewer still holds the task; False (nothing written) if not."""
        ...

    def verdicts_for_check(self, check_id: str) -> list[StoredVerdict]:
        """Every verdict on a check, oldest first."""
        ...

    def verdict_for_task(self, task_id: str) -> StoredVerdict | None:
        """The verdict given on a task, or None."""
        ...

    def outcomes(self) -> list[Outcome]:
        """Every settled case, oldest first."""
        ...

    def outcome(self, task_id: str) -> Outcome | None:
        """The outcome a task settled, or None."""
        ...

    def pending_outcomes(self) -> list[Outcome]:
        """Settled cases whose decision has not been written to the check yet."""
        ...

    def mark_outcome_applied(self, task_id: str) -> None:
        """Note that an outcome's decision is on the check."""
        ...

    def set_face_box(self, task_id: str, box: tuple[int, int, int, int] | None) -> None:
        """Cache where the face is in the capture (None: searched, none found)."""
        ...

    def face_box(self, task_id: str) -> tuple[tuple[int, int, int, int] | None, bool]:
        """The cached face box and whether the capture was searched at all."""
        ...


class ReviewAudit(Protocol):
    """The review audit trail, QC pairs and the backlog figures built on them."""

    def add_event(self, event: StoredEvent) -> None:
        """Append to the review audit trail."""
        ...

    def events(
        self, *, check_id: str | None = None, kinds: frozenset[str] | None = None
    ) -> list[StoredEvent]:
        """Audit-trail rows, oldest first, optionally of one check and some kinds."""
        ...

    def pairs(self) -> list[ReviewPair]:
        """Every double-review pair."""
        ...

    def backlog(self, now: datetime) -> list[BacklogRow]:
        """Open work and open SLA breaches per flow, tier and priority."""
        ...

    def completed_late(self) -> dict[str, int]:
        """Completed tasks that missed their SLA, per flow."""
        ...


class ReviewerAccounts(Protocol):
    """Reviewer accounts and their sign-in sessions."""

    def add_reviewer(self, account: ReviewerAccount) -> None:
        """Insert an account; DuplicateUsername if the username is taken."""
        ...

    def get_reviewer(self, reviewer_id: str) -> ReviewerAccount | None:
        """The account with this id, or None."""
        ...

    def reviewer_by_username(self, username: str) -> ReviewerAccount | None:
        """The account with this username, or None."""
        ...

    def list_reviewers(self) -> list[ReviewerAccount]:
        """Every account, by username."""
        ...

    def update_reviewer(self, account: ReviewerAccount) -> None:
        """Store an account's changed role, hash, active flag or login counters."""
        ...

    def add_session(self, session: SessionRecord) -> None:
        """Store a new session."""
        ...

    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session with this token hash, or None."""
        ...

    def touch_session(self, token_hash: str, now: datetime) -> None:
        """Record activity on a session."""
        ...

    def delete_session(self, token_hash: str) -> None:
        """End a session."""
        ...

    def delete_sessions_of(self, reviewer_id: str) -> None:
        """End every session of a reviewer."""
        ...


class PasswordHasher(Protocol):
    """Hashes and verifies passwords with a memory-hard function."""

    def hash(self, password: str) -> str:
        """A self-describing hash of ``password`` (salt and parameters included)."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with weaker parameters than today's."""
        ...
