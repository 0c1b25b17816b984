"""The ensemble runs its detectors in turn or side by side with the same results."""

from __future__ import annotations

import threading
import time

import pytest

from faceverdict.detectors.base import Detector, Face, Sample
from faceverdict.detectors.ensemble import Ensemble, GateOutcome
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.domain.detection import Abstention, DetectorInfo, DetectorResult
from tests.support.images import jpeg_bytes


class Slow:
    """A detector that waits, records which thread ran it and how many ran at once."""

    running = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, name: str, probability: float, *, needs_face: bool = False) -> None:
        self.info = DetectorInfo(name=name, version="1", needs_face=needs_face)
        self.probability = probability
        self.threads: list[str] = []

    def analyse(self, sample: Sample) -> DetectorResult:
        with Slow.lock:
            Slow.running += 1
            Slow.peak = max(Slow.peak, Slow.running)
        self.threads.append(threading.current_thread().name)
        time.sleep(0.05)
        with Slow.lock:
            Slow.running -= 1
        return DetectorResult(self.info.name, "1", self.probability)


class Broken:
    info = DetectorInfo(name="broken", version="1")

    def analyse(self, sample: Sample) -> DetectorResult:
        raise RuntimeError("boom")


class Gate:
    """Finds a face, or abstains without one."""

    info = DetectorInfo(name="capture_gate", version="1")

    def __init__(self, face: bool) -> None:
        self.face = Face(box=(10.0, 10.0, 90.0, 90.0), score=0.9) if face else None

    def inspect(self, image: object) -> GateOutcome:
        face = self.face
        abstention = None if face is not None else Abstention.NO_FACE
        result = DetectorResult("capture_gate", "1", None, abstention=abstention)

        class Outcome:
            def __init__(self) -> None:
                self.result = result
                self.face = face

        return Outcome()


def _ensemble(threads: int, face: bool = True) -> tuple[Ensemble, list[Slow]]:
    slow = [Slow("a", 0.2), Slow("b", 0.7, needs_face=True), Slow("c", 0.4)]
    detectors: list[Detector] = [slow[0], Broken(), slow[1], slow[2]]
    fusion = Fusion(FusionParameters.load())
    return Ensemble(detectors, fusion, gate=Gate(face), threads=threads), slow


@pytest.mark.parametrize("face", [True, False])
def test_side_by_side_gives_the_same_results_in_the_same_order(face: bool) -> None:
    data = jpeg_bytes(160, 120, seed=1)
    in_turn = _ensemble(1, face)[0].judge(data)
    ensemble, slow = _ensemble(3, face)
    Slow.peak = 0
    side_by_side = ensemble.judge(data)

    def shape(results: list[DetectorResult]) -> list[tuple[str, float | None, tuple[str, ...]]]:
        return [(r.detector, r.fake_probability, r.reasons) for r in results]

    assert shape(side_by_side.results) == shape(in_turn.results)
    expected = ["capture_gate", "a", "broken"] + (["b"] if face else []) + ["c"]
    assert [r.detector for r in side_by_side.results] == expected
    assert side_by_side.results[2].reasons == ("DETECTOR_FAILED",)  # one failure, no crash
    assert side_by_side.authenticity_score == in_turn.authenticity_score
    assert Slow.peak >= 2  # they did overlap
    assert all(name.startswith("detector") for s in slow for name in s.threads)
    if not face:
        assert slow[1].threads == []  # the face model was skipped, not run


def test_one_thread_runs_the_detectors_in_turn_under_their_guards() -> None:
    ensemble, slow = _ensemble(1)
    Slow.peak = 0
    judgement = ensemble.judge(jpeg_bytes(160, 120, seed=2))
    assert Slow.peak == 1  # never two at once
    # on the guarded pool (so that a hung one can be timed out), never the request thread
    assert threading.current_thread().name not in {n for s in slow for n in s.threads}
    assert judgement.degraded == ("broken",)


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Ensemble([], Fusion(FusionParameters.load()), threads=0)


class Blocking:
    """A detector that holds its thread until released."""

    def __init__(self, name: str, release: threading.Event) -> None:
        self.info = DetectorInfo(name=name, version="1")
        self.release = release

    def analyse(self, sample: Sample) -> DetectorResult:
        self.release.wait(timeout=10)
        return DetectorResult(self.info.name, "1", 0.5)


def test_a_busy_ensemble_does_not_hold_up_another() -> None:
    """The assurance ensemble's slow detectors never queue ahead of an inline check's."""
    release = threading.Event()
    fusion = Fusion(FusionParameters.load())
    slow = Ensemble([Blocking("x", release), Blocking("y", release)], fusion, threads=2)
    fast = Ensemble([Slow("a", 0.2), Slow("c", 0.4)], fusion, threads=2)
    data = jpeg_bytes(160, 120, seed=3)
    busy = threading.Thread(target=slow.judge, args=(data,))
    busy.start()
    try:
        done = threading.Thread(target=fast.judge, args=(data,))
        done.start()
        done.join(timeout=5)
        assert not done.is_alive(), "the fast ensemble waited for the busy one"
    finally:
        release.set()
        busy.join(timeout=10)
