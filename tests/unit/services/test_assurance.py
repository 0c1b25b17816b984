"""Asynchronous assurance on memory stores: selection, supersede / confirm / abandon,
``may_relax``, idempotent re-runs and the lease sweep, with a manual clock.

Durable jobs across restarts (Huey, SQLite) are in ``tests/integration/test_assurance.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from faceverdict.domain.check import CheckState
from faceverdict.domain.detection import DetectorKind
from faceverdict.domain.policy import Action
from faceverdict.domain.review import TaskReason
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.policy import PolicyFile, parse_policy_file
from faceverdict.ports.jobs import Job
from faceverdict.testing.app import memory_application
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.detectors import FixedDetector, fixed_ensemble
from faceverdict.testing.jobs import ImmediateJobQueue
from faceverdict.wiring.bootstrap import Application
from tests.support.fixed_outcomes import relaxing_policy
from tests.support.jobs import LosingJobQueue
from tests.support.review_app import face, submit

# A lone fixed detector puts a capture here (fused as plain evidence, logit(p)):
GRAY = 0.9  # ~79: the gray band, step_up, selected for assurance
SUSPECT = 0.999  # ~1: the suspect band, review
GENUINE = 0.2  # 100: accept


def application(
    tmp_path: Path,
    clock: ManualClock,
    assured: float | None,
    *,
    jobs: ImmediateJobQueue | None = None,
    policy: PolicyFile | None = None,
    run_jobs: bool = False,
    inline: float = GRAY,
) -> Application:
    """The service whose inline ensemble answers ``inline`` and whose assurance ensemble
    answers ``assured`` (None: the inline one again, so the same action)."""
    heavy = (
        None
        if assured is None
        else fixed_ensemble(FixedDetector("fixed_assurance", assured, kind=DetectorKind.ASSURANCE))
    )
    return memory_application(
        tmp_path,
        clock=clock,
        jobs=jobs or ImmediateJobQueue(clock),
        run_jobs=run_jobs,
        ensemble=fixed_ensemble(FixedDetector("fixed", inline)),
        assurance_ensemble=heavy,
        policy=policy,
    )


def entries(app: Application, check_id: str, kind: str) -> list[dict[str, Any]]:
    """The payloads of the check's evidence entries of ``kind``, in log order."""
    package = app.records.packages.package(check_id)
    found: list[dict[str, Any]] = []
    for item in package["entries"]:
        entry = item["entry"]
        if entry["kind"] == kind:
            found.append(entry["payload"])
    return found


def policy_with_lease(seconds: int) -> PolicyFile:
    """The bundled policy with ``lease_seconds`` of assurance set to ``seconds``."""
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    assert "\nlease_seconds = 300 " in text
    changed = text.replace("\nlease_seconds = 300 ", f"\nlease_seconds = {seconds} ")
    return parse_policy_file(changed, "short-lease.toml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_the_policy_selects_gray_band_step_ups_and_leaves_final_accepts_alone(
    tmp_path: Path, clock: ManualClock
) -> None:
    jobs = ImmediateJobQueue(clock)
    gray = application(tmp_path / "gray", clock, None, jobs=jobs)
    check = submit(gray, face(3), "onboarding")
    assert check.state is CheckState.ASSURING
    assert entries(gray, check.check_id, "assurance.started")[0]["reasons"] == [
        "gray_band",
        "action",
    ]
    assert jobs.pending() == 1  # the AssuranceStarted handler enqueued its job

    quiet = ImmediateJobQueue(clock)
    accepted = application(tmp_path / "ok", clock, None, jobs=quiet, inline=GENUINE)
    final = submit(accepted, face(3), "onboarding")
    assert final.state is CheckState.FINAL
    assert accepted.assurance.selection(final) == ()
    assert entries(accepted, final.check_id, "assurance.started") == []
    assert quiet.pending() == 0


def test_a_gray_band_check_is_superseded_when_assurance_changes_the_action(
    tmp_path: Path, clock: ManualClock
) -> None:
    jobs = ImmediateJobQueue(clock)
    app = application(tmp_path, clock, SUSPECT, jobs=jobs)
    check = submit(app, face(3), "onboarding")
    inline = check.current_decision
    assert inline is not None
    assert inline.action is Action.STEP_UP, inline  # the gray band
    assert check.state is CheckState.ASSURING
    clock.advance(seconds=30)
    jobs.start_worker(JobWorker(app).dispatch)  # the worker runs the waiting job
    assert [j.kind for j in jobs.ran] == ["assurance"]
    stored = app.checks.get(check.check_id)
    assert len(stored.decisions) == 2
    superseding = stored.decisions[1]
    assert superseding.stage == "assurance"
    assert superseding.supersedes == inline.decision_id
    assert superseding.action is Action.REVIEW  # fused score fell into the suspect band
    assert superseding.decided_at == clock.now()
    assert not superseding.final  # a person settles a review
    assert stored.state is CheckState.IN_REVIEW  # the escalation's task is open
    [task] = app.review.service.tasks.tasks_for_check(check.check_id)
    assert TaskReason.ASSURANCE_ESCALATION in task.reasons
    decided = entries(app, check.check_id, "check.decided")
    assert [d["stage"] for d in decided] == ["inline", "assurance"]
    assert decided[1]["supersedes"] == inline.decision_id


