"""What detectors report: results, abstentions, heatmaps and detector metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Abstention(StrEnum):
    """A typed 'cannot judge': the capture cannot be scored, and why."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_CUT_OFF = "face_cut_off"
    TOO_BLURRY = "too_blurry"
    TOO_DARK = "too_dark"
    OVEREXPOSED = "overexposed"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPTED = "corrupted"
    TOO_LARGE = "too_large"
    ANIMATED = "animated"


class DetectorKind(StrEnum):
    """Where a detector runs: on the inline path, or only in asynchronous assurance."""

    INLINE = "inline"
    ASSURANCE = "assurance"


@dataclass(frozen=True)
class DetectorInfo:
    """Metadata of one detector, stored with every result it produces."""

    name: str
    version: str
    kind: DetectorKind = DetectorKind.INLINE
    needs_face: bool = False
    description: str = ""
    weights_sha256: str | None = None
    input_size: int | None = None
    licence: str | None = None
    paper: str | None = None


@dataclass(frozen=True)
class Heatmap:
    """A coarse map of where a detector saw manipulation, values in [0, 1], row-major.

    Coordinates are relative to ``box`` (x0, y0, x1, y1) in the oriented capture's pixels.
    """

    width: int
    height: int
    values: tuple[float, ...]
    box: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError("heatmap dimensions must be positive")
        if len(self.values) != self.width * self.height:
            raise ValueError("heatmap values do not match its dimensions")


class DetectorOutcome(StrEnum):
    """Whether a detector answered. Anything but ``answered`` leaves the check degraded."""

    ANSWERED = "answered"  # ran to the end (with an opinion, or with none)
    FAILED = "failed"  # raised
    TIMED_OUT = "timed_out"  # no answer within its timeout or the check's deadline
    UNAVAILABLE = "unavailable"  # switched off by its circuit breaker, or stuck on a call


# The reason code each failed outcome puts on its result (and on the decision).
OUTCOME_REASONS: dict[DetectorOutcome, str] = {
    DetectorOutcome.FAILED: "DETECTOR_FAILED",
    DetectorOutcome.TIMED_OUT: "DETECTOR_TIMEOUT",
    DetectorOutcome.UNAVAILABLE: "DETECTOR_UNAVAILABLE",
}


@dataclass(frozen=True)
class DetectorResult:
    """One detector's verdict on one capture.

    ``fake_probability`` is None when the detector has no opinion (neutral evidence), and
    ``abstention`` is set only by detectors that gate the capture (the capture gate).
    """

    detector: str
    version: str
    fake_probability: float | None
    reasons: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    weights_sha256: str | None = None
    abstention: Abstention | None = None
    heatmap: Heatmap | None = None
    details: dict[str, float | str | bool] = field(default_factory=dict)
    outcome: DetectorOutcome = DetectorOutcome.ANSWERED

    @property
    def answered(self) -> bool:
        """Whether the detector ran to the end (its silence is not a failure)."""
        return self.outcome is DetectorOutcome.ANSWERED

    def __post_init__(self) -> None:
        p = self.fake_probability
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"fake_probability must be in [0, 1], got {p}")
