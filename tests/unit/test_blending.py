"""The blending detector: self-blend generator, ONNX detector, weight integrity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from faceverdict.detectors import blending as blending_detector
from faceverdict.detectors.base import DecodedImage, Face, Sample
from faceverdict.detectors.blending import (
    CROP_MARGIN,
    INPUT_SIZE,
    MODEL_NAME,
    TTA_MARGINS,
    BlendingDetector,
)
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.face_crop import crop_box, crop_face
from faceverdict.detectors.model_files import MODELS_DIR, ModelIntegrityError
from faceverdict.detectors.registry import create_detector, list_detectors
from faceverdict.domain.detection import DetectorKind
from faceverdict.training import self_blend as sb
from tests.support.synthetic_faces import synthetic_face

MODELS = MODELS_DIR

SIZE = 160


def _face_landmarks(size: int = SIZE) -> npt.NDArray[np.float32]:
    """468 points filling a face-shaped ellipse, with the eye and lip points the generator uses."""
    rng = np.random.default_rng(3)
    angle = rng.uniform(0, 2 * np.pi, 468)
    radius = np.sqrt(rng.uniform(0, 1, 468))
    cx, cy = size / 2, size / 2
    points = np.stack(
        [cx + 0.3 * size * radius * np.cos(angle), cy + 0.4 * size * radius * np.sin(angle)],
        axis=1,
    ).astype(np.float32)
    eye_y, eye_dx = cy - 0.08 * size, 0.12 * size
    points[33], points[133] = (cx - 1.5 * eye_dx, eye_y), (cx - 0.5 * eye_dx, eye_y)
    points[263], points[362] = (cx + 1.5 * eye_dx, eye_y), (cx + 0.5 * eye_dx, eye_y)
    points[13], points[14] = (cx, cy + 0.2 * size), (cx, cy + 0.23 * size)
    return points


def _image(size: int = SIZE, seed: int = 0) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size]
    base = np.stack([xs, ys, (xs + ys) // 2], axis=2).astype(np.float32) / size * 200 + 30
    noise = rng.normal(0, 6, size=(size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _dilate(mask: npt.NDArray[np.bool_], steps: int) -> npt.NDArray[np.bool_]:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


@pytest.mark.parametrize("seed", range(12))
def test_self_blend_mask_boundary_and_support(seed: int) -> None:
    image, landmarks = _image(seed=seed), _face_landmarks()
    blend = sb.self_blend(image, landmarks, np.random.default_rng(seed))
    assert blend.image.shape == image.shape
    assert blend.image.dtype == np.uint8
    assert blend.mask.shape == blend.boundary.shape == (SIZE, SIZE)
    assert blend.mask.dtype == np.float32
    assert blend.mask.min() >= 0.0
    assert blend.mask.max() <= 1.0
    assert blend.mask.max() > 0.2
    assert blend.boundary.min() >= 0.0
    assert blend.boundary.max() <= 1.0
    np.testing.assert_allclose(blend.boundary, 4 * blend.mask * (1 - blend.mask), atol=1e-6)
    # Outside the (one-pixel dilated) mask the blend is exactly the target ...
    inside = _dilate(blend.mask > 0, 1)
    diff = np.abs(blend.image.astype(int) - blend.target.astype(int)).max(axis=2)
    assert (diff[~inside] == 0).all()
    # ... and inside it really differs from the target somewhere.
    assert diff[inside].max() > 0
    # Where the mask is (almost) 1 the blend is the source.
    full = blend.mask > 0.999
    if full.any():
        src = np.abs(blend.image.astype(int) - blend.source.astype(int)).max(axis=2)
        assert src[full].max() <= 1


def test_self_blend_is_deterministic_for_a_seed() -> None:
    image, landmarks = _image(), _face_landmarks()
    a = sb.self_blend(image, landmarks, np.random.default_rng(42))
    b = sb.self_blend(image, landmarks, np.random.default_rng(42))
    c = sb.self_blend(image, landmarks, np.random.default_rng(43))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)
    assert a.variant == b.variant
    assert not (np.array_equal(a.image, c.image) and np.array_equal(a.mask, c.mask))


def test_every_mask_variant_is_drawn() -> None:
    landmarks = _face_landmarks()
    rng = np.random.default_rng(0)
    seen = {sb.blend_mask((SIZE, SIZE), landmarks, rng)[1].split(":")[0] for _ in range(200)}
    assert seen == set(sb.MASK_VARIANTS)


@pytest.mark.parametrize("part", sb.PARTS)
def test_face_parts_are_inside_the_face(part: str) -> None:
    landmarks = _face_landmarks()
    points = sb.part_points(landmarks, part)
    assert 3 <= len(points) < len(landmarks)
    mask = sb.polygon_mask((SIZE, SIZE), points)
    whole = sb.polygon_mask((SIZE, SIZE), landmarks)
    assert mask.sum() < whole.sum()


def test_convex_hull_and_polygon_mask() -> None:
    square = np.array([[10, 10], [50, 10], [50, 50], [10, 50], [30, 30], [20, 40]], np.float32)
    hull = sb.convex_hull(square)
    assert sorted(hull) == [(10.0, 10.0), (10.0, 50.0), (50.0, 10.0), (50.0, 50.0)]
    mask = sb.polygon_mask((64, 64), square)
    assert mask[30, 30] == 1.0
    assert mask[5, 5] == 0.0
    assert sb.polygon_mask((64, 64), square[:2]).sum() == 0  # degenerate: empty


def test_gaussian_blur_preserves_mass_and_bilinear_sampling_is_identity() -> None:
    values = np.zeros((64, 64), np.float32)
    values[24:36, 24:36] = 1.0
    blurred = sb.gaussian_blur(values, 3.0)
    assert blurred.sum() == pytest.approx(values.sum(), rel=1e-3)
    assert blurred.max() < 1.0
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    np.testing.assert_allclose(sb.bilinear_sample(values, ys, xs), values, atol=1e-6)
    assert sb.bilinear_sample(values, ys - 100, xs).max() == 0.0


def test_photometric_helpers_keep_shape_and_type() -> None:
    image = _image()
    for out in (
        sb.jpeg(image, 50),
        sb.rescale(image, 0.5),
        sb.greyscale(image),
        sb.sharpen(image, 100),
        sb.blur(image, 1.0),
        sb.hsv_shift(image, 0.02, 1.1, 0.9),
        sb.brightness_contrast(image, 0.05, 1.1),
        sb.affine_rgb(image, 10.0, 1.0, (0.0, 0.0)),
    ):
        assert out.shape == image.shape
        assert out.dtype == np.uint8
    grey = sb.greyscale(image)
    assert (grey[..., 0] == grey[..., 1]).all()
    rotated = sb.affine_rgb(image, 20.0, 1.0, (0.0, 0.0))
    assert rotated[0, 0].sum() == 0  # black fill in the corner
    mapped = sb.affine_map(np.ones((SIZE, SIZE), np.float32), 20.0, 1.0, (0.0, 0.0))
    assert mapped[0, 0] == 0.0
    assert mapped[SIZE // 2, SIZE // 2] == pytest.approx(1.0)


# --- the ONNX detector (service side: onnxruntime only) ---------------------------------


def _decoded(image: Image.Image, scale: float = 1.0) -> DecodedImage:
    """A DecodedImage of ``image`` as if reduced from the original by ``scale``."""
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    original = (round(width / scale), round(height / scale))
    return DecodedImage(pixels=pixels, media_type="image/jpeg", original_size=original, scale=scale)


@pytest.fixture(scope="module")
def detector() -> BlendingDetector:
    """The inline blending detector on the shipped weights."""
    return BlendingDetector(MODELS)


@pytest.fixture(scope="module")
def face_sample() -> Sample:
    """A synthetic portrait with its main face found by the capture gate."""
    image = _decoded(synthetic_face(size=(640, 800), face_fraction=0.45, seed=1))
    outcome = CaptureGate().inspect(image)
    assert outcome.face is not None
    return Sample(data=b"", image=image, face=outcome.face)


def test_detector_scores_a_face_with_a_heatmap(
    detector: BlendingDetector, face_sample: Sample
) -> None:
    result = detector.analyse(face_sample)
    assert result.detector == "blending"
    assert result.fake_probability is not None
    assert 0.0 <= result.fake_probability <= 1.0
    assert result.weights_sha256 == detector.info.weights_sha256
    assert result.reasons == (("BLENDING_BOUNDARY",) if result.fake_probability > 0.5 else ())
    heatmap = result.heatmap
    assert heatmap is not None
    grid = INPUT_SIZE // 16
    assert (heatmap.width, heatmap.height) == (grid, grid)
    assert len(heatmap.values) == grid * grid
    assert all(0.0 <= v <= 1.0 for v in heatmap.values)
    assert all(round(v, 3) == v for v in heatmap.values)
    x0, y0, x1, y1 = heatmap.box
    width, height = face_sample.image.original_size
    assert 0 <= x0 < x1 <= width
    assert 0 <= y0 < y1 <= height
    assert x1 - x0 == pytest.approx(y1 - y0, abs=1)  # the crop square
    assert result.details["peak"] == pytest.approx(max(heatmap.values), abs=1e-3)
    assert result.elapsed_ms > 0


def test_detector_is_deterministic(detector: BlendingDetector, face_sample: Sample) -> None:
    first, second = detector.analyse(face_sample), detector.analyse(face_sample)
    assert first.fake_probability == second.fake_probability
    assert first.heatmap == second.heatmap


def test_heatmap_box_is_in_original_pixels(detector: BlendingDetector) -> None:
    full = synthetic_face(size=(640, 800), face_fraction=0.45, seed=2)
    reduced = full.resize((320, 400), Image.Resampling.BOX)
    image = _decoded(reduced, scale=0.5)
    outcome = CaptureGate().inspect(image)
    assert outcome.face is not None
    result = detector.analyse(Sample(data=b"", image=image, face=outcome.face))
    assert result.heatmap is not None
    box = crop_box(outcome.face, CROP_MARGIN)
    assert result.heatmap.box == (
        round(box.x0 * 2),
        round(box.y0 * 2),
        round((box.x0 + box.side) * 2),
        round((box.y0 + box.side) * 2),
    )


@pytest.mark.parametrize(
    ("centre", "margin"), [((0.5, 0.5), 1.3), ((0.12, 0.2), 1.3), ((0.9, 0.85), 1.45)]
)
def test_fast_crop_is_the_shared_crop(centre: tuple[float, float], margin: float) -> None:
    image = np.asarray(synthetic_face(size=(640, 800), face_fraction=0.45, seed=4, centre=centre))
    for box in (
        (100.3, 200.7, 380.2, 480.9),
        (-40.5, -20.25, 150.0, 170.5),
        (500.0, 600.0, 700.0, 900.0),
    ):
        face = Face(box=box, score=0.9)
        fast = blending_detector.face_crop(image, face, margin)
        assert np.array_equal(fast, crop_face(image, face, size=INPUT_SIZE, margin=margin))


def test_no_face_means_no_opinion(detector: BlendingDetector, face_sample: Sample) -> None:
    result = detector.analyse(Sample(data=b"", image=face_sample.image, face=None))
    assert result.fake_probability is None
    assert result.heatmap is None


def test_both_variants_are_registered(face_sample: Sample) -> None:
    assert "blending" in list_detectors(DetectorKind.INLINE)
    assert "blending_assurance" in list_detectors(DetectorKind.ASSURANCE)
    inline = create_detector("blending")
    assert inline.info.kind is DetectorKind.INLINE
    assert inline.info.needs_face
    assert inline.info.input_size == INPUT_SIZE
    assert inline.info.licence
    assert inline.info.paper
    assurance = create_detector("blending_assurance")
    assert assurance.info.kind is DetectorKind.ASSURANCE
    assert assurance.info.weights_sha256 == inline.info.weights_sha256
    result = assurance.analyse(face_sample)
    assert result.detector == "blending_assurance"
    assert result.fake_probability is not None
    assert 0.0 <= result.fake_probability <= 1.0
    assert result.details["views"] == 2 * len(TTA_MARGINS)
    assert result.heatmap is not None


def test_a_model_file_with_the_wrong_sha256_is_refused(tmp_path: Path) -> None:
    shutil.copy(MODELS / "manifest.json", tmp_path / "manifest.json")
    data = bytearray((MODELS / f"{MODEL_NAME}.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / f"{MODEL_NAME}.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        BlendingDetector(tmp_path)
    (tmp_path / f"{MODEL_NAME}.onnx").unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        BlendingDetector(tmp_path)


# --- training side (needs the ``train`` extra) -------------------------------------------


def test_training_network_shapes_and_boundary_target() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch")
    from faceverdict.training.blending_data import pool_boundary
    from faceverdict.training.blending_net import BlendingNet

    net = BlendingNet(64, pretrained=False).eval()
    with torch.no_grad():
        logit, boundary = net(torch.rand(2, 3, 64, 64) * 255)
    assert tuple(logit.shape) == (2, 1)
    assert tuple(boundary.shape) == (2, 1, 4, 4)
    mask = np.zeros((64, 64), np.float32)
    mask[24:40, 24:40] = 1.0
    target = pool_boundary(sb.boundary_map(sb.gaussian_blur(mask, 1.0)), 64)
    assert target.shape == (4, 4)
    assert target.max() > 0.9
    assert target[0, 0] == 0.0
