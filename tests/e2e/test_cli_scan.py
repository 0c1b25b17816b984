"""`faceverdict scan` as a user runs it: a real process, JSON lines out, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.c2pa_signing import sign_jpeg
from tests.support.images import jpeg_bytes
from tests.support.synthetic_faces import synthetic_face

REQUIRED = {"path", "authenticity_score", "abstained", "band", "action", "detectors"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FACEVERDICT_DATA_DIR": str(cwd / "data")}
    return subprocess.run(
        [sys.executable, "-m", "faceverdict.entrypoints.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def face_jpeg() -> bytes:
    buf = io.BytesIO()
    synthetic_face(size=(640, 640)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_scan_prints_one_documented_record_per_image(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a_face.jpg").write_bytes(face_jpeg())
    (folder / "b_noface.jpg").write_bytes(jpeg_bytes(320, 240))
    (folder / "c_notimage.png").write_bytes(b"definitely not a png")
    (folder / "d_genai.jpg").write_bytes(sign_jpeg(face_jpeg()))
    (folder / "ignored.txt").write_text("skip me")
    result = run("scan", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == [
        "a_face.jpg",
        "b_noface.jpg",
        "c_notimage.png",
        "d_genai.jpg",
    ]
    for record in records:
        assert set(record) >= REQUIRED
    face, noface, notimage, genai = records
    assert face["abstained"] is None
    assert 0 <= face["authenticity_score"] <= 100
    assert face["detectors"][0]["name"] == "capture_gate"
    assert noface["abstained"] == "no_face"
    assert noface["authenticity_score"] is None
    assert notimage["abstained"] == "unsupported_format"
    assert "C2PA_GENERATIVE_SOURCE" in genai["reasons"]
    assert genai["authenticity_score"] < face["authenticity_score"]
    assert genai["action"] != "accept"


def test_scan_table_format(tmp_path: Path) -> None:
    image = tmp_path / "x.jpg"
    image.write_bytes(jpeg_bytes(320, 240))
    result = run("scan", str(image), "--format", "table", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["score", "action", "band"]
    assert "no_face" in lines[1]


def test_bad_input_is_one_line_and_non_zero(tmp_path: Path) -> None:
    missing = run("scan", str(tmp_path / "nope.jpg"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "no such file" in missing.stderr
    bad_flow = run("scan", str(tmp_path), "--flow", "teleport", cwd=tmp_path)
    assert bad_flow.returncode == 2
    assert "unknown flow" in bad_flow.stderr
    bad_policy = tmp_path / "p.toml"
    bad_policy.write_text('version = "x"\n')
    checked = run("policy", "check", str(bad_policy), cwd=tmp_path)
    assert checked.returncode == 2
    assert "Traceback" not in checked.stderr
    assert checked.stderr.startswith("faceverdict: error: policy")
