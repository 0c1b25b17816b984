"""Re-scans on memory stores: stored, not erased captures judged again with a newer model,
resumably (cursor, resume, changed counts, the sweep, schedules); ``decision.superseded``
webhooks only where the action changes. The CLI is in ``tests/integration/test_rescan.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from faceverdict.domain.check import CheckState
from faceverdict.domain.detection import DetectorKind
from faceverdict.domain.policy import Action
from faceverdict.domain.review import TaskReason
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.ports.jobs import JobQueue
from faceverdict.services.rescan import RESCAN_JOB, RescanSchedule
from faceverdict.services.webhooks import DECISION_SUPERSEDED
from faceverdict.testing.app import memory_application
from faceverdict.testing.captures import MemoryBlobStore
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.detectors import FixedDetector, fixed_ensemble
from faceverdict.testing.jobs import ImmediateJobQueue
from faceverdict.testing.stores import memory_stores
from faceverdict.testing.webhooks import RecordingTransport
from faceverdict.wiring.bootstrap import Application
from faceverdict.wiring.stores import Stores
from tests.support.jobs import LosingJobQueue
from tests.support.review_app import face, submit
from tests.support.webhooks import verified

GENUINE = 0.2  # a lone fixed detector at 0.2 scores 100: accept, final
FAKE = 0.999  # ~1: the suspect band, review

HOOK = "https://hooks.example/in"


@dataclass
class Deployment:
    """What outlives one version of the service: the records, the captures, the clock."""

    tmp_path: Path
    clock: ManualClock
    stores: Stores
    blobs: MemoryBlobStore

    def service(
        self,
        fake_probability: float,
        version: str,
        *,
        jobs: JobQueue | None = None,
        run_jobs: bool = True,
        transport: RecordingTransport | None = None,
    ) -> Application:
        """The service whose assurance model ``fixed_assurance:<version>`` answers
        ``fake_probability``; inline, every capture is accepted."""
        heavy = FixedDetector(
            "fixed_assurance", fake_probability, kind=DetectorKind.ASSURANCE, version=version
        )
        return memory_application(
            self.tmp_path,
            clock=self.clock,
            stores=self.stores,
            blobs=self.blobs,
            jobs=jobs or ImmediateJobQueue(self.clock),
            run_jobs=run_jobs,
            transport=transport,
            ensemble=fixed_ensemble(FixedDetector("fixed", GENUINE)),
            assurance_ensemble=fixed_ensemble(heavy),
        )


Upgrade = Callable[..., Application]


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    clock = ManualClock()
    return Deployment(tmp_path, clock, memory_stores(clock), MemoryBlobStore())


@pytest.fixture
def stored(deployment: Deployment) -> list[str]:
    """Five accepted checks of five subjects; the last subject is erased."""
    application = deployment.service(GENUINE, "1")
    ids = []
    for n in range(5):
        check = submit(application, face(10 + n), "onboarding", subject=f"customer-{n}")
        assert check.state is CheckState.FINAL
        ids.append(check.check_id)
    application.records.erasure.erase("customer-4", requested_by="test")
    deployment.clock.advance(hours=1)
    return ids[:4]


@pytest.fixture
def upgrade(deployment: Deployment, stored: list[str]) -> Upgrade:
    """The service after a model upgrade (version 2) that finds every capture fake."""
    del stored

    def make(
        *,
        jobs: JobQueue | None = None,
        run_jobs: bool = True,
        transport: RecordingTransport | None = None,
    ) -> Application:
        return deployment.service(FAKE, "2", jobs=jobs, run_jobs=run_jobs, transport=transport)

    return make


def test_a_rescan_supersedes_changed_decisions_and_sends_webhooks(
    upgrade: Upgrade, stored: list[str]
) -> None:
    transport = RecordingTransport()
    upgraded = upgrade(transport=transport)  # jobs run at once
    rescans, webhooks = upgraded.rescans, upgraded.webhooks
    endpoint = webhooks.register(HOOK, [DECISION_SUPERSEDED])
    run = rescans.start("fixed_assurance:2")
    fed = []
    while n := rescans.feed(run.run_id, batch=3):
        fed.append(n)
    assert fed == [3, 1]
    done = rescans.run(run.run_id)
    assert done.finished
    assert (done.enqueued, done.done, done.changed) == (4, 4, 4)  # erased one left out
    secret = endpoint.secrets[0].value
    bodies = [verified(secret, request) for request in transport.sent]
    assert [b["type"] for b in bodies] == [DECISION_SUPERSEDED] * 4
    assert sorted(b["data"]["check_id"] for b in bodies) == sorted(stored)
    for check_id in stored:
        check = upgraded.checks.get(check_id)
        assert [d.stage for d in check.decisions] == ["inline", "rescan"]
        assert check.decisions[1].supersedes == check.decisions[0].decision_id
        assert not check.decisions[1].final  # a person settles a review
        assert check.current_decision is not None
        assert check.current_decision.action is Action.REVIEW
        assert check.state is CheckState.IN_REVIEW  # its review task is open
        # (the bundled policy samples 2 % of automated final decisions for a QC audit: the
        # inline accept may have a task of its own, which decides nothing)
        tasks = upgraded.review.service.tasks.tasks_for_check(check_id)
        [task] = [t for t in tasks if t.decides]
        assert task.reasons == (TaskReason.POLICY_ACTION,)


def test_an_interrupted_rescan_resumes_at_its_cursor(
    upgrade: Upgrade, deployment: Deployment, stored: list[str]
) -> None:
    jobs = ImmediateJobQueue(deployment.clock)
    upgraded = upgrade(jobs=jobs, run_jobs=False)  # no worker: jobs wait
    rescans = upgraded.rescans
    run = rescans.start("2")
    assert rescans.feed(run.run_id, batch=3) == 3  # then the command was interrupted
    resumed = rescans.start("2", run_id=run.run_id)
    assert resumed.run_id == run.run_id
    assert resumed.cursor is not None
    assert rescans.resume(run.run_id) == 3  # their jobs are queued again
    assert rescans.feed(run.run_id, batch=3) == 1
    assert rescans.feed(run.run_id, batch=3) == 0
    for check_id in stored:  # items run twice change a decision once
        rescans.rescan_one(run.run_id, check_id)
        rescans.rescan_one(run.run_id, check_id)
    done = rescans.run(run.run_id)
    assert (done.enqueued, done.done, done.changed, done.finished) == (4, 4, 4, True)
    assert all(len(upgraded.checks.get(c).decisions) == 2 for c in stored)
    # The jobs queued meanwhile (seven, for four items) run late and change nothing.
    assert jobs.pending() == 7
    jobs.start_worker(JobWorker(upgraded).dispatch)
    assert {j.kind for j in jobs.ran} == {RESCAN_JOB}
    assert jobs.failures == []
    again = rescans.run(run.run_id)
    assert (again.enqueued, again.done, again.changed) == (4, 4, 4)
    assert all(len(upgraded.checks.get(c).decisions) == 2 for c in stored)


def test_an_unchanged_action_sends_nothing(deployment: Deployment, stored: list[str]) -> None:
    transport = RecordingTransport()
    jobs = ImmediateJobQueue(deployment.clock)
    application = deployment.service(GENUINE, "1", transport=transport, jobs=jobs, run_jobs=False)
    rescans, webhooks = application.rescans, application.webhooks
    webhooks.register(HOOK, [DECISION_SUPERSEDED])
    run = rescans.start("1", flow="onboarding")
    assert rescans.feed(run.run_id) == 4
    for check_id in stored:
        assert rescans.rescan_one(run.run_id, check_id) is False
    jobs.start_worker(JobWorker(application).dispatch)  # the queued jobs, too
    done = rescans.run(run.run_id)
    assert (done.done, done.changed, done.finished) == (4, 0, True)
    assert all(len(application.checks.get(c).decisions) == 1 for c in stored)
    assert transport.sent == []


def test_a_scheduled_rescan_starts_once_per_period(
    upgrade: Upgrade, deployment: Deployment
) -> None:
    upgraded = upgrade()
    rescans = upgraded.rescans
    schedule = RescanSchedule(timedelta(hours=24), "2", window=timedelta(days=1))
    run = rescans.scheduled(schedule)
    assert run is not None
    assert rescans.run(run.run_id).enqueued == 4
    assert rescans.scheduled(schedule) is None  # another worker, same period: nothing
    deployment.clock.advance(hours=25)  # the next period: the captures left the window
    later = rescans.scheduled(schedule)
    assert later is not None
    assert later.run_id != run.run_id
    assert rescans.run(later.run_id).enqueued == 0
    assert rescans.scheduled(schedule) is None


def test_the_sweep_carries_on_a_run_whose_command_and_jobs_were_lost(
    upgrade: Upgrade, deployment: Deployment
) -> None:
    clock = deployment.clock
    jobs = LosingJobQueue(clock)
    upgraded = upgrade(jobs=jobs)
    rescans = upgraded.rescans
    run = rescans.start("2")
    rescans.feed(run.run_id, batch=3)  # the command died after one batch ...
    assert len(jobs.lost) == 3  # ... and the broker lost the jobs
    assert rescans.reconcile() == 0  # it made progress just now: within its lease
    clock.advance(minutes=4)
    assert rescans.reconcile() == 0  # the lease is five minutes
    clock.advance(minutes=1, seconds=1)
    jobs.losing = False
    assert rescans.reconcile() == 1  # resumes the lost items and lists the rest
    assert rescans.reconcile() == 0  # ... once
    done = rescans.run(run.run_id)
    assert (done.enqueued, done.done, done.changed, done.finished) == (4, 4, 4, True)
    assert [j.kind for j in jobs.ran] == [RESCAN_JOB] * 4
