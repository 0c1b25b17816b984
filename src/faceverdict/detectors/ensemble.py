"""The ensemble: decode, gate, run the detectors, fuse. One call judges one capture."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import pybreaker

from faceverdict.detectors.base import DecodedImage, Detector, Face, Sample
from faceverdict.detectors.fusion import Fusion
from faceverdict.detectors.guard import DetectorGuard, TooSlow
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.domain.check import CaptureInfo
from faceverdict.domain.detection import (
    OUTCOME_REASONS,
    Abstention,
    DetectorInfo,
    DetectorOutcome,
    DetectorResult,
)

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
class Safeguards:
    """How long a check waits for its detectors, and when a failing one is switched off."""

    deadline_seconds: float = 2.0  # every detector answers within this of the check's start
    timeouts: Mapping[str, float] = field(default_factory=dict)  # per detector, seconds
    fail_max: int = 5  # consecutive failures that open a detector's circuit breaker
    reset_seconds: float = 30.0  # then one call probes it again


@dataclass(frozen=True)
class Judgement:
    """Everything the ensemble concluded about one capture.

    ``degraded`` names the detectors (the capture gate included) that did not answer:
    failed, timed out or switched off. The policy never accepts a degraded check.
    """

    capture: CaptureInfo
    results: list[DetectorResult]
    abstention: Abstention | None
    authenticity_score: float | None
    contributions: dict[str, float]
    model_versions: dict[str, str]
    face: Face | None
    elapsed_ms: float
    degraded: tuple[str, ...] = ()


class Ensemble:
    """Runs the capture gate, then every detector (side by side on ``threads`` threads when
    more than one, in turn otherwise), then fusion. The results keep the detectors' order.

    Every call goes through the detector's guard (``guard.py``) on the ensemble's own pool
    (one spare thread beyond ``threads``, for a call that hangs), and the check waits for it
    no longer than the detector's timeout and the check's deadline (``Safeguards``). A
    detector that raises, is late or is switched off yields a typed outcome and a reason code
    instead of an opinion, and the judgement is degraded. Each ensemble has its own pool, so
    the assurance ensemble's slow detectors never queue ahead of an inline check's; ONNX
    Runtime releases the GIL while it computes."""

    def __init__(
        self,
        detectors: list[Detector],
        fusion: Fusion,
        gate: Gate | None = None,
        limits: DecodeLimits | None = None,
        threads: int = 1,
        safeguards: Safeguards | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.detectors = detectors
        self.fusion = fusion
        self.gate = gate
        self.limits = limits or DecodeLimits()
        self.threads = threads
        self.safeguards = safeguards or Safeguards()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._guards: dict[str, DetectorGuard] = {}

    def _detector_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads + 1, thread_name_prefix="detector")
            return self._pool

    def guard(self, name: str) -> DetectorGuard:
        """The guard of detector ``name`` (made on first use)."""
        with self._lock:
            guard = self._guards.get(name)
            if guard is None:
                s = self.safeguards
                guard = DetectorGuard(
                    name,
                    timeout_seconds=s.timeouts.get(name, s.deadline_seconds),
                    fail_max=s.fail_max,
                    reset_seconds=s.reset_seconds,
                )
                self._guards[name] = guard
            return guard

    @property
    def model_versions(self) -> dict[str, str]:
        """Versions of everything that shapes a score: gate, detectors, fusion."""
        versions = {d.info.name: d.info.version for d in self.detectors}
        if self.gate is not None:
            versions[self.gate.info.name] = self.gate.info.version
        versions["fusion"] = self.fusion.version
        return versions

    def judge(self, data: bytes, deadline_seconds: float | None = None) -> Judgement:
        """Judge one upload; raises CaptureRejected for bytes that are not a valid image.

        ``deadline_seconds`` (default: the safeguards') bounds the wait for the detectors,
        counted from the start of this call.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + (deadline_seconds or self.safeguards.deadline_seconds)
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
            gate = self.gate
            try:
                outcome = self._wait(
                    gate.info, self._submit(gate.info, gate.inspect, image), deadline
                )
                results.append(outcome.result)
                abstention = outcome.result.abstention
                face = outcome.face
            except NoAnswer as silent:
                results.append(silent.result)
        sample = Sample(data=data, image=image, face=face)
        # Face models have nothing to look at when the gate abstained (or failed).
        runnable = [d for d in self.detectors if face is not None or not d.info.needs_face]
        results.extend(self._run_all(runnable, sample, deadline))
        degraded = tuple(r.detector for r in results if not r.answered)
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
            degraded=degraded,
        )

    def _run_all(
        self, detectors: list[Detector], sample: Sample, deadline: float
    ) -> list[DetectorResult]:
        if self.threads == 1 or len(detectors) < 2:  # in turn
            return [
                self._answer(d, self._submit(d.info, d.analyse, sample), deadline)
                for d in detectors
            ]
        pending = [(d, self._submit(d.info, d.analyse, sample)) for d in detectors]
        return [self._answer(d, call, deadline) for d, call in pending]

    def _answer(
        self, detector: Detector, call: _Pending[DetectorResult] | NoAnswer, deadline: float
    ) -> DetectorResult:
        try:
            return self._wait(detector.info, call, deadline)
        except NoAnswer as silent:
            return silent.result

    def _submit(
        self, info: DetectorInfo, work: Callable[[A], T], argument: A
    ) -> _Pending[T] | NoAnswer:
        """Start ``work(argument)`` under the guard of ``info``, unless it is switched off."""
        guard = self.guard(info.name)
        if not guard.available():
            return NoAnswer(_failed(info, DetectorOutcome.UNAVAILABLE, 0.0))
        future = self._detector_pool().submit(guard.call, lambda: work(argument))
        return _Pending(time.monotonic(), guard, future)

    @staticmethod
    def _wait(info: DetectorInfo, call: _Pending[T] | NoAnswer, deadline: float) -> T:
        """The call's answer; NoAnswer (with the result that says why) when there is none."""
        if isinstance(call, NoAnswer):
            raise call
        limit = min(deadline, call.submitted + call.guard.timeout_seconds)
        try:
            return call.future.result(timeout=max(0.0, limit - time.monotonic()))
        except FutureTimeout:
            outcome = DetectorOutcome.TIMED_OUT
            log.warning("detector %s gave no answer in time; the check is degraded", info.name)
        except TooSlow:
            outcome = DetectorOutcome.TIMED_OUT
        except pybreaker.CircuitBreakerError:
            outcome = DetectorOutcome.UNAVAILABLE
        except Exception:
            # A broken detector must not take the check down; its silence is recorded.
            log.exception("detector %s failed", info.name)
            outcome = DetectorOutcome.FAILED
        elapsed = (time.monotonic() - call.submitted) * 1000
        raise NoAnswer(_failed(info, outcome, elapsed))


class NoAnswer(Exception):
    """A detector gave no answer; ``result`` records why (its outcome and reason code)."""

    def __init__(self, result: DetectorResult) -> None:
        super().__init__(result.reasons[0] if result.reasons else result.outcome.value)
        self.result = result


T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True)
class _Pending(Generic[T]):
    """A guarded call on its way: when it was submitted, its guard and its future."""

    submitted: float
    guard: DetectorGuard
    future: Future[T]


def _failed(info: DetectorInfo, outcome: DetectorOutcome, elapsed_ms: float) -> DetectorResult:
    """The result of a detector that did not answer: no opinion, a typed outcome."""
    return DetectorResult(
        detector=info.name,
        version=info.version,
        fake_probability=None,
        reasons=(OUTCOME_REASONS[outcome],),
        elapsed_ms=round(elapsed_ms, 2),
        weights_sha256=info.weights_sha256,
        outcome=outcome,
    )
