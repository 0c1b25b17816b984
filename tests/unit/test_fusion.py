"""Fusion: detector probabilities become a calibrated 0-100 authenticity score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceverdict.detectors.fusion import (
    DetectorCalibration,
    Fusion,
    FusionParameters,
    logit,
    sigmoid,
)
from faceverdict.domain.detection import Abstention, DetectorResult
from faceverdict.errors import ConfigurationError


def result(name: str, p: float | None, abstention: Abstention | None = None) -> DetectorResult:
    return DetectorResult(detector=name, version="1", fake_probability=p, abstention=abstention)


def fusion(prior: float = 0.03, **detectors: DetectorCalibration) -> Fusion:
    return Fusion(FusionParameters(version="t", prior_fake=prior, detectors=detectors))


def test_without_evidence_the_score_is_the_prior() -> None:
    fused = fusion(prior=0.03).fuse([result("provenance", None)])
    assert fused.authenticity_score == pytest.approx(97.0)
    assert fused.contributions == {}


def test_even_odds_evidence_changes_nothing() -> None:
    assert fusion().fuse([result("a", 0.5)]).authenticity_score == pytest.approx(97.0)


def test_fake_evidence_lowers_the_score_monotonically() -> None:
    f = fusion()
    scores = [f.fuse([result("a", p)]).authenticity_score for p in (0.1, 0.5, 0.9, 0.99)]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] < 30


def test_independent_evidence_multiplies_odds() -> None:
    f = fusion(prior=0.5)
    both = f.fuse([result("a", 0.8), result("b", 0.8)]).fake_probability
    assert logit(both) == pytest.approx(2 * logit(0.8))


def test_weights_and_calibration_apply_per_detector() -> None:
    f = fusion(prior=0.5, a=DetectorCalibration(weight=0.5, slope=2.0, offset=1.0))
    fused = f.fuse([result("a", 0.7)])
    assert fused.contributions["a"] == pytest.approx(0.5 * (2 * logit(0.7) + 1), abs=1e-3)


def test_abstaining_results_are_ignored() -> None:
    fused = fusion().fuse([result("gate", 0.99, Abstention.NO_FACE)])
    assert fused.authenticity_score == pytest.approx(97.0)


def test_extremes_stay_finite() -> None:
    assert 0 <= fusion().fuse([result("a", 1.0)] * 50).authenticity_score <= 100
    assert sigmoid(-1000) == pytest.approx(0.0)
    assert sigmoid(1000) == pytest.approx(1.0)


def test_shipped_parameters_load_and_bad_ones_are_refused(tmp_path: Path) -> None:
    assert FusionParameters.load().version
    bad = tmp_path / "fusion.json"
    bad.write_text(json.dumps({"version": "x", "prior_fake": 1.5}))
    with pytest.raises(ConfigurationError, match="prior_fake"):
        FusionParameters.load(bad)
    bad.write_text("{")
    with pytest.raises(ConfigurationError):
        FusionParameters.load(bad)
