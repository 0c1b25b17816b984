"""Re-scans: judge stored captures again with a newer model, through the workers.

A run lists the stored, not erased captures in ``(stored_at, check_id)`` order behind a
persistent cursor, so an interrupted ``faceverdict rescan`` resumes where it stopped; each
item is a job, done at most once. A decision is written only where the action changes and
the check's lifecycle allows it, and that decision (``stage = "rescan"``) raises the
``decision.superseded`` webhook. A newer model never overrules a person: where it disagrees
with a reviewer's verdict it asks for a senior's look (``ReviewRequested``) instead. It never
relaxes a decision when the flow's policy forbids automated relaxing (``may_relax``), and
leaves alone a check that assurance or a reviewer is deciding right now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from faceverdict.domain.assurance import AssurancePolicy
from faceverdict.domain.check import RESCAN_STAGE, CheckState, Decision
from faceverdict.domain.policy import Action
from faceverdict.errors import InvalidRequest, NotFound
from faceverdict.ports.captures import CaptureVault
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import Job, JobQueue
from faceverdict.ports.rescans import RescanRun, RescanStore
from faceverdict.services.checks import Assessor, capture_key, new_id
from faceverdict.services.recorder import CheckRecorder

log = logging.getLogger(__name__)

RESCAN_JOB = "rescan"
RESCAN_DISAGREEMENT = "rescan_disagreement"
# A check that assurance or a person is deciding right now is left to them.
_BUSY = frozenset({CheckState.ASSURING, CheckState.IN_REVIEW})


@dataclass(frozen=True)
class RescanSchedule:
    """A periodic re-scan from configuration: every ``every`` over the last ``window``."""

    every: timedelta
    model_version: str
    window: timedelta | None = None


class RescanService:
    """Starts, feeds, resumes and runs re-scans."""

    def __init__(
        self,
        *,
        store: RescanStore,
        recorder: CheckRecorder,
        repository: CheckRepository,
        queue: JobQueue,
        assessor: Callable[[], Assessor],
        vault: CaptureVault,
        policy: AssurancePolicy,
        clock: Clock,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.repository = repository
        self.queue = queue
        self._assessor = assessor
        self.vault = vault
        self.policy = policy  # its may_relax holds for every automated stage
        self.clock = clock

    def active_versions(self) -> set[str]:
        """Model versions the workers' ensemble runs (``name:version`` and bare versions)."""
        versions = self._assessor().ensemble.model_versions
        return set(versions.values()) | {f"{k}:{v}" for k, v in versions.items()}

    def start(
        self,
        model_version: str,
        *,
        since: datetime | None = None,
        flow: str | None = None,
        run_id: str | None = None,
    ) -> RescanRun:
        """Create a run (a given ``run_id`` that exists is returned as it is: resume)."""
        if model_version not in self.active_versions():
            known = ", ".join(sorted(self.active_versions()))
            raise InvalidRequest(
                f"model version {model_version!r} is not active (active: {known}); "
                "deploy it to the workers first"
            )
        if flow is not None:
            self._assessor().flow(flow)
        run = RescanRun(
            run_id=run_id or new_id("rsc"),
            model_version=model_version,
            since=since,
            flow=flow,
            created_at=self.clock.now(),
        )
        if not self.store.create_run(run):
            existing = self.store.get_run(run.run_id)
            assert existing is not None
            return existing
        return run

    def run(self, run_id: str) -> RescanRun:
        """The run with this id; NotFound if unknown."""
        run = self.store.get_run(run_id)
        if run is None:
            raise NotFound(f"no re-scan run {run_id!r}")
        return run

    def feed(self, run_id: str, batch: int = 200) -> int:
        """Enqueue the next ``batch`` candidates behind the cursor; 0 once all are listed."""
        run = self.run(run_id)
        if run.listed_all:
            return 0
        found = self.store.candidates(since=run.since, flow=run.flow, after=run.cursor, limit=batch)
        ids = [check_id for _, check_id in found]
        cursor = found[-1] if found else run.cursor
        self.store.add_items(run_id, ids, cursor, done=len(found) < batch)
        for check_id in ids:
            self._enqueue(run_id, check_id)
        return len(ids)

    def resume(self, run_id: str) -> int:
        """Enqueue again the items not done (their jobs may be lost); how many."""
        pending = self.store.pending_items(self.run(run_id).run_id)
        for check_id in pending:
            self._enqueue(run_id, check_id)
        return len(pending)

    def _enqueue(self, run_id: str, check_id: str) -> None:
        self.queue.enqueue(Job(kind=RESCAN_JOB, key=f"{run_id}/{check_id}"))

    def handle(self, job: Job) -> None:
        """The job handler: re-scan one capture of one run."""
        run_id, _, check_id = job.key.partition("/")
        self.rescan_one(run_id, check_id)

    def rescan_one(self, run_id: str, check_id: str) -> bool | None:
        """Judge one stored capture again; True if its decision changed, None if skipped."""
        check = self.repository.get(check_id)
        previous = None if check is None else check.current_decision
        if check is None or previous is None or check.state in _BUSY:
            self.store.finish_item(run_id, check_id, changed=False)
            return None
        try:
            image = self.vault.get(capture_key(check_id))
        except (KeyError, NotFound):  # erased since the run listed it
            self.store.finish_item(run_id, check_id, changed=False)
            return None
        assessment = self._assessor().assess(image, check.flow, check.signals)
        judgement, outcome = assessment.judgement, assessment.outcome
        may_relax = self.policy.for_flow(check.flow).may_relax
        if outcome.action is previous.action:
            self.store.finish_item(run_id, check_id, changed=False)
            return False
        if check.settled_by_person:
            # A newer model may ask a person to look again, never overrule one.
            check.request_review(self.clock.now(), RESCAN_DISAGREEMENT, outcome.action)
            self.recorder.record_events(check)
            self.store.finish_item(run_id, check_id, changed=False)
            log.info("re-scan %s: %s disagrees with a verdict; review asked", run_id, check_id)
            return False
        if not check.can_supersede(RESCAN_STAGE, outcome.action, may_relax=may_relax):
            self.store.finish_item(run_id, check_id, changed=False)
            return False
        reasons = outcome.reasons + tuple(r for res in judgement.results for r in res.reasons)
        decision = Decision(
            decision_id=new_id("dec"),
            check_id=check_id,
            authenticity_score=judgement.authenticity_score,
            abstention=judgement.abstention,
            band=outcome.band,
            action=outcome.action,
            reasons=tuple(dict.fromkeys(("RESCAN_CHANGED", *reasons))),
            policy_version=assessment.policy_version,
            model_versions=judgement.model_versions,
            composite_risk=outcome.composite_risk,
            # A person settles a `review` (the decision's event queues the task).
            final=outcome.action is not Action.REVIEW,
            decided_at=self.clock.now(),
            supersedes=previous.decision_id,
            stage=RESCAN_STAGE,
        )
        check.decide(decision, judgement.results, may_relax=may_relax)
        # DecisionConflict (decided meanwhile) propagates: the job's retry judges the newer one.
        self.recorder.save_decision(check)
        self.store.finish_item(run_id, check_id, changed=True)
        log.info("re-scan %s: %s %s -> %s", run_id, check_id, previous.action, decision.action)
        return True

    def reconcile(self, lease: timedelta = timedelta(minutes=5)) -> int:
        """Carry on runs without progress for ``lease`` (lost jobs, an interrupted command):
        re-enqueue their unfinished items and list the rest; how many runs."""
        stalled = self.store.stalled_runs(self.clock.now() - lease)
        for run in stalled:
            self.resume(run.run_id)
            while self.feed(run.run_id):
                pass
        return len(stalled)

    def scheduled(self, schedule: RescanSchedule) -> RescanRun | None:
        """Start this period's run of a schedule, once across all workers (None if started)."""
        now = self.clock.now()
        period = int(now.timestamp() // schedule.every.total_seconds())
        run_id = f"rsc_sched_{period}"
        if self.store.get_run(run_id) is not None:
            return None
        since = now - schedule.window if schedule.window is not None else None
        run = self.start(schedule.model_version, since=since, run_id=run_id)
        while self.feed(run.run_id):
            pass
        return run
