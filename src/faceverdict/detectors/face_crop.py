"""The face crop every learned detector sees, shared by training and inference.

One definition keeps the two identical: a square around the face box, ``margin`` times its
longer side, centred on the box, cut from the (oriented, possibly DCT-reduced) image with
black padding where it leaves the frame, then resized to ``size`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from faceverdict.detectors.base import Face, RGBImage


@dataclass(frozen=True)
class CropBox:
    """A square crop in image pixels: ``(x0, y0)`` top-left, ``side`` length."""

    x0: float
    y0: float
    side: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Integer (x0, y0, x1, y1), possibly outside the image."""
        return (
            round(self.x0),
            round(self.y0),
            round(self.x0 + self.side),
            round(self.y0 + self.side),
        )

    def to_crop(self, points: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
        """Map (N, 2) image coordinates into the coordinates of a ``size`` crop."""
        scale = size / self.side
        out = np.empty_like(points[:, :2])
        out[:, 0] = (points[:, 0] - self.x0) * scale
        out[:, 1] = (points[:, 1] - self.y0) * scale
        return out


def crop_box(face: Face, margin: float) -> CropBox:
    """The square crop around ``face``: ``margin`` times the box's longer side."""
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return CropBox(x0=cx - side / 2, y0=cy - side / 2, side=max(side, 1.0))


def crop_face(pixels: RGBImage, face: Face, size: int, margin: float) -> RGBImage:
    """The ``size`` x ``size`` RGB crop of ``face`` (black where the square leaves the image)."""
    return crop_square(pixels, crop_box(face, margin), size)


def crop_square(pixels: RGBImage, box: CropBox, size: int) -> RGBImage:
    """Cut ``box`` out of ``pixels`` and resize it to ``size`` (area-averaging when shrinking)."""
    image = Image.fromarray(pixels)
    x0, y0, x1, y1 = box.box
    region = image.crop((x0, y0, x1, y1))  # PIL pads outside the frame with black
    resample = Image.Resampling.BOX if region.width > size else Image.Resampling.BILINEAR
    out = np.asarray(region.resize((size, size), resample), dtype=np.uint8)
    return np.ascontiguousarray(out)
