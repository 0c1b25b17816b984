"""Stand-ins for the assurance tests that run the real adapters (SQLite, PostgreSQL, Redis,
Huey threads): a fixed opinion, polling for a condition, a policy with a shorter lease."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from faceverdict.domain.assurance import AssurancePolicy
from faceverdict.domain.detection import DetectorKind
from faceverdict.testing.detectors import FixedDetector


class FixedOpinion(FixedDetector):
    """A detector with a fixed fake probability (stands in for the heavy models): an
    assurance detector when its name ends with ``_assurance``, inline otherwise."""

    def __init__(
        self, fake_probability: float, name: str = "fixed_assurance", version: str = "1"
    ) -> None:
        kind = DetectorKind.ASSURANCE if name.endswith("_assurance") else DetectorKind.INLINE
        super().__init__(name, fake_probability, kind=kind, version=version, reasons=("FIXED",))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds (real threads and brokers only: unit tests on the
    memory adapters run jobs at once and move a manual clock instead)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def with_lease(policy: AssurancePolicy, seconds: float) -> AssurancePolicy:
    """``policy`` with every flow's assurance lease set to ``seconds``."""
    return replace(
        policy,
        defaults=replace(policy.defaults, lease_seconds=seconds),
        flows={k: replace(v, lease_seconds=seconds) for k, v in policy.flows.items()},
    )
