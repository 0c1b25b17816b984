"""Evidence over HTTP: packages that verify offline, logged capture reads, subject erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from faceverdict.config import load_settings
from faceverdict.entrypoints.api.app import create_app
from faceverdict.entrypoints.cli import cli
from faceverdict.evidence.verify import verify_package
from faceverdict.wiring.bootstrap import Application, bootstrap
from tests.e2e.test_api_checks import assert_problem, submit
from tests.support.images import jpeg_bytes
from tests.support.review_app import policy_with

KEY = "an-api-key-of-the-bank-" + "x" * 16


def kinds(package: dict[str, Any]) -> list[str]:
    return [item["entry"]["kind"] for item in package["entries"]]


def verify_with_cli(tmp_path: Path, package: dict[str, Any], vkey: str) -> tuple[int, str]:
    path = tmp_path / "package.json"
    path.write_text(json.dumps(package))
    result = CliRunner().invoke(cli, ["evidence", "verify", str(path), "--public-key", vkey])
    return result.exit_code, result.output


def test_the_evidence_package_verifies_offline(
    client: TestClient, application: Application, tmp_path: Path
) -> None:
    check = submit(client, jpeg_bytes(320, 240), liveness_score=0.9).json()
    response = client.get(f"/v1/checks/{check['check_id']}/evidence")
    assert response.status_code == 200, response.text
    package = response.json()
    assert kinds(package) == [
        "check.received",
        "detector.result",
        "detector.result",
        "check.decided",
        "assurance.started",  # a step-up goes to asynchronous assurance: a transition too
    ]
    received, gate, provenance, decided, started = (item["entry"] for item in package["entries"])
    assert started["payload"]["decision_id"] == check["decision_id"]
    assert received["payload"]["capture"]["sha256"] == check["capture"]["sha256"]
    assert received["payload"]["subject"] != "user-42"  # only the HMAC pseudonym
    assert "user-42" not in json.dumps(package)
    assert gate["payload"]["detector"] == "capture_gate"
    assert gate["payload"]["weights_sha256"]
    assert provenance["payload"]["version"]
    assert decided["payload"]["decision_id"] == check["decision_id"]
    assert decided["payload"]["policy_version"] == check["policy_version"]
    assert package["check"]["decision"]["action"] == check["action"]
    assert package["retention"]["capture"]["status"] == "stored"
    assert package["retention"]["evidence_days"] == 1825

    vkey = client.get("/v1/evidence/public-key").text.strip()
    assert vkey == application.records.evidence.signer.vkey
    report = verify_package(package, trusted_vkey=vkey)
    assert report.ok, report.failures
    code, output = verify_with_cli(tmp_path, package, vkey)
    assert code == 0, output
    assert output.startswith("ok: 5 entries verified")  # with assurance.started


def test_a_tampered_package_fails_offline_with_one_line(
    client: TestClient, application: Application, tmp_path: Path
) -> None:
    check = submit(client, jpeg_bytes(320, 240)).json()
    package = client.get(f"/v1/checks/{check['check_id']}/evidence").json()
    vkey = application.records.evidence.signer.vkey
    package["entries"][-1]["entry"]["payload"]["action"] = "accept"
    code, output = verify_with_cli(tmp_path, package, vkey)
    assert code == 1
    assert len(output.strip().splitlines()) == 1
    assert "does not verify" in output
    other = bootstrap(load_settings(data_dir=tmp_path / "other")).records.evidence.signer.vkey
    code, output = verify_with_cli(tmp_path, package, other)
    assert code == 1
    assert "trusted key" in output


def test_capture_reads_need_a_reason_and_are_logged_with_the_caller(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, audit_fraction=0.0)  # no random audit sample
    app = bootstrap(load_settings(data_dir=tmp_path / "data", api_keys=[KEY], policy_file=policy))
    auth = {"Authorization": f"Bearer {KEY}"}
    image = jpeg_bytes(320, 240, seed=9)
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        check = client.post(
            "/v1/checks",
            files={"image": ("a.jpg", image, "image/jpeg")},
            data={"subject_ref": "u-1", "flow": "onboarding"},
            headers=auth,
        ).json()
        url = f"/v1/checks/{check['check_id']}/capture"
        assert_problem(client.get(url, headers=auth), 422, "invalid-request")
        assert_problem(client.get(url, headers={"X-Access-Reason": "case 7"}), 401, "unauthorized")
        response = client.get(url, headers={**auth, "X-Access-Reason": "fraud case 2026-117"})
        assert response.status_code == 200
        assert response.content == image
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == "no-store"
        package = client.get(f"/v1/checks/{check['check_id']}/evidence", headers=auth).json()
    read = package["entries"][-1]["entry"]
    assert read["kind"] == "capture.read"
    assert read["seq"] == int(response.headers["x-evidence-seq"])
    assert read["payload"]["reason"] == "fraud case 2026-117"
    assert read["payload"]["caller"].startswith("key:")
    assert KEY not in json.dumps(package)
    assert read["payload"]["capture_sha256"] == check["capture"]["sha256"]


def test_erasing_a_subject_keeps_decisions_explainable(
    client: TestClient, application: Application
) -> None:
    first = submit(client, jpeg_bytes(320, 240, seed=1)).json()
    second = submit(client, jpeg_bytes(320, 240, seed=2)).json()
    response = client.delete("/v1/subjects/user-42")
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["captures_deleted"] == 2
    assert len(erased["keys_destroyed"]) == 1
    assert sorted(erased["checks"]) == sorted([first["check_id"], second["check_id"]])
    assert erased["purged"] is True

    capture = client.get(
        f"/v1/checks/{first['check_id']}/capture", headers={"X-Access-Reason": "look"}
    )
    assert_problem(capture, 410, "capture-gone")
    assert client.get(f"/v1/checks/{first['check_id']}").json()["action"] == first["action"]
    package = client.get(f"/v1/checks/{first['check_id']}/evidence").json()
    assert kinds(package)[-1] == "capture.deleted"
    assert package["entries"][-1]["entry"]["payload"]["reason"] == "erasure"
    assert package["retention"]["capture"]["status"] == "erased"
    assert verify_package(package, application.records.evidence.signer.vkey).ok
    assert application.records.evidence.audit().ok
    again = client.delete("/v1/subjects/user-42").json()
    assert (again["captures_deleted"], again["keys_destroyed"]) == (0, [])


def test_evidence_of_an_unknown_check_is_a_404(client: TestClient) -> None:
    assert_problem(client.get("/v1/checks/chk_nope/evidence"), 404, "not-found")
    assert_problem(
        client.get("/v1/checks/chk_nope/capture", headers={"X-Access-Reason": "x"}),
        404,
        "not-found",
    )


def test_the_log_serves_a_signed_checkpoint(client: TestClient, application: Application) -> None:
    submit(client, jpeg_bytes(320, 240))
    note = client.get("/v1/evidence/checkpoint").text
    origin, size = note.split("\n")[:2]
    assert origin == application.settings.evidence_origin
    assert int(size) == application.records.evidence.reader.head()[0]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/checks/{check_id}/evidence", "get"),
        ("/v1/checks/{check_id}/capture", "get"),
        ("/v1/subjects/{subject_ref}", "delete"),
    ],
)
def test_openapi_documents_the_evidence_endpoints(
    client: TestClient, path: str, method: str
) -> None:
    spec = client.get("/openapi.json").json()
    validate(spec)
    assert method in spec["paths"][path]


def test_a_held_checkpoint_is_proven_extended_by_the_current_log(
    client: TestClient, application: Application, tmp_path: Path
) -> None:
    submit(client, jpeg_bytes(320, 240, seed=1))
    held = client.get("/v1/evidence/checkpoint").text
    held_size = int(held.split("\n")[1])
    submit(client, jpeg_bytes(320, 240, seed=2))
    response = client.get(f"/v1/evidence/consistency?old_size={held_size}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["new_size"] == held_size + 5
    (tmp_path / "held.note").write_text(held)
    (tmp_path / "proof.json").write_text(json.dumps(body))
    vkey = application.records.evidence.signer.vkey
    args = ["evidence", "verify-consistency", str(tmp_path / "held.note")]
    ok = CliRunner().invoke(cli, [*args, str(tmp_path / "proof.json"), "--public-key", vkey])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"ok: tree {held_size + 5} of faceverdict.local/dev extends")
    body["proof"] = body["proof"][1:]
    (tmp_path / "proof.json").write_text(json.dumps(body))
    bad = CliRunner().invoke(cli, [*args, str(tmp_path / "proof.json"), "--public-key", vkey])
    assert bad.exit_code == 1
    assert "not consistent" in bad.output
    assert_problem(client.get("/v1/evidence/consistency?old_size=999999"), 422, "invalid-request")
