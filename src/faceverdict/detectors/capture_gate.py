"""The capture gate: is there exactly one usable face to judge, or must the check abstain?

It finds the faces (BlazeFace), picks the main one and measures what decides whether a
detector can judge it: its size in the original capture, how much of it is in the frame,
sharpness, exposure. Thresholds were chosen on faces-dev real photos so that genuine
captures rarely abstain (docs/decisions/0002-face-detector.md).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from faceverdict.detectors.base import DecodedImage, Face, RGBImage, Sample
from faceverdict.detectors.face_detection import BlazeFaceDetector
from faceverdict.detectors.landmarks import FaceMesh
from faceverdict.domain.detection import Abstention, DetectorInfo, DetectorKind, DetectorResult

GATE_NAME = "capture_gate"
GATE_VERSION = "1.0"
CROP_SIZE = 128  # the face crop on which sharpness and exposure are measured
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Abstentions in the order of precedence: the first one that applies is the abstention.
_ORDER = (
    Abstention.NO_FACE,
    Abstention.MULTIPLE_FACES,
    Abstention.FACE_CUT_OFF,
    Abstention.FACE_TOO_SMALL,
    Abstention.TOO_DARK,
    Abstention.OVEREXPOSED,
    Abstention.TOO_BLURRY,
)


@dataclass(frozen=True)
class GateThresholds:
    """When the gate abstains; defaults measured on faces-dev real photos (decision 0002)."""

    # A second face counts when its box height is at least this fraction of the main face's:
    # bystanders far behind the subject are smaller and do not make the capture ambiguous.
    second_face_ratio: float = 0.6
    # A comparable second face must also be confirmed by Face Mesh's face-presence score,
    # which removes most false detections in cluttered backgrounds.
    second_face_mesh_score: float = 0.5
    # Fewer pixels than this from brow to chin (original resolution) cannot be judged.
    min_face_height_px: float = 80.0
    # Fraction of the face box inside the frame below which the face is cut off.
    min_visible_fraction: float = 0.6
    # Variance of the Laplacian of the 128x128 grey face crop (0-255 scale).
    min_sharpness: float = 6.0
    # Mean luma (0-255) of the face crop.
    min_brightness: float = 30.0
    max_brightness: float = 235.0
    # Fraction of face-crop pixels at luma >= 250 (blown highlights).
    max_clipped_fraction: float = 0.25
    # With no face found, a whole image darker or brighter than this is reported as exposure.
    min_image_brightness: float = 25.0
    max_image_brightness: float = 240.0


@dataclass(frozen=True)
class GateOutcome:
    """The gate's result and, when it does not abstain, the main face to judge."""

    result: DetectorResult
    face: Face | None


@dataclass(frozen=True)
class FaceQuality:
    """Sharpness and exposure of a face crop."""

    sharpness: float
    brightness: float
    clipped_fraction: float


