"""Pictures for the case page: the capture with its background redacted, and heatmap overlays.

Redaction happens here, on the server: the browser receives a picture whose background is
already unrecognisable, never the original with a CSS blur on top. The face box comes from the
face detector (in original pixels); without a face, the whole picture is redacted.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from faceverdict.detectors.base import DecodedImage
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.domain.detection import Heatmap

Box = tuple[int, int, int, int]
FaceLocator = Callable[[DecodedImage], Box | None]

DISPLAY_LONG_SIDE = 1280


@dataclass(frozen=True)
class DisplayFrame:
    """The size pictures are shown at, and display pixels per original pixel."""

    width: int
    height: int
    scale: float


def display_frame(original: tuple[int, int], long_side: int = DISPLAY_LONG_SIDE) -> DisplayFrame:
    """The display size of a capture of ``original`` (width, height) pixels."""
    w, h = max(1, original[0]), max(1, original[1])
    scale = min(1.0, long_side / max(w, h))
    return DisplayFrame(max(1, round(w * scale)), max(1, round(h * scale)), scale)


def widen(box: Box, size: tuple[int, int], margin: float) -> Box:
    """``box`` grown by ``margin`` of its size on each side (more above, for hair), clipped."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (
        max(0, round(x0 - dx)),
        max(0, round(y0 - 1.5 * dy)),
        min(size[0], round(x1 + dx)),
        min(size[1], round(y1 + dy)),
    )


class BlazeFaceLocator:
    """Finds the main face with the capture gate's BlazeFace model, loaded on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detector: object | None = None

    def __call__(self, image: DecodedImage) -> Box | None:
        """The largest face's box in the capture's original (oriented) pixels, or None."""
        from faceverdict.detectors.face_detection import BlazeFaceDetector

        with self._lock:
            if self._detector is None:
                self._detector = BlazeFaceDetector()
            detector = self._detector
        assert isinstance(detector, BlazeFaceDetector)
        faces = detector.detect(image.pixels)
        if not faces:
            return None
        scale = image.scale if image.scale > 0 else 1.0
        x0, y0, x1, y1 = (v / scale for v in faces[0].box)
        w, h = image.original_size
        box = (max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1)))
        return box if box[2] > box[0] and box[3] > box[1] else None


class CaptureRenderer:
    """Decodes captures safely and draws what the case page shows."""

    def __init__(
        self,
        *,
        limits: DecodeLimits | None = None,
        locate_face: FaceLocator | None = None,
        long_side: int = DISPLAY_LONG_SIDE,
        margin: float = 0.15,
    ) -> None:
        self.limits = limits or DecodeLimits()
        self.locate_face = locate_face or BlazeFaceLocator()
        self.long_side = long_side
        self.margin = margin

    def decode(self, data: bytes) -> DecodedImage:
        """The oriented working copy of a stored capture."""
        return decode_capture(data, self.limits)

    def face_box(self, image: DecodedImage) -> Box | None:
        """Where the face is, in original pixels, or None."""
        return self.locate_face(image)

    def render(self, image: DecodedImage, face_box: Box | None, reveal: bool) -> bytes:
        """A JPEG at display size: redacted outside the (widened) face box unless ``reveal``."""
        frame = display_frame(image.original_size, self.long_side)
        picture = Image.fromarray(image.pixels).convert("RGB")
        picture = picture.resize((frame.width, frame.height), Image.Resampling.LANCZOS)
        if not reveal:
            picture = self._redact(picture, face_box, frame, image.original_size)
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=88)  # no EXIF, no metadata carried over
        return out.getvalue()

    def _redact(
        self,
        picture: Image.Image,
        face_box: Box | None,
        frame: DisplayFrame,
        original: tuple[int, int],
    ) -> Image.Image:
        w, h = picture.size
        # Pixelate then blur: nothing in the background (documents, rooms, people) stays legible.
        block = max(8, max(w, h) // 32)
        small = picture.resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
        hidden = small.resize((w, h), Image.Resampling.BILINEAR)
        hidden = hidden.filter(ImageFilter.GaussianBlur(radius=block / 2))
        if face_box is None:
            return hidden
        x0, y0, x1, y1 = widen(face_box, original, self.margin)
        box = (
            round(x0 * frame.scale),
            round(y0 * frame.scale),
            round(x1 * frame.scale),
            round(y1 * frame.scale),
        )
        if box[2] > box[0] and box[3] > box[1]:
            hidden.paste(picture.crop(box), box[:2])
        return hidden

    def heatmap_overlay(self, original: tuple[int, int], heatmap: Heatmap) -> bytes:
        """A transparent PNG at display size with ``heatmap`` drawn over its box.

        Values map from transparent yellow (0) to opaque red (1).
        """
        frame = display_frame(original, self.long_side)
        canvas = Image.new("RGBA", (frame.width, frame.height), (0, 0, 0, 0))
        x0, y0, x1, y1 = (round(v * frame.scale) for v in heatmap.box)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(frame.width, x1), min(frame.height, y1)
        if x1 > x0 and y1 > y0:
            values = np.clip(np.asarray(heatmap.values, dtype=np.float32), 0.0, 1.0)
            grid = Image.fromarray(
                np.round(values * 255).astype(np.uint8).reshape(heatmap.height, heatmap.width)
            )
            grid = grid.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
            red = Image.new("L", grid.size, 255)
            green = grid.point(lambda v: 220 - v * 220 // 255)
            blue = Image.new("L", grid.size, 0)
            alpha = grid.point(lambda v: v * 190 // 255)
            canvas.paste(Image.merge("RGBA", (red, green, blue, alpha)), (x0, y0))
        out = io.BytesIO()
        canvas.save(out, format="PNG", optimize=True)
        return out.getvalue()
