"""Fusion: detector outputs become a calibrated 0-100 authenticity score."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faceverdict.detectors.fusion import (
    FusedScore,
    Fusion,
    FusionParameters,
    ScoreMap,
    Standardisation,
    soft_max,
)
from faceverdict.detectors.logistic import logit, sigmoid
from faceverdict.detectors.registry import list_detectors
from faceverdict.domain.detection import Abstention, DetectorResult
from faceverdict.errors import ConfigurationError

KNOTS = ((0.0, 98.0), (1.0, 95.0), (2.0, 90.0), (3.0, 60.0), (4.0, 30.0))


def result(name: str, p: float | None, abstention: Abstention | None = None) -> DetectorResult:
    return DetectorResult(detector=name, version="1", fake_probability=p, abstention=abstention)


def fusion() -> Fusion:
    params = FusionParameters(
        version="t",
        standardise={"a": Standardisation(mean=-2.0, std=1.0), "b": Standardisation(0.0, 2.0)},
        evidence_weights={"provenance": 1.5},
        temperature=0.5,
        neutral=0.0,
        score_map=ScoreMap(KNOTS),
    )
    return Fusion(params)


def fuse(fusion: Fusion, results: list[DetectorResult]) -> FusedScore:
    """The fused score of results that carry an opinion."""
    fused = fusion.fuse(results)
    assert fused is not None
    return fused


def test_without_any_opinion_there_is_no_score() -> None:
    """No evidence is never turned into a genuine score (it was the neutral 98 once)."""
    assert fusion().fuse([result("provenance", None)]) is None
    assert fusion().fuse([]) is None


def test_learned_detectors_are_standardised_on_genuine_log_odds() -> None:
    fused = fuse(fusion(), [result("a", sigmoid(-2.0 + 2.0))])  # two genuine std above the mean
    assert fused.contributions["a"] == pytest.approx(2.0, abs=1e-3)
    assert fused.authenticity_score == pytest.approx(90.0, abs=0.1)


def test_one_firing_detector_counts_even_when_the_other_is_silent() -> None:
    f = fusion()
    swap = fuse(f, [result("a", sigmoid(1.0)), result("b", sigmoid(0.0))])  # a: +3 std, b: 0
    assert swap.evidence == pytest.approx(soft_max([3.0, 0.0], 0.5), abs=1e-3)
    assert swap.evidence > 2.6  # the soft maximum follows the strongest detector
    assert swap.authenticity_score < 75  # step-up territory on one detector alone


def test_the_soft_maximum_never_exceeds_the_largest_value() -> None:
    assert soft_max([1.0, 1.0], 0.5) == pytest.approx(1.0)
    assert soft_max([5.0, -5.0], 0.5) <= 5.0
    assert soft_max([5.0, -5.0], 0.5) > 4.5


def test_provenance_evidence_is_added_with_its_weight() -> None:
    fused = fuse(fusion(), [result("a", sigmoid(-2.0)), result("provenance", 0.95)])
    assert fused.contributions["provenance"] == pytest.approx(1.5 * logit(0.95), abs=1e-3)
    assert fused.authenticity_score < 60  # generator metadata alone sends a capture to review


def test_unknown_detectors_count_as_plain_evidence() -> None:
    assert fuse(fusion(), [result("plugin", 0.5)]).authenticity_score == pytest.approx(98.0)
    assert fuse(fusion(), [result("plugin", 0.9)]).authenticity_score < 98.0


def test_abstaining_results_are_ignored() -> None:
    assert fusion().fuse([result("a", 0.99, Abstention.NO_FACE)]) is None
    fused = fuse(fusion(), [result("a", 0.99, Abstention.NO_FACE), result("b", sigmoid(-2.0))])
    assert fused is not None
    assert set(fused.contributions) == {"b"}


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_more_fake_evidence_never_raises_the_score(ps: list[float]) -> None:
    f = fusion()
    base = fuse(f, [result("a", p) for p in ps]).authenticity_score
    bumped = fuse(f, [result("a", min(1.0, p + 0.1)) for p in ps]).authenticity_score
    assert bumped <= base
    assert 0.0 <= base <= 100.0


def test_extremes_stay_finite_and_clipped() -> None:
    assert fuse(fusion(), [result("a", 1.0)] * 50).authenticity_score == 0.0
    assert fuse(fusion(), [result("a", 0.0)]).authenticity_score == 100.0
    assert sigmoid(-1000) == pytest.approx(0.0)
    assert sigmoid(1000) == pytest.approx(1.0)


def test_score_map_interpolates_and_extends_its_end_segments() -> None:
    m = ScoreMap(KNOTS)
    assert m.score(0.5) == pytest.approx(96.5)
    assert m.score(2.5) == pytest.approx(75.0)
    assert m.score(-1.0) == pytest.approx(100.0)  # 98 + 3, clipped
    assert m.score(5.0) == pytest.approx(0.0)  # 30 - 30


@pytest.mark.parametrize(
    "knots",
    [((0.0, 90.0),), ((0.0, 90.0), (0.0, 80.0)), ((0.0, 90.0), (1.0, 95.0)), ((0, 101), (1, 9))],
)
def test_score_maps_that_are_not_monotone_are_refused(knots: Any) -> None:
    with pytest.raises(ValueError, match="knot"):
        ScoreMap(knots)


def shipped() -> dict[str, Any]:
    path = Path(__file__).parents[2] / "src/faceverdict/models/fusion.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_shipped_parameters_calibrate_every_builtin_learned_detector() -> None:
    params = FusionParameters.load()
    learned = set(list_detectors(calibrated=True))
    assert learned >= {"blending", "synthetic", "blending_assurance", "synthetic_assurance"}
    assert set(params.standardise) == learned
    assert not set(params.evidence_weights) & learned
    assert all(s.std > 0 for s in params.standardise.values())
    assert params.calibration["photos"] >= 300


def test_shipped_knots_put_the_policy_bands_at_their_documented_genuine_shares() -> None:
    data = shipped()
    anchors = {a["score"]: a["genuine_share_above"] for a in data["calibration"]["anchors"]}
    assert anchors[90.0] == 0.05
    assert anchors[60.0] == 0.01
    checks = data["calibration"]["share_below_on_calibration_photos"]["inline"]
    assert checks["below_90"] == pytest.approx(0.05, abs=0.02)
    assert checks["below_60"] == pytest.approx(0.01, abs=0.01)
    m = FusionParameters.load().score_map
    assert all(math.isfinite(e) for e, _ in m.knots)


def test_bad_parameter_files_are_refused_with_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "fusion.json"
    good = shipped()
    for broken in (
        {**good, "score_knots": [[0, 90], [1, 95]]},
        {**good, "standardise": {"x": {"mean": 0, "std": 0}}},
        {**good, "temperature": 0},
        {k: v for k, v in good.items() if k != "version"},
    ):
        bad.write_text(json.dumps(broken))
        with pytest.raises(ConfigurationError, match=str(bad)):
            FusionParameters.load(bad)
    bad.write_text("{")
    with pytest.raises(ConfigurationError):
        FusionParameters.load(bad)
