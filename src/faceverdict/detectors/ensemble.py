"""The ensemble: decode, gate, run the detectors, fuse. One call judges one capture."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from faceverdict.detectors.base import DecodedImage, Detector, Face, Sample
from faceverdict.detectors.fusion import Fusion
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.domain.check import CaptureInfo
from faceverdict.domain.detection import Abstention, DetectorInfo, DetectorResult

log = logging.getLogger(__name__)


class GateOutcome(Protocol):
    """What the capture gate reports: its result and the main face, if any."""

    @property
    def result(self) -> DetectorResult:
        """The gate's own result (abstention set when it abstains)."""
        ...

    @property
    def face(self) -> Face | None:
        """The main face, when the gate does not abstain."""
        ...


class Gate(Protocol):
    """Checks that a capture can be judged at all and finds the face."""

    info: DetectorInfo

    def inspect(self, image: DecodedImage) -> GateOutcome:
        """Inspect a decoded image."""
        ...


@dataclass(frozen=True)
class Judgement:
    """Everything the ensemble concluded about one capture."""

    capture: CaptureInfo
    results: list[DetectorResult]
    abstention: Abstention | None
    authenticity_score: float | None
    contributions: dict[str, float]
    model_versions: dict[str, str]
    face: Face | None
    elapsed_ms: float


class Ensemble:
    """Runs the capture gate, then every detector (side by side on ``threads`` threads when
    more than one), then fusion. The results keep the detectors' order either way.

    Each ensemble has its own pool, shared by the checks it judges, so that the assurance
    ensemble's slow detectors never queue ahead of an inline check's. ONNX Runtime releases
    the GIL while it computes."""

    def __init__(
        self,
        detectors: list[Detector],
        fusion: Fusion,
        gate: Gate | None = None,
        limits: DecodeLimits | None = None,
        threads: int = 1,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.detectors = detectors
        self.fusion = fusion
        self.gate = gate
        self.limits = limits or DecodeLimits()
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _detector_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="detector")
            return self._pool

    @property
    def model_versions(self) -> dict[str, str]:
        """Versions of everything that shapes a score: gate, detectors, fusion."""
        versions = {d.info.name: d.info.version for d in self.detectors}
        if self.gate is not None:
            versions[self.gate.info.name] = self.gate.info.version
        versions["fusion"] = self.fusion.version
        return versions

    def judge(self, data: bytes) -> Judgement:
        """Judge one upload; raises CaptureRejected for bytes that are not a valid image."""
        started = time.perf_counter()
        image = decode_capture(data, self.limits)
        capture = CaptureInfo(
            sha256=hashlib.sha256(data).hexdigest(),
            media_type=image.media_type,
            width=image.original_size[0],
            height=image.original_size[1],
            byte_size=len(data),
        )
        results: list[DetectorResult] = []
        face: Face | None = None
        abstention: Abstention | None = None
        if self.gate is not None:
            outcome = self.gate.inspect(image)
            results.append(outcome.result)
            abstention = outcome.result.abstention
            face = outcome.face
        sample = Sample(data=data, image=image, face=face)
        # Face models have nothing to look at when the gate abstained.
        runnable = [d for d in self.detectors if face is not None or not d.info.needs_face]
        if self.threads > 1 and len(runnable) > 1:
            pool = self._detector_pool()
            results.extend(pool.map(lambda detector: self._run(detector, sample), runnable))
        else:
            results.extend(self._run(detector, sample) for detector in runnable)
        fused = self.fusion.fuse(results) if abstention is None else None
        return Judgement(
            capture=capture,
            results=results,
            abstention=abstention,
            authenticity_score=None if fused is None else fused.authenticity_score,
            contributions={} if fused is None else fused.contributions,
            model_versions=self.model_versions,
            face=face,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    @staticmethod
    def _run(detector: Detector, sample: Sample) -> DetectorResult:
        started = time.perf_counter()
        try:
            return detector.analyse(sample)
        except Exception:
            # A broken detector must not take the check down; its silence is recorded.
            log.exception("detector %s failed", detector.info.name)
            return DetectorResult(
                detector=detector.info.name,
                version=detector.info.version,
                fake_probability=None,
                reasons=("DETECTOR_FAILED",),
                elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                weights_sha256=detector.info.weights_sha256,
            )
