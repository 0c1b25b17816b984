"""Calibration fitting: knots at fixed genuine shares, a tail fit, a file the runtime accepts."""

from __future__ import annotations

import random

import pytest

from faceverdict.detectors.fusion import Fusion, FusionParameters, sigmoid
from faceverdict.domain.detection import DetectorResult
from faceverdict.evaluation.metrics import quantile
from faceverdict.evaluation.runner import ManifestRow
from faceverdict.evaluation.split import is_calibration, is_validation
from faceverdict.training.calibrate import (
    ASSURANCE_LEARNED,
    INLINE_LEARNED,
    Observations,
    Tail,
    calibration_rows,
    fit,
)


def genuine_observations(n: int = 3000, seed: int = 0) -> Observations:
    rng = random.Random(seed)
    names = (*INLINE_LEARNED, *ASSURANCE_LEARNED)
    means = {"blending": -2.0, "synthetic": -2.5, "blending_assurance": -1.8}
    seen = Observations(logits={name: [] for name in names})
    for i in range(n):
        for name in names:
            seen.logits[name].append(rng.gauss(means.get(name, -2.2), 1.5))
        seen.evidence.append(0.0)
        seen.rows.append(ManifestRow(f"r/{i}.jpg", "real", "camera", "src", f"g{i}"))
    return seen


def test_the_fitted_knots_put_the_anchor_shares_of_genuine_photos_below_each_score() -> None:
    seen = genuine_observations()
    document = fit(seen, "fusion-test", source="synthetic")
    params = FusionParameters.from_dict(document)
    fusion = Fusion(params)
    scores = [
        fusion.fuse(
            [
                DetectorResult(detector=name, version="1", fake_probability=sigmoid(v))
                for name, v in ((n, seen.logits[n][i]) for n in INLINE_LEARNED)
            ]
        ).authenticity_score
        for i in range(len(seen.rows))
    ]
    below_90 = sum(s < 90 for s in scores) / len(scores)
    below_60 = sum(s < 60 for s in scores) / len(scores)
    assert below_90 == pytest.approx(0.05, abs=0.015)
    assert below_60 == pytest.approx(0.01, abs=0.006)
    checks = document["calibration"]["share_below_on_calibration_photos"]["inline"]
    assert checks["below_90"] == pytest.approx(below_90, abs=0.01)
    assert params.version == "fusion-test"
    assert set(params.standardise) == {*INLINE_LEARNED, *ASSURANCE_LEARNED}


def test_the_exponential_tail_extends_the_empirical_quantiles_monotonically() -> None:
    rng = random.Random(1)
    values = [rng.expovariate(1.0) for _ in range(2000)]
    tail = Tail.fit(values)
    shares = (0.5, 0.2, 0.1, 0.05, 0.01, 0.001)
    evidence = [tail.exceeded_by(s) for s in shares]
    assert evidence == sorted(evidence)
    assert tail.exceeded_by(0.1) == pytest.approx(quantile(values, 0.9), abs=1e-9)
    assert tail.scale == pytest.approx(1.0, abs=0.15)  # exponential: the excess is memoryless
    assert tail.share_above(tail.exceeded_by(0.01)) == pytest.approx(0.01, rel=1e-6)


def test_too_few_photos_for_a_tail_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        Tail.fit([0.1 * i for i in range(50)])


def test_only_real_photos_of_the_calibration_groups_are_used() -> None:
    rows = [
        ManifestRow(f"{label}/{i}.jpg", label, label, "src", f"g{i}")
        for label in ("real", "fake")
        for i in range(500)
    ]
    chosen = calibration_rows(rows)
    assert chosen
    assert all(r.label == "real" for r in chosen)
    assert all(is_calibration(r.split_key()) and is_validation(r.split_key()) for r in chosen)
    assert len(chosen) == sum(
        1 for r in rows if r.label == "real" and is_calibration(r.split_key())
    )
