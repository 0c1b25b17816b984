"""Fusion: turns detector outputs into one calibrated authenticity score (0-100).

The score is calibrated on genuine captures, because genuine captures are what a bank can
collect and what its false-reject rate (BPCER) is measured on; the attacks that matter are
the ones nobody has trained on, so no fake-side calibration can be trusted. Three steps:

1. **Standardise** each learned detector on held-back real photos: its log-odds ``logit(p)``
   becomes ``e = (logit(p) - mean) / std``, "how many genuine standard deviations towards
   fake". This puts detectors on one scale and keeps the scale fixed when a model is retrained.
2. **Combine** the standardised detectors with a soft maximum (``T * log(mean(exp(e / T)))``):
   a face swap fires the blending detector and a generated face fires the synthetic one, so
   one strong detector must count even when the other is silent. Detectors that carry hard
   evidence rather than a learned score (provenance: C2PA manifests, generator metadata) add
   ``weight * logit(p)`` on top.
3. **Map** the total evidence to 0-100 through monotone knots fitted so that a score keeps its
   meaning across releases: the knots are chosen at the evidence values that a fixed share of
   held-back genuine captures exceed (see ``docs/models/fusion.md``: with the shipped file,
   5% of genuine captures score below 90 and 1% below 60).

The parameters live in ``models/fusion.json`` (written by ``faceverdict.training.calibrate``);
its ``version`` is recorded with every decision.

The file alone decides how a detector counts: one it standardises is learned, any other
counts as plain evidence, ``weight * logit(p)`` with its ``evidence`` weight or else the
``default_weight``, so a detector saying 0.5 changes nothing. Which detectors *should* be
standardised is declared at registration (``register(..., calibrated=True)``), and ``make
calibrate`` fits exactly those; a learned detector registered after the file was fitted (a
new plug-in) therefore still runs and counts as plain evidence until the file is refitted,
and the wiring logs a warning for it (``wiring.ensembles.warn_uncalibrated``).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceverdict.detectors.logistic import logit
from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.domain.detection import DetectorResult
from faceverdict.errors import ConfigurationError


def soft_max(values: Sequence[float], temperature: float) -> float:
    """``T * log(mean(exp(v / T)))``: near the largest value, never above it."""
    top = max(values)
    total = sum(math.exp((v - top) / temperature) for v in values)
    return top + temperature * math.log(total / len(values))


def total_evidence(
    learned: Sequence[float], added: float, temperature: float | None, neutral: float
) -> float:
    """The fusion's total: soft maximum of the standardised ``learned`` values (their sum when
    ``temperature`` is None; ``neutral`` when there are none) plus the ``added`` evidence."""
    if not learned:
        return neutral + added
    base = sum(learned) if temperature is None else soft_max(learned, temperature)
    return base + added


@dataclass(frozen=True)
class Standardisation:
    """A learned detector's log-odds on genuine captures: ``e = (logit(p) - mean) / std``."""

    mean: float
    std: float

    def apply(self, p: float) -> float:
        """Standardised evidence of probability ``p``."""
        return self.scaled(logit(p))

    def scaled(self, log_odds: float) -> float:
        """Standardised evidence of log-odds ``log_odds``."""
        return (log_odds - self.mean) / self.std


@dataclass(frozen=True)
class ScoreMap:
    """Monotone piecewise-linear map from total evidence to the 0-100 score.

    ``knots`` are ``(evidence, score)`` pairs with evidence increasing and score decreasing;
    outside them the first and last segments are extended, then the score is clipped to 0-100.
    """

    knots: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.knots) < 2:
            raise ValueError("score map needs at least two knots")
        for (e0, s0), (e1, s1) in zip(self.knots, self.knots[1:], strict=False):
            if not (e1 > e0 and s1 < s0):
                raise ValueError("score knots must rise in evidence and fall in score")
        if not all(0 <= s <= 100 for _, s in self.knots):
            raise ValueError("knot scores must be within 0-100")

    def score(self, evidence: float) -> float:
        """The score of ``evidence`` (clipped to 0-100)."""
        xs = [e for e, _ in self.knots]
        i = min(max(bisect.bisect_right(xs, evidence) - 1, 0), len(xs) - 2)
        (e0, s0), (e1, s1) = self.knots[i], self.knots[i + 1]
        value = s0 + (s1 - s0) * (evidence - e0) / (e1 - e0)
        return min(100.0, max(0.0, value))


