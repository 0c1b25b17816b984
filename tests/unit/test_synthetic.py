"""The synthetic-image detector: native-resolution face patch, ONNX inference, assurance."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceverdict.detectors.base import Face, Sample
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.registry import list_detectors
from faceverdict.detectors.synthetic import (
    GRID,
    PATCH_SIZE,
    REASON,
    SyntheticAssuranceDetector,
    SyntheticImageDetector,
    face_patch,
    half_scale_patch,
    patch_origin,
    to_input,
)
from faceverdict.domain.detection import DetectorKind
from tests.support.synthetic_faces import synthetic_face


def _ramp(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def sample() -> Sample:
    buf = io.BytesIO()
    synthetic_face(size=(640, 800), face_fraction=0.45, seed=3).save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    image = decode_capture(data)
    outcome = CaptureGate().inspect(image)
    assert outcome.face is not None, outcome.result
    return Sample(data=data, image=image, face=outcome.face)


@pytest.fixture(scope="module")
def detector() -> SyntheticImageDetector:
    return SyntheticImageDetector()


def test_patch_is_a_grid_aligned_slice_at_native_resolution() -> None:
    pixels = _ramp(600, 500)
    face = Face(box=(101.0, 203.0, 341.0, 463.0), score=0.9)
    patch = face_patch(pixels, face)
    left, top = patch_origin(500, 600, face)
    assert patch.shape == (PATCH_SIZE, PATCH_SIZE, 3)
    assert patch.dtype == np.uint8
    assert left % GRID == 0
    assert top % GRID == 0
    # Centred on the face within one grid step, and copied, never resampled.
    assert abs(left + PATCH_SIZE / 2 - 221) <= GRID
    assert abs(top + PATCH_SIZE / 2 - 333) <= GRID
    np.testing.assert_array_equal(patch, pixels[top : top + PATCH_SIZE, left : left + PATCH_SIZE])
    np.testing.assert_array_equal(patch, face_patch(pixels, face))


def test_patch_stays_inside_the_frame_and_follows_the_offset() -> None:
    pixels = _ramp(300, 400)
    corner = Face(box=(-30.0, -40.0, 60.0, 50.0), score=0.9)
    assert patch_origin(400, 300, corner) == (0, 0)
    far = Face(box=(350.0, 250.0, 420.0, 330.0), score=0.9)
    left, top = patch_origin(400, 300, far)
    assert left + PATCH_SIZE <= 400
    assert top + PATCH_SIZE <= 300
    face = Face(box=(100.0, 100.0, 300.0, 300.0), score=0.9)
    moved = patch_origin(400, 300, face, offset=(0.2, 0.0))
    assert moved[0] - patch_origin(400, 300, face)[0] == pytest.approx(40, abs=GRID)
    assert face_patch(pixels, far).shape == (PATCH_SIZE, PATCH_SIZE, 3)


def test_small_images_are_mirror_padded_not_resized() -> None:
    pixels = _ramp(50, 90)
    patch = face_patch(pixels, Face(box=(10.0, 5.0, 70.0, 45.0), score=0.9))
    assert patch.shape == (PATCH_SIZE, PATCH_SIZE, 3)
    np.testing.assert_array_equal(patch[:50, :90], pixels)
    np.testing.assert_array_equal(patch[50:100, :90], pixels[::-1])


@pytest.mark.parametrize(
    ("height", "width", "box"),
    [
        (600, 500, (101.0, 203.0, 341.0, 463.0)),  # inside the frame
        (301, 417, (350.0, 250.0, 420.0, 300.0)),  # odd sizes, patch pushed off the corner
        (150, 190, (20.0, 10.0, 150.0, 140.0)),  # half image smaller than the patch: mirrored
    ],
)
def test_half_scale_patch_is_the_patch_of_the_image_shrunk_by_two(
    height: int, width: int, box: tuple[float, float, float, float]
) -> None:
    rng = np.random.default_rng(height)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    face = Face(box=box, score=0.9)
    # What the evaluation's half-size resize leaves (and the training side measures): the
    # whole image shrunk by PIL, then the ordinary patch rule on the shrunk face box.
    size = (round(width / 2), round(height / 2))
    shrunk = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    sx, sy = size[0] / width, size[1] / height
    half_face = Face(box=(box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), score=0.9)
    expected = face_patch(shrunk, half_face)
    patch = half_scale_patch(pixels, face)
    assert patch.shape == (PATCH_SIZE, PATCH_SIZE, 3)
    assert patch.dtype == np.uint8
    difference = np.abs(patch.astype(int) - expected.astype(int))
    assert difference.max() <= 1  # the same filter; only float rounding may differ


def test_model_input_layout() -> None:
    patch = _ramp(PATCH_SIZE, PATCH_SIZE)
    batch = to_input([patch, patch])
    assert batch.shape == (2, 3, PATCH_SIZE, PATCH_SIZE)
    assert batch.dtype == np.float32
    assert batch[1, 0, 5, 7] == patch[5, 7, 0]


def test_detector_judges_a_face(detector: SyntheticImageDetector, sample: Sample) -> None:
    first, second = detector.analyse(sample), detector.analyse(sample)
    assert first.fake_probability is not None
    assert 0.0 <= first.fake_probability <= 1.0
    assert first.fake_probability == second.fake_probability
    assert first.reasons == ((REASON,) if first.fake_probability > 0.5 else ())
    assert first.weights_sha256 == detector.info.weights_sha256
    assert first.details["patch_size"] == PATCH_SIZE
    # Two scales: the logit is the mean of the native and the half-size patch's logits.
    mean_of_scales = (float(first.details["logit_native"]) + float(first.details["logit_half"])) / 2
    assert first.details["logit"] == pytest.approx(mean_of_scales, abs=1e-3)
    assert first.details["logit_native"] != first.details["logit_half"]
    info = detector.info
    assert info.needs_face
    assert info.kind is DetectorKind.INLINE
    assert info.input_size == PATCH_SIZE
    assert info.weights_sha256 is not None
    assert len(info.weights_sha256) == 64
    assert info.licence
    assert info.paper


def test_detector_has_no_opinion_without_a_face(
    detector: SyntheticImageDetector, sample: Sample
) -> None:
    result = detector.analyse(Sample(data=sample.data, image=sample.image, face=None))
    assert result.fake_probability is None
    assert result.reasons == ()


def test_assurance_variant_averages_full_resolution_patches(sample: Sample) -> None:
    assurance = SyntheticAssuranceDetector()
    result = assurance.analyse(sample)
    assert assurance.info.kind is DetectorKind.ASSURANCE
    assert result.fake_probability is not None
    assert 0.0 <= result.fake_probability <= 1.0
    assert result.details["patches"] == 10  # one scale: decision 0006, training side
    assert assurance.info.version.startswith("1.0.0+")
    assert SyntheticImageDetector().info.version.startswith("1.1.0+")


def test_both_variants_are_registered() -> None:
    assert "synthetic" in list_detectors(DetectorKind.INLINE)
    assert "synthetic_assurance" in list_detectors(DetectorKind.ASSURANCE)


def test_inference_does_not_need_torch() -> None:
    code = (
        "import sys; import faceverdict.detectors.synthetic as s; "
        "s.SyntheticImageDetector(); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_patches_are_deterministic_and_use_the_detector_patch() -> None:
    pytest.importorskip("torch")
    from faceverdict.training.synthetic_data import Item, augmented_patch

    window = np.asarray(synthetic_face(size=(384, 384), face_fraction=0.5, seed=1))
    item = Item(
        relpath="x.jpg",
        fake=False,
        family="camera_test",
        source="test",
        group="",
        license="",
        face_box=(100.0, 100.0, 280.0, 280.0),
        window=np.ascontiguousarray(window),
        box=(100.0, 100.0, 280.0, 280.0),
    )
    a = augmented_patch(item, np.random.default_rng(5))
    b = augmented_patch(item, np.random.default_rng(5))
    assert a.shape == (PATCH_SIZE, PATCH_SIZE, 3)
    np.testing.assert_array_equal(a, b)


def test_npr_residual_vanishes_on_nearest_upsampled_images() -> None:
    torch = pytest.importorskip("torch")
    from faceverdict.training.synthetic_net import ResidualNet, ResidualStem

    small = torch.rand(1, 3, 32, 32) * 255
    upsampled = small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    residual = ResidualStem()(upsampled)
    assert residual.shape == (1, 15, 64, 64)
    assert float(residual[:, :3].abs().max()) == 0.0
    assert float(ResidualStem()(torch.rand(1, 3, 64, 64) * 255)[:, :3].abs().max()) > 0.0
    net = ResidualNet().eval()
    assert net(torch.rand(2, 3, PATCH_SIZE, PATCH_SIZE) * 255).shape == (2, 1)


def test_spectrum_features_are_the_dft_and_see_upsampling_peaks() -> None:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    from faceverdict.training.synthetic_net import (
        RADIAL_BINS,
        SPECTRUM_POOL,
        ResidualNet,
        SpectrumFeatures,
    )

    front = SpectrumFeatures()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, PATCH_SIZE, PATCH_SIZE, generator=generator) * 255
    features = front(x)
    cells = (PATCH_SIZE // SPECTRUM_POOL) ** 2
    assert features.shape == (2, cells + RADIAL_BINS) == (2, front.features)
    # The matrix-product DFT equals torch.fft on the same windowed residual.
    grey = x.mean(dim=1, keepdim=True)
    local = functional.avg_pool2d(grey, 3, stride=1, padding=1, count_include_pad=False)
    residual = torch.clamp(grey - local, -8.0, 8.0)[:, 0] * front.window
    log_power = torch.log1p(torch.fft.fft2(residual).abs() ** 2)
    grid = functional.avg_pool2d(log_power.unsqueeze(1), SPECTRUM_POOL).flatten(1)
    assert torch.allclose(features[:, :cells], grid, atol=1e-3)
    # Nearest-neighbour 2x upsampling moves power away from the highest radial frequencies
    # (a notch at Nyquist): the bins must tell the two apart.
    small = torch.rand(1, 3, PATCH_SIZE // 2, PATCH_SIZE // 2, generator=generator) * 255
    upsampled = small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    top_native = front(x[:1])[0, -4:].mean()
    top_upsampled = front(upsampled)[0, -4:].mean()
    assert float(top_native - top_upsampled) > 1.0
    net = ResidualNet(spectrum=True).eval()
    assert net(x).shape == (2, 1)


def test_simulated_upsampling_keeps_the_image_and_adds_upsampling_traces() -> None:
    torch = pytest.importorskip("torch")
    from faceverdict.training.simulated_fakes import simulate_upsampling
    from faceverdict.training.synthetic_net import ResidualStem

    face = np.asarray(synthetic_face(size=(192, 192), face_fraction=0.6, seed=3))
    noisy = np.clip(
        face.astype(np.int16) + np.random.default_rng(0).integers(-6, 7, face.shape), 0, 255
    ).astype(np.uint8)
    out = simulate_upsampling(noisy, np.random.default_rng(4))
    assert out.shape == noisy.shape
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, simulate_upsampling(noisy, np.random.default_rng(4)))
    # Same picture (small mean change, no dark border from the transposed convolution) ...
    diff = np.abs(out.astype(np.int16) - noisy.astype(np.int16))
    assert diff.mean() < 8.0
    for seed in range(20):
        flat = simulate_upsampling(np.full((64, 64, 3), 128, np.uint8), np.random.default_rng(seed))
        assert np.abs(flat.astype(np.int16) - 128).max() <= 10
    # ... whose sensor-like noise is replaced by interpolated pixels: the NPR residual shrinks.
    stem = ResidualStem()

    def npr(pixels: np.ndarray) -> float:
        x = torch.from_numpy(pixels.astype(np.float32).transpose(2, 0, 1)[None].copy())
        return float(stem(x)[:, :3].abs().mean())

    assert npr(out) < 0.7 * npr(noisy)


def test_simulated_slots_replace_only_fake_slots_with_real_items() -> None:
    pytest.importorskip("torch")
    from faceverdict.training.synthetic_data import Item
    from faceverdict.training.synthetic_samples import simulated_slots

    def item(fake: bool) -> Item:
        return Item("x", fake, "f" if fake else "r", "s", "", "", (0.0, 0.0, 1.0, 1.0))

    items = [item(k % 2 == 0) for k in range(10)]
    weights = np.full(10, 0.1)
    indices = np.random.default_rng(0).integers(0, 10, 4000)
    before = indices.copy()
    flags = simulated_slots(items, indices, weights, 0.25, np.random.default_rng(1))
    fake_before = np.array([items[k].fake for k in before])
    assert not flags[~fake_before].any()
    assert 0.2 < flags[fake_before].mean() < 0.3
    assert not any(items[k].fake for k in indices[flags])
    np.testing.assert_array_equal(indices[~flags], before[~flags])
    assert not simulated_slots(items, before.copy(), weights, 0.0, np.random.default_rng(1)).any()


def test_resize_factor_without_downscale_share_reads_the_generator_as_before() -> None:
    from faceverdict.training.synthetic_data import RESIZE_RANGE, resize_factor

    for seed in range(50):
        rng, legacy = np.random.default_rng(seed), np.random.default_rng(seed)
        expected = None
        if legacy.random() < 0.5:
            expected = float(np.exp(legacy.uniform(np.log(0.5), np.log(1.5))))
        assert resize_factor(rng) == expected
        assert rng.random() == legacy.random()  # the same number of draws
    assert RESIZE_RANGE == (0.5, 1.5)


def test_downscale_share_shrinks_that_share_of_samples() -> None:
    from faceverdict.training.synthetic_data import DOWNSCALE_RANGE, RESIZE_RANGE, resize_factor

    rng = np.random.default_rng(0)
    always = [resize_factor(rng, downscale_share=1.0) for _ in range(500)]
    assert all(f is not None and DOWNSCALE_RANGE[0] <= f <= DOWNSCALE_RANGE[1] for f in always)
    some = [resize_factor(rng, downscale_share=0.35) for _ in range(4000)]
    # 35 % shrink to 0.45-0.75x; of the other 65 %, half resize and about 0.37 of those
    # fall below 0.75: about 0.47 in all (0.09 without the share).
    share = sum(1 for f in some if f is not None and f < 0.75) / len(some)
    assert 0.42 < share < 0.52
    assert any(f is not None and f < RESIZE_RANGE[0] for f in some)


def test_half_size_item_is_what_the_evaluation_resize_leaves() -> None:
    pytest.importorskip("torch")
    from faceverdict.training.synthetic_data import Item
    from faceverdict.training.synthetic_samples import clean_patch, half_size, half_size_tune_set

    window = np.ascontiguousarray(synthetic_face(size=(300, 240), face_fraction=0.5, seed=2))
    item = Item(
        "x", True, "f", "s", "", "", (60.0, 40.0, 180.0, 200.0), window, (60.0, 40.0, 180.0, 200.0)
    )
    half = half_size(item)
    assert half.window is not None
    assert half.window.shape == (120, 150, 3)
    assert half.box == (30.0, 20.0, 90.0, 100.0)
    assert item.window is window  # the original is left alone
    assert clean_patch(half).shape == (PATCH_SIZE, PATCH_SIZE, 3)
    real = Item("y", False, "r", "s", "", "", item.box, window, item.box)
    x, y, w = half_size_tune_set([item, real, real])
    assert tuple(x.shape) == (3, 3, PATCH_SIZE, PATCH_SIZE)
    assert y.ravel().tolist() == [1.0, 0.0, 0.0]
    # classes weigh the same: one fake against two reals
    assert abs(float(w[0]) - 2 * float(w[1])) < 1e-6


def test_keep_rule_inputs_refuse_a_missing_model_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from faceverdict.training.synthetic_keep import main

    with pytest.raises(SystemExit, match="no such model file"):
        main(["--onnx", str(tmp_path / "missing.onnx")])
