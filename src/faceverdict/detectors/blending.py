"""The blending detector: where a face was pasted into a photo, and a heatmap of the seam.

A face swap (or a pasted eye, nose or mouth) leaves a blending boundary: a seam where two
images with different colour, sharpness, compression and geometry meet. This detector is an
EfficientNet-Lite0 fine-tuned on *self-blended images* (Shiohara and Yamasaki, CVPR 2022): fakes
made from real faces alone by blending each face with a transformed copy of itself, so it learns
the seam rather than any one face-swap tool. A second head predicts the blending boundary
``4 * M * (1 - M)`` (Face X-ray, Li et al., CVPR 2020) on a coarse grid: that is the heatmap.
The shipped file is a seed ensemble: two runs of the recipe averaged inside one ONNX graph
(``training.blending_ensemble``), so the interface below is that of one network.

Input: the ``crop_face`` square at ``CROP_MARGIN`` times the face box, resized to
``INPUT_SIZE``, RGB 0-255 as float32 NCHW (the ImageNet normalisation is inside the ONNX graph).
Outputs: ``fake_logit`` [N, 1] and ``boundary`` [N, 1, h, w] in [0, 1].

Training: ``python -m faceverdict.training.blending``; model card: ``docs/models/blending.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceverdict.detectors.base import Face, RGBImage, Sample
from faceverdict.detectors.face_crop import crop_box, crop_face
from faceverdict.detectors.logistic import sigmoid
from faceverdict.detectors.model_files import MODELS_DIR, model_file, onnx_session
from faceverdict.detectors.registry import register
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult, Heatmap

MODEL_NAME = "blending_v1"
INPUT_SIZE = 224
CROP_MARGIN = 1.3
# Test-time augmentation of the assurance variant: crop margins, each also mirrored.
TTA_MARGINS = (1.2, 1.3, 1.45)
REASON = "BLENDING_BOUNDARY"
PAPER = (
    "Shiohara & Yamasaki, Detecting Deepfakes with Self-Blended Images, CVPR 2022; "
    "Li et al., Face X-ray for More General Face Forgery Detection, CVPR 2020"
)
_VERSION = "1.0.0"

FloatArray = npt.NDArray[np.float32]


def to_tensor(crops: list[RGBImage]) -> FloatArray:
    """Stack RGB uint8 crops into the model's float32 NCHW input (0-255, not normalised)."""
    batch = np.stack(crops).astype(np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def face_crop(pixels: RGBImage, face: Face, margin: float) -> RGBImage:
    """``crop_face(pixels, face, INPUT_SIZE, margin)``, cut from only the pixels it needs.

    Slicing the crop square's region first spares converting a whole 12 MP working image
    into a PIL image (several milliseconds); the face box is shifted by whole pixels, so the
    result is the same crop.
    """
    x0, y0, x1, y1 = crop_box(face, margin).box
    height, width = pixels.shape[:2]
    left, top = max(0, x0), max(0, y0)
    right, bottom = min(width, x1), min(height, y1)
    if right <= left or bottom <= top:
        return crop_face(pixels, face, size=INPUT_SIZE, margin=margin)
    bx0, by0, bx1, by1 = face.box
    shifted = Face(box=(bx0 - left, by0 - top, bx1 - left, by1 - top), score=face.score)
    region = np.ascontiguousarray(pixels[top:bottom, left:right])
    return crop_face(region, shifted, size=INPUT_SIZE, margin=margin)


class BlendingDetector:
    """Self-blended-image detector with a blending-boundary heatmap, on ONNX Runtime.

    ``tta``: average the logits of several crop margins and their mirror images (the
    assurance variant); the heatmap is then the mean of the plain and mirrored maps.
    """

    def __init__(
        self,
        models_dir: Path = MODELS_DIR,
        *,
        tta: bool = False,
        threads: int = 1,
        name: str = "blending",
    ) -> None:
        model = model_file(MODEL_NAME, models_dir)
        self._session: Any = onnx_session(MODEL_NAME, models_dir, threads)
        self._input: str = self._session.get_inputs()[0].name
        self._tta = tta
        kind = DetectorKind.ASSURANCE if tta else DetectorKind.INLINE
        self.info = DetectorInfo(
            name=name,
            version=f"{_VERSION}+{model.sha256[:12]}" + ("+tta" if tta else ""),
            kind=kind,
            needs_face=True,
            description=(
                "Blending-boundary (face swap / pasted face part) detector: EfficientNet-Lite0 "
                "trained on self-blended images (a seed ensemble), with a boundary heatmap"
            ),
            weights_sha256=model.sha256,
            input_size=INPUT_SIZE,
            licence=model.licence,
            paper=PAPER,
        )

    def analyse(self, sample: Sample) -> DetectorResult:
        """Probability that the face was blended in, with the boundary heatmap."""
        started = time.perf_counter()
        if sample.face is None:
            return DetectorResult(
                detector=self.info.name,
                version=self.info.version,
                fake_probability=None,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                weights_sha256=self.info.weights_sha256,
            )
        logit, boundary = self.score(sample.image.pixels, sample.face)
        probability = sigmoid(logit)
        box = crop_box(sample.face, CROP_MARGIN)
        scale = sample.image.scale if sample.image.scale > 0 else 1.0
        original = (
            round(box.x0 / scale),
            round(box.y0 / scale),
            round((box.x0 + box.side) / scale),
            round((box.y0 + box.side) / scale),
        )
        height, width = boundary.shape
        values = tuple(round(float(v), 3) for v in np.clip(boundary, 0.0, 1.0).reshape(-1))
        heatmap = Heatmap(width=width, height=height, values=values, box=original)
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=probability,
            reasons=(REASON,) if probability > 0.5 else (),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            weights_sha256=self.info.weights_sha256,
            heatmap=heatmap,
            details={
                "peak": round(float(boundary.max()), 4),
                "logit": round(logit, 4),
                "views": len(TTA_MARGINS) * 2 if self._tta else 1,
            },
        )

    def score(self, pixels: RGBImage, face: Face) -> tuple[float, FloatArray]:
        """The fake logit and the (h, w) boundary map for ``face`` in ``pixels``."""
        if not self._tta:
            crop = face_crop(pixels, face, CROP_MARGIN)
            logits, maps = self._run([crop])
            return float(logits[0]), maps[0]
        crops: list[RGBImage] = []
        for margin in TTA_MARGINS:
            crop = face_crop(pixels, face, margin)
            crops += [crop, np.ascontiguousarray(crop[:, ::-1])]
        logits, maps = self._run(crops)
        base = TTA_MARGINS.index(CROP_MARGIN) * 2
        boundary = (maps[base] + maps[base + 1][:, ::-1]) / 2
        return float(logits.mean()), boundary.astype(np.float32)

    def _run(self, crops: list[RGBImage]) -> tuple[FloatArray, FloatArray]:
        logits, maps = self._session.run(None, {self._input: to_tensor(crops)})
        return (
            np.asarray(logits, dtype=np.float32).reshape(-1),
            np.asarray(maps, dtype=np.float32)[:, 0],
        )


@register("blending", calibrated=True)
def create_blending_detector() -> BlendingDetector:
    """The registry's factory: the inline blending detector (one crop, one ONNX run)."""
    return BlendingDetector()


@register("blending_assurance", kind=DetectorKind.ASSURANCE, calibrated=True)
def create_blending_assurance_detector() -> BlendingDetector:
    """The assurance variant: test-time augmentation over margins and mirror images."""
    return BlendingDetector(tta=True, name="blending_assurance")
