"""Detectors for scale-out tests, loaded in subprocesses through ``detector_modules``
(never imported by the test process: they would join the registry every contract test sees).

``fixed`` (inline) puts every capture in the gray band; ``fixed_assurance`` changes the
action for the captures whose sha256 starts with an even byte (see ``assurance_changes``).
They stand in for the learned models, whose run time would dominate on 2 cores.
"""

from __future__ import annotations

import os
import time

from faceverdict.detectors.base import Sample
from faceverdict.detectors.registry import register
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult
from tests.support.fixed_outcomes import assurance_changes


class _Fixed:
    def __init__(self, name: str, kind: DetectorKind) -> None:
        self.info = DetectorInfo(name=name, version="test-1", kind=kind)

    def probability(self, data: bytes) -> float:
        del data
        # gray band, step_up (0.85 when the learned detectors run too: see scale_out_local)
        return float(os.environ.get("FACEVERDICT_TEST_FIXED_PROBABILITY", "0.9"))

    def analyse(self, sample: Sample) -> DetectorResult:
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=self.probability(sample.data),
            reasons=(),
            elapsed_ms=0.0,
        )


class _FixedAssurance(_Fixed):
    def probability(self, data: bytes) -> float:
        # A heavy model takes time: a worker can be killed in the middle of it.
        time.sleep(float(os.environ.get("FACEVERDICT_TEST_ASSURANCE_SECONDS", "0")))
        return 0.2 if assurance_changes(data) else 0.9


@register("fixed")
def _fixed() -> _Fixed:
    return _Fixed("fixed", DetectorKind.INLINE)


@register("fixed_assurance", kind=DetectorKind.ASSURANCE)
def _fixed_assurance() -> _Fixed:
    return _FixedAssurance("fixed_assurance", DetectorKind.ASSURANCE)
