"""Asynchronous assurance on the embedded default: durable jobs, superseding decisions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faceverdict.adapters.huey_job_queue import HueyJobQueue
from faceverdict.bootstrap import Application, bootstrap
from faceverdict.config import load_settings
from faceverdict.detectors.base import Sample
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.check import CheckState
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult
from faceverdict.domain.policy import Action
from faceverdict.domain.review import TaskReason
from faceverdict.ensembles import build_ensemble
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.job_ports import Job
from tests.support.fixed_outcomes import relaxing_policy_file
from tests.support.review_app import face, submit


class FixedOpinion:
    """An assurance detector with a fixed fake probability (stands in for the heavy models)."""

    def __init__(
        self, fake_probability: float, name: str = "fixed_assurance", version: str = "1"
    ) -> None:
        kind = DetectorKind.ASSURANCE if name.endswith("_assurance") else DetectorKind.INLINE
        self.info = DetectorInfo(name=name, version=version, kind=kind)
        self.fake_probability = fake_probability
        self.calls = 0

    def analyse(self, sample: Sample) -> DetectorResult:
        del sample
        self.calls += 1
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=self.fake_probability,
            reasons=("FIXED",),
            elapsed_ms=0.0,
        )


# The assurance mechanics are under test, not the learned models: without them the fixed
# opinion alone decides the band, whatever the shipped models say about a synthetic portrait.
PIPELINE_DETECTORS = ["provenance"]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def application_with(
    tmp_path: Path, opinion: FixedOpinion | None, policy_file: Path | None = None
) -> Application:
    settings = load_settings(
        data_dir=tmp_path / "data",
        assurance_sweep_every_seconds=0.5,
        inline_detectors=PIPELINE_DETECTORS,
        policy_file=policy_file,
    )
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.9, name="fixed"))  # ~71: the gray band
    # Explicit, so that detectors other tests registered in this process play no part.
    assurance = Ensemble(
        detectors=[*inline.detectors[:-1], opinion or inline.detectors[-1]],  # replaces "fixed"
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
    )
    return bootstrap(settings, ensemble=inline, assurance_ensemble=assurance)


@pytest.fixture
def gray_check_image() -> bytes:
    return face(3)


def test_a_job_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = HueyJobQueue.sqlite(path)
    first.enqueue(Job(kind="assurance", key="chk_1"))
    first.close()  # stopped before any worker ran it

    ran: list[Job] = []
    done = threading.Event()

    def handle(job: Job) -> None:
        ran.append(job)
        done.set()

    second = HueyJobQueue.sqlite(path)
    assert second.pending() == 1
    second.start_worker(handle)
    try:
        assert done.wait(15)
    finally:
        second.close()
    assert ran == [Job(kind="assurance", key="chk_1")]


def test_a_gray_band_check_is_superseded_when_assurance_changes_the_action(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    opinion = FixedOpinion(0.999)
    application = application_with(tmp_path, opinion)
    try:
        check = submit(application, gray_check_image, "onboarding")
        inline = check.current_decision
        assert inline is not None
        assert inline.action is Action.STEP_UP, inline  # the gray band
        assert check.state is CheckState.ASSURING
        worker = JobWorker(application)
        worker.start()
        try:
            wait_for(lambda: application.checks.get(check.check_id).state != CheckState.ASSURING)
        finally:
            worker.stop()
        stored = application.checks.get(check.check_id)
        assert len(stored.decisions) == 2
        superseding = stored.decisions[1]
        assert superseding.stage == "assurance"
        assert superseding.supersedes == inline.decision_id
        assert superseding.action is Action.REVIEW  # fused score fell into the suspect band
        assert not superseding.final  # a person settles a review
        assert stored.state is CheckState.DECIDED
        review = application.review
        assert review is not None
        [task] = review.service.repository.tasks_for_check(check.check_id)
        assert TaskReason.ASSURANCE_ESCALATION in task.reasons
        package = application.records.packages.package(check.check_id)
        decided = [i["entry"] for i in package["entries"] if i["entry"]["kind"] == "check.decided"]
        assert [d["payload"]["stage"] for d in decided] == ["inline", "assurance"]
        assert decided[1]["payload"]["supersedes"] == inline.decision_id
    finally:
        application.close()


def test_an_unchanged_action_makes_the_check_final_without_a_new_decision(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    application = application_with(tmp_path, None)  # same detectors: same action
    try:
        check = submit(application, gray_check_image, "onboarding")
        assert check.state is CheckState.ASSURING
        assert application.assurance is not None
        result = application.assurance.run(check.check_id)
        assert result.outcome == "confirmed"
        stored = application.checks.get(check.check_id)
        assert stored.state is CheckState.FINAL
        assert len(stored.decisions) == 1
        assert application.assurance.run(check.check_id).outcome == "skipped"  # once
        package = application.records.packages.package(check.check_id)
        kinds = [i["entry"]["kind"] for i in package["entries"]]
        assert kinds.count("assurance.confirmed") == 1
    finally:
        application.close()


def test_the_bundled_policy_keeps_the_stricter_inline_action_and_may_relax_lets_it_go(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    application = application_with(tmp_path, FixedOpinion(0.2))  # the bundled policy
    try:
        check = submit(application, gray_check_image, "onboarding")
        inline = check.current_decision
        assert inline is not None
        assert inline.action is Action.STEP_UP
        assert application.assurance is not None
        assert application.assurance.run(check.check_id).outcome == "confirmed"
        stored = application.checks.get(check.check_id)
        assert stored.state is CheckState.FINAL
        assert [d.action for d in stored.decisions] == [Action.STEP_UP]  # not relaxed
        package = application.records.packages.package(check.check_id)
        [confirmed] = [
            i["entry"]["payload"]
            for i in package["entries"]
            if i["entry"]["kind"] == "assurance.confirmed"
        ]
        assert confirmed["action"] == "step_up"
        assert confirmed["assured_action"] == "accept"  # what assurance said, on the record
        assert confirmed["kept_because"] == "may_relax is false"
    finally:
        application.close()

    # A policy with may_relax = true lets the same opinion relax the check to accept.
    permissive = relaxing_policy_file(tmp_path / "permissive")
    relaxed = application_with(tmp_path / "permissive", FixedOpinion(0.2), policy_file=permissive)
    try:
        check = submit(relaxed, gray_check_image, "onboarding")
        assert relaxed.assurance is not None
        assert relaxed.assurance.run(check.check_id).outcome == "superseded"
        stored = relaxed.checks.get(check.check_id)
        assert [d.action for d in stored.decisions] == [Action.STEP_UP, Action.ACCEPT]
    finally:
        relaxed.close()


def test_running_a_job_twice_writes_one_superseding_decision(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    application = application_with(tmp_path, FixedOpinion(0.999))
    try:
        check = submit(application, gray_check_image, "onboarding")
        assurance = application.assurance
        assert assurance is not None
        results = [assurance.run(check.check_id), assurance.run(check.check_id)]
        assert [r.outcome for r in results] == ["superseded", "skipped"]
        assert len(application.checks.get(check.check_id).decisions) == 2
    finally:
        application.close()


def test_the_sweep_re_enqueues_a_check_whose_job_was_lost(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    application = application_with(tmp_path, FixedOpinion(0.999))
    try:
        submit(application, gray_check_image, "onboarding")
        jobs = application.jobs
        assert isinstance(jobs, HueyJobQueue)
        jobs._huey.flush()  # the broker lost the message
        assert jobs.pending() == 0
        assurance = application.assurance
        assert assurance is not None
        assert assurance.reconcile() == 0  # still within its lease
        time.sleep(1.1)
        object.__setattr__(
            assurance, "policy", _with_lease(assurance.policy, 1.0)
        )  # a short lease for the test
        assert assurance.reconcile() == 1
        assert jobs.pending() == 1
    finally:
        application.close()


def _with_lease(policy: object, seconds: float) -> object:
    from dataclasses import replace

    from faceverdict.domain.assurance import AssurancePolicy

    assert isinstance(policy, AssurancePolicy)
    return replace(
        policy,
        defaults=replace(policy.defaults, lease_seconds=seconds),
        flows={k: replace(v, lease_seconds=seconds) for k, v in policy.flows.items()},
    )


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    time.sleep(0.05)
    stray = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not {name for name in stray if name.startswith("faceverdict-")}


def test_an_assurance_job_survives_a_service_restart(
    tmp_path: Path, gray_check_image: bytes
) -> None:
    first = application_with(tmp_path, FixedOpinion(0.2))  # assurance will finalise it
    try:
        check = submit(first, gray_check_image, "onboarding")
        assert check.state is CheckState.ASSURING
    finally:
        first.close()  # stopped before any worker ran the job

    second = application_with(tmp_path, FixedOpinion(0.2))
    worker = JobWorker(second, sweep_every=60)  # no sweep: the queued job itself runs
    worker.start()
    try:
        wait_for(lambda: second.checks.get(check.check_id).state is CheckState.FINAL)
    finally:
        worker.stop()
        second.close()
