"""The reviewer UI over HTTP (no browser): sign-in, CSRF, roles, claim, verdict, metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from faceverdict.domain.review import Role
from faceverdict.entrypoints.web.app import create_review_app
from faceverdict.entrypoints.web.metrics import metrics_router
from tests.support.review import PASSWORD, ReviewWorld, make_check, review_world, sql_review_stores

BASE = "http://testserver"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ReviewWorld]:
    w = review_world(sql_review_stores(f"sqlite:///{tmp_path / 'review.db'}"))
    yield w
    w.close()


def app_for(world: ReviewWorld, token: str | None = None) -> FastAPI:
    app = FastAPI()
    app.mount("/review", create_review_app(world.review))
    app.include_router(metrics_router(world.review.reports, token))
    return app


@pytest.fixture
def client(world: ReviewWorld) -> Iterator[TestClient]:
    with TestClient(app_for(world), base_url=BASE) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    page = client.get("/review/login")
    assert page.status_code == 200
    response = client.post(
        "/review/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    queue = client.get(response.headers["location"])
    return csrf_of(queue.text)


def queued(world: ReviewWorld, check_id: str, **kw: object) -> str:
    check = world.add_check(make_check(check_id, **kw))  # type: ignore[arg-type]
    task = world.decided(check)
    assert task is not None
    return task.task_id


def test_pages_need_a_session(client: TestClient) -> None:
    response = client.get("/review/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/review/login?next=/review/"
    assert client.get("/review/tasks/rvt_x/capture.jpg", follow_redirects=False).status_code == 303


def test_sign_in_sets_a_strict_http_only_cookie_and_security_headers(
    client: TestClient, world: ReviewWorld
) -> None:
    world.account("alice")
    page = client.get("/review/login")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    response = client.post(
        "/review/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "fv_review_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/review" in cookie
    assert response.headers["cache-control"] == "no-store"


def test_wrong_password_and_forged_sign_in_are_refused(
    client: TestClient, world: ReviewWorld
) -> None:
    world.account("alice")
    page = client.get("/review/login")
    wrong = client.post(
        "/review/login",
        data={"username": "alice", "password": "nope", "csrf_token": csrf_of(page.text)},
    )
    assert wrong.status_code == 401
    assert "wrong username or password" in wrong.text
    client.cookies.clear()
    forged = client.post(
        "/review/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403


def test_state_changes_need_the_csrf_token_and_same_origin(
    client: TestClient, world: ReviewWorld
) -> None:
    task_id = queued(world, "chk_1")
    world.account("alice")
    csrf = sign_in(client, "alice")
    assert client.post(f"/review/tasks/{task_id}/claim").status_code == 403
    assert (
        client.post(f"/review/tasks/{task_id}/claim", data={"csrf_token": "forged"}).status_code
        == 403
    )
    other_site = client.post(
        f"/review/tasks/{task_id}/claim",
        data={"csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    ok = client.post(
        f"/review/tasks/{task_id}/claim",
        data={"csrf_token": csrf},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == f"/review/tasks/{task_id}"


def test_claim_view_and_give_a_verdict(client: TestClient, world: ReviewWorld) -> None:
    task_id = queued(world, "chk_1", flow="payment")
    world.account("alice")
    csrf = sign_in(client, "alice")
    queue = client.get("/review/")
    assert task_id in queue.text
    assert "payment" in queue.text
    assert "15 min left" in queue.text
    client.post("/review/next", data={"csrf_token": csrf})
    case = client.get(f"/review/tasks/{task_id}")
    assert case.status_code == 200
    assert "The client&#39;s liveness check scored low." in case.text
    assert "The file carries traces of an image generator" in case.text
    assert "heatmaps/blending.png" in case.text
    assert "capture.jpg?view=redacted" in case.text
    assert client.get(f"/review/tasks/{task_id}/capture.jpg").headers["content-type"] == (
        "image/jpeg"
    )
    assert client.get(f"/review/tasks/{task_id}/capture.jpg?view=original").status_code == 403
    revealed = client.post(
        f"/review/tasks/{task_id}/reveal",
        data={"csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert revealed.json()["revealed"] is True
    assert client.get(f"/review/tasks/{task_id}/capture.jpg?view=original").status_code == 200
    missing_note = client.post(
        f"/review/tasks/{task_id}/verdict", data={"csrf_token": csrf, "label": "inconclusive"}
    )
    assert missing_note.status_code == 422
    assert "needs a note" in missing_note.text
    done = client.post(
        f"/review/tasks/{task_id}/verdict",
        data={"csrf_token": csrf, "label": "fake", "attack_type": "morph", "note": ""},
    )
    assert done.status_code == 200
    assert 'id="final-action">reject<' in done.text
    check = world.checks.get("chk_1")
    assert check is not None
    assert check.current_decision is not None
    assert check.current_decision.reasons == ("REVIEW_FAKE", "ATTACK_MORPH")


def test_reviewers_cannot_open_senior_work_or_reports(
    client: TestClient, world: ReviewWorld
) -> None:
    task_id = queued(world, "chk_1", risk=0.95)
    world.account("alice")
    csrf = sign_in(client, "alice")
    assert task_id not in client.get("/review/").text
    assert client.post(f"/review/tasks/{task_id}/claim", data={"csrf_token": csrf}).status_code in (
        403,
        200,
    )
    assert client.get(f"/review/tasks/{task_id}").status_code == 403
    assert client.get("/review/reports").status_code == 403


def test_reports_and_metrics(client: TestClient, world: ReviewWorld) -> None:
    queued(world, "chk_1", flow="payment")
    queued(world, "chk_2")
    world.clock.advance(minutes=20)
    world.account("sam", Role.SENIOR)
    sign_in(client, "sam")
    reports = client.get("/review/reports")
    assert reports.status_code == 200
    assert "Backlog and SLA" in reports.text
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'faceverdict_review_sla_breached_tasks{flow="payment",priority="high",tier="junior"} 1.0'
        in text
    )
    assert (
        'faceverdict_review_backlog_tasks{flow="onboarding",priority="normal",'
        'state="waiting",tier="junior"} 1.0' in text
    )
    assert 'faceverdict_review_oldest_task_age_seconds{flow="payment"} 1200.0' in text


def test_metrics_token(world: ReviewWorld) -> None:
    with TestClient(app_for(world, token="s3cret-token"), base_url=BASE) as c:
        assert c.get("/metrics").status_code == 401
        authorised = c.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert authorised.status_code == 200
