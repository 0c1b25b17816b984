"""BlazeFace face detection (MediaPipe, Apache-2.0) on ONNX Runtime, with numpy pre/post-processing.

The image is letterboxed into the model's square input, the SSD anchors decode the raw
regressors into boxes and six keypoints, and a weighted non-maximum suppression (as MediaPipe
does) merges overlapping candidates. Faces come back in the input image's pixel coordinates.
See docs/decisions/0002-face-detector.md for the measurements behind the model choice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from faceverdict.detectors.base import Face, RGBImage
from faceverdict.detectors.model_files import MODELS_DIR, model_file, onnx_session

FloatArray = npt.NDArray[np.float32]

# MediaPipe clips raw scores to +-100; 80 keeps exp() inside float32.
_RAW_SCORE_LIMIT = 80.0
_NUM_KEYPOINTS = 6


@dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace variant: manifest name, square input size and SSD anchor layout."""

    name: str
    input_size: int
    # (stride, anchors per cell) for each distinct stride, as MediaPipe's SSD anchor options.
    layers: tuple[tuple[int, int], ...]


# mediapipe/modules/face_detection/face_detection_short_range.pbtxt: faces within ~2 m.
SHORT_RANGE = BlazeFaceModel("blazeface_short_range", 128, ((8, 2), (16, 6)))
# mediapipe/modules/face_detection/face_detection_full_range.pbtxt: faces within ~5 m.
FULL_RANGE = BlazeFaceModel("blazeface_full_range", 192, ((4, 1),))


def ssd_anchors(model: BlazeFaceModel) -> FloatArray:
    """Anchor centres (x, y), normalised to [0, 1], in the order of the model's outputs."""
    rows = []
    for stride, per_cell in model.layers:
        cells = model.input_size // stride
        centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        xs, ys = np.meshgrid(centres, centres)
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        rows.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(rows).astype(np.float32)


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square model input: scale, then centred padding."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


def reduced(pixels: RGBImage, max_side: int) -> Image.Image:
    """``pixels`` as a PIL image, box-reduced by an integer factor to about ``max_side``.

    Done once per detection, so the later resizes (one per model pass) start from a small image.
    """
    factor = max(pixels.shape[:2]) // max_side
    image = Image.fromarray(pixels)
    return image.reduce(factor) if factor >= 2 else image


