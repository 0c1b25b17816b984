"""Review intake: the handlers that queue review tasks when a check's events ask for a person.

One decision queues at most one task (its dedupe key is the decision id), whether the handler
runs right after the decision or again from the bus's sweep. A task that settles the check
moves it to ``in_review`` (``ReviewOpened``). A decision by asynchronous assurance whose
action is ``review`` is an escalation: a senior looks, unless the check already waits for
someone. A re-scan that disagrees with a person's verdict asks for a senior's second look.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faceverdict.domain.check import ASSURANCE_STAGE, Check, CheckState, Decision
from faceverdict.domain.events import CheckDecided, ReviewRequested
from faceverdict.domain.policy import Action
from faceverdict.domain.review import ReviewPolicy, ReviewTask, TaskKind, TaskReason, TaskStatus
from faceverdict.domain.review_qc import sample_draw
from faceverdict.domain.review_routing import plan_review
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.review import ReviewTasks, StoredEvent
from faceverdict.services.checks import new_id
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.review.events import Publish, publish_review_events, task_created

log = logging.getLogger(__name__)


def _no_publish(events: Sequence[object]) -> None:
    del events


class ReviewIntake:
    """Queues the review tasks that decisions and requests need under the review policy."""

    def __init__(
        self,
        *,
        tasks: ReviewTasks,
        checks: CheckRepository,
        recorder: CheckRecorder,
        policy: ReviewPolicy,
        clock: Clock,
        qc_salt: str,
        publish: Publish | None = None,
    ) -> None:
        self.tasks = tasks
        self.checks = checks
        self.recorder = recorder
        self.policy = policy
        self.clock = clock
        self.qc_salt = qc_salt
        self.publish: Publish = publish or _no_publish

    def on_decided(self, event: CheckDecided) -> ReviewTask | None:
        """Handler of ``CheckDecided``: queue the review the decision needs, if any."""
        check = self.checks.get(event.check_id)
        decision = None if check is None else check.current_decision
        if check is None or decision is None or decision.decision_id != event.decision_id:
            return None  # gone, or superseded since: the newer decision has its own event
        if decision.by_person:
            return None
        extra: tuple[TaskReason, ...] = ()
        if decision.stage == ASSURANCE_STAGE and decision.action is Action.REVIEW:
            extra = (TaskReason.ASSURANCE_ESCALATION,)
            if self._waiting_task(check.check_id) is not None:
                return None  # someone already has it in front of them
        return self._queue(check, decision, extra, decision.decision_id)

    def on_requested(self, event: ReviewRequested) -> ReviewTask | None:
        """Handler of ``ReviewRequested``: a senior's look at a decision an automated stage
        disagrees with but may not overrule."""
        check = self.checks.get(event.check_id)
        decision = None if check is None else check.current_decision
        if check is None or decision is None or decision.decision_id != event.decision_id:
            return None
        reason = TaskReason(event.reason)
        return self._queue(check, decision, (reason,), f"{decision.decision_id}:{reason.value}")

    def _waiting_task(self, check_id: str) -> ReviewTask | None:
        """The unfinished task that will settle the check, if there is one."""
        for task in self.tasks.tasks_for_check(check_id):
            if task.status is not TaskStatus.DONE and task.decides:
                return task
        return None

    def _queue(
        self, check: Check, decision: Decision, extra: tuple[TaskReason, ...], key: str
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
            audit_draw=sample_draw(self.qc_salt, f"audit:{decision.decision_id}"),
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
        created = self.tasks.add_task(task, key, [event])
        if created:
            self._publish([event])
        else:  # queued before (a repeated handler): make sure the check moved on
            task = self._waiting_task(check.check_id) or task
        if task.decides:
            self._open(check, task)
        return task if created else None

    def _open(self, check: Check, task: ReviewTask) -> None:
        """Move the check to ``in_review`` once (a repeated call changes nothing)."""
        if check.state is CheckState.IN_REVIEW or task.status is TaskStatus.DONE:
            return
        if check.state is CheckState.FINAL and not check.settled_by_person:
            return
        source = check.state
        check.open_review(self.clock.now(), task.task_id)
        if not self.recorder.save_transition(check, source):
            log.info("check %s moved on before its review opened", check.check_id)

    def _publish(self, events: Sequence[StoredEvent]) -> None:
        publish_review_events(self.publish, events)
