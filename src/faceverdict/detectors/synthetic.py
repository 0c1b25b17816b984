"""The synthetic-image detector: pixel traces of GAN and diffusion decoders in the face.

Generators paint a face through learned upsampling layers (GAN synthesis blocks, the VAE
decoder of latent diffusion). Their outputs keep local correlations between neighbouring
pixels and periodic spectral peaks that a camera pipeline does not make (NPR, Tan et al.,
CVPR 2024; Corvi et al., ICASSP 2023). Those traces live at the pixel scale and a big
downscale erases them, so the detector never resamples the face:

- **Patch** (``face_patch``): a ``PATCH_SIZE`` square centred on the face box, cut from the
  working decode at its own resolution, its corner snapped to the 8-pixel grid of the image
  (JPEG blocks and 2x/4x/8x upsampling share that phase) and shifted inside the frame. A
  face larger than the patch is sampled (the central cheeks, eyes, nose); a face smaller
  than the patch brings some hair or background into it; an image smaller than the patch is
  mirrored at its edges. The training recipe (``faceverdict.training.synthetic``) imports
  this very function, so training and inference see the same pixels.
- **Model** (``models/synthetic_v1.onnx``): a fixed first layer of noise residuals (the NPR
  residual ``x - up(down(x))`` with nearest 2x, and SRM-style high-pass filters, clipped so
  edges of the content weigh little), a pixel-unshuffle that exposes the 2x2 phase, and a
  small CNN trained from scratch. Input ``pixels`` float32 [N, 3, S, S], RGB 0-255;
  output ``fake_logit`` [N, 1]. See ``docs/models/synthetic.md``.

**Two scales** (since 1.1.0, decision 0006): the face is also read at half size (the image
shrunk by 2, bilinear, then the same patch rule: ``half_scale_patch``) and the two logits are
averaged. A generator's traces sit at the scale it painted at; a 512 px generated face read
at 256 px shows what the detector learnt from 256 px faces (training-side probe of the
never-trained family 0.696 -> 0.817, trained families 0.966 -> 0.954).

Inline, a large JPEG may be DCT-decoded at a reduced scale (``DecodedImage.scale``), which
weakens the traces; ``details["image_scale"]`` records it. The assurance variant decodes the
capture again at full resolution and averages several patches and their mirror images, at
native size only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from faceverdict.detectors.base import Face, RGBImage, Sample
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.detectors.logistic import sigmoid
from faceverdict.detectors.model_files import MODELS_DIR, model_file, onnx_session
from faceverdict.detectors.registry import register
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult

MODEL_NAME: Final = "synthetic_v1"
VERSION: Final = "1.1.0"  # 1.1.0: two scales inline (decision 0006)
ASSURANCE_VERSION: Final = "1.0.0"
PATCH_SIZE: Final = 128
GRID: Final = 8
REASON: Final = "SYNTHETIC_TRACES"
PAPER: Final = (
    "Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network for "
    "Generalizable Deepfake Detection (NPR), CVPR 2024; Fridrich & Kodovsky, Rich Models for "
    "Steganalysis (SRM), IEEE TIFS 2012"
)
# Assurance: patch centres as fractions of the face box (x, y) around its centre.
ASSURANCE_OFFSETS: Final = (
    (0.0, 0.0),
    (-0.18, -0.12),
    (0.18, -0.12),
    (-0.15, 0.15),
    (0.15, 0.15),
)
_FULL_DECODE: Final = DecodeLimits(work_long_side=100_000)
_MARGIN: Final = 4

FloatArray = npt.NDArray[np.float32]


def patch_origin(
    width: int,
    height: int,
    face: Face,
    size: int = PATCH_SIZE,
    offset: tuple[float, float] = (0.0, 0.0),
) -> tuple[int, int]:
    """Top-left corner of the patch: grid-snapped, kept inside a ``width`` x ``height`` frame."""
    x0, y0, x1, y1 = face.box
    cx = (x0 + x1) / 2 + offset[0] * max(face.width, 0.0)
    cy = (y0 + y1) / 2 + offset[1] * max(face.height, 0.0)
    left = math.floor((cx - size / 2) / GRID + 0.5) * GRID
    top = math.floor((cy - size / 2) / GRID + 0.5) * GRID
    # Inside the frame; when the frame is smaller than the patch, start at 0 and mirror-pad.
    left = max(0, min(left, (width - size) // GRID * GRID)) if width >= size else 0
    top = max(0, min(top, (height - size) // GRID * GRID)) if height >= size else 0
    return left, top


def face_patch(
    pixels: RGBImage,
    face: Face,
    size: int = PATCH_SIZE,
    offset: tuple[float, float] = (0.0, 0.0),
) -> RGBImage:
    """The ``size`` x ``size`` patch at the face centre (+ ``offset`` x box), never resampled."""
    height, width = pixels.shape[:2]
    left, top = patch_origin(width, height, face, size, offset)
    return _mirror_padded(pixels[top : top + size, left : left + size], size)


def half_scale_patch(
    pixels: RGBImage,
    face: Face,
    size: int = PATCH_SIZE,
    offset: tuple[float, float] = (0.0, 0.0),
) -> RGBImage:
    """The patch ``face_patch`` would cut from ``pixels`` shrunk to half its width and height
    (bilinear, as PIL shrinks a whole image), computed from the patch's own source region."""
    height, width = pixels.shape[:2]
    half_w, half_h = max(1, round(width / 2)), max(1, round(height / 2))
    sx, sy = width / half_w, height / half_h
    half_face = _scaled_face(face, 1 / sx, 1 / sy)
    left, top = patch_origin(half_w, half_h, half_face, size, offset)
    right, bottom = min(left + size, half_w), min(top + size, half_h)
    # Only the source region and a margin wider than the filter's reach (2 px at this scale)
    # go through PIL, so a large decode is not copied whole.
    x0, y0 = max(0, math.floor(left * sx) - _MARGIN), max(0, math.floor(top * sy) - _MARGIN)
    x1 = min(width, math.ceil(right * sx) + _MARGIN)
    y1 = min(height, math.ceil(bottom * sy) + _MARGIN)
    region = Image.fromarray(np.ascontiguousarray(pixels[y0:y1, x0:x1])).resize(
        (right - left, bottom - top),
        Image.Resampling.BILINEAR,
        box=(left * sx - x0, top * sy - y0, right * sx - x0, bottom * sy - y0),
    )
    return _mirror_padded(np.asarray(region, dtype=np.uint8), size)