def test_an_unchanged_action_makes_the_check_final_without_a_new_decision(
    tmp_path: Path, clock: ManualClock
) -> None:
    jobs = ImmediateJobQueue(clock)
    app = application(tmp_path, clock, None, jobs=jobs)  # same detectors: same action
    check = submit(app, face(3), "onboarding")
    assert check.state is CheckState.ASSURING
    result = app.assurance.run(check.check_id)
    assert result.outcome == "confirmed"
    stored = app.checks.get(check.check_id)
    assert stored.state is CheckState.FINAL
    assert len(stored.decisions) == 1
    assert app.assurance.run(check.check_id).outcome == "skipped"  # once
    jobs.start_worker(JobWorker(app).dispatch)  # the job still queued finds nothing to do
    assert jobs.failures == []
    assert len(app.checks.get(check.check_id).decisions) == 1
    assert len(entries(app, check.check_id, "assurance.confirmed")) == 1


def test_the_bundled_policy_keeps_the_stricter_inline_action_and_may_relax_lets_it_go(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = application(tmp_path / "bundled", clock, GENUINE)  # the bundled policy
    check = submit(app, face(3), "onboarding")
    inline = check.current_decision
    assert inline is not None
    assert inline.action is Action.STEP_UP
    assert app.assurance.run(check.check_id).outcome == "confirmed"
    stored = app.checks.get(check.check_id)
    assert stored.state is CheckState.FINAL
    assert [d.action for d in stored.decisions] == [Action.STEP_UP]  # not relaxed
    [confirmed] = entries(app, check.check_id, "assurance.confirmed")
    assert confirmed["action"] == "step_up"
    assert confirmed["assured_action"] == "accept"  # what assurance said, on the record
    assert confirmed["kept_because"] == "may_relax is false"

    # A policy with may_relax = true lets the same opinion relax the check to accept.
    permissive = parse_policy_file(relaxing_policy(), "relaxing-policy.toml")
    relaxed = application(tmp_path / "permissive", clock, GENUINE, policy=permissive)
    check = submit(relaxed, face(3), "onboarding")
    assert relaxed.assurance.run(check.check_id).outcome == "superseded"
    stored = relaxed.checks.get(check.check_id)
    assert [d.action for d in stored.decisions] == [Action.STEP_UP, Action.ACCEPT]
    assert stored.state is CheckState.FINAL


def test_running_a_job_twice_writes_one_superseding_decision(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = application(tmp_path, clock, SUSPECT)
    check = submit(app, face(3), "onboarding")
    results = [app.assurance.run(check.check_id), app.assurance.run(check.check_id)]
    assert [r.outcome for r in results] == ["superseded", "skipped"]
    assert len(app.checks.get(check.check_id).decisions) == 2
    assert len(app.review.service.tasks.tasks_for_check(check.check_id)) == 1


def test_an_erased_capture_abandons_assurance_and_the_inline_decision_stands(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = application(tmp_path, clock, SUSPECT)
    check = submit(app, face(3), "onboarding")
    assert check.state is CheckState.ASSURING
    app.records.erasure.erase("customer-1", requested_by="test")  # before the job ran
    assert app.assurance.run(check.check_id).outcome == "capture_gone"
    stored = app.checks.get(check.check_id)
    assert stored.state is CheckState.DECIDED
    assert [d.action for d in stored.decisions] == [Action.STEP_UP]
    assert stored.decisions[0].final is False
    [abandoned] = entries(app, check.check_id, "assurance.abandoned")
    assert abandoned["reason"] == "capture_gone"
    assert app.assurance.run(check.check_id).outcome == "skipped"


def test_the_sweep_re_enqueues_a_check_whose_job_was_lost(
    tmp_path: Path, clock: ManualClock
) -> None:
    jobs = LosingJobQueue(clock)  # the broker loses every message for now
    app = application(
        tmp_path, clock, SUSPECT, jobs=jobs, run_jobs=True, policy=policy_with_lease(60)
    )
    check = submit(app, face(3), "onboarding")
    assert jobs.lost == [Job(kind="assurance", key=check.check_id)]
    assert app.checks.get(check.check_id).state is CheckState.ASSURING
    assert app.assurance.reconcile() == 0  # still within its lease
    clock.advance(seconds=59)
    assert app.assurance.reconcile() == 0  # the policy's lease (60 s), not the default 300 s
    clock.advance(seconds=2)
    assert app.assurance.reconcile() == 1  # re-enqueued (and lost once more) ...
    assert len(jobs.lost) == 2
    assert app.assurance.reconcile() == 0  # ... with a fresh lease: other sweeps skip it
    clock.advance(seconds=61)
    jobs.losing = False
    assert app.assurance.reconcile() == 1  # this time the job arrives and runs
    assert jobs.ran == [Job(kind="assurance", key=check.check_id)]
    stored = app.checks.get(check.check_id)
    assert [d.stage for d in stored.decisions] == ["inline", "assurance"]
    clock.advance(seconds=61)
    assert app.assurance.reconcile() == 0  # nothing is left in `assuring`
