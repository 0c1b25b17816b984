"""The detector contract: what a detector receives and what it must return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceverdict.domain.detection import DetectorInfo, DetectorResult

RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageMetadata:
    """Metadata found in the file, for provenance: text only, never pixels."""

    exif: dict[str, str] = field(default_factory=dict)
    xmp: str = ""
    png_text: dict[str, str] = field(default_factory=dict)
    iptc: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DecodedImage:
    """A validated, oriented RGB image.

    ``pixels`` may be a reduced-size decode of a large JPEG (DCT scaling): ``scale`` is
    pixels-width / original-width, and ``original_size`` is the oriented full size.
    """

    pixels: RGBImage
    media_type: str
    original_size: tuple[int, int]
    scale: float
    metadata: ImageMetadata = field(default_factory=ImageMetadata)


@dataclass(frozen=True)
class Face:
    """One detected face in ``DecodedImage.pixels`` coordinates.

    ``keypoints`` are BlazeFace's six points: right eye, left eye, nose tip, mouth centre,
    right ear tragion, left ear tragion (subject's right/left), as (x, y) pixels.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Sample:
    """Everything a detector may look at for one capture."""

    data: bytes
    image: DecodedImage
    face: Face | None = None


class Detector(Protocol):
    """One analysis of a capture."""

    info: DetectorInfo

    def analyse(self, sample: Sample) -> DetectorResult:
        """Judge ``sample``; must not raise for any validated image."""
        ...
