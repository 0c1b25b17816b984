"""``faceverdict eval`` end to end on a tiny synthetic manifest (the gate mostly abstains)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FAMILIES = {
    "camera_a": ("real", "source_ab"),
    "camera_c": ("real", "source_c"),
    "swap_b": ("fake", "source_ab"),
    "gan_d": ("fake", "source_d"),
}
PER_FAMILY = 3
REPORT_KEYS = {
    "schema",
    "generated_at",
    "dataset",
    "system",
    "policy",
    "model_versions",
    "abstention",
    "pooled",
    "families",
    "within_source",
    "iso_30107_3",
    "detectors",
    "calibration",
    "demographics",
    "robustness",
    "latency",
    "rejected_files",
    "plots",
}


def image_bytes(seed: int, fmt: str) -> bytes:
    """A small photo-like image without a face."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:96, 0:96].astype(np.float32)
    base = np.stack([xs * 2.5, ys * 2.5, 128 + 80 * np.sin((xs + ys) / 9.0)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def build_dataset(root: Path) -> Path:
    """Images, a manifest and a demographic LABELS.csv under ``root``."""
    rows = []
    labels = []
    for f, (family, (label, source)) in enumerate(FAMILIES.items()):
        for k in range(PER_FAMILY):
            relpath = f"{family}/{k}.{'png' if k % 2 else 'jpg'}"
            (root / family).mkdir(parents=True, exist_ok=True)
            (root / relpath).write_bytes(image_bytes(10 * f + k, "PNG" if k % 2 else "JPEG"))
            rows.append([relpath, label, family, source, "test", 96, 96, f"{family}_{k % 2}"])
            if family == "camera_a":
                labels.append([relpath, "20-29", "Female" if k % 2 else "Male", "White"])
    (root / "corrupt").mkdir()
    (root / "corrupt/0.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    rows.append(["corrupt/0.jpg", "fake", "broken", "source_e", "test", 96, 96, ""])
    manifest = root / "MANIFEST.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["relpath", "label", "family", "source", "license", "width", "height", "group"]
        )
        writer.writerows(rows)
    with (root / "camera_a/LABELS.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["relpath", "age_group", "gender", "race"])
        writer.writerows(labels)
    return manifest


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FACEVERDICT_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "faceverdict.entrypoints.cli", "eval", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_eval_writes_report_files_with_documented_keys(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = build_dataset(root)
    out = tmp_path / "report"
    result = run_cli(
        "--manifest",
        str(manifest),
        "--root",
        str(root),
        "--out",
        str(out),
        "--split",
        "all",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "report.md").is_file()
    assert (out / "scores.csv").is_file()
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= REPORT_KEYS
    assert report["dataset"]["n_images"] == len(FAMILIES) * PER_FAMILY + 1
    # Abstentions are counted, by class, by family and by code, never dropped.
    abstention = report["abstention"]
    assert set(abstention["by_class"]) == {"real", "fake"}
    assert abstention["by_class"]["fake"]["codes"].get("corrupted") == 1
    assert set(abstention["by_family"]) == {*FAMILIES, "broken"}
    assert all(0.0 <= b["rate"] <= 1.0 for b in abstention["by_family"].values())
    assert report["rejected_files"][0]["relpath"] == "corrupt/0.jpg"
    # Error rates come both with abstentions excluded and counted by their policy action.
    policy_point = report["iso_30107_3"]["policy"][0]
    assert set(policy_point["bpcer"]) >= {"abstentions_excluded", "abstentions_as_not_accepted"}
    assert [p["target_bpcer"] for p in report["iso_30107_3"]["at_bpcer"]] == [0.01, 0.05]
    assert "source_ab" in report["within_source"]
    assert set(report["robustness"]) == {"jpeg90", "jpeg75", "jpeg60", "resize50", "chain"}
    resized = report["robustness"]["resize50"]["error_rates"]
    assert set(resized["policy_action"]) == {"bpcer", "apcer_pooled"}
    assert "Error rates after each transform" in (out / "report.md").read_text()
    assert report["latency"]["all"]["count"] == len(FAMILIES) * PER_FAMILY + 1
    assert report["system"]["cpu_count"] >= 1
    assert "camera_a" in report["demographics"]["datasets"]
    if report["plots"]:  # matplotlib installed (the eval extra)
        for name in report["plots"].values():
            assert (out / name).stat().st_size > 0
            assert f"]({name})" in (out / "report.md").read_text()


def test_limit_and_no_robustness_make_a_quick_run(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = build_dataset(root)
    out = tmp_path / "report"
    result = run_cli(
        "--manifest",
        str(manifest),
        "--root",
        str(root),
        "--out",
        str(out),
        "--split",
        "all",
        "--limit",
        "1",
        "--no-robustness",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["n_images"] == len(FAMILIES) + 1
    assert report["robustness"] is None
    assert report["dataset"]["ensemble"] == "inline"
    assert "synthetic" in report["model_versions"]


def test_assurance_ensemble_judges_with_the_heavier_detectors(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = build_dataset(root)
    out = tmp_path / "report"
    args = ["--manifest", str(manifest), "--root", str(root), "--out", str(out)]
    quick = ["--split", "all", "--limit", "1", "--no-robustness"]
    result = run_cli(*args, *quick, "--ensemble", "assurance", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["ensemble"] == "assurance"
    # Each assurance detector replaces its inline namesake; the fusion stays the same.
    versions = report["model_versions"]
    assert {"synthetic_assurance", "blending_assurance", "fusion"} <= set(versions)
    assert not {"synthetic", "blending"} & set(versions)
    assert "`assurance` ensemble" in (out / "report.md").read_text()
    bad = run_cli(*args, *quick, "--ensemble", "heavy", cwd=tmp_path)
    assert bad.returncode == 2


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_manifest", "no such manifest"),
        ("missing_root", "no such image folder"),
        ("missing_column", "lacks column"),
        ("bad_label", "label must be real or fake"),
        ("missing_image", "missing under"),
        ("unknown_flow", "unknown flow"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path, case: str, message: str) -> None:
    root = tmp_path / "data"
    manifest = build_dataset(root)
    args = ["--manifest", str(manifest), "--root", str(root), "--out", str(tmp_path / "r")]
    text = manifest.read_text()
    if case == "missing_manifest":
        args[1] = str(tmp_path / "nope.csv")
    elif case == "missing_root":
        args[3] = str(tmp_path / "nope")
    elif case == "missing_column":
        manifest.write_text(text.replace("family,", "famly,", 1))
    elif case == "bad_label":
        manifest.write_text(text.replace(",real,", ",genuine,", 1))
    elif case == "missing_image":
        (root / "camera_a/0.jpg").unlink()
    elif case == "unknown_flow":
        args += ["--flow", "nosuchflow"]
    result = run_cli(*args, "--split", "all", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faceverdict: error:")
    assert message in lines[0]
    assert not (tmp_path / "r").exists()
