"""faceverdict.testing.app: the real bootstrap on memory adapters decides, records, audits."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from faceverdict.domain.check import CheckState
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.domain.review import Role, Verdict, VerdictLabel
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.evidence.verify import verify_package
from faceverdict.services.checks import SubmitCheck
from faceverdict.testing.app import memory_application
from faceverdict.testing.captures import MemoryBlobStore
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.detectors import (
    FixedDetector,
    RaisingDetector,
    SlowDetector,
    fixed_ensemble,
)
from faceverdict.testing.jobs import ImmediateJobQueue
from faceverdict.testing.world import NestedWrite
from tests.support.synthetic_faces import synthetic_face


@pytest.fixture(scope="module")
def face() -> bytes:
    out = io.BytesIO()
    synthetic_face(size=(480, 600), seed=3).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_a_check_is_decided_recorded_and_the_log_audits_clean(tmp_path: Path, face: bytes) -> None:
    blobs = MemoryBlobStore()
    app = memory_application(tmp_path, blobs=blobs)
    try:
        submitted = app.checks.submit(
            SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
        )
        check = submitted.check
        decision = check.current_decision
        assert decision is not None
        assert decision.action is Action.ACCEPT, decision
        assert decision.model_versions["fixed"] == "test-1"
        stored = app.checks.get(check.check_id)
        assert stored.decisions == check.decisions
        assert blobs.keys() == [f"captures/{check.check_id}"]
        assert app.records.vault.get(f"captures/{check.check_id}") == face  # decrypts

        evidence = app.records.evidence
        assert evidence.checkpoint().size == evidence.reader.head()[0]
        report = evidence.audit()
        assert report.ok, report.problems
        package = app.records.packages.package(check.check_id)
        verification = verify_package(package, trusted_vkey=evidence.signer.vkey)
        assert verification.ok, verification.failures
    finally:
        app.close()


def test_a_repeated_idempotency_key_replays_the_first_check(tmp_path: Path, face: bytes) -> None:
    app = memory_application(tmp_path)
    command = SubmitCheck(
        image=face,
        subject_ref="c-1",
        flow="onboarding",
        signals=ClientSignals(),
        idempotency_key="k",
    )
    first = app.checks.submit(command)
    again = app.checks.submit(command)
    assert first.created
    assert not again.created
    assert again.check.check_id == first.check.check_id


def test_assurance_runs_at_once_on_the_immediate_queue(tmp_path: Path, face: bytes) -> None:
    clock = ManualClock()
    jobs = ImmediateJobQueue(clock)
    app = memory_application(
        tmp_path,
        clock=clock,
        jobs=jobs,
        ensemble=fixed_ensemble(FixedDetector("fixed", 0.9)),  # the gray band: step_up
        assurance_ensemble=fixed_ensemble(FixedDetector("fixed", 0.999)),  # suspect: review
    )
    check = app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
    ).check
    stored = app.checks.get(check.check_id)  # assurance already ran, in this thread
    assert [d.stage for d in stored.decisions] == ["inline", "assurance"]
    assert [d.action for d in stored.decisions] == [Action.STEP_UP, Action.REVIEW]
    assert stored.state is CheckState.IN_REVIEW  # the bus opened a review task at once
    assert [j.kind for j in jobs.ran] == ["assurance"]
    assert jobs.failures == []
    assert app.review.service.tasks.tasks_for_check(check.check_id)  # the bus made a task
    assert app.records.evidence.audit().ok


def test_jobs_wait_without_a_worker_and_run_when_it_starts(tmp_path: Path, face: bytes) -> None:
    jobs = ImmediateJobQueue()
    app = memory_application(
        tmp_path, jobs=jobs, run_jobs=False, ensemble=fixed_ensemble(FixedDetector("fixed", 0.9))
    )
    check = app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
    ).check
    assert jobs.pending() == 1
    assert app.checks.get(check.check_id).state is CheckState.ASSURING
    jobs.start_worker(JobWorker(app).dispatch)
    assert jobs.pending() == 0
    assert app.checks.get(check.check_id).state is CheckState.FINAL  # same opinion: confirmed


def test_a_write_outside_the_open_transaction_is_refused(tmp_path: Path) -> None:
    app = memory_application(tmp_path, record_config=False)
    stores = app.records.stores
    with pytest.raises(NestedWrite), stores.uow.begin():
        stores.events.settle(1, app.records.clock.now())


def test_erasure_and_retention_run_on_the_memory_stores(tmp_path: Path, face: bytes) -> None:
    clock = ManualClock()
    blobs = MemoryBlobStore()
    app = memory_application(tmp_path, clock=clock, blobs=blobs)
    kept = app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
    ).check
    erased = app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-2", flow="onboarding", signals=ClientSignals())
    ).check
    erasure = app.records.erasure.erase("c-2", requested_by="test")
    assert erasure.checks == (erased.check_id,)
    assert erasure.captures_deleted == 1
    assert blobs.keys() == [f"captures/{kept.check_id}"]

    clock.advance(days=31)  # past the 30 days of onboarding captures
    report = app.records.retention.sweep()
    assert report.captures_deleted == (kept.check_id,)
    assert blobs.keys() == []
    clock.advance(days=1825)  # past the evidence period: the checks expire
    expired = app.records.retention.sweep()
    assert set(expired.checks_expired) == {kept.check_id, erased.check_id}
    assert app.repository.get(kept.check_id) is None
    audit = app.records.evidence.audit()
    assert audit.ok, audit.problems
    assert audit.entries_expired == expired.entries_expired > 0


def test_a_reviewer_settles_a_case_on_the_memory_stores(tmp_path: Path, face: bytes) -> None:
    app = memory_application(
        tmp_path,
        ensemble=fixed_ensemble(FixedDetector("fixed", 0.9)),
        assurance_ensemble=fixed_ensemble(FixedDetector("fixed", 0.999)),
    )
    check = app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
    ).check
    assert check.state is CheckState.IN_REVIEW
    accounts = app.review.accounts
    reviewer = accounts.create("alice", "correct horse battery staple", Role.SENIOR)
    assert accounts.sign_in("alice", "correct horse battery staple").account == reviewer
    [task] = app.review.service.tasks.tasks_for_check(check.check_id)
    app.review.service.claim(task.task_id, reviewer)
    app.review.service.submit_verdict(task.task_id, reviewer, Verdict(VerdictLabel.GENUINE))
    settled = app.checks.get(check.check_id)
    assert settled.state is CheckState.FINAL
    assert settled.settled_by_person
    assert app.records.evidence.audit().ok


def test_the_assurance_sweep_follows_the_manual_clock(tmp_path: Path, face: bytes) -> None:
    clock = ManualClock()
    jobs = ImmediateJobQueue(clock)
    app = memory_application(
        tmp_path,
        clock=clock,
        jobs=jobs,
        run_jobs=False,
        ensemble=fixed_ensemble(FixedDetector("fixed", 0.9)),
    )
    app.checks.submit(
        SubmitCheck(image=face, subject_ref="c-1", flow="onboarding", signals=ClientSignals())
    )
    assert jobs.pending() == 1
    assert app.assurance.reconcile() == 0  # its lease holds: nothing is lost yet
    clock.advance(seconds=app.assurance.policy.max_lease_seconds + 1)
    assert app.assurance.reconcile() == 1
    assert jobs.pending() == 2


def test_the_test_detectors_shape_the_judgement(face: bytes) -> None:
    fixed = FixedDetector("fixed", 0.05, reasons=("FIXED",))
    ensemble = fixed_ensemble(RaisingDetector(), SlowDetector(0.01), fixed, gate=False)
    judgement = ensemble.judge(face)
    by_name = {r.detector: r for r in judgement.results}
    assert by_name["raising"].reasons == ("DETECTOR_FAILED",)
    assert by_name["slow"].fake_probability == 0.5
    assert by_name["fixed"].reasons == ("FIXED",)
    assert fixed.calls == 1
    high = judgement.authenticity_score
    fixed.fake_probability = 0.999
    low = ensemble.judge(face).authenticity_score
    assert high is not None
    assert low is not None
    assert low < high
