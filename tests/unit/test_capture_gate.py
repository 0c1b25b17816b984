"""The capture gate: one usable face, or a typed abstention."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from faceverdict.detectors.base import DecodedImage, Detector, RGBImage, Sample
from faceverdict.detectors.capture_gate import CaptureGate, GateThresholds
from faceverdict.domain.detection import Abstention
from tests.support.synthetic_faces import synthetic_face, synthetic_group


@pytest.fixture(scope="module")
def gate() -> CaptureGate:
    """The capture gate with its default thresholds."""
    return CaptureGate()


def decoded(image: Image.Image | RGBImage, scale: float = 1.0) -> DecodedImage:
    """A DecodedImage of ``image`` as if reduced from the original by ``scale``."""
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    height, width = pixels.shape[:2]
    original = (round(width / scale), round(height / scale))
    return DecodedImage(pixels=pixels, media_type="image/jpeg", original_size=original, scale=scale)


def portrait(seed: int = 1) -> Image.Image:
    """A synthetic capture that passes the gate."""
    return synthetic_face(size=(640, 800), face_fraction=0.45, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_good_capture_passes_with_its_main_face(gate: CaptureGate, seed: int) -> None:
    outcome = gate.inspect(decoded(portrait(seed)))
    result = outcome.result
    assert result.abstention is None
    assert result.reasons == ()
    assert result.fake_probability is None
    assert outcome.face is not None
    assert outcome.face.score > 0.8
    assert result.detector == "capture_gate"
    assert result.weights_sha256 == gate.info.weights_sha256
    for key in ("face_count", "face_height_px", "sharpness", "brightness", "clipped_fraction"):
        assert key in result.details
    assert result.details["face_count"] == 1
    assert result.elapsed_ms > 0
    assert result.details["elapsed_ms"] == pytest.approx(result.elapsed_ms, abs=1e-3)


def test_face_height_is_reported_in_original_pixels(gate: CaptureGate) -> None:
    image = portrait()
    full, reduced = gate.inspect(decoded(image)), gate.inspect(decoded(image, scale=0.25))
    assert reduced.result.details["face_height_px"] == pytest.approx(
        4 * float(full.result.details["face_height_px"]), rel=1e-3
    )
    assert reduced.face is not None
    assert full.face is not None
    assert reduced.face.box == full.face.box  # the face stays in the decoded pixels' coordinates


@pytest.mark.parametrize("kind", ["flat", "noise"])
def test_no_face(gate: CaptureGate, kind: str) -> None:
    rng = np.random.default_rng(0)
    pixels = (
        np.full((600, 800, 3), 128, dtype=np.uint8)
        if kind == "flat"
        else rng.integers(0, 256, size=(600, 800, 3), dtype=np.uint8)
    )
    outcome = gate.inspect(decoded(pixels))
    assert outcome.result.abstention is Abstention.NO_FACE
    assert outcome.result.reasons == ("NO_FACE",)
    assert outcome.result.details["face_count"] == 0
    assert outcome.face is None


def test_two_faces_side_by_side(gate: CaptureGate) -> None:
    image = synthetic_group((1000, 700), [(0.27, 0.45, 0.5), (0.73, 0.45, 0.46)], seed=2)
    outcome = gate.inspect(decoded(image))
    assert outcome.result.abstention is Abstention.MULTIPLE_FACES
    assert outcome.result.details["face_count"] == 2
    assert outcome.face is None


def test_a_much_smaller_background_face_is_not_a_second_subject(gate: CaptureGate) -> None:
    image = synthetic_group((900, 900), [(0.45, 0.55, 0.5), (0.88, 0.2, 0.16)], seed=3)
    outcome = gate.inspect(decoded(image))
    assert outcome.result.abstention is None
    assert outcome.face is not None
    assert outcome.face.height > 300


def test_a_tiny_face_is_too_small(gate: CaptureGate) -> None:
    outcome = gate.inspect(decoded(synthetic_face(size=(200, 250), face_fraction=0.25, seed=2)))
    assert outcome.result.abstention is Abstention.FACE_TOO_SMALL
    assert float(outcome.result.details["face_height_px"]) < 80


@pytest.mark.parametrize("centre", [(0.0, 0.5), (0.5, 1.0)])
def test_a_face_half_outside_the_frame_is_cut_off(
    gate: CaptureGate, centre: tuple[float, float]
) -> None:
    image = synthetic_face(size=(640, 800), face_fraction=0.45, seed=0, centre=centre)
    outcome = gate.inspect(decoded(image))
    assert outcome.result.abstention is Abstention.FACE_CUT_OFF
    assert float(outcome.result.details["face_visible_fraction"]) < 0.6
    assert outcome.face is None


def test_heavy_blur_is_too_blurry(gate: CaptureGate) -> None:
    outcome = gate.inspect(decoded(portrait().filter(ImageFilter.GaussianBlur(8))))
    assert outcome.result.abstention is Abstention.TOO_BLURRY
    assert outcome.result.details["face_count"] == 1


@pytest.mark.parametrize("factor", [0.15, 0.05, 0.0])
def test_a_very_dark_capture_is_too_dark(gate: CaptureGate, factor: float) -> None:
    pixels = (np.asarray(portrait(), dtype=np.float32) * factor).astype(np.uint8)
    outcome = gate.inspect(decoded(pixels))
    assert outcome.result.abstention is Abstention.TOO_DARK
    assert outcome.face is None


@pytest.mark.parametrize("offset", [120.0, 255.0])
def test_a_saturated_capture_is_overexposed(gate: CaptureGate, offset: float) -> None:
    pixels = np.asarray(portrait(), dtype=np.float32) * 1.5 + offset
    outcome = gate.inspect(decoded(np.clip(pixels, 0, 255).astype(np.uint8)))
    assert outcome.result.abstention is Abstention.OVEREXPOSED


def test_every_failed_check_is_a_reason_the_first_is_the_abstention(gate: CaptureGate) -> None:
    pixels = (np.asarray(portrait(), dtype=np.float32) * 0.1).astype(np.uint8)
    result = gate.inspect(decoded(pixels)).result
    assert result.reasons[0] == "TOO_DARK"
    assert "TOO_BLURRY" in result.reasons  # a dark face has little contrast too


def test_the_gate_is_a_detector(gate: CaptureGate) -> None:
    detector: Detector = gate
    image = decoded(portrait())
    result = detector.analyse(Sample(data=b"", image=image))
    assert result.abstention is None
    assert detector.info.name == "capture_gate"
    assert detector.info.weights_sha256
    assert len(detector.info.weights_sha256) == 64


def test_custom_thresholds_change_the_version(gate: CaptureGate) -> None:
    tall = CaptureGate(gate.detector, gate.mesh, GateThresholds(min_face_height_px=1000))
    assert tall.info.version != gate.info.version
    assert tall.info.version.startswith(gate.info.version)
    assert CaptureGate(gate.detector, gate.mesh, GateThresholds()).info.version == gate.info.version
    result = tall.inspect(decoded(portrait())).result
    assert result.abstention is Abstention.FACE_TOO_SMALL
    assert result.version == tall.info.version


def _real_folders(faces_dev: Path) -> dict[str, list[str]]:
    with (faces_dev / "MANIFEST.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    by_folder: dict[str, list[str]] = {}
    for row in rows:
        by_folder.setdefault(row["relpath"].split("/")[0], []).append(row["relpath"])
    return by_folder


def _abstained(faces_dev: Path, gate: CaptureGate, paths: list[str]) -> list[str]:
    return [p for p in paths if gate.inspect(decoded(Image.open(faces_dev / p))).result.abstention]


# Frames cut from videos (webcam-like captures) are judged apart from still photos.
VIDEO_FOLDERS = frozenset({"ytf"})


@pytest.mark.dataset
def test_genuine_single_person_photos_rarely_abstain(faces_dev: Path, gate: CaptureGate) -> None:
    """Under 2% of a sample of each single-subject real photo folder abstains (decision 0002)."""
    by_folder = _real_folders(faces_dev)
    by_folder.pop("fairface")  # group photos: other people really are in many of them
    for folder, paths in sorted(by_folder.items()):
        if folder in VIDEO_FOLDERS:
            continue
        sample = paths[:: max(1, len(paths) // 60)]
        abstained = _abstained(faces_dev, gate, sample)
        assert len(abstained) <= 0.02 * len(sample) + 1, f"{folder}: {abstained}"


@pytest.mark.dataset
@pytest.mark.xfail(
    strict=True,
    reason="issue 18: about half of the YouTube video frames have faces under the photo "
    "minimum size; a minimum per capture type is the fix. Strict: passes -> remove this mark.",
)
def test_genuine_video_frames_rarely_abstain(faces_dev: Path, gate: CaptureGate) -> None:
    """The same promise for real frames of videos (the kind of capture a webcam sends)."""
    by_folder = _real_folders(faces_dev)
    for folder in sorted(VIDEO_FOLDERS & set(by_folder)):
        sample = by_folder[folder][:: max(1, len(by_folder[folder]) // 60)]
        abstained = _abstained(faces_dev, gate, sample)
        assert len(abstained) <= 0.02 * len(sample) + 1, f"{folder}: {len(abstained)} abstain"
