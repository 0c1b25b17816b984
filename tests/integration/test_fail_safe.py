"""Fail closed: no failure of any detector ends in ``accept``, and a hung detector costs
the check its deadline, not the process.

Fault injection goes through the plug-in settings a deployment has (``detector_modules``,
``inline_detectors``): a raising, a hanging and a slow detector next to the bundled three,
with the bundled policy.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from faceverdict.config import load_settings
from faceverdict.domain.detection import DetectorOutcome
from faceverdict.domain.policy import Action
from faceverdict.entrypoints.api.app import create_app
from faceverdict.wiring.bootstrap import Application, bootstrap
from tests.support.plugins import isolated_registry
from tests.support.review_app import face, submit

BUNDLED = ["provenance", "blending", "synthetic"]
MODULE = "tests.support.faulty_detectors"
DEADLINE_MS = 1000.0


@pytest.fixture
def faulty() -> Iterator[None]:
    with isolated_registry(MODULE):
        yield
        module = sys.modules.get(MODULE)
        if module is not None:  # let a hung call finish; its thread goes back to the pool
            module.RELEASE.set()


def faults() -> ModuleType:
    """The plug-in module the application imported (a fresh one per test)."""
    return importlib.import_module(MODULE)


def app_with(tmp_path: Path, detectors: list[str], **settings: object) -> Application:
    return bootstrap(
        load_settings(
            data_dir=tmp_path / "data",
            detector_modules=[MODULE],
            inline_detectors=detectors,
            inline_deadline_ms=DEADLINE_MS,
            **settings,
        ),
        record_config=False,
    )


@pytest.mark.parametrize(
    ("extra", "outcome", "reason"),
    [
        ("faulty_raising", DetectorOutcome.FAILED, "DETECTOR_FAILED"),
        ("faulty_hanging", DetectorOutcome.TIMED_OUT, "DETECTOR_TIMEOUT"),
        ("faulty_slow", DetectorOutcome.TIMED_OUT, "DETECTOR_TIMEOUT"),
    ],
)
@pytest.mark.parametrize("flow", ["onboarding", "payment"])
def test_a_faulty_detector_degrades_the_check_which_is_never_accepted(
    tmp_path: Path, faulty: None, extra: str, outcome: DetectorOutcome, reason: str, flow: str
) -> None:
    app = app_with(tmp_path, [*BUNDLED, extra])
    try:
        started = time.monotonic()
        check = submit(app, face(7), flow)
        elapsed = time.monotonic() - started
    finally:
        app.close()
    decision = check.current_decision
    assert decision is not None
    assert decision.action is not Action.ACCEPT
    # bundled policy: step_up for onboarding, a person for payment; never final
    expected = Action.REVIEW if flow == "payment" else Action.STEP_UP
    assert decision.action.severity >= expected.severity
    assert not decision.final
    assert "DEGRADED" in decision.reasons
    assert reason in decision.reasons
    [failed] = [r for r in check.detector_results if r.detector == extra]
    assert failed.outcome is outcome
    assert failed.fake_probability is None
    # the bundled detectors still answered, and their score stays on record
    answered = {r.detector for r in check.detector_results if r.answered}
    assert {"blending", "synthetic"} <= answered
    # within the deadline (generous slack for a busy machine; the hang itself is 120 s)
    assert elapsed < DEADLINE_MS / 1000 + 5


@pytest.mark.parametrize("flow", ["onboarding", "payment"])
def test_when_every_detector_fails_there_is_no_score_and_no_accept(
    tmp_path: Path, faulty: None, flow: str
) -> None:
    """The old failure: every inline detector raised, the fusion fell back to its neutral
    evidence, and a face scored 98, accepted as final."""
    app = app_with(tmp_path, ["faulty_raising"])
    try:
        check = submit(app, face(8), flow)
    finally:
        app.close()
    decision = check.current_decision
    assert decision is not None
    assert decision.authenticity_score is None
    assert decision.band == "no_evidence"
    assert decision.action is not Action.ACCEPT
    assert not decision.final
    assert {"NO_EVIDENCE", "DEGRADED", "DETECTOR_FAILED"} <= set(decision.reasons)


def test_a_detector_that_keeps_failing_is_switched_off_then_probed(
    tmp_path: Path, faulty: None
) -> None:
    app = app_with(
        tmp_path,
        ["provenance", "faulty_raising"],
        detector_breaker_failures=2,
        detector_breaker_reset_seconds=1.0,
    )
    faulty_detectors = faults()
    try:
        reasons = [submit(app, face(9), "onboarding").detector_results for _ in range(4)]
        outcomes = [r.outcome for rs in reasons for r in rs if r.detector == "faulty_raising"]
        assert outcomes[:2] == [DetectorOutcome.FAILED, DetectorOutcome.FAILED]
        assert outcomes[2:] == [DetectorOutcome.UNAVAILABLE] * 2  # not even called
        assert faulty_detectors.CALLS["faulty_raising"] == 2
        time.sleep(1.1)  # the breaker's reset period: one call probes it again
        probe = submit(app, face(9), "onboarding")
        assert [r.outcome for r in probe.detector_results if r.detector == "faulty_raising"] == [
            DetectorOutcome.FAILED
        ]
        assert faulty_detectors.CALLS["faulty_raising"] == 3
    finally:
        app.close()


def test_a_hung_detector_holds_one_thread_not_the_service(tmp_path: Path, faulty: None) -> None:
    app = app_with(tmp_path, ["provenance", "faulty_hanging"], detector_threads=2)
    faulty_detectors = faults()
    try:
        first = submit(app, face(10), "onboarding")
        assert "DETECTOR_TIMEOUT" in first.detector_results[-1].reasons
        # While the call hangs, the detector is not called again: it is unavailable.
        for _ in range(3):
            later = submit(app, face(10), "onboarding")
            [hung] = [r for r in later.detector_results if r.detector == "faulty_hanging"]
            assert hung.outcome is DetectorOutcome.UNAVAILABLE
        assert faulty_detectors.CALLS["faulty_hanging"] == 1
    finally:
        app.close()


def test_beyond_the_checks_in_flight_the_api_answers_503_at_once(
    tmp_path: Path, faulty: None
) -> None:
    app = app_with(
        tmp_path,
        ["provenance", "faulty_slow"],
        max_checks_in_flight=1,
        detector_options={"faulty_slow": {"seconds": "0.8"}},
    )
    faulty_detectors = faults()
    statuses: list[int] = []
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:

            def post(seed: int) -> None:
                files = {"image": ("a.jpg", face(seed), "image/jpeg")}
                data = {"subject_ref": f"s-{seed}", "flow": "onboarding"}
                statuses.append(client.post("/v1/checks", files=files, data=data).status_code)

            first = threading.Thread(target=post, args=(11,))
            first.start()
            deadline = time.monotonic() + 10
            while not faulty_detectors.CALLS.get("faulty_slow") and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.monotonic()
            files = {"image": ("b.jpg", face(12), "image/jpeg")}
            data = {"subject_ref": "s-12", "flow": "onboarding"}
            busy = client.post("/v1/checks", files=files, data=data)
            waited = time.monotonic() - started
            first.join()
    finally:
        app.close()
    assert busy.status_code == 503
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.json()["type"] == "/problems/overloaded"
    assert busy.headers["retry-after"] == "1"
    assert waited < 0.7  # answered at once, not queued behind the slow check
    assert statuses == [201]