class CaptureGate:
    """Decides whether a capture shows one usable face; usable as a ``Detector``."""

    def __init__(
        self,
        detector: BlazeFaceDetector | None = None,
        mesh: FaceMesh | None = None,
        thresholds: GateThresholds | None = None,
    ) -> None:
        self.detector = detector or BlazeFaceDetector()
        self.mesh = mesh or FaceMesh()
        self.thresholds = thresholds or GateThresholds()
        self.info = DetectorInfo(
            name=GATE_NAME,
            version=_version(self.thresholds),
            kind=DetectorKind.INLINE,
            description="Face presence, count, size, framing, sharpness and exposure gate.",
            weights_sha256=self.detector.weights_sha256,
            input_size=self.detector.input_size,
            licence="Apache-2.0",
            paper="Bazarevsky et al., BlazeFace, arXiv:1907.05047 (2019)",
        )

    def analyse(self, sample: Sample) -> DetectorResult:
        """The gate's result for ``sample`` (abstention set when it cannot be judged)."""
        return self.inspect(sample.image).result

    def inspect(self, image: DecodedImage) -> GateOutcome:
        """Find the main face of ``image`` and decide whether the capture can be judged."""
        started = time.perf_counter()
        pixels = image.pixels
        faces = self.detector.detect(pixels)
        t = self.thresholds
        details: dict[str, float | str | bool] = {"face_count": len(faces)}
        failed: set[Abstention] = set()
        main = faces[0] if faces else None
        if main is None:
            failed.add(Abstention.NO_FACE)
            brightness = image_brightness(pixels)
            details["image_brightness"] = round(brightness, 2)
            if brightness < t.min_image_brightness:
                failed.add(Abstention.TOO_DARK)
            elif brightness > t.max_image_brightness:
                failed.add(Abstention.OVEREXPOSED)
        else:
            failed |= self._judge_face(pixels, image.scale, faces, details)
        ordered = [a for a in _ORDER if a in failed]
        # A black or blown-out frame is better told as exposure than as "no face".
        if Abstention.NO_FACE in failed and len(ordered) > 1:
            ordered = [*ordered[1:], Abstention.NO_FACE]
        abstention = ordered[0] if ordered else None
        elapsed = (time.perf_counter() - started) * 1000.0
        details["elapsed_ms"] = round(elapsed, 3)
        result = DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=None,
            reasons=tuple(a.name for a in ordered),
            elapsed_ms=elapsed,
            weights_sha256=self.info.weights_sha256,
            abstention=abstention,
            details=details,
        )
        return GateOutcome(result=result, face=main if abstention is None else None)

    def _judge_face(
        self,
        pixels: RGBImage,
        scale: float,
        faces: list[Face],
        details: dict[str, float | str | bool],
    ) -> set[Abstention]:
        t = self.thresholds
        main = faces[0]
        failed: set[Abstention] = set()
        comparable = [f for f in faces[1:] if f.height >= t.second_face_ratio * main.height]
        confirmed = [f for f in comparable if self._is_face(pixels, f)]
        if confirmed:
            failed.add(Abstention.MULTIPLE_FACES)
        if len(faces) > 1:
            details["second_face_ratio"] = round(max(f.height for f in faces[1:]) / main.height, 3)
        details["comparable_faces"] = len(confirmed)
        height_px = main.height / scale if scale > 0 else main.height
        visible = visible_fraction(main, pixels.shape[1], pixels.shape[0])
        quality = face_quality(pixels, main)
        details.update(
            face_score=round(main.score, 4),
            face_height_px=round(height_px, 1),
            face_visible_fraction=round(visible, 3),
            sharpness=round(quality.sharpness, 2),
            brightness=round(quality.brightness, 2),
            clipped_fraction=round(quality.clipped_fraction, 4),
        )
        if visible < t.min_visible_fraction:
            failed.add(Abstention.FACE_CUT_OFF)
        if height_px < t.min_face_height_px:
            failed.add(Abstention.FACE_TOO_SMALL)
        if quality.brightness < t.min_brightness:
            failed.add(Abstention.TOO_DARK)
        if (
            quality.brightness > t.max_brightness
            or quality.clipped_fraction > t.max_clipped_fraction
        ):
            failed.add(Abstention.OVEREXPOSED)
        if quality.sharpness < t.min_sharpness:
            failed.add(Abstention.TOO_BLURRY)
        return failed

    def _is_face(self, pixels: RGBImage, face: Face) -> bool:
        return self.mesh.fit(pixels, face).score >= self.thresholds.second_face_mesh_score


def visible_fraction(face: Face, width: int, height: int) -> float:
    """Fraction of the face box's area that lies inside a ``width`` x ``height`` frame."""
    x0, y0, x1, y1 = face.box
    area = max(face.width, 0.0) * max(face.height, 0.0)
    if area <= 0:
        return 0.0
    inside_w = max(0.0, min(x1, width) - max(x0, 0.0))
    inside_h = max(0.0, min(y1, height) - max(y0, 0.0))
    return inside_w * inside_h / area


def face_crop(pixels: RGBImage, face: Face, size: int = CROP_SIZE) -> npt.NDArray[np.float32]:
    """The face box (clipped to the frame) as a ``size`` x ``size`` grey image, luma 0-255."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = face.box
    left, top = max(0, int(x0)), max(0, int(y0))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if right - left < 2 or bottom - top < 2:
        return np.zeros((size, size), dtype=np.float32)
    region = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right]))
    grey = region.convert("L").resize((size, size), Image.Resampling.BILINEAR, None, 3.0)
    return np.asarray(grey, dtype=np.float32)


def face_quality(pixels: RGBImage, face: Face) -> FaceQuality:
    """Sharpness (variance of the Laplacian), mean luma and clipped fraction of the face."""
    crop = face_crop(pixels, face)
    laplacian = (
        crop[:-2, 1:-1] + crop[2:, 1:-1] + crop[1:-1, :-2] + crop[1:-1, 2:] - 4.0 * crop[1:-1, 1:-1]
    )
    return FaceQuality(
        sharpness=float(laplacian.var()),
        brightness=float(crop.mean()),
        clipped_fraction=float((crop >= 250.0).mean()),
    )


def image_brightness(pixels: RGBImage) -> float:
    """Mean luma (0-255) of the whole image, sampled on a sparse grid."""
    step = max(1, max(pixels.shape[:2]) // 256)
    sample = pixels[::step, ::step].astype(np.float32)
    return float((sample @ _LUMA).mean())


def _version(thresholds: GateThresholds) -> str:
    """The gate version; non-default thresholds get a suffix naming them by digest."""
    if thresholds == GateThresholds():
        return GATE_VERSION
    digest = hashlib.sha256(repr(sorted(asdict(thresholds).items())).encode()).hexdigest()
    return f"{GATE_VERSION}+t{digest[:10]}"
