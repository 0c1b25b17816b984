"""Regressions of the check's lifecycle, on SQLite and PostgreSQL.

1. An assurance escalation queued two review tasks: a senior "assurance escalation" and,
   about a minute later, from the catch-up sweep, a junior "policy action" one for the same
   decision. A reaction now runs once per event, live or from the sweep.
2. A re-scan overturned a reviewer's verdict (writing ``action: review, final: true`` over a
   rejected face swap) and relaxed a decision the policy forbids relaxing. A person's verdict
   is now final for every automated stage, and the relax rule holds for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.check import CheckState
from faceverdict.domain.detection import DetectorKind
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.policy import Action
from faceverdict.domain.review import AttackType, Role, TaskReason, Tier, Verdict, VerdictLabel
from faceverdict.testing.detectors import FixedDetector
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.support.review import PASSWORD
from tests.support.review_app import face, policy_with, submit

Build = Callable[[float, float], Application]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def build(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Build]:
    """``build(inline, heavy)``: the service whose inline and assurance/re-scan opinions are
    fixed fake probabilities (0.9: the gray band, step_up; 0.999: review; 0.2: accept)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    made: list[Application] = []

    def make(inline_p: float, heavy_p: float) -> Application:
        settings = load_settings(
            data_dir=tmp_path / "data",
            # No random QC: no audit tasks, no second looks (their draws are per decision id).
            policy_file=policy_with(tmp_path, audit_fraction=0, double_review_fraction=0),
            inline_detectors=["provenance"],
            **({"database_url": url} if url else {}),
        )
        inline = build_ensemble(settings)
        inline.detectors.append(FixedDetector("fixed", inline_p))
        heavy_opinion = FixedDetector(
            "fixed_assurance", heavy_p, kind=DetectorKind.ASSURANCE, version="2"
        )
        heavy = Ensemble(
            detectors=[*inline.detectors[:-1], heavy_opinion],
            fusion=inline.fusion,
            gate=inline.gate,
            limits=inline.limits,
        )
        app = bootstrap(settings, ensemble=inline, assurance_ensemble=heavy)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def test_an_assurance_escalation_queues_one_senior_task_live_or_swept(build: Build) -> None:
    app = build(0.9, 0.999)
    app.bus.lease = timedelta(0)  # the sweep may take any unsettled event at once
    check = submit(app, face(3), "onboarding")
    assert check.state is CheckState.ASSURING
    # The assurance decision commits, then the process stops before its reactions run.
    dispatch = app.bus.dispatch
    app.bus.dispatch = lambda recorded: 0  # type: ignore[method-assign]
    assert app.assurance.run(check.check_id).outcome == "superseded"
    app.bus.dispatch = dispatch  # type: ignore[method-assign]
    assert app.review.service.tasks.tasks_for_check(check.check_id) == []
    # The worker's sweep runs the missing reactions, as often as it likes.
    for _ in range(3):
        app.bus.catch_up()
    [task] = app.review.service.tasks.tasks_for_check(check.check_id)
    assert TaskReason.ASSURANCE_ESCALATION in task.reasons
    assert task.tier is Tier.SENIOR
    assert task.decides
    stored = app.checks.get(check.check_id)
    assert stored.state is CheckState.IN_REVIEW


def test_an_escalation_handled_live_is_not_queued_again_by_the_sweep(build: Build) -> None:
    app = build(0.9, 0.999)
    check = submit(app, face(3), "onboarding")
    assert app.assurance.run(check.check_id).outcome == "superseded"
    assert len(app.review.service.tasks.tasks_for_check(check.check_id)) == 1
    app.bus.lease = timedelta(0)
    app.bus.catch_up()
    # Even with every handler run again by hand (a sweep racing the live path):
    for handler_name, handler in app.bus.handlers_for(_decided_event(app, check.check_id)):
        del handler_name
        handler(_decided_event(app, check.check_id))
    [task] = app.review.service.tasks.tasks_for_check(check.check_id)
    assert TaskReason.ASSURANCE_ESCALATION in task.reasons


def _decided_event(app: Application, check_id: str) -> DomainEvent:
    from tests.support.review import decided_event

    return decided_event(app.checks.get(check_id))


def _reject_by_review(app: Application, check_id: str) -> None:
    [task] = app.review.service.tasks.tasks_for_check(check_id)
    alice = app.review.accounts.create("alice", PASSWORD, Role.SENIOR, "Alice")
    app.review.service.claim(task.task_id, alice)
    result = app.review.service.submit_verdict(
        task.task_id, alice, Verdict(VerdictLabel.FAKE, AttackType.FACE_SWAP)
    )
    assert result.decision is not None
    assert result.decision.action is Action.REJECT


def test_a_rescan_never_overrules_a_reviewer(build: Build) -> None:
    first = build(0.999, 0.999)  # inline: suspect band, review
    check = submit(first, face(4), "onboarding")
    assert check.current_decision is not None
    assert check.current_decision.action is Action.REVIEW
    _reject_by_review(first, check.check_id)
    first.close()

    upgraded = build(0.999, 0.2)  # a newer model that finds the face genuine
    run = upgraded.rescans.start("fixed_assurance:2")
    while upgraded.rescans.feed(run.run_id):
        pass
    assert upgraded.rescans.rescan_one(run.run_id, check.check_id) is False
    stored = upgraded.checks.get(check.check_id)
    assert [d.stage for d in stored.decisions] == ["inline", "review"]
    assert stored.current_decision is not None
    assert stored.current_decision.action is Action.REJECT
    assert stored.settled_by_person
    # The disagreement goes in front of a senior, who may reconsider; nothing else changes.
    tasks = upgraded.review.service.tasks.tasks_for_check(check.check_id)
    [reopened] = [t for t in tasks if TaskReason.RESCAN_DISAGREEMENT in t.reasons]
    assert reopened.tier is Tier.SENIOR
    assert upgraded.checks.get(check.check_id).state is CheckState.IN_REVIEW
    assert upgraded.rescans.rescan_one(run.run_id, check.check_id) is None  # a person looks
    package = upgraded.records.packages.package(check.check_id)
    kinds = [i["entry"]["kind"] for i in package["entries"]]
    assert kinds.count("review.requested") == 1  # the disagreement is on record
    assert kinds.count("review.opened") == 2
    assert len(upgraded.review.service.tasks.tasks_for_check(check.check_id)) == 2


def test_a_rescan_does_not_relax_what_the_policy_forbids(build: Build) -> None:
    first = build(0.9, 0.9)  # step_up inline; assurance confirms it (final)
    check = submit(first, face(5), "onboarding")
    assert first.assurance.run(check.check_id).outcome == "confirmed"
    first.close()

    upgraded = build(0.9, 0.2)  # a newer model would accept
    run = upgraded.rescans.start("fixed_assurance:2")
    while upgraded.rescans.feed(run.run_id):
        pass
    assert upgraded.rescans.rescan_one(run.run_id, check.check_id) is False
    stored = upgraded.checks.get(check.check_id)
    assert [d.action for d in stored.decisions] == [Action.STEP_UP]  # bundled: may_relax false
