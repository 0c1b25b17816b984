"""Use cases of human review: claim tasks under a lease, record verdicts, settle cases.

A verdict settles a case (or asks for an independent second look, or a senior's
adjudication); a settled case that a customer waits for gets a superseding decision on the
check, ``stage="review"``. The outcome is stored with the verdict in one transaction and its
decision written to the check right after; ``reconcile`` finishes any write that was cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.domain.check import REVIEW_STAGE, Decision
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.review import (
    Lease,
    ReviewPolicy,
    ReviewTask,
    TaskKind,
    TaskStatus,
    Verdict,
)
from faceverdict.domain.review_qc import (
    qc_selected,
    sample_draw,
)
from faceverdict.errors import NotFound
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.review import (
    Completion,
    EventDetail,
    Outcome,
    QueueFilter,
    ReviewAudit,
    ReviewerAccount,
    ReviewTasks,
    StoredEvent,
    StoredVerdict,
)
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.review.errors import Forbidden, LeaseLost, TaskUnavailable
from faceverdict.services.review.events import (
    Publish,
    publish_review_events,
    task_event,
    verdict_events,
)
from faceverdict.services.review.verdicts import review_decision, settle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewOptions:
    """Operational settings of review (the rules themselves are in the policy)."""

    lease: timedelta = timedelta(minutes=15)
    qc_salt: str = "faceverdict-review-qc"


@dataclass(frozen=True)
class VerdictResult:
    """What a verdict led to."""

    task: ReviewTask
    verdict: StoredVerdict
    follow_up: ReviewTask | None
    decision: Decision | None
    settled: bool
    agreed: bool | None


@dataclass(frozen=True)
class TaskSummary:
    """A task with its verdict and what followed: an outcome, a decision, or a next task."""

    task: ReviewTask
    verdict: StoredVerdict | None
    outcome: Outcome | None
    follow_up: ReviewTask | None
    decision: Decision | None


def _no_publish(events: Sequence[DomainEvent]) -> None:
    del events


class ReviewService:
    """Creates review tasks by policy and turns verdicts into final decisions."""

    def __init__(
        self,
        *,
        tasks: ReviewTasks,
        audit: ReviewAudit,
        checks: CheckRepository,
        recorder: CheckRecorder,
        policy: ReviewPolicy,
        clock: Clock,
        options: ReviewOptions | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.tasks = tasks
        self.audit = audit
        self.checks = checks
        self.recorder = recorder
        self.policy = policy
        self.clock = clock
        self.options = options or ReviewOptions()
        self.publish = publish or _no_publish

    # queue and claims

    def queue(self, reviewer: ReviewerAccount, query: QueueFilter) -> list[ReviewTask]:
        """The tasks ``reviewer`` may see under ``query`` (tiers limited by the role)."""
        self.reconcile()
        tiers = query.tiers & reviewer.role.tiers
        return self.tasks.list_tasks(
            QueueFilter(
                statuses=query.statuses,
                tiers=tiers,
                flow=query.flow,
                priority=query.priority,
                reason=query.reason,
                holder=query.holder,
                exclude_for=query.exclude_for,
                limit=query.limit,
            ),
            self.clock.now(),
        )

    def task(self, task_id: str) -> ReviewTask:
        """A task by id."""
        task = self.tasks.get_task(task_id)
        if task is None:
            raise NotFound(f"no review task with id {task_id!r}")
        return task

    def claim(self, task_id: str, reviewer: ReviewerAccount) -> ReviewTask:
        """Take a task under a lease; no one else can hold it until the lease lapses."""
        task = self.task(task_id)
        if task.status is TaskStatus.DONE:
            raise TaskUnavailable("this task has already been reviewed")
        if reviewer.reviewer_id in task.excluded:
            raise TaskUnavailable(
                "you reviewed this case before; its second look must come from someone else"
            )
        if not reviewer.role.can_work(task.tier):
            raise Forbidden("this task is for senior reviewers")
        now = self.clock.now()
        until = now + self.options.lease
        if not self.tasks.claim(task_id, reviewer.reviewer_id, reviewer.role.tiers, now, until):
            raise TaskUnavailable("another reviewer is working on this task")
        self._record(
            self._event(
                "task_claimed",
                task,
                reviewer.reviewer_id,
                {"until": until.isoformat(timespec="seconds")},
            )
        )
        return self.task(task_id)

    def claim_next(self, reviewer: ReviewerAccount) -> ReviewTask | None:
        """Claim the most urgent task ``reviewer`` may take, or None when there is none."""
        candidates = self.queue(
            reviewer,
            QueueFilter(
                statuses=frozenset({TaskStatus.OPEN}), exclude_for=reviewer.reviewer_id, limit=25
            ),
        )
        for task in candidates:
            try:
                return self.claim(task.task_id, reviewer)
            except TaskUnavailable:
                continue  # a colleague was faster: try the next one
        return None

    def renew(self, task_id: str, reviewer: ReviewerAccount) -> Lease:
        """Extend the caller's lease while they keep working on the task."""
        now = self.clock.now()
        until = now + self.options.lease
        if not self.tasks.renew(task_id, reviewer.reviewer_id, now, until):
            raise LeaseLost("your claim on this task has lapsed; claim it again")
        return Lease(holder=reviewer.reviewer_id, expires_at=until)

    def release(self, task_id: str, reviewer: ReviewerAccount) -> None:
        """Give a task back to the queue."""
        task = self.task(task_id)
        if self.tasks.release(task_id, reviewer.reviewer_id):
            self._record(self._event("task_released", task, reviewer.reviewer_id, {}))

    # verdicts

    def submit_verdict(
        self, task_id: str, reviewer: ReviewerAccount, verdict: Verdict
    ) -> VerdictResult:
        """Record a verdict on a task the caller holds, and settle or escalate the case."""
        task = self.task(task_id)
        if task.status is not TaskStatus.CLAIMED or task.lease is None:
            raise LeaseLost("claim this task before giving a verdict")
        if task.lease.holder != reviewer.reviewer_id:
            raise LeaseLost("another reviewer has taken this task over")
        now = self.clock.now()
        rules = self.policy.for_flow(task.flow)
        first = self._first_verdict(task)
        double = task.kind is TaskKind.PRIMARY and qc_selected(
            rules.double_review_fraction,
            sample_draw(self.options.qc_salt, f"double:{task.task_id}"),
        )
        settled = settle(task, reviewer.reviewer_id, verdict, first, double, now)
        stored, follow_up, outcome = settled.verdict, settled.follow_up, settled.outcome
        events = verdict_events(now, task, stored, settled.agreed, follow_up, outcome)
        completion = Completion(
            task_id=task.task_id,
            reviewer_id=reviewer.reviewer_id,
            verdict=stored,
            follow_ups=() if follow_up is None else (follow_up,),
            pair=settled.pair,
            adjudicates=task.parent_task_id if task.kind is TaskKind.ADJUDICATION else None,
            outcome=outcome,
            events=events,
        )
        if not self.tasks.complete(completion, now):
            raise LeaseLost("another reviewer has taken this task over")
        self._publish(events)
        decision = None
        if outcome is not None and outcome.decision_id is not None:
            try:
                decision = self._apply(outcome)
            except Exception:  # the verdict is safe; reconcile() writes the decision later
                log.exception("review decision for %s left pending", outcome.check_id)
        return VerdictResult(
            task=self.task(task_id),
            verdict=stored,
            follow_up=follow_up,
            decision=decision,
            settled=outcome is not None,
            agreed=settled.agreed,
        )

    def _first_verdict(self, task: ReviewTask) -> StoredVerdict | None:
        if task.kind is not TaskKind.SECOND or task.parent_task_id is None:
            return None
        return self.tasks.verdict_for_task(task.parent_task_id)

    def summary(self, task_id: str) -> TaskSummary:
        """What became of a task."""
        task = self.task(task_id)
        outcome = self.tasks.outcome(task_id)
        follow_up = next(
            (t for t in self.tasks.tasks_for_check(task.check_id) if t.parent_task_id == task_id),
            None,
        )
        decision = None
        if outcome is not None and outcome.decision_id is not None:
            check = self.checks.get(task.check_id)
            if check is not None:
                decision = next(
                    (d for d in check.decisions if d.decision_id == outcome.decision_id), None
                )
        return TaskSummary(
            task=task,
            verdict=self.tasks.verdict_for_task(task_id),
            outcome=outcome,
            follow_up=follow_up,
            decision=decision,
        )

    # decisions

    def reconcile(self) -> int:
        """Write any settled outcome's decision that has not reached its check yet."""
        applied = 0
        for outcome in self.tasks.pending_outcomes():
            try:
                self._apply(outcome)
                applied += 1
            except Exception:
                log.exception("review decision for %s still pending", outcome.check_id)
        return applied

    def _apply(self, outcome: Outcome) -> Decision | None:
        check = self.checks.get(outcome.check_id)
        if check is None or outcome.decision_id is None:
            self.tasks.mark_outcome_applied(outcome.task_id)
            return None
        existing = next((d for d in check.decisions if d.decision_id == outcome.decision_id), None)
        if existing is not None:
            self.tasks.mark_outcome_applied(outcome.task_id)
            return existing
        previous = check.current_decision
        rules = self.policy.for_flow(check.flow)
        action = rules.verdict_actions[outcome.label]
        if previous is None or not check.can_supersede(REVIEW_STAGE, action):
            # Finalised meanwhile by an automated stage (e.g. assurance): the verdict stays a
            # label and a QC record.
            self.tasks.mark_outcome_applied(outcome.task_id)
            self._record(
                StoredEvent(
                    occurred_at=self.clock.now(),
                    kind="decision_not_applied",
                    check_id=check.check_id,
                    task_id=outcome.task_id,
                    detail={"reason": "the check was already final"},
                )
            )
            return None
        decision = review_decision(
            outcome.decision_id, outcome, previous, rules, self.policy.version, self.clock.now()
        )
        check.decide(decision, check.detector_results)
        self.recorder.save_decision(check)
        self.tasks.mark_outcome_applied(outcome.task_id)
        return decision

    # audit trail

    def _event(
        self, kind: str, task: ReviewTask, actor: str | None, detail: EventDetail
    ) -> StoredEvent:
        return task_event(self.clock.now(), kind, task, actor, detail)

    def _record(self, event: StoredEvent) -> None:
        self.audit.add_event(event)
        self._publish([event])

    def _publish(self, events: Sequence[StoredEvent]) -> None:
        publish_review_events(self.publish, events)


def visible_verdicts(task: ReviewTask, verdicts: Sequence[StoredVerdict]) -> list[StoredVerdict]:
    """The verdicts a reviewer of ``task`` may see: none for a blind second look.

    An adjudicating senior sees both disagreeing verdicts; a finished task shows its own.
    """
    if task.blind and task.status is not TaskStatus.DONE:
        return []
    if task.kind is TaskKind.ADJUDICATION:
        return list(verdicts)
    return [v for v in verdicts if v.task_id == task.task_id]