def assurance_patches(
    pixels: RGBImage, face: Face, cut: Callable[..., RGBImage] = face_patch
) -> list[RGBImage]:
    """The assurance variant's patches: one at each of ``ASSURANCE_OFFSETS``, each followed by
    its mirror image (``cut`` = ``half_scale_patch`` gives their half-size twins)."""
    patches: list[RGBImage] = []
    for offset in ASSURANCE_OFFSETS:
        patch = cut(pixels, face, PATCH_SIZE, offset)
        patches += [patch, np.ascontiguousarray(patch[:, ::-1])]
    return patches


def _mirror_padded(patch: RGBImage, size: int) -> RGBImage:
    """``patch`` mirrored at its bottom and right edges until it is ``size`` square."""
    while patch.shape[0] < size or patch.shape[1] < size:
        pad_y = min(size - patch.shape[0], patch.shape[0])
        pad_x = min(size - patch.shape[1], patch.shape[1])
        patch = np.pad(patch, ((0, pad_y), (0, pad_x), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(patch, dtype=np.uint8)


def to_input(patches: list[RGBImage]) -> FloatArray:
    """Stack HxWx3 uint8 patches into the model input: float32 [N, 3, S, S], RGB 0-255."""
    batch = np.stack(patches).astype(np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def _scaled_face(face: Face, fx: float, fy: float | None = None) -> Face:
    fy = fx if fy is None else fy
    x0, y0, x1, y1 = face.box
    return Face(
        box=(x0 * fx, y0 * fy, x1 * fx, y1 * fy),
        score=face.score,
        keypoints=tuple((x * fx, y * fy) for x, y in face.keypoints),
    )


class SyntheticImageDetector:
    """Inline: the face patch at native resolution and at half size through the residual CNN
    (ONNX Runtime, one batch of two), mean of the two logits."""

    name = "synthetic"
    kind = DetectorKind.INLINE
    version = VERSION
    description = (
        "Fully generated faces (GAN, diffusion): upsampling and noise-residual traces in the "
        "face patch at native resolution and at half size"
    )

    def __init__(self, models_dir: Path = MODELS_DIR, threads: int = 1) -> None:
        model = model_file(MODEL_NAME, models_dir)
        self._session: Any = onnx_session(MODEL_NAME, models_dir, threads)
        self._input = str(self._session.get_inputs()[0].name)
        self.info = DetectorInfo(
            name=self.name,
            version=f"{self.version}+{model.sha256[:12]}",
            kind=self.kind,
            needs_face=True,
            description=self.description,
            weights_sha256=model.sha256,
            input_size=PATCH_SIZE,
            licence=model.licence,
            paper=PAPER,
        )

    def logits(self, patches: list[RGBImage]) -> FloatArray:
        """Raw fake logits, one per patch."""
        out = self._session.run(None, {self._input: to_input(patches)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def analyse(self, sample: Sample) -> DetectorResult:
        """Judge the face of ``sample``; no opinion when there is no face."""
        started = time.perf_counter()
        if sample.face is None:
            return self._result(None, {"no_face": True}, started)
        pixels = sample.image.pixels
        origin = patch_origin(pixels.shape[1], pixels.shape[0], sample.face)
        native, half = self.logits(
            [face_patch(pixels, sample.face), half_scale_patch(pixels, sample.face)]
        )
        logit = float((native + half) / 2)
        details: dict[str, float | str | bool] = {
            "logit": round(logit, 4),
            "logit_native": round(float(native), 4),
            "logit_half": round(float(half), 4),
            "patch_x": origin[0],
            "patch_y": origin[1],
            "patch_size": PATCH_SIZE,
            "face_px": round(max(sample.face.width, sample.face.height), 1),
            "image_scale": round(sample.image.scale, 4),
        }
        return self._result(logit, details, started)

    def _result(
        self, logit: float | None, details: dict[str, float | str | bool], started: float
    ) -> DetectorResult:
        p = None if logit is None else sigmoid(logit)
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=p,
            reasons=(REASON,) if p is not None and p > 0.5 else (),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            weights_sha256=self.info.weights_sha256,
            details=details,
        )


class SyntheticAssuranceDetector(SyntheticImageDetector):
    """Assurance: several full-resolution patches and their mirror images, mean of logits.

    One scale only: on the training side its patches gained too little from a half-size
    twin to pass decision 0006's rule (never-trained family +0.043 AUC, trained -0.016)."""

    name = "synthetic_assurance"
    kind = DetectorKind.ASSURANCE
    version = ASSURANCE_VERSION
    description = (
        "Fully generated faces: mean residual-CNN logit over full-resolution face patches "
        "and their mirror images"
    )

    def analyse(self, sample: Sample) -> DetectorResult:
        """Decode ``sample.data`` at full size, map the face and average patch logits."""
        started = time.perf_counter()
        if sample.face is None:
            return self._result(None, {"no_face": True}, started)
        full = decode_capture(sample.data, _FULL_DECODE)
        factor = full.pixels.shape[1] / sample.image.pixels.shape[1]
        face = _scaled_face(sample.face, factor)
        patches = assurance_patches(full.pixels, face)
        logits = self.logits(patches)
        logit = float(logits.mean())
        details: dict[str, float | str | bool] = {
            "logit": round(logit, 4),
            "logit_min": round(float(logits.min()), 4),
            "logit_max": round(float(logits.max()), 4),
            "patches": len(patches),
            "patch_size": PATCH_SIZE,
            "face_px": round(max(face.width, face.height), 1),
            "decode_factor": round(factor, 4),
        }
        return self._result(logit, details, started)


@register("synthetic", calibrated=True)
def create_synthetic_detector() -> SyntheticImageDetector:
    """The registry's factory for the inline detector (weights verified by sha256)."""
    return SyntheticImageDetector()


@register("synthetic_assurance", kind=DetectorKind.ASSURANCE, calibrated=True)
def create_synthetic_assurance_detector() -> SyntheticAssuranceDetector:
    """The registry's factory for the assurance variant."""
    return SyntheticAssuranceDetector()
