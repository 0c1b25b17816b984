"""Asynchronous assurance on the embedded default: durable jobs across restarts (Huey on
SQLite). The assurance logic itself runs on memory stores in
``tests/unit/services/test_assurance.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faceverdict.adapters.huey_job_queue import HueyJobQueue
from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.check import CheckState
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.ports.jobs import Job
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.support.assurance import FixedOpinion, wait_for
from tests.support.review_app import face, submit

# The assurance mechanics are under test, not the learned models: without them the fixed
# opinion alone decides the band, whatever the shipped models say about a synthetic portrait.
PIPELINE_DETECTORS = ["provenance"]


def application_with(tmp_path: Path, opinion: FixedOpinion) -> Application:
    settings = load_settings(
        data_dir=tmp_path / "data",
        assurance_sweep_every_seconds=0.5,
        inline_detectors=PIPELINE_DETECTORS,
    )
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.9, name="fixed"))  # ~71: the gray band
    # Explicit, so that detectors other tests registered in this process play no part.
    assurance = Ensemble(
        detectors=[*inline.detectors[:-1], opinion],  # replaces "fixed"
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
    )
    return bootstrap(settings, ensemble=inline, assurance_ensemble=assurance)


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    time.sleep(0.05)
    stray = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not {name for name in stray if name.startswith("faceverdict-")}


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


def test_an_assurance_job_survives_a_service_restart(tmp_path: Path) -> None:
    first = application_with(tmp_path, FixedOpinion(0.2))  # assurance will finalise it
    try:
        check = submit(first, face(3), "onboarding")
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
