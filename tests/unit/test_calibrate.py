"""Calibration fitting: knots at fixed genuine shares, a tail fit, a file the runtime accepts."""

from __future__ import annotations

import importlib
import random
from pathlib import Path

import pytest

from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.detectors.logistic import sigmoid
from faceverdict.detectors.registry import list_detectors
from faceverdict.domain.detection import DetectorKind, DetectorResult
from faceverdict.evaluation.metrics import quantile
from faceverdict.evaluation.runner import ManifestRow
from faceverdict.evaluation.split import is_calibration, is_validation
from faceverdict.training.calibrate import (
    EVIDENCE,
    Observations,
    Tail,
    calibration_rows,
    fit,
    learned_detectors,
)
from tests.support.plugins import isolated_registry, write_plugin

INLINE_LEARNED = learned_detectors(DetectorKind.INLINE)
ASSURANCE_LEARNED = learned_detectors(DetectorKind.ASSURANCE)


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
    fused = [
        fusion.fuse(
            [
                DetectorResult(detector=name, version="1", fake_probability=sigmoid(v))
                for name, v in ((n, seen.logits[n][i]) for n in INLINE_LEARNED)
            ]
        )
        for i in range(len(seen.rows))
    ]
    scores = [f.authenticity_score for f in fused if f is not None]
    assert len(scores) == len(fused)
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


def test_calibrate_fits_the_registrys_learned_detectors_and_no_list_of_its_own() -> None:
    # The built-ins, in the order the shipped fusion.json was fitted with.
    assert INLINE_LEARNED == ("blending", "synthetic")
    assert ASSURANCE_LEARNED == ("blending_assurance", "synthetic_assurance")
    assert {*INLINE_LEARNED, *ASSURANCE_LEARNED} == set(list_detectors(calibrated=True))
    # Evidence weights only name registered evidence (uncalibrated) inline detectors.
    assert set(EVIDENCE) <= set(list_detectors(DetectorKind.INLINE, calibrated=False))


def test_a_learned_plugin_is_calibrated_with_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path, "acme_detectors_calibrate")
    monkeypatch.syspath_prepend(str(tmp_path))
    with isolated_registry("acme_detectors_calibrate"):
        importlib.import_module("acme_detectors_calibrate")  # what --detector-module does
        inline = learned_detectors(DetectorKind.INLINE)
        assert inline == ("acme_probe", "blending", "synthetic")
        seen = genuine_observations(n=400)
        seen.logits["acme_probe"] = [-3.0 + (i % 7) / 7 for i in range(400)]
        document = fit(seen, "fusion-test", source="synthetic")
        assert set(document["standardise"]) == {*inline, *ASSURANCE_LEARNED}
        assert "acme_legacy" not in document["standardise"]  # evidence: never standardised
    assert learned_detectors(DetectorKind.INLINE) == INLINE_LEARNED
