"""Evaluation metrics: numpy implementations against scikit-learn and known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceverdict.evaluation import metrics


def random_case(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    scores = rng.normal(size=n) + 0.8 * y
    if ties:
        scores = np.round(scores, 1)  # many tied scores across both classes
    return y, scores


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_auc_ap_and_roc_match_scikit_learn(seed: int, ties: bool) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    y, s = random_case(seed, ties=ties)
    assert metrics.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(
        skm.average_precision_score(y, s), abs=1e-12
    )
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    curve = metrics.roc_curve(y, s)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)


def test_perfect_inverted_and_constant_scores() -> None:
    y = [0, 0, 0, 1, 1]
    assert metrics.roc_auc(y, [0.1, 0.2, 0.3, 0.8, 0.9]) == 1.0
    assert metrics.roc_auc(y, [0.9, 0.8, 0.7, 0.2, 0.1]) == 0.0
    assert metrics.roc_auc(y, [0.5] * 5) == 0.5
    assert metrics.average_precision(y, [0.1, 0.2, 0.3, 0.8, 0.9]) == 1.0
    assert metrics.average_precision(y, [0.5] * 5) == pytest.approx(2 / 5)
    perfect = metrics.equal_error_rate(y, [0.1, 0.2, 0.3, 0.8, 0.9])
    assert perfect.rate == 0.0
    assert 0.3 < perfect.threshold <= 0.8
    assert metrics.equal_error_rate(y, [0.9, 0.8, 0.7, 0.2, 0.1]).rate == 1.0
    assert metrics.equal_error_rate(y, [0.5] * 5).rate == pytest.approx(0.5)


def test_one_class_gives_nan() -> None:
    assert math.isnan(metrics.roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(metrics.average_precision([0, 0], [0.2, 0.3]))
    assert math.isnan(metrics.equal_error_rate([0, 0], [0.2, 0.3]).rate)
    with pytest.raises(ValueError, match="both"):
        metrics.roc_curve([1, 1], [0.2, 0.3])


def test_ties_count_one_half() -> None:
    # One attack tied with one of two bona fide, above the other: (1 + 0.5) / 2.
    assert metrics.roc_auc([1, 0, 0], [0.5, 0.5, 0.1]) == 0.75
    np.testing.assert_allclose(metrics.midranks([3, 1, 3, 2]), [3.5, 1, 3.5, 2])


def test_eer_on_overlapping_uniform_distributions() -> None:
    # Bona fide uniform on [0, 1], attacks on [0.5, 1.5]: 1 - t = t - 0.5 at t = 0.75, EER 0.25.
    grid = (np.arange(20_000) + 0.5) / 20_000
    scores = np.r_[grid, grid + 0.5]
    y = np.r_[np.zeros(grid.size), np.ones(grid.size)]
    eer = metrics.equal_error_rate(y, scores)
    assert eer.rate == pytest.approx(0.25, abs=1e-3)
    assert eer.threshold == pytest.approx(0.75, abs=1e-3)
    assert metrics.bpcer(grid, eer.threshold) == pytest.approx(
        metrics.apcer(grid + 0.5, eer.threshold), abs=1e-3
    )


def test_eer_on_gaussians_matches_theory() -> None:
    rng = np.random.default_rng(7)
    real, fake = rng.normal(0, 1, 50_000), rng.normal(2, 1, 50_000)
    eer = metrics.equal_error_rate(
        np.r_[np.zeros(real.size), np.ones(fake.size)], np.r_[real, fake]
    )
    # Equal variances: crossing at the midpoint, EER = Phi(-1) = 0.1587.
    assert eer.rate == pytest.approx(0.1587, abs=0.005)
    assert eer.threshold == pytest.approx(1.0, abs=0.05)


def test_threshold_at_bpcer_keeps_bpcer_within_target_with_lowest_threshold() -> None:
    real = np.arange(100, dtype=float)  # 0..99
    t5 = metrics.threshold_at_bpcer(real, 0.05)
    assert t5 == 95.0
    assert metrics.bpcer(real, t5) == pytest.approx(0.05)
    assert metrics.bpcer(real, 94.0) > 0.05  # the next lower real score breaks the target
    assert metrics.threshold_at_bpcer(real, 0.01) == 99.0
    assert metrics.threshold_at_bpcer(real, 1.0) == 0.0


def test_threshold_at_bpcer_with_ties_and_unreachable_targets() -> None:
    real = [1.0, 1.0, 1.0, 2.0]
    t = metrics.threshold_at_bpcer(real, 0.5)
    assert t == 2.0
    assert metrics.bpcer(real, t) == 0.25
    tied = [3.0] * 10
    above = metrics.threshold_at_bpcer(tied, 0.05)
    assert above > 3.0
    assert metrics.bpcer(tied, above) == 0.0
    assert math.isnan(metrics.threshold_at_bpcer([], 0.05))


def test_apcer_and_bpcer_follow_iso_definitions() -> None:
    attacks = [0.1, 0.6, 0.9, 0.95]
    bona_fide = [0.05, 0.2, 0.7]
    assert metrics.apcer(attacks, 0.5) == 0.25  # 0.1 passes as bona fide
    assert metrics.bpcer(bona_fide, 0.5) == pytest.approx(1 / 3)  # 0.7 flagged
    assert math.isnan(metrics.apcer([], 0.5))


def test_reliability_bins_and_ece() -> None:
    y = [0, 0, 1, 1]
    table, ece = metrics.reliability(y, [0.05, 0.05, 0.95, 0.95])
    assert len(table) == 10
    assert table[0].count == 2
    assert table[9].count == 2
    assert ece == pytest.approx(0.05)
    _, perfect = metrics.reliability([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert perfect == pytest.approx(0.0)
    edge, _ = metrics.reliability([1], [1.0])
    assert edge[-1].count == 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.reliability([1], [1.5])


def test_rejects_mismatched_or_nan_input() -> None:
    with pytest.raises(ValueError, match="length"):
        metrics.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0, 1], [0.1, float("nan")])


def test_auc_interval_covers_the_true_auc_and_narrows_with_more_images() -> None:
    # Normal reals and fakes one standard deviation apart: AUC = Phi(1 / sqrt 2) = 0.7602.
    truth = 0.5 * (1 + math.erf(0.5))
    covered, widths = 0, dict[str, list[float]]()
    for repeat in range(40):
        rng = np.random.default_rng(100 + repeat)
        real, fake = rng.normal(0, 1, 150), rng.normal(1, 1, 60)
        y, s = np.r_[np.zeros(real.size), np.ones(fake.size)], np.r_[real, fake]
        low, high = metrics.auc_interval(y, s, resamples=400, seed=repeat)
        assert low <= metrics.roc_auc(y, s) <= high
        covered += low <= truth <= high
        widths.setdefault("small", []).append(high - low)
    assert covered >= 34  # nominal 95 %: 38 of 40 expected
    rng = np.random.default_rng(1)
    real, fake = rng.normal(0, 1, 1500), rng.normal(1, 1, 600)
    y, s = np.r_[np.zeros(real.size), np.ones(fake.size)], np.r_[real, fake]
    low, high = metrics.auc_interval(y, s, resamples=400)
    assert high - low < 0.5 * float(np.mean(widths["small"]))  # ten times the images
    assert metrics.auc_interval(y, s, resamples=400) == (low, high)  # seeded


def test_auc_interval_needs_both_classes() -> None:
    low, high = metrics.auc_interval([1, 1, 1], [0.2, 0.4, 0.9])
    assert math.isnan(low)
    assert math.isnan(high)
