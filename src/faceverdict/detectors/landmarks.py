"""MediaPipe Face Mesh (468 landmarks, Apache-2.0) on ONNX Runtime.

The crop follows MediaPipe's detection-to-ROI rule: a square 1.5x the BlazeFace box, centred
on it and rotated so that the eyes (keypoints 0 and 1) lie on a horizontal line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from faceverdict.detectors.base import Face, RGBImage
from faceverdict.detectors.model_files import MODELS_DIR, model_file, onnx_session

FloatArray = npt.NDArray[np.float32]

MESH_MODEL = "face_mesh_468"
INPUT_SIZE = 192
NUM_LANDMARKS = 468
ROI_SCALE = 1.5


@dataclass(frozen=True)
class MeshFit:
    """Landmarks (468, 3) in image pixels (z in the same scale as x) and the face-presence score."""

    points: FloatArray
    score: float


@dataclass(frozen=True)
class _Roi:
    centre: tuple[float, float]
    side: float
    angle: float  # radians, clockwise in image coordinates (y points down)

    def crop_to_image(self) -> tuple[float, float, float, float, float, float]:
        """Affine (a, b, c, d, e, f) mapping crop pixels (u, v) to image pixels (x, y)."""
        step = self.side / INPUT_SIZE
        cos, sin = math.cos(self.angle) * step, math.sin(self.angle) * step
        half = INPUT_SIZE / 2
        cx, cy = self.centre
        return (cos, -sin, cx - half * (cos - sin), sin, cos, cy - half * (sin + cos))


def face_roi(face: Face) -> _Roi:
    """MediaPipe's mesh ROI for a detected face: 1.5x square around the box, eyes level."""
    x0, y0, x1, y1 = face.box
    angle = 0.0
    if len(face.keypoints) >= 2:
        (ex0, ey0), (ex1, ey1) = face.keypoints[0], face.keypoints[1]
        angle = math.atan2(ey1 - ey0, ex1 - ex0)
    side = max(x1 - x0, y1 - y0) * ROI_SCALE
    return _Roi(centre=((x0 + x1) / 2, (y0 + y1) / 2), side=side, angle=angle)


class FaceMesh:
    """Dense 468-point face landmarks for a face found by the BlazeFace detector."""

    def __init__(self, models_dir: Path = MODELS_DIR) -> None:
        self.weights_sha256 = model_file(MESH_MODEL, models_dir).sha256
        self._session: Any = onnx_session(MESH_MODEL, models_dir)
        self._input_name: str = self._session.get_inputs()[0].name

    def landmarks(self, pixels: RGBImage, face: Face) -> FloatArray:
        """The 468 landmarks (x, y) of ``face`` in ``pixels`` coordinates, shape (468, 2)."""
        return self.fit(pixels, face).points[:, :2].copy()

    def fit(self, pixels: RGBImage, face: Face) -> MeshFit:
        """Landmarks (468, 3) in image pixels and the model's face-presence probability."""
        roi = face_roi(face)
        crop, affine = _crop(pixels, roi)
        tensor = (np.asarray(crop, dtype=np.float32) / np.float32(255.0))[None]
        mesh, flag = self._session.run(None, {self._input_name: tensor})
        uvz = mesh.reshape(NUM_LANDMARKS, 3).astype(np.float32)
        a, b, c, d, e, f = affine
        points = np.empty_like(uvz)
        points[:, 0] = a * uvz[:, 0] + b * uvz[:, 1] + c
        points[:, 1] = d * uvz[:, 0] + e * uvz[:, 1] + f
        points[:, 2] = uvz[:, 2] * np.float32(roi.side / INPUT_SIZE)
        score = 1.0 / (1.0 + math.exp(-float(np.clip(flag.reshape(-1)[0], -80.0, 80.0))))
        return MeshFit(points=points, score=score)


def _crop(
    pixels: RGBImage, roi: _Roi
) -> tuple[Image.Image, tuple[float, float, float, float, float, float]]:
    """The rotated 192x192 ROI crop, and the affine from crop to image pixels."""
    height, width = pixels.shape[:2]
    a, b, c, d, e, f = roi.crop_to_image()
    # A large face is first box-reduced by an integer factor, so the bilinear sampling of
    # the affine transform does not alias; only the ROI's bounding region is reduced.
    factor = max(1, int(roi.side / INPUT_SIZE))
    reach = roi.side / 2 * (abs(math.cos(roi.angle)) + abs(math.sin(roi.angle)))
    cx, cy = roi.centre
    left, top = max(0, int(cx - reach)), max(0, int(cy - reach))
    right, bottom = min(width, math.ceil(cx + reach)), min(height, math.ceil(cy + reach))
    if right <= left or bottom <= top:
        return Image.new("RGB", (INPUT_SIZE, INPUT_SIZE)), (a, b, c, d, e, f)
    region = Image.fromarray(pixels).reduce(factor, (left, top, right, bottom))
    # Crop pixel -> reduced-region pixel: (image - origin) / factor.
    coeffs = (
        a / factor,
        b / factor,
        (c - left) / factor,
        d / factor,
        e / factor,
        (f - top) / factor,
    )
    crop = region.transform(
        (INPUT_SIZE, INPUT_SIZE), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
    )
    return crop, (a, b, c, d, e, f)