def _default_map() -> ScoreMap:
    return ScoreMap(((0.0, 98.0), (1.0, 95.0), (2.0, 90.0), (3.0, 60.0)))


@dataclass(frozen=True)
class FusionParameters:
    """The fusion's versioned parameters (see the module docstring)."""

    version: str
    standardise: dict[str, Standardisation] = field(default_factory=dict)
    evidence_weights: dict[str, float] = field(default_factory=dict)
    default_weight: float = 1.0
    temperature: float = 0.5
    neutral: float = 0.0
    score_map: ScoreMap = field(default_factory=_default_map)
    calibration: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = MODELS_DIR / "fusion.json") -> FusionParameters:
        """Read and validate the parameters file; ConfigurationError says what is wrong."""
        try:
            data = json.loads(path.read_text())
            params = cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"fusion parameters {path}: {exc}") from None
        return params

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionParameters:
        """Build from the JSON document; ValueError/KeyError/TypeError when malformed."""
        standardise = {
            name: Standardisation(mean=float(v["mean"]), std=float(v["std"]))
            for name, v in data.get("standardise", {}).items()
        }
        if any(not (s.std > 0 and math.isfinite(s.mean)) for s in standardise.values()):
            raise ValueError("every standardisation needs a finite mean and std > 0")
        temperature = float(data.get("temperature", 0.5))
        if not temperature > 0:
            raise ValueError("temperature must be > 0")
        return cls(
            version=str(data["version"]),
            standardise=standardise,
            evidence_weights={k: float(v) for k, v in data.get("evidence", {}).items()},
            default_weight=float(data.get("default_weight", 1.0)),
            temperature=temperature,
            neutral=float(data.get("neutral", 0.0)),
            score_map=ScoreMap(tuple((float(e), float(s)) for e, s in data["score_knots"])),
            calibration=dict(data.get("calibration", {})),
        )


@dataclass(frozen=True)
class FusedScore:
    """The fused result: the score, the total evidence and each detector's share of it."""

    authenticity_score: float
    evidence: float
    contributions: dict[str, float]


class Fusion:
    """Combines detector results with ``FusionParameters``."""

    def __init__(self, params: FusionParameters) -> None:
        self.params = params

    @property
    def version(self) -> str:
        """Version of the fusion parameters."""
        return self.params.version

    def calibrates(self, detector: str) -> bool:
        """Whether the parameters standardise ``detector`` (else it counts as evidence)."""
        return detector in self.params.standardise

    def fuse(self, results: list[DetectorResult]) -> FusedScore | None:
        """Fuse the results that carry an opinion into one score; None when none does.

        ``contributions`` holds each detector's evidence: the standardised value for learned
        detectors, ``weight * logit(p)`` for the others. No opinion at all is no evidence,
        never a genuine score: the caller decides what that means (the policy's
        ``no_evidence`` band).
        """
        params = self.params
        learned: list[float] = []
        added = 0.0
        contributions: dict[str, float] = {}
        for result in results:
            if result.fake_probability is None or result.abstention is not None:
                continue
            scale = params.standardise.get(result.detector)
            if scale is not None:
                value = scale.apply(result.fake_probability)
                learned.append(value)
            else:
                weight = params.evidence_weights.get(result.detector, params.default_weight)
                value = weight * logit(result.fake_probability)
                added += value
            contributions[result.detector] = round(value, 4)
        if not contributions:
            return None
        total = total_evidence(learned, added, params.temperature, params.neutral)
        return FusedScore(
            authenticity_score=round(params.score_map.score(total), 1),
            evidence=round(total, 4),
            contributions=contributions,
        )
