"""``faceverdict serve`` on the embedded default runs assurance in its own process: a
gray-band check submitted over HTTP becomes final without any other process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fixed_outcomes import assurance_changes, relaxing_policy_file
from tests.support.s3 import free_port
from tests.support.synthetic_faces import synthetic_face

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def portrait_that_changes() -> bytes:
    import io

    for seed in range(3000, 3050):
        out = io.BytesIO()
        synthetic_face(size=(240, 300), seed=seed).save(out, format="JPEG", quality=85)
        if assurance_changes(out.getvalue()):
            return out.getvalue()
    raise AssertionError("no portrait found")


def test_serve_runs_assurance_in_process(tmp_path: Path) -> None:
    port = free_port()
    # fixed_assurance's changed opinion is a relaxation, which the bundled policy forbids.
    policy = relaxing_policy_file(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "FACEVERDICT_DATA_DIR": str(tmp_path / "data"),
        "FACEVERDICT_DETECTOR_MODULES": '["tests.support.fixed_detectors"]',
        "FACEVERDICT_INLINE_DETECTORS": '["provenance", "fixed"]',
        "FACEVERDICT_ASSURANCE_DETECTORS": '["fixed_assurance"]',
        "FACEVERDICT_POLICY_FILE": str(policy),
    }
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "faceverdict.entrypoints.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        created = httpx.post(
            base + "/v1/checks",
            files={"image": ("selfie.jpg", portrait_that_changes(), "image/jpeg")},
            data={"subject_ref": "embedded-1", "flow": "onboarding"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["state"] == "assuring"
        assert body["action"] == "step_up"
        deadline = time.monotonic() + 30
        while (check := httpx.get(f"{base}/v1/checks/{body['check_id']}").json())[
            "state"
        ] == "assuring":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert check["state"] == "final"
        assert check["final"] is True
        assert [d["stage"] for d in check["decisions"]] == ["inline", "assurance"]
        assert check["action"] == "accept"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert (tmp_path / "data" / "jobs.db").exists()
