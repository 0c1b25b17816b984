"""The whole service: an API check that needs review becomes a task; a verdict in the UI
becomes the check's final decision, visible in the API and in the evidence log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faceverdict.domain.review import Role, TaskReason, Tier, Verdict, VerdictLabel
from faceverdict.entrypoints.api.app import create_app
from faceverdict.ports.review import QueueFilter
from faceverdict.wiring.bootstrap import Application
from tests.support.review import PASSWORD
from tests.support.review_app import face, full_application, submit


@pytest.fixture
def application(tmp_path: Path) -> Iterator[Application]:
    # No random QC: a sampled double review or audit (random ids) would change what these
    # tests see in about one run in five.
    application = full_application(tmp_path, double_review_fraction=0, audit_fraction=0)
    yield application
    application.close()


@pytest.fixture
def client(application: Application) -> Iterator[TestClient]:
    with TestClient(create_app(application), base_url="http://testserver") as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_check_needing_review_is_decided_in_the_ui(
    client: TestClient, application: Application
) -> None:
    review = application.review
    assert review is not None
    response = client.post(
        "/v1/checks",
        files={"image": ("selfie.jpg", face(1), "image/jpeg")},
        data={"subject_ref": "customer-42", "flow": "payment", "liveness_score": "0.2"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["action"] == "review"
    assert not body["final"]
    check_id = body["check_id"]
    [task] = review.service.tasks.tasks_for_check(check_id)
    assert task.reasons == (TaskReason.POLICY_ACTION,)
    assert (task.due_at - task.created_at).total_seconds() == 15 * 60  # payment SLA

    review.accounts.create("alice", PASSWORD, Role.REVIEWER)
    page = client.get("/review/login")
    client.post(
        "/review/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    queue = client.get("/review/")
    assert task.task_id in queue.text
    csrf = csrf_of(queue.text)
    client.post(f"/review/tasks/{task.task_id}/claim", data={"csrf_token": csrf})
    case = client.get(f"/review/tasks/{task.task_id}")
    assert "heatmaps/demo_illustration.png" in case.text
    picture = client.get(f"/review/tasks/{task.task_id}/capture.jpg")
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/jpeg"
    done = client.post(
        f"/review/tasks/{task.task_id}/verdict",
        data={"csrf_token": csrf, "label": "fake", "attack_type": "face_swap"},
    )
    assert 'id="final-action">reject<' in done.text

    final = client.get(f"/v1/checks/{check_id}").json()
    assert final["final"] is True
    assert final["action"] == "reject"
    assert final["reasons"] == ["REVIEW_FAKE", "ATTACK_FACE_SWAP"]
    assert [d["stage"] for d in final["decisions"]] == ["inline", "review"]
    assert final["decisions"][1]["supersedes"] == body["decision_id"]

    package = client.get(f"/v1/checks/{check_id}/evidence").json()
    entries = [e["entry"] for e in package["entries"]]
    kinds = [e["kind"] for e in entries]
    assert "review.task_created" in kinds
    assert "review.verdict" in kinds
    assert "review.case_settled" in kinds
    assert kinds.count("check.decided") == 2
    reads = [e for e in entries if e["kind"] == "capture.read"]
    assert reads
    assert all(e["payload"]["channel"] == "ui" for e in reads)
    assert reads[0]["payload"]["reason"] == "review: case page, background redacted"

    metrics = client.get("/metrics").text
    assert "faceverdict_review_backlog_tasks" in metrics


def test_generated_high_risk_captures_go_to_seniors(application: Application) -> None:
    review = application.review
    assert review is not None
    check = submit(
        application,
        face(2, generated=True),
        "onboarding",
        liveness_score=0.05,
        device_risk=0.95,
        document_match_score=0.1,
    )
    decision = check.current_decision
    assert decision is not None
    assert decision.composite_risk is not None
    assert decision.composite_risk >= 0.6
    [task] = review.service.tasks.tasks_for_check(check.check_id)
    assert task.tier is Tier.SENIOR
    alice = review.accounts.create("alice", PASSWORD, Role.REVIEWER)
    assert review.service.queue(alice, QueueFilter()) == []


def test_erased_subjects_are_left_out_of_the_export(
    application: Application, client: TestClient, tmp_path: Path
) -> None:
    review = application.review
    assert review is not None
    admin = review.accounts.create("ada", PASSWORD, Role.ADMIN)
    kept = submit(application, face(3), "onboarding", "keep-me", liveness_score=0.2)
    gone = submit(application, face(4), "onboarding", "erase-me", liveness_score=0.2)
    for check in (kept, gone):
        [task] = review.service.tasks.tasks_for_check(check.check_id)
        review.service.claim(task.task_id, admin)
        review.service.submit_verdict(task.task_id, admin, Verdict(VerdictLabel.GENUINE))
    assert client.delete("/v1/subjects/erase-me").status_code == 200
    summary = review.reports.export(tmp_path / "export", "ada", "internal")
    assert (summary.written, summary.skipped_erased) == (1, 1)
    manifest = (tmp_path / "export" / "MANIFEST.csv").read_text(encoding="utf-8")
    assert kept.check_id in manifest
    assert gone.check_id not in manifest
