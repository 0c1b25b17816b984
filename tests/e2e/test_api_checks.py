"""End to end over HTTP (TestClient): submit, read back, idempotency, problems, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from faceverdict.wiring.bootstrap import Application
from tests.e2e.conftest import stored_blobs
from tests.support.images import jpeg_bytes, png_bytes


def submit(
    client: TestClient,
    image: bytes,
    *,
    flow: str = "onboarding",
    key: str | None = None,
    filename: str = "selfie.jpg",
    **fields: Any,
) -> Response:
    headers = {"Idempotency-Key": key} if key else {}
    data = {"subject_ref": "user-42", "flow": flow, **{k: str(v) for k, v in fields.items()}}
    return client.post(
        "/v1/checks", files={"image": (filename, image, "image/jpeg")}, data=data, headers=headers
    )


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def test_a_capture_without_a_face_abstains_with_a_typed_reason(client: TestClient) -> None:
    response = submit(client, jpeg_bytes(640, 480))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["check_id"].startswith("chk_")
    assert body["decision_id"].startswith("dec_")
    assert body["authenticity_score"] is None
    assert body["abstention"] == "no_face"
    assert body["band"] == "abstained"
    assert body["action"] == "step_up"
    assert body["final"] is False
    assert "ABSTAINED_NO_FACE" in body["reasons"]
    assert body["policy_version"]
    assert {"capture_gate", "provenance", "fusion"} <= set(body["model_versions"])
    names = [d["name"] for d in body["detectors"]]
    assert names[0] == "capture_gate"
    assert response.headers["location"] == f"/v1/checks/{body['check_id']}"


def test_get_returns_the_current_state(client: TestClient) -> None:
    created = submit(client, jpeg_bytes(320, 240), liveness_score=0.9).json()
    fetched = client.get(f"/v1/checks/{created['check_id']}")
    assert fetched.status_code == 200
    body = fetched.json()
    assert body["decision_id"] == created["decision_id"]
    assert body["signals"] == {"liveness_score": 0.9}
    assert [d["decision_id"] for d in body["decisions"]] == [created["decision_id"]]


def test_unknown_check_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/checks/chk_nope"), 404, "not-found")


def test_same_idempotency_key_gives_one_check(client: TestClient, application: Application) -> None:
    image = jpeg_bytes(320, 240, seed=3)
    first = submit(client, image, key="order-1")
    second = submit(client, image, key="order-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["check_id"] == second.json()["check_id"]
    assert len(stored_blobs(application)) == 1


def test_reused_idempotency_key_with_other_body_is_a_conflict(client: TestClient) -> None:
    submit(client, jpeg_bytes(320, 240, seed=1), key="order-2")
    assert_problem(
        submit(client, jpeg_bytes(320, 240, seed=2), key="order-2"), 409, "idempotency-conflict"
    )


@pytest.mark.parametrize(
    ("image", "status", "slug"),
    [
        (b"GIF89a" + b"\x00" * 64, 415, "unsupported-format"),
        (b"hello, I am not an image", 415, "unsupported-format"),
        (b"", 415, "unsupported-format"),
        (jpeg_bytes(320, 240)[:400], 422, "corrupted"),
        (png_bytes(320, 240)[:100], 422, "corrupted"),
    ],
)
def test_bad_uploads_are_problems_and_store_nothing(
    client: TestClient, application: Application, image: bytes, status: int, slug: str
) -> None:
    body = assert_problem(submit(client, image), status, slug)
    assert body["abstention"]
    assert stored_blobs(application) == []
    assert application.repository.get_by_idempotency_key("none") is None


def test_oversized_upload_is_refused_before_parsing(tmp_path: Any) -> None:
    from faceverdict.config import load_settings
    from faceverdict.entrypoints.api.app import create_app
    from faceverdict.wiring.bootstrap import bootstrap

    app = bootstrap(load_settings(data_dir=tmp_path, max_upload_bytes=4096))
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        assert_problem(submit(c, jpeg_bytes(800, 600, seed=9) * 3), 413, "too-large")
    assert stored_blobs(app) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"flow": ""}, "flow"),
        ({"liveness_score": "1.5"}, "liveness_score"),
        ({"device_risk": "high"}, "device_risk"),
    ],
)
def test_invalid_fields_are_422_problems(
    client: TestClient, fields: dict[str, str], field: str
) -> None:
    data = {"subject_ref": "u", "flow": "onboarding", **fields}
    response = client.post("/v1/checks", files={"image": ("a.jpg", jpeg_bytes(64, 64))}, data=data)
    body = assert_problem(response, 422, "invalid-request")
    assert any(field in e["field"] for e in body["errors"])


def test_missing_image_and_unknown_flow(client: TestClient) -> None:
    response = client.post("/v1/checks", data={"subject_ref": "u", "flow": "onboarding"})
    assert_problem(response, 422, "invalid-request")
    body = assert_problem(submit(client, jpeg_bytes(64, 64), flow="teleport"), 422, "unknown-flow")
    assert "onboarding" in body["detail"]


def test_openapi_document_describes_the_endpoints(client: TestClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)
    post = spec["paths"]["/v1/checks"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert "application/problem+json" in post["responses"]["415"]["content"]
    assert "/v1/checks/{check_id}" in spec["paths"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "policy_version": None,
        "model_versions": None,
    }
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["policy_version"]
