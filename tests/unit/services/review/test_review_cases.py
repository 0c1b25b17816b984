"""Review cases and reports on memory stores: redaction and reveal of the capture, heatmaps,
backlog and the labelled export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceverdict.domain.review import AttackType, Verdict, VerdictLabel
from faceverdict.services.review.errors import Forbidden
from faceverdict.services.review.reports import MANIFEST_COLUMNS
from tests.conftest import FACES_DEV
from tests.support.review import ReviewWorld, face_jpeg, make_check, queued

GENUINE = Verdict(VerdictLabel.GENUINE)

# case page data: redaction and logged reveal


def test_the_capture_is_redacted_until_an_explicit_logged_reveal(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice, bob = world.account("alice"), world.account("bob")
    cases = world.review.cases
    with pytest.raises(Forbidden):
        cases.case(task_id, alice)  # claim first
    world.review.service.claim(task_id, alice)
    with pytest.raises(Forbidden):
        cases.capture(task_id, bob, original=False)
    redacted = Image.open(io.BytesIO(cases.capture(task_id, alice, original=False)))
    with pytest.raises(Forbidden, match="reveal"):
        cases.capture(task_id, alice, original=True)
    cases.reveal(task_id, alice, "check the background for a screen bezel")
    assert cases.case(task_id, alice).revealed
    original = Image.open(io.BytesIO(cases.capture(task_id, alice, original=True)))
    assert redacted.size == original.size == (480, 600)
    source = Image.open(io.BytesIO(face_jpeg())).convert("RGB")
    # the face box (150,150)-(330,420) is kept; the background is pixelated and blurred
    assert _diff(redacted, source, (200, 220, 280, 380)) < 6
    assert _diff(original, source, (0, 0, 100, 100)) < 6
    assert _diff(redacted, source, (0, 0, 100, 100)) > _diff(original, source, (0, 0, 100, 100))
    cases.redact(task_id, alice)
    assert not cases.case(task_id, alice).revealed
    with pytest.raises(Forbidden):
        cases.capture(task_id, alice, original=True)
    events = world.review.service.audit.events(check_id="chk_1")
    reads = [e.detail["purpose"] for e in events if e.kind == "capture_read"]
    assert reads == ["review_redacted", "review_original"]
    reveal = next(e for e in events if e.kind == "capture_revealed")
    assert reveal.actor == alice.reviewer_id
    assert reveal.detail["reason"] == "check the background for a screen bezel"
    cases.reveal(task_id, alice)
    world.clock.advance(minutes=11)  # a reveal lapses by itself
    world.review.service.renew(task_id, alice)
    assert not cases.case(task_id, alice).revealed


def _diff(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    ca = np.asarray(a.convert("L").crop(box), dtype=np.float32)
    cb = np.asarray(b.convert("L").crop(box), dtype=np.float32)
    return float(np.abs(ca - cb).mean())


def test_heatmaps_are_drawn_over_their_box(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice = world.account("alice")
    world.review.service.claim(task_id, alice)
    assert world.review.cases.case(task_id, alice).heatmaps == ["blending"]
    overlay = Image.open(io.BytesIO(world.review.cases.heatmap(task_id, alice, "blending")))
    assert overlay.size == (480, 600)
    assert overlay.mode == "RGBA"
    alpha = np.asarray(overlay.getchannel("A"))
    assert alpha[10, 10] == 0  # outside the box
    assert alpha[440, 350] > alpha[160, 130]  # hotter bottom-right


# reports


def test_backlog_and_sla_breaches(world: ReviewWorld) -> None:
    queued(world, make_check("chk_1", flow="payment"))
    queued(world, make_check("chk_2"))
    world.clock.advance(minutes=20)
    backlog = world.review.reports.backlog()
    assert backlog.open == 2
    assert backlog.breached == 1
    by_flow = {r.flow: r for r in backlog.rows}
    assert by_flow["payment"].breached == 1
    assert by_flow["onboarding"].breached == 0


def test_export_writes_a_labelled_manifest_without_erased_subjects(
    world: ReviewWorld, tmp_path: Path
) -> None:
    alice = world.account("alice")
    service = world.review.service
    verdicts = {
        "chk_g": GENUINE,
        "chk_f": Verdict(VerdictLabel.FAKE, AttackType.FULLY_SYNTHETIC),
        "chk_i": Verdict(VerdictLabel.INCONCLUSIVE, note="too dark"),
        "chk_e": GENUINE,
    }
    for check_id, verdict in verdicts.items():
        subject = ("e" if check_id == "chk_e" else "s") * 64
        task_id = queued(world, make_check(check_id, subject=subject))
        service.claim(task_id, alice)
        service.submit_verdict(task_id, alice, verdict)
    world.blobs.delete("captures/chk_e")  # erased: its capture is gone
    out = tmp_path / "export"
    summary = world.review.reports.export(out, "admin", "internal-retraining-only")
    assert (summary.written, summary.skipped_inconclusive, summary.skipped_erased) == (2, 1, 1)
    with (out / "MANIFEST.csv").open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
    assert {(r["relpath"], r["label"], r["family"]) for r in rows} == {
        ("captures/chk_g.jpg", "real", "reviewed_genuine"),
        ("captures/chk_f.jpg", "fake", "fully_synthetic"),
    }
    assert all(r["group"] == "s" * 16 and r["width"] == "480" for r in rows)
    assert (out / "captures/chk_g.jpg").read_bytes() == world.blobs.get("captures/chk_g")
    reads = [
        e
        for e in service.audit.events(kinds=frozenset({"capture_read"}))
        if e.detail.get("purpose") == "export"
    ]
    assert len(reads) == 3  # the erased one was attempted, and logged, too


def test_export_uses_the_shared_dataset_columns() -> None:
    manifest = FACES_DEV / "MANIFEST.csv"
    if not manifest.is_file():
        pytest.skip(f"faces-dev dataset not found at {FACES_DEV}")
    with manifest.open(encoding="utf-8") as fh:
        assert tuple(next(csv.reader(fh))) == MANIFEST_COLUMNS
