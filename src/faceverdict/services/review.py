"""Use cases of human review: create tasks by policy, claim under a lease, record verdicts.

A verdict settles a case (or asks for an independent second look, or a senior's
adjudication); a settled case that a customer waits for gets a superseding decision on the
check, ``stage="review"``. The outcome is stored with the verdict in one transaction and its
decision written to the check right after; ``reconcile`` finishes any write that was cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.domain.check import Check, CheckState, Decision
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.review import (
    Lease,
    ReviewPolicy,
    ReviewTask,
    TaskKind,
    TaskReason,
    TaskStatus,
    Verdict,
)
from faceverdict.domain.review_qc import (
    qc_selected,
    sample_draw,
)
from faceverdict.domain.review_routing import (
    plan_review,
)
from faceverdict.errors import NotFound
from faceverdict.ports import CheckRepository, Clock, DecisionFeed, SweepMarks
from faceverdict.review_errors import Forbidden, LeaseLost, TaskUnavailable
from faceverdict.review_ports import (
    Completion,
    EventDetail,
    Outcome,
    QueueFilter,
    ReviewerAccount,
    ReviewRepository,
    StoredEvent,
    StoredVerdict,
)
from faceverdict.services.checks import new_id
from faceverdict.services.decision_sweep import (
    InProcessMarks,
    SettledDecisions,
    sweep_settled_decisions,
)
from faceverdict.services.review_events import (
    Publish,
    publish_review_events,
    task_created,
    task_event,
    verdict_events,
)
from faceverdict.services.review_verdicts import REVIEW_STAGE, review_decision, settle

log = logging.getLogger(__name__)

# Persists a check whose newest decision comes from ``outcome`` (with its evidence, if any).
DecisionRecorder = Callable[[Check, Outcome], None]


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
        repository: ReviewRepository,
        checks: CheckRepository,
        policy: ReviewPolicy,
        clock: Clock,
        options: ReviewOptions | None = None,
        publish: Publish | None = None,
        record_decision: DecisionRecorder | None = None,
        decisions: DecisionFeed | None = None,
        marks: SweepMarks | None = None,
    ) -> None:
        self.repository = repository
        self.decisions = decisions
        self.marks: SweepMarks = marks or InProcessMarks()
        self.checks = checks
        self.policy = policy
        self.clock = clock
        self.options = options or ReviewOptions()
        self.publish = publish or _no_publish
        self.record_decision = record_decision or self._save_decision

    # task creation

    def on_decided(self, check: Check) -> ReviewTask | None:
        """Queue the review that the check's latest decision needs under the policy, if any."""
        decision = check.current_decision
        if decision is None or decision.stage == REVIEW_STAGE:
            return None
        return self._queue(check, decision, ())

    def catch_up(
        self,
        window: timedelta = timedelta(minutes=15),
        grace: timedelta = timedelta(minutes=1),
        limit: int = 200,
    ) -> int:
        """Queue the reviews of decisions whose hook never ran (the process stopped between a
        decision's commit and ``on_decided``); how many tasks were queued.

        Resumes from the ``review`` sweep mark (``decision_sweep``); queuing is idempotent, so
        a decision whose task exists is passed over.
        """
        if self.decisions is None:
            return 0

        def queue(due: SettledDecisions) -> int:
            latest = {check.check_id: check for check, _ in due}
            return sum(self.on_decided(check) is not None for check in latest.values())

        return sweep_settled_decisions(
            self.decisions,
            self.marks,
            "review",
            self.clock.now(),
            queue,
            window=window,
            grace=grace,
            limit=limit,
        )

    def escalate(
        self, check_id: str, reason: TaskReason = TaskReason.ASSURANCE_ESCALATION
    ) -> ReviewTask | None:
        """Put a check in front of a person (the hook asynchronous assurance calls).

        Nothing new is queued while the check already has unfinished review work.
        """
        check = self.checks.get(check_id)
        if check is None or check.current_decision is None:
            raise NotFound(f"no decided check with id {check_id!r}")
        pending = [
            t for t in self.repository.tasks_for_check(check_id) if t.status is not TaskStatus.DONE
        ]
        if pending:
            return None
        return self._queue(check, check.current_decision, (reason,))

    def _queue(
        self, check: Check, decision: Decision, extra: tuple[TaskReason, ...]
    ) -> ReviewTask | None:
        rules = self.policy.for_flow(check.flow)
        now = self.clock.now()
        plan = plan_review(
            rules,
            action=decision.action,
            final=decision.final,
            risk=decision.composite_risk,
            results=check.detector_results,
            now=now,
            audit_draw=sample_draw(self.options.qc_salt, f"audit:{decision.decision_id}"),
            extra_reasons=extra,
        )
        if plan is None:
            return None
        task = ReviewTask(
            task_id=new_id("rvt"),
            check_id=check.check_id,
            flow=check.flow,
            kind=TaskKind.PRIMARY,
            reasons=plan.reasons,
            tier=plan.tier,
            priority=plan.priority,
            created_at=now,
            due_at=plan.due_at,
            decides=plan.decides,
            risk=decision.composite_risk,
        )
        event = task_created(now, task, {"decision_id": decision.decision_id})
        key = f"{decision.decision_id}:{'+'.join(sorted(r.value for r in extra)) or 'policy'}"
        if not self.repository.add_task(task, key, [event]):
            return None
        self._publish([event])
        return task

    # queue and claims

    def queue(self, reviewer: ReviewerAccount, query: QueueFilter) -> list[ReviewTask]:
        """The tasks ``reviewer`` may see under ``query`` (tiers limited by the role)."""
        self.reconcile()
        tiers = query.tiers & reviewer.role.tiers
        return self.repository.list_tasks(
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
        task = self.repository.get_task(task_id)
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
        if not self.repository.claim(
            task_id, reviewer.reviewer_id, reviewer.role.tiers, now, until
        ):
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
        if not self.repository.renew(task_id, reviewer.reviewer_id, now, until):
            raise LeaseLost("your claim on this task has lapsed; claim it again")
        return Lease(holder=reviewer.reviewer_id, expires_at=until)

    def release(self, task_id: str, reviewer: ReviewerAccount) -> None:
        """Give a task back to the queue."""
        task = self.task(task_id)
        if self.repository.release(task_id, reviewer.reviewer_id):
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
        if not self.repository.complete(completion, now):
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
        return self.repository.verdict_for_task(task.parent_task_id)

    def summary(self, task_id: str) -> TaskSummary:
        """What became of a task."""
        task = self.task(task_id)
        outcome = self.repository.outcome(task_id)
        follow_up = next(
            (
                t
                for t in self.repository.tasks_for_check(task.check_id)
                if t.parent_task_id == task_id
            ),
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
            verdict=self.repository.verdict_for_task(task_id),
            outcome=outcome,
            follow_up=follow_up,
            decision=decision,
        )

    # decisions

    def reconcile(self) -> int:
        """Write any settled outcome's decision that has not reached its check yet."""
        applied = 0
        for outcome in self.repository.pending_outcomes():
            try:
                self._apply(outcome)
                applied += 1
            except Exception:
                log.exception("review decision for %s still pending", outcome.check_id)
        return applied

    def _apply(self, outcome: Outcome) -> Decision | None:
        check = self.checks.get(outcome.check_id)
        if check is None or outcome.decision_id is None:
            self.repository.mark_outcome_applied(outcome.task_id)
            return None
        existing = next((d for d in check.decisions if d.decision_id == outcome.decision_id), None)
        if existing is not None:
            self.repository.mark_outcome_applied(outcome.task_id)
            return existing
        previous = check.current_decision
        if previous is None or check.state is CheckState.FINAL:
            # Finalised meanwhile (e.g. by assurance): the verdict stays a label and a QC record.
            self.repository.mark_outcome_applied(outcome.task_id)
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
        rules = self.policy.for_flow(check.flow)
        decision = review_decision(
            outcome.decision_id, outcome, previous, rules, self.policy.version, self.clock.now()
        )
        check.decide(decision, check.detector_results)
        self.record_decision(check, outcome)
        self.repository.mark_outcome_applied(outcome.task_id)
        return decision

    def _save_decision(self, check: Check, outcome: Outcome) -> None:
        del outcome
        self.checks.save_decision(check)
        self.publish(check.pull_events())

    # audit trail

    def _event(
        self, kind: str, task: ReviewTask, actor: str | None, detail: EventDetail
    ) -> StoredEvent:
        return task_event(self.clock.now(), kind, task, actor, detail)

    def _record(self, event: StoredEvent) -> None:
        self.repository.add_event(event)
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