def letterbox(
    image: Image.Image, original: tuple[int, int], size: int, margin: float = 0.0
) -> tuple[FloatArray, Letterbox]:
    """Fit ``image`` into a ``size`` square (aspect kept, centred, black padding), in [-1, 1].

    ``image`` may be a reduced copy of an ``original`` (width, height) image: the returned
    ``Letterbox`` maps model pixels to the original's pixels. ``margin`` shrinks the image
    further by that fraction of its long side on each side, which zooms out on a face that
    fills (or overflows) the frame.
    """
    width, height = original
    scale = size / (max(height, width) * (1.0 + 2.0 * margin))
    new_w = max(1, min(size, round(width * scale)))
    new_h = max(1, min(size, round(height * scale)))
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    tensor = np.full((size, size, 3), -1.0, dtype=np.float32)
    body = np.asarray(resized, dtype=np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    tensor[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = body
    fit = Letterbox(new_w / width, new_h / height, float(pad_x), float(pad_y))
    return tensor, fit


def decode(
    regressors: FloatArray, anchors: FloatArray, input_size: int
) -> tuple[FloatArray, FloatArray]:
    """Boxes (x0, y0, x1, y1) and keypoints (N, 6, 2) in model-input pixels from raw outputs."""
    raw = regressors.reshape(-1, 2 + _NUM_KEYPOINTS, 2)
    anchor_px = anchors[:, None, :] * np.float32(input_size)
    centre = raw[:, 0, :] + anchor_px[:, 0, :]
    half = raw[:, 1, :] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 2:, :] + anchor_px
    return boxes.astype(np.float32), keypoints.astype(np.float32)


def iou_with(box: FloatArray, others: FloatArray) -> FloatArray:
    """Intersection over union of one box (4,) with each of ``others`` (N, 4)."""
    ix0 = np.maximum(box[0], others[:, 0])
    iy0 = np.maximum(box[1], others[:, 1])
    ix1 = np.minimum(box[2], others[:, 2])
    iy1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def weighted_nms(
    boxes: FloatArray, keypoints: FloatArray, scores: FloatArray, iou_threshold: float
) -> list[tuple[FloatArray, FloatArray, float]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    kept = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (iou_with(boxes[i], boxes) > iou_threshold)
        overlap[i] = True
        weights = scores[overlap] / scores[overlap].sum()
        box = (boxes[overlap] * weights[:, None]).sum(axis=0)
        points = (keypoints[overlap] * weights[:, None, None]).sum(axis=0)
        kept.append((box.astype(np.float32), points.astype(np.float32), float(scores[i])))
        remaining &= ~overlap
    return kept


class BlazeFaceDetector:
    """Finds faces with BlazeFace; returns them largest first, in input-pixel coordinates.

    The short-range model runs first. Only when it finds nothing does the full-range model
    look for a smaller face, and then the short-range model once more on a zoomed-out view
    for a face that overflows the frame. Measured in docs/decisions/0002-face-detector.md.
    """

    def __init__(
        self,
        model: BlazeFaceModel = SHORT_RANGE,
        fallback: BlazeFaceModel | None = FULL_RANGE,
        zoom_out: float = 0.25,
        min_score: float = 0.5,
        iou_threshold: float = 0.3,
        models_dir: Path = MODELS_DIR,
    ) -> None:
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.zoom_out = zoom_out
        self._primary = _Runner(model, models_dir)
        self._fallback = _Runner(fallback, models_dir) if fallback is not None else None
        self._runners = [self._primary] + ([self._fallback] if self._fallback else [])
        self.weights = {r.model.name: r.sha256 for r in self._runners}

    @property
    def input_size(self) -> int:
        """Square input size (pixels) of the primary model."""
        return self._primary.model.input_size

    @property
    def weights_sha256(self) -> str:
        """One digest over the names and sha256 of every model file the detector uses."""
        lines = "".join(f"{name} {sha}\n" for name, sha in sorted(self.weights.items()))
        return hashlib.sha256(lines.encode()).hexdigest()

    def detect(self, pixels: RGBImage) -> list[Face]:
        """Faces in ``pixels`` (H, W, 3 uint8 RGB), sorted by box area, largest first."""
        if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {pixels.shape}")
        largest = max(r.model.input_size for r in self._runners)
        image = reduced(pixels, 2 * largest)
        original = (pixels.shape[1], pixels.shape[0])
        faces = self._run(self._primary, image, original, 0.0)
        if not faces and self._fallback is not None:
            faces = self._run(self._fallback, image, original, 0.0)
        if not faces and self.zoom_out > 0:
            faces = self._run(self._primary, image, original, self.zoom_out)
        return sorted(faces, key=lambda f: f.width * f.height, reverse=True)

    def _run(
        self, runner: _Runner, image: Image.Image, original: tuple[int, int], margin: float
    ) -> list[Face]:
        size = runner.model.input_size
        tensor, fit = letterbox(image, original, size, margin)
        regressors, classificators = runner.session.run(None, {runner.input_name: tensor[None]})
        raw_scores = np.clip(classificators.reshape(-1), -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)
        scores = (1.0 / (1.0 + np.exp(-raw_scores))).astype(np.float32)
        candidates = scores >= self.min_score
        if not candidates.any():
            return []
        boxes, keypoints = decode(regressors.reshape(len(scores), -1), runner.anchors, size)
        boxes, keypoints, scores = boxes[candidates], keypoints[candidates], scores[candidates]
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        merged = weighted_nms(boxes[valid], keypoints[valid], scores[valid], self.iou_threshold)
        return [_to_face(box, points, score, fit) for box, points, score in merged]


class _Runner:
    """One verified model file with its ONNX session and anchors."""

    def __init__(self, model: BlazeFaceModel, models_dir: Path) -> None:
        self.model = model
        self.sha256 = model_file(model.name, models_dir).sha256
        self.session: Any = onnx_session(model.name, models_dir)
        self.input_name: str = self.session.get_inputs()[0].name
        self.anchors = ssd_anchors(model)


def _to_face(box: FloatArray, points: FloatArray, score: float, fit: Letterbox) -> Face:
    def x(value: float) -> float:
        return (value - fit.pad_x) / fit.scale_x

    def y(value: float) -> float:
        return (value - fit.pad_y) / fit.scale_y

    return Face(
        box=(x(float(box[0])), y(float(box[1])), x(float(box[2])), y(float(box[3]))),
        score=score,
        keypoints=tuple((x(float(px)), y(float(py))) for px, py in points),
    )
