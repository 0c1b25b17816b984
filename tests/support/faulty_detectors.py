"""Faulty detector plug-ins for fault injection, loaded through ``detector_modules``.

Import it only inside ``tests.support.plugins.isolated_registry`` (or in a subprocess): its
detectors would otherwise join the registry that every contract test walks.

- ``faulty_raising`` raises on every call;
- ``faulty_hanging`` blocks until ``RELEASE`` is set (a hung model);
- ``faulty_slow`` answers after ``seconds`` (option, default 1.5 s): too late for a short
  deadline, in time for a long one.
"""

from __future__ import annotations

import threading
import time

from faceverdict.detectors.base import Sample
from faceverdict.detectors.registry import DetectorContext, register
from faceverdict.domain.detection import DetectorInfo, DetectorResult

RELEASE = threading.Event()
CALLS: dict[str, int] = {}


class _Faulty:
    def __init__(self, name: str, seconds: float = 0.0) -> None:
        self.info = DetectorInfo(name=name, version="fault-1")
        self.seconds = seconds

    def _count(self) -> None:
        CALLS[self.info.name] = CALLS.get(self.info.name, 0) + 1

    def analyse(self, sample: Sample) -> DetectorResult:
        del sample
        self._count()
        if self.info.name == "faulty_raising":
            raise RuntimeError("model file is corrupt")
        if self.info.name == "faulty_hanging":
            RELEASE.wait(timeout=120)
        else:
            time.sleep(self.seconds)
        return DetectorResult(self.info.name, self.info.version, 0.01)


@register("faulty_raising")
def _raising() -> _Faulty:
    return _Faulty("faulty_raising")


@register("faulty_hanging")
def _hanging() -> _Faulty:
    return _Faulty("faulty_hanging")


@register("faulty_slow")
def _slow(context: DetectorContext) -> _Faulty:
    return _Faulty("faulty_slow", float(context.options.get("seconds", "1.5")))
