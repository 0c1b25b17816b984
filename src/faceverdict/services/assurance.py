"""Asynchronous assurance: a heavier ensemble looks again at the checks the policy selects.

The check row is the durable record of the work: a selected check is moved to ``assuring``
(event ``AssuranceStarted``) before its job is enqueued by that event's handler, a sweep
re-enqueues checks that stay there past their lease, and running a job twice changes nothing
(see docs/decisions/0005-async-assurance.md). Assurance confirms, supersedes or abandons,
each a transition of the check with its event; it never relaxes a decision the policy
forbids it to relax, and never touches a person's verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.domain.assurance import AssurancePolicy
from faceverdict.domain.check import ASSURANCE_STAGE, INLINE_STAGE, Check, CheckState, Decision
from faceverdict.domain.events import AssuranceStarted, CheckDecided
from faceverdict.domain.policy import Action
from faceverdict.domain.review_qc import sample_draw
from faceverdict.errors import NotFound
from faceverdict.ports.captures import CaptureVault
from faceverdict.ports.checks import CheckRepository, DecisionConflict
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import Job, JobQueue
from faceverdict.services.checks import Assessor, capture_key, new_id
from faceverdict.services.recorder import CheckRecorder

log = logging.getLogger(__name__)

ASSURANCE_JOB = "assurance"


@dataclass(frozen=True)
class AssuranceResult:
    """What one assurance run did: superseded the decision, confirmed it, or nothing."""

    check_id: str
    outcome: str  # "superseded" | "confirmed" | "skipped" | "capture_gone" | "lost_race"
    decision: Decision | None = None


class AssuranceService:
    """Selects checks for assurance, runs the assurance ensemble on them, and sweeps."""

    def __init__(
        self,
        *,
        repository: CheckRepository,
        recorder: CheckRecorder,
        queue: JobQueue,
        assessor: Callable[[], Assessor],
        vault: CaptureVault,
        policy: AssurancePolicy,
        clock: Clock,
        sample_salt: str,
        store_captures: bool = True,
    ) -> None:
        self.repository = repository
        self.recorder = recorder
        self.queue = queue
        self._assessor = assessor
        self.vault = vault
        self.policy = policy
        self.clock = clock
        self.sample_salt = sample_salt
        self.store_captures = store_captures

    @property
    def assessor(self) -> Assessor:
        """The assurance ensemble with the policy, built on first use.

        API processes only select and enqueue: they never load the heavier models.
        """
        return self._assessor()

    def selection(self, check: Check) -> tuple[str, ...]:
        """Why the policy sends this check's decision to assurance (empty: it does not)."""
        decision = check.current_decision
        if (
            decision is None
            or decision.stage != INLINE_STAGE
            or check.state is not CheckState.DECIDED
        ):
            return ()
        rules = self.policy.for_flow(check.flow)
        return rules.reasons(
            action=decision.action,
            final=decision.final,
            score=decision.authenticity_score,
            draw=sample_draw(self.sample_salt, f"assurance:{decision.decision_id}"),
        )

    def on_decided(self, event: CheckDecided) -> bool:
        """Handler of ``CheckDecided``: move a selected check to ``assuring`` (the
        ``AssuranceStarted`` event's handler enqueues its job)."""
        if not self.store_captures:
            return False
        check = self.repository.get(event.check_id)
        current = None if check is None else check.current_decision
        if check is None or current is None or current.decision_id != event.decision_id:
            return False  # gone, or superseded since: the newer decision has its own event
        why = self.selection(check)
        if not why:
            return False
        check.begin_assurance(self.clock.now(), why)
        return self.recorder.save_transition(check, CheckState.DECIDED)

    def on_started(self, event: AssuranceStarted) -> None:
        """Handler of ``AssuranceStarted``: enqueue the check's assurance job."""
        self.queue.enqueue(Job(kind=ASSURANCE_JOB, key=event.check_id))

    def _enqueue(self, check_id: str) -> None:
        try:
            self.queue.enqueue(Job(kind=ASSURANCE_JOB, key=check_id))
        except Exception:  # the check is in `assuring`: the sweep enqueues it again
            log.exception("could not enqueue assurance of %s; the sweep will retry", check_id)

    def run(self, check_id: str) -> AssuranceResult:
        """Judge a check again with the assurance ensemble; idempotent."""
        check = self.repository.get(check_id)
        if check is None or check.state is not CheckState.ASSURING:
            return AssuranceResult(check_id, "skipped")
        previous = check.current_decision
        if previous is None:
            return AssuranceResult(check_id, "skipped")
        try:
            image = self.vault.get(capture_key(check_id))
        except (KeyError, NotFound):
            # Erased or expired meanwhile: the inline decision stands.
            check.abandon_assurance(self.clock.now(), "capture_gone")
            self.recorder.save_transition(check, CheckState.ASSURING)
            return AssuranceResult(check_id, "capture_gone")
        assessment = self.assessor.assess(image, check.flow, check.signals)
        judgement, outcome = assessment.judgement, assessment.outcome
        rules = self.policy.for_flow(check.flow)
        if outcome.action is previous.action or not check.can_supersede(
            ASSURANCE_STAGE, outcome.action, may_relax=rules.may_relax
        ):
            # Same action, or a relaxation the policy forbids (may_relax = false): it stands.
            check.confirm_assurance(
                self.clock.now(),
                score=judgement.authenticity_score,
                model_versions=judgement.model_versions,
                assured_action=outcome.action,
            )
            self.recorder.save_transition(check, CheckState.ASSURING)
            return AssuranceResult(check_id, "confirmed")
        reasons = outcome.reasons + tuple(r for res in judgement.results for r in res.reasons)
        decision = Decision(
            decision_id=new_id("dec"),
            check_id=check_id,
            authenticity_score=judgement.authenticity_score,
            abstention=judgement.abstention,
            band=outcome.band,
            action=outcome.action,
            reasons=tuple(dict.fromkeys(("ASSURANCE_CHANGED", *reasons))),
            policy_version=assessment.policy_version,
            model_versions=judgement.model_versions,
            composite_risk=outcome.composite_risk,
            # A person settles a `review`; every other assurance outcome is the last word.
            final=outcome.action is not Action.REVIEW,
            decided_at=self.clock.now(),
            supersedes=previous.decision_id,
            stage=ASSURANCE_STAGE,
        )
        check.decide(decision, judgement.results, may_relax=rules.may_relax)
        try:
            self.recorder.save_decision(check)
        except DecisionConflict:
            return AssuranceResult(check_id, "lost_race")
        return AssuranceResult(check_id, "superseded", decision)

    def handle(self, job: Job) -> None:
        """The job handler: run assurance for ``job.key``."""
        result = self.run(job.key)
        log.info("assurance of %s: %s", result.check_id, result.outcome)

    def reconcile(self, limit: int = 500) -> int:
        """Enqueue again the checks that stayed in ``assuring`` past the lease; how many."""
        cutoff = self.clock.now() - timedelta(seconds=self.policy.max_lease_seconds)
        count = 0
        for check_id in self.repository.stale(CheckState.ASSURING, cutoff, limit):
            # Touch first: other sweepers skip it until the new lease runs out.
            if self.repository.transition(check_id, CheckState.ASSURING, CheckState.ASSURING):
                self._enqueue(check_id)
                count += 1
        return count
