"""Later decisions and review verdicts: recorded with their evidence in one transaction, and
nothing recorded when any part fails; capture readers for the review UI log every read."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from faceverdict.config import load_settings
from faceverdict.domain.check import Check
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.evidence.errors import MalformedEntryError
from faceverdict.ports.evidence import EntryDraft
from faceverdict.services.checks import SubmitCheck, new_id
from faceverdict.services.evidence_events import REVIEW_VERDICT
from faceverdict.wiring.bootstrap import Application, bootstrap
from tests.support.images import jpeg_bytes


@pytest.fixture
def app(tmp_path: Path) -> Application:
    return bootstrap(load_settings(data_dir=tmp_path / "data"))


def submitted(app: Application) -> Check:
    command = SubmitCheck(jpeg_bytes(200, 150, seed=3), "reviewed", "onboarding", ClientSignals())
    return app.checks.submit(command).check


def review(check: Check) -> None:
    previous = check.current_decision
    assert previous is not None
    check.decide(
        replace(
            previous,
            decision_id=new_id("dec"),
            action=Action.ACCEPT,
            reasons=("REVIEW_GENUINE",),
            final=True,
            supersedes=previous.decision_id,
            stage="review",
        ),
        check.detector_results,
    )


def test_a_review_decision_and_its_verdict_commit_together(app: Application) -> None:
    check = submitted(app)
    review(check)
    verdict = EntryDraft(
        REVIEW_VERDICT,
        check.check_id,
        app.records.clock.now(),
        {"task_id": "rt_1", "reviewer": "rev:7f3a", "label": "genuine"},
    )
    events = app.checks.recorder.save_decision(check, extra=[verdict])
    assert [e.name for e in events] == ["check.decided"]
    package = app.records.packages.package(check.check_id)
    kinds = [item["entry"]["kind"] for item in package["entries"]]
    assert kinds[-2:] == ["check.decided", "review.verdict"]
    decided = package["entries"][-2]["entry"]["payload"]
    assert decided["supersedes"] == check.decisions[0].decision_id
    assert decided["stage"] == "review"
    assert package["check"]["decision"]["action"] == "accept"


def test_nothing_is_recorded_when_the_evidence_cannot_be(app: Application) -> None:
    check = submitted(app)
    size = app.records.evidence.reader.head()[0]
    review(check)
    bad = EntryDraft(REVIEW_VERDICT, check.check_id, app.records.clock.now(), {"x": float("nan")})
    with pytest.raises(MalformedEntryError):
        app.checks.recorder.save_decision(check, extra=[bad])
    stored = app.checks.get(check.check_id)
    assert len(stored.decisions) == 1  # the decision rolled back with the evidence
    assert app.records.evidence.reader.head()[0] == size


def test_the_review_ui_capture_reader_logs_each_read(app: Application) -> None:
    check = submitted(app)
    read = app.records.captures.reader("ui")
    assert read(check, "rev:7f3a", "review: case page, background redacted")
    entry = app.records.evidence.reader.entries_of(check.check_id)[-1]
    assert entry.kind == "capture.read"
    assert entry.body is not None
    assert b'"channel":"ui"' in entry.body
    assert b"rev:7f3a" in entry.body
    with pytest.raises(ValueError, match="channel"):
        app.records.captures.reader("carrier-pigeon")


def test_concurrent_submissions_keep_the_log_gapless(app: Application) -> None:
    failures: list[BaseException] = []

    def client(n: int) -> None:
        try:
            for i in range(4):
                image = jpeg_bytes(120, 90, seed=100 * n + i)
                command = SubmitCheck(image, f"user-{n}", "onboarding", ClientSignals())
                app.checks.submit(command)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    rows = list(app.records.evidence.reader.scan())
    assert [r.seq for r in rows] == list(range(len(rows)))
    kinds = [r.kind for r in rows]
    assert kinds.count("check.received") == kinds.count("check.decided") == 16
    assert kinds.count("detector.result") == 32
    report = app.records.evidence.audit()
    assert report.ok, report.problems
