"""Fusion: turns detector fake probabilities into one calibrated authenticity score (0-100).

Each detector's probability is read as evidence relative to even odds (a likelihood ratio
``p / (1 - p)``), raised to the detector's weight (< 1 where detectors overlap and would be
double-counted), and multiplied onto the prior odds of a fake. Detectors without an opinion
add nothing. The score is ``100 * (1 - posterior)``, so 100 = surely genuine. The parameters
live in ``models/fusion.json``; its ``version`` is recorded with every decision.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.domain.detection import DetectorResult
from faceverdict.errors import ConfigurationError

_EPS = 1e-4


def logit(p: float) -> float:
    """Log-odds of ``p``, clipped away from 0 and 1."""
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    """Inverse of ``logit``."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class DetectorCalibration:
    """Per-detector calibration: ``logit' = slope * logit(p) + offset``, then ``weight``."""

    weight: float = 1.0
    slope: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class FusionParameters:
    """The fusion's versioned parameters."""

    version: str
    prior_fake: float
    detectors: dict[str, DetectorCalibration] = field(default_factory=dict)
    default: DetectorCalibration = field(default_factory=DetectorCalibration)

    @classmethod
    def load(cls, path: Path = MODELS_DIR / "fusion.json") -> FusionParameters:
        """Read and validate the parameters file."""
        try:
            data = json.loads(path.read_text())
            params = cls(
                version=str(data["version"]),
                prior_fake=float(data["prior_fake"]),
                detectors={
                    name: DetectorCalibration(**values)
                    for name, values in data.get("detectors", {}).items()
                },
                default=DetectorCalibration(**data.get("default", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"fusion parameters {path}: {exc}") from None
        if not 0 < params.prior_fake < 1:
            raise ConfigurationError(f"fusion parameters {path}: prior_fake must be in (0, 1)")
        return params


@dataclass(frozen=True)
class FusedScore:
    """The fused result: authenticity 0-100 and each detector's log-odds contribution."""

    authenticity_score: float
    fake_probability: float
    contributions: dict[str, float]


class Fusion:
    """Combines detector results with ``FusionParameters``."""

    def __init__(self, params: FusionParameters) -> None:
        self.params = params

    @property
    def version(self) -> str:
        """Version of the fusion parameters."""
        return self.params.version

    def fuse(self, results: list[DetectorResult]) -> FusedScore:
        """Fuse the results that carry an opinion into one score."""
        total = logit(self.params.prior_fake)
        contributions: dict[str, float] = {}
        for result in results:
            if result.fake_probability is None or result.abstention is not None:
                continue
            cal = self.params.detectors.get(result.detector, self.params.default)
            evidence = cal.weight * (cal.slope * logit(result.fake_probability) + cal.offset)
            contributions[result.detector] = round(evidence, 4)
            total += evidence
        fake = sigmoid(total)
        return FusedScore(
            authenticity_score=round(100.0 * (1.0 - fake), 1),
            fake_probability=fake,
            contributions=contributions,
        )
