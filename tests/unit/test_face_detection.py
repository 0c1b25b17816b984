"""BlazeFace detection, Face Mesh landmarks and the verification of their model files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceverdict.detectors.base import Face, RGBImage
from faceverdict.detectors.face_detection import (
    FULL_RANGE,
    SHORT_RANGE,
    BlazeFaceDetector,
    letterbox,
    ssd_anchors,
    weighted_nms,
)
from faceverdict.detectors.landmarks import FaceMesh
from faceverdict.detectors.model_files import MODELS_DIR, ModelIntegrityError
from tests.support.synthetic_faces import synthetic_face


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    """The default detector (short range, full-range fallback, zoom-out retry)."""
    return BlazeFaceDetector()


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    """The 468-point Face Mesh."""
    return FaceMesh()


def rgb(image: Image.Image) -> RGBImage:
    """An (H, W, 3) uint8 array of ``image``."""
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def test_anchor_layouts_match_the_model_outputs() -> None:
    short, full = ssd_anchors(SHORT_RANGE), ssd_anchors(FULL_RANGE)
    assert short.shape == (896, 2)
    assert full.shape == (2304, 2)
    assert short.min() > 0
    assert short.max() < 1
    assert tuple(short[0]) == pytest.approx((0.5 / 16, 0.5 / 16))
    assert tuple(full[-1]) == pytest.approx((47.5 / 48, 47.5 / 48))


def test_letterbox_keeps_the_aspect_ratio_and_centres_the_image() -> None:
    pixels = np.full((100, 200, 3), 255, dtype=np.uint8)
    tensor, fit = letterbox(Image.fromarray(pixels), (200, 100), 128)
    assert tensor.shape == (128, 128, 3)
    assert fit.scale_x == pytest.approx(128 / 200)
    assert fit.pad_y == 32
    assert fit.pad_x == 0
    assert tensor[0, 0, 0] == -1.0  # padding is black
    assert tensor[64, 64, 0] == pytest.approx(1.0)  # white image maps to +1


def test_weighted_nms_merges_overlapping_boxes_and_keeps_separate_ones() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    points = np.zeros((3, 6, 2), dtype=np.float32)
    scores = np.array([0.9, 0.6, 0.8], dtype=np.float32)
    kept = weighted_nms(boxes, points, scores, iou_threshold=0.3)
    assert [round(score, 2) for _, _, score in kept] == [0.9, 0.8]
    merged_box = kept[0][0]
    assert 0 < merged_box[0] < 1  # averaged towards the second box, weighted by score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_a_synthetic_face_where_it_was_drawn(detector: BlazeFaceDetector, seed: int) -> None:
    pixels = rgb(synthetic_face(size=(640, 800), face_fraction=0.45, seed=seed))
    faces = detector.detect(pixels)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    assert abs(cx - 320) < 40
    assert abs(cy - 400) < 60
    assert 0.45 * 800 * 0.5 < face.height < 0.45 * 800 * 1.1
    # keypoint 0 is the subject's right eye, on the left of an unmirrored image
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    assert rx < lx
    assert abs(ry - ly) < 0.1 * face.height


def test_coordinates_follow_the_input_resolution(detector: BlazeFaceDetector) -> None:
    small = rgb(synthetic_face(size=(320, 400), seed=3))
    large = rgb(synthetic_face(size=(320, 400), seed=3).resize((960, 1200)))
    a, b = detector.detect(small)[0], detector.detect(large)[0]
    assert np.allclose(np.array(b.box) / 3, a.box, atol=6)


def test_a_small_face_is_found_by_the_full_range_fallback() -> None:
    pixels = rgb(synthetic_face(size=(1500, 2000), face_fraction=0.08, seed=4))
    assert BlazeFaceDetector(fallback=None).detect(pixels) == []
    faces = BlazeFaceDetector().detect(pixels)
    assert len(faces) == 1
    assert 0.08 * 2000 * 0.5 < faces[0].height < 0.08 * 2000 * 1.2


def test_a_face_that_fills_the_frame_is_found_by_zooming_out(detector: BlazeFaceDetector) -> None:
    full = synthetic_face(size=(800, 800), face_fraction=0.8, seed=5)
    pixels = rgb(full.crop((180, 160, 620, 600)))  # the face overflows this crop
    assert BlazeFaceDetector(zoom_out=0.0).detect(pixels) == []
    assert len(detector.detect(pixels)) == 1


@pytest.mark.parametrize("kind", ["flat", "noise", "tiny"])
def test_no_face_in_images_without_one(detector: BlazeFaceDetector, kind: str) -> None:
    rng = np.random.default_rng(0)
    pixels = {
        "flat": np.full((480, 640, 3), 128, dtype=np.uint8),
        "noise": rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8),
        "tiny": np.zeros((1, 1, 3), dtype=np.uint8),
    }[kind]
    assert detector.detect(pixels) == []


def test_rejects_arrays_that_are_not_rgb_images(detector: BlazeFaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((10, 10), dtype=np.uint8))


def test_weights_digest_names_every_model_file() -> None:
    both, short_only = BlazeFaceDetector(), BlazeFaceDetector(fallback=None)
    assert set(both.weights) == {"blazeface_short_range", "blazeface_full_range"}
    assert len(both.weights_sha256) == 64
    assert both.weights_sha256 != short_only.weights_sha256


def test_face_mesh_landmarks_lie_on_the_face(detector: BlazeFaceDetector, mesh: FaceMesh) -> None:
    pixels = rgb(synthetic_face(size=(640, 800), seed=1))
    face = detector.detect(pixels)[0]
    points = mesh.landmarks(pixels, face)
    assert points.shape == (468, 2)
    x0, y0, x1, y1 = face.box
    margin = 0.35 * face.height
    assert points[:, 0].min() > x0 - margin
    assert points[:, 0].max() < x1 + margin
    assert points[:, 1].min() > y0 - margin
    assert points[:, 1].max() < y1 + margin
    # outer eye corners (33: subject's right, 263: left) bracket the detector's eye keypoints
    assert points[33, 0] < face.keypoints[0][0] < face.keypoints[1][0] < points[263, 0]


def test_face_mesh_follows_a_rotated_face(detector: BlazeFaceDetector, mesh: FaceMesh) -> None:
    image = synthetic_face(size=(700, 700), face_fraction=0.45, seed=2)
    upright = rgb(image)
    tilted = rgb(image.rotate(20, resample=Image.Resampling.BILINEAR, fillcolor=(180, 170, 160)))
    angles = []
    for pixels in (upright, tilted):
        points = mesh.landmarks(pixels, detector.detect(pixels)[0])
        dx, dy = points[263] - points[33]
        angles.append(np.degrees(np.arctan2(dy, dx)))
    # PIL rotates counter-clockwise: the eye line tilts up by about 20 degrees
    assert angles[0] == pytest.approx(0, abs=6)
    assert angles[1] - angles[0] == pytest.approx(-20, abs=6)


def test_face_mesh_on_a_face_box_outside_the_image(mesh: FaceMesh) -> None:
    pixels = np.zeros((100, 100, 3), dtype=np.uint8)
    face = Face(box=(500.0, 500.0, 600.0, 600.0), score=0.9)
    fit = mesh.fit(pixels, face)
    assert fit.points.shape == (468, 3)
    assert fit.score < 0.5


def _tampered_models_dir(tmp_path: Path, name: str) -> Path:
    """A copy of the manifest and of ``name``'s model file, with one byte of the file changed."""
    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({name: manifest[name]}))
    target = tmp_path / manifest[name]["file"]
    shutil.copyfile(MODELS_DIR / manifest[name]["file"], target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return tmp_path


def test_a_model_file_whose_sha256_differs_is_refused(tmp_path: Path) -> None:
    models_dir = _tampered_models_dir(tmp_path, "blazeface_short_range")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        BlazeFaceDetector(fallback=None, models_dir=models_dir)


def test_a_tampered_face_mesh_is_refused(tmp_path: Path) -> None:
    models_dir = _tampered_models_dir(tmp_path, "face_mesh_468")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        FaceMesh(models_dir=models_dir)


def test_a_model_missing_from_the_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ModelIntegrityError, match="not in"):
        BlazeFaceDetector(models_dir=tmp_path)


@pytest.mark.dataset
def test_detection_rate_on_real_photos(faces_dev: Path, detector: BlazeFaceDetector) -> None:
    """At least 98% of a sample of each real folder has a face (measured: 99.97% overall)."""
    with (faces_dev / "MANIFEST.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    by_folder: dict[str, list[str]] = {}
    for row in rows:
        by_folder.setdefault(row["relpath"].split("/")[0], []).append(row["relpath"])
    for folder, paths in sorted(by_folder.items()):
        sample = paths[:: max(1, len(paths) // 40)]
        found = sum(bool(detector.detect(rgb(Image.open(faces_dev / p)))) for p in sample)
        assert found / len(sample) >= 0.98, f"{folder}: {found}/{len(sample)}"
