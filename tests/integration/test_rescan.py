"""Re-scans: stored, not erased captures judged again with a newer model, resumably;
``decision.superseded`` webhooks only where the action changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from svix.webhooks import Webhook

from faceverdict.bootstrap import Application, bootstrap
from faceverdict.config import Settings, load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.check import CheckState
from faceverdict.domain.policy import Action
from faceverdict.ensembles import build_ensemble
from faceverdict.entrypoints.cli import cli
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.services.webhooks import DECISION_SUPERSEDED
from tests.integration.test_assurance import FixedOpinion, wait_for
from tests.support.receiver import receiver
from tests.support.review_app import face, submit


def settings_for(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", allow_private_webhook_targets=True)


def application_with(settings: Settings, fake_probability: float, version: str) -> Application:
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.2, name="fixed"))  # scores ~99: accept, final
    heavy = Ensemble(
        detectors=[*inline.detectors[:-1], FixedOpinion(fake_probability, version=version)],
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
    )
    return bootstrap(settings, ensemble=inline, assurance_ensemble=heavy)


@pytest.fixture
def stored(tmp_path: Path) -> list[str]:
    """Five accepted checks of five subjects; the last subject is erased."""
    application = application_with(settings_for(tmp_path), 0.2, "1")
    try:
        ids = []
        for n in range(5):
            check = submit(application, face(10 + n), "onboarding", subject=f"customer-{n}")
            assert check.state is CheckState.FINAL
            ids.append(check.check_id)
        application.records.erasure.erase("customer-4", requested_by="test")
        return ids[:4]
    finally:
        application.close()


@pytest.fixture
def upgraded(tmp_path: Path, stored: list[str]) -> Iterator[Application]:
    """The service after a model upgrade (version 2) that finds every capture fake."""
    application = application_with(settings_for(tmp_path), 0.999, "2")
    yield application
    application.close()


def test_a_rescan_supersedes_changed_decisions_and_sends_webhooks(
    upgraded: Application, stored: list[str]
) -> None:
    rescans, webhooks = upgraded.rescans, upgraded.webhooks
    assert rescans is not None
    assert webhooks is not None
    worker = JobWorker(upgraded)
    worker.start()
    try:
        with receiver() as rx:
            endpoint = webhooks.register(rx.url, [DECISION_SUPERSEDED])
            run = rescans.start("fixed_assurance:2")
            while rescans.feed(run.run_id, batch=3):
                pass
            wait_for(lambda: rescans.run(run.run_id).finished)
            done = rescans.run(run.run_id)
            assert (done.enqueued, done.done, done.changed) == (4, 4, 4)  # erased one left out
            wait_for(lambda: len(rx.accepted()) == 4)
            secret = endpoint.secrets[0].value
            for request in rx.accepted():
                Webhook(secret).verify(request.body, request.headers)
                assert json.loads(request.body)["type"] == DECISION_SUPERSEDED
    finally:
        worker.stop()
    for check_id in stored:
        check = upgraded.checks.get(check_id)
        assert [d.stage for d in check.decisions] == ["inline", "rescan"]
        assert check.decisions[1].supersedes == check.decisions[0].decision_id
        assert check.decisions[1].final
        assert check.current_decision is not None
        assert check.current_decision.action is Action.REVIEW
        assert check.state is CheckState.FINAL


def test_an_interrupted_rescan_resumes_at_its_cursor(
    upgraded: Application, stored: list[str]
) -> None:
    rescans = upgraded.rescans
    assert rescans is not None
    run = rescans.start("2")
    assert rescans.feed(run.run_id, batch=3) == 3  # then the command was interrupted
    resumed = rescans.start("2", run_id=run.run_id)
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


def test_an_unchanged_action_sends_nothing(tmp_path: Path, stored: list[str]) -> None:
    application = application_with(settings_for(tmp_path), 0.2, "1")
    try:
        rescans, webhooks = application.rescans, application.webhooks
        assert rescans is not None
        assert webhooks is not None
        with receiver() as rx:
            webhooks.register(rx.url, [DECISION_SUPERSEDED])
            run = rescans.start("1", flow="onboarding")
            rescans.feed(run.run_id)
            for check_id in stored:
                assert rescans.rescan_one(run.run_id, check_id) is False
            assert rescans.run(run.run_id).changed == 0
            assert rx.requests == []
    finally:
        application.close()


def test_the_cli_refuses_an_inactive_model_and_queues_a_run(
    tmp_path: Path, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEVERDICT_DATA_DIR", str(tmp_path / "data"))
    # Only the inline detectors: none that other tests registered in this process.
    monkeypatch.setenv("FACEVERDICT_ASSURANCE_DETECTORS", "[]")
    refused = CliRunner().invoke(cli, ["rescan", "--model", "no-such-model"])
    assert refused.exit_code == 1
    assert "not active" in refused.output
    version = build_ensemble(settings_for(tmp_path)).model_versions["provenance"]
    queued = CliRunner().invoke(
        cli, ["rescan", "--model", version, "--since", "2000-01-01", "--no-wait"]
    )
    assert queued.exit_code == 0, queued.output
    assert "4 captures queued" in queued.output


def test_a_scheduled_rescan_starts_once_per_period(
    upgraded: Application, stored: list[str]
) -> None:
    from datetime import timedelta

    from faceverdict.services.rescan import RescanSchedule

    rescans = upgraded.rescans
    assert rescans is not None
    schedule = RescanSchedule(timedelta(hours=24), "2", window=timedelta(days=1))
    run = rescans.scheduled(schedule)
    assert run is not None
    assert rescans.run(run.run_id).enqueued == 4
    assert rescans.scheduled(schedule) is None  # another worker, same period: nothing


def test_the_sweep_carries_on_a_run_whose_command_and_jobs_were_lost(
    upgraded: Application, stored: list[str]
) -> None:
    from datetime import timedelta

    rescans, jobs = upgraded.rescans, upgraded.jobs
    assert rescans is not None
    assert jobs is not None
    run = rescans.start("2")
    rescans.feed(run.run_id, batch=3)  # the command died after one batch ...
    jobs._huey.flush()  # type: ignore[attr-defined]  # ... and the broker lost the jobs
    assert rescans.reconcile() == 0  # it made progress just now: within its lease
    assert rescans.reconcile(lease=timedelta(0)) == 1
    assert rescans.run(run.run_id).enqueued == 4
    assert jobs.pending() == 4
    worker = JobWorker(upgraded, sweep_every=60)
    worker.start()
    try:
        wait_for(lambda: rescans.run(run.run_id).finished)
    finally:
        worker.stop()
    assert rescans.run(run.run_id).changed == 4
