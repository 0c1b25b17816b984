"""Detectors whose answer a test chooses, and ensembles built around them.

A detector the fusion file does not name counts as plain evidence, ``logit(p)`` with the
default weight: ``FixedDetector("fixed", 0.9)`` puts a capture near 71 (the gray band of the
bundled policy), 0.999 near 0 (suspect), 0.05 at the top (accept).
"""

from __future__ import annotations

import threading
import time

from faceverdict.detectors.base import Detector, Sample
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.detectors.imaging import DecodeLimits
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult


class FixedDetector:
    """Answers the same fake probability for every capture and counts its calls."""

    def __init__(
        self,
        name: str,
        fake_probability: float | None,
        kind: DetectorKind = DetectorKind.INLINE,
        version: str = "test-1",
        reasons: tuple[str, ...] = (),
        needs_face: bool = False,
    ) -> None:
        self.info = DetectorInfo(name=name, version=version, kind=kind, needs_face=needs_face)
        self.fake_probability = fake_probability
        self.reasons = reasons
        self._lock = threading.Lock()
        self.calls = 0

    def analyse(self, sample: Sample) -> DetectorResult:
        """The fixed opinion (``fake_probability`` may be changed between calls)."""
        del sample
        with self._lock:
            self.calls += 1
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=self.fake_probability,
            reasons=self.reasons,
            elapsed_ms=0.0,
        )


class RaisingDetector(FixedDetector):
    """Raises on every capture (the ensemble records ``DETECTOR_FAILED``)."""

    def __init__(self, name: str = "raising", error: str = "detector broke") -> None:
        super().__init__(name, None)
        self.error = error

    def analyse(self, sample: Sample) -> DetectorResult:
        """Raise RuntimeError."""
        super().analyse(sample)
        raise RuntimeError(self.error)


class SlowDetector(FixedDetector):
    """Sleeps ``seconds`` before answering its fixed opinion (timeouts, killed workers)."""

    def __init__(
        self, seconds: float, name: str = "slow", fake_probability: float | None = 0.5
    ) -> None:
        super().__init__(name, fake_probability)
        self.seconds = seconds

    def analyse(self, sample: Sample) -> DetectorResult:
        """Sleep, then answer."""
        time.sleep(self.seconds)
        return super().analyse(sample)


def fixed_ensemble(
    *detectors: Detector,
    gate: bool = True,
    limits: DecodeLimits | None = None,
    threads: int = 1,
) -> Ensemble:
    """An ensemble of ``detectors`` with the shipped fusion, and the real capture gate
    (BlazeFace: a capture without one usable face abstains) unless ``gate`` is False."""
    return Ensemble(
        detectors=list(detectors),
        fusion=Fusion(FusionParameters.load()),
        gate=CaptureGate() if gate else None,
        limits=limits,
        threads=threads,
    )
