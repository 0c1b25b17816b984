"""Asynchronous assurance: a heavier ensemble looks again at the checks the policy selects.

The check row is the durable record of the work: a selected check is moved to ``assuring``
before its job is enqueued, a sweep re-enqueues checks that stay there past their lease, and
running a job twice changes nothing (see docs/decisions/0005-async-assurance.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.domain.assurance import ASSURANCE_STAGE, AssurancePolicy
from faceverdict.domain.check import Check, CheckState, Decision
from faceverdict.domain.policy import Action
from faceverdict.domain.review_qc import (
    sample_draw,
)
from faceverdict.errors import NotFound
from faceverdict.evidence.entries import JsonValue
from faceverdict.job_ports import CheckStates, Job, JobQueue
from faceverdict.ports import CaptureVault, CheckRepository, Clock, DecisionConflict, EntryDraft
from faceverdict.services.checks import Assessor, CheckService, capture_key, new_id

log = logging.getLogger(__name__)

ASSURANCE_JOB = "assurance"
ASSURANCE_CONFIRMED = "assurance.confirmed"  # evidence: the inline decision stands, now final


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
        checks: CheckService,
        repository: CheckRepository,
        states: CheckStates,
        queue: JobQueue,
        assessor: Callable[[], Assessor],
        vault: CaptureVault,
        policy: AssurancePolicy,
        clock: Clock,
        sample_salt: str,
    ) -> None:
        self.checks = checks
        self.repository = repository
        self.states = states
        self.queue = queue
        self._assessor = assessor
        self.vault = vault
        self.policy = policy
        self.clock = clock
        self.sample_salt = sample_salt

    @property
    def assessor(self) -> Assessor:
        """The assurance ensemble with the policy, built on first use.

        API processes only select and enqueue: they never load the heavier models.
        """
        return self._assessor()

    def selection(self, check: Check) -> tuple[str, ...]:
        """Why the policy sends this check's decision to assurance (empty: it does not)."""
        decision = check.current_decision
        if decision is None or decision.stage != "inline" or check.state is not CheckState.DECIDED:
            return ()
        rules = self.policy.for_flow(check.flow)
        return rules.reasons(
            action=decision.action,
            final=decision.final,
            score=decision.authenticity_score,
            draw=sample_draw(self.sample_salt, f"assurance:{decision.decision_id}"),
        )

    def on_decided(self, check: Check) -> bool:
        """After an inline decision: move the check to ``assuring`` and enqueue its job."""
        if not self.selection(check) or not self.checks.store_captures:
            return False
        if not self.states.transition(check.check_id, CheckState.DECIDED, CheckState.ASSURING):
            return False
        check.begin_assurance()
        self._enqueue(check.check_id)
        return True

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
            self.states.transition(check_id, CheckState.ASSURING, CheckState.DECIDED)
            return AssuranceResult(check_id, "capture_gone")
        assessment = self.assessor.assess(image, check.flow, check.signals)
        judgement, outcome = assessment.judgement, assessment.outcome
        rules = self.policy.for_flow(check.flow)
        if outcome.action is previous.action or not rules.allows(previous.action, outcome.action):
            # Same action, or a relaxation the policy forbids (may_relax = false): it stands.
            self._confirm(
                check_id,
                previous,
                judgement.authenticity_score,
                judgement.model_versions,
                assured_action=outcome.action,
            )
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
            final=outcome.action.value != "review",
            decided_at=self.clock.now(),
            supersedes=previous.decision_id,
            stage=ASSURANCE_STAGE,
        )
        check.decide(decision, judgement.results)
        try:
            self.checks.save_decision(check)
        except DecisionConflict:
            return AssuranceResult(check_id, "lost_race")
        return AssuranceResult(check_id, "superseded", decision)

    def _confirm(
        self,
        check_id: str,
        previous: Decision,
        score: float | None,
        model_versions: dict[str, str],
        assured_action: Action,
    ) -> None:
        """``assuring -> final`` and its evidence entry, in one transaction (at most once).
        ``assured_action`` is what assurance decided: the entry names it when the policy kept
        the stricter inline action instead."""
        payload: dict[str, JsonValue] = {
            "decision_id": previous.decision_id,
            "action": previous.action.value,
            "authenticity_score": score,
            "model_versions": dict(model_versions),
        }
        if assured_action is not previous.action:
            payload["assured_action"] = assured_action.value
            payload["kept_because"] = "may_relax is false"
        draft = EntryDraft(
            kind=ASSURANCE_CONFIRMED,
            check_id=check_id,
            occurred_at=self.clock.now(),
            payload=payload,
        )
        with self.checks.uow.begin() as tx:
            in_tx = tx.checks
            # A fake store has no shared transaction: use the states port on its own.
            states: CheckStates = in_tx if isinstance(in_tx, CheckStates) else self.states
            if states.transition(check_id, CheckState.ASSURING, CheckState.FINAL):
                tx.evidence.append([draft])

    def handle(self, job: Job) -> None:
        """The job handler: run assurance for ``job.key``."""
        result = self.run(job.key)
        log.info("assurance of %s: %s", result.check_id, result.outcome)

    def reconcile(self, limit: int = 500) -> int:
        """Enqueue again the checks that stayed in ``assuring`` past the lease; how many."""
        cutoff = self.clock.now() - timedelta(seconds=self.policy.max_lease_seconds)
        count = 0
        for check_id in self.states.stale(CheckState.ASSURING, cutoff, limit):
            # Touch first: other sweepers skip it until the new lease runs out.
            if self.states.transition(check_id, CheckState.ASSURING, CheckState.ASSURING):
                self._enqueue(check_id)
                count += 1
        return count
