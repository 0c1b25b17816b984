"""Detection metrics in numpy alone: ROC, AUC, AP, EER, ISO/IEC 30107-3 error rates.

Conventions, everywhere in this module:

- ``y`` is 1 for an attack (fake, the positive class) and 0 for bona fide (real).
- ``scores`` are *attack* scores: higher means more likely fake (for faceverdict,
  ``100 - authenticity_score``).
- A threshold ``t`` classifies a presentation as an attack when ``score >= t``.
- Undefined values (a class is missing) are ``nan``; callers turn them into null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _arrays(y: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[BoolArray, FloatArray]:
    labels = np.asarray(y).astype(bool).ravel()
    values = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != values.shape:
        raise ValueError("labels and scores differ in length")
    if np.isnan(values).any():
        raise ValueError("scores contain NaN")
    return labels, values


def midranks(values: npt.ArrayLike) -> FloatArray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    data = np.asarray(values, dtype=np.float64).ravel()
    _, inverse, counts = np.unique(data, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)  # rank of each distinct value's last copy
    mean_rank = ends - (counts - 1) / 2.0
    ranks: FloatArray = mean_rank[inverse.ravel()]
    return ranks


def roc_auc(y: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(attack scores above bona fide), ties counting one half."""
    labels, values = _arrays(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = midranks(values)
    u = float(ranks[labels].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def auc_interval(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``roc_auc``, resampling each class on its own.

    Stratified, so that every resample keeps the number of attacks and of bona fide images;
    deterministic for a seed. NaN bounds when a class is missing.
    """
    labels, values = _arrays(y, scores)
    positives, negatives = values[labels], values[~labels]
    if positives.size == 0 or negatives.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stratified = np.concatenate([np.ones(positives.size, bool), np.zeros(negatives.size, bool)])
    aucs = np.empty(resamples)
    for k in range(resamples):
        sample = np.concatenate(
            [
                positives[rng.integers(0, positives.size, positives.size)],
                negatives[rng.integers(0, negatives.size, negatives.size)],
            ]
        )
        aucs[k] = roc_auc(stratified, sample)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(aucs, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class RocCurve:
    """ROC points, one per distinct threshold, from (0, 0) at ``+inf`` to (1, 1)."""

    fpr: FloatArray  # BPCER: bona fide classified as attack
    tpr: FloatArray  # 1 - APCER: attacks classified as attack
    thresholds: FloatArray  # decreasing; the first is +inf


def _cumulative(labels: BoolArray, values: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cumulative true and false positives at each distinct score, scanning downwards."""
    order = np.argsort(-values, kind="mergesort")
    sorted_values = values[order]
    sorted_labels = labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_values)), sorted_values.size - 1]
    tps = np.cumsum(sorted_labels, dtype=np.float64)[last_of_tie]
    fps = (last_of_tie + 1).astype(np.float64) - tps
    return tps, fps, sorted_values[last_of_tie]


def roc_curve(y: npt.ArrayLike, scores: npt.ArrayLike) -> RocCurve:
    """The ROC curve; raises ValueError unless both classes are present."""
    labels, values = _arrays(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs both attacks and bona fide samples")
    tps, fps, thresholds = _cumulative(labels, values)
    return RocCurve(
        fpr=np.r_[0.0, fps / n_neg],
        tpr=np.r_[0.0, tps / n_pos],
        thresholds=np.r_[np.inf, thresholds],
    )


def average_precision(y: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision (attack = positive): sum over thresholds of recall gain x precision."""
    labels, values = _arrays(y, scores)
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.size:
        return math.nan
    tps, fps, _ = _cumulative(labels, values)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


@dataclass(frozen=True)
class EqualErrorRate:
    """The rate where BPCER equals APCER, and the attack-score threshold where it happens."""

    rate: float
    threshold: float


def equal_error_rate(y: npt.ArrayLike, scores: npt.ArrayLike) -> EqualErrorRate:
    """EER by linear interpolation between the two ROC points where FNR - FPR changes sign."""
    labels, _ = _arrays(y, scores)
    if labels.all() or not labels.any():
        return EqualErrorRate(math.nan, math.nan)
    roc = roc_curve(y, scores)
    fnr = 1.0 - roc.tpr
    gap = fnr - roc.fpr  # 1 at +inf, -1 at the lowest threshold, never increasing
    i = int(np.argmax(gap <= 0.0))
    a, b = gap[i - 1], gap[i]
    alpha = 0.0 if a == b else a / (a - b)
    rate = roc.fpr[i - 1] + alpha * (roc.fpr[i] - roc.fpr[i - 1])
    high, low = roc.thresholds[i - 1], roc.thresholds[i]
    threshold = low if math.isinf(high) else high + alpha * (low - high)
    return EqualErrorRate(rate=float(rate), threshold=float(threshold))


def error_rate(flagged: npt.ArrayLike) -> float:
    """Share of True in ``flagged``; nan for an empty array."""
    values = np.asarray(flagged, dtype=bool).ravel()
    return float(values.mean()) if values.size else math.nan


def apcer(attack_scores: npt.ArrayLike, threshold: float) -> float:
    """ISO/IEC 30107-3 APCER: share of attacks classified bona fide (``score < threshold``)."""
    values = np.asarray(attack_scores, dtype=np.float64).ravel()
    return error_rate(values < threshold)


def bpcer(bona_fide_scores: npt.ArrayLike, threshold: float) -> float:
    """ISO/IEC 30107-3 BPCER: share of bona fide classified as attack (``score >= threshold``)."""
    values = np.asarray(bona_fide_scores, dtype=np.float64).ravel()
    return error_rate(values >= threshold)


def threshold_at_bpcer(bona_fide_scores: npt.ArrayLike, target: float) -> float:
    """The lowest observed bona fide score whose BPCER (``score >= t``) is at most ``target``.

    Lower thresholds catch more attacks, so among the observed bona fide scores this is the
    one with the lowest APCER that keeps BPCER within the target (thresholds are taken from
    observed scores rather than from the gaps between them, which would fit the sample).
    When even the highest bona fide score would exceed the target (all scores tied, or
    ``target`` below ``1 / n``), the threshold lies just above that score (BPCER 0).
    Returns nan when there are no bona fide scores.
    """
    values = np.sort(np.asarray(bona_fide_scores, dtype=np.float64).ravel())
    if values.size == 0:
        return math.nan
    if np.isnan(values).any():
        raise ValueError("scores contain NaN")
    distinct = np.unique(values)
    at_or_above = values.size - np.searchsorted(values, distinct, side="left")
    fits = np.flatnonzero(at_or_above / values.size <= target + 1e-12)
    if fits.size == 0:
        return float(np.nextafter(values[-1], np.inf))
    return float(distinct[fits[0]])


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


def reliability(
    y: npt.ArrayLike, predicted: npt.ArrayLike, bins: int = 10
) -> tuple[list[ReliabilityBin], float]:
    """Equal-width reliability bins of P(attack) and the expected calibration error (ECE)."""
    labels, values = _arrays(y, predicted)
    if ((values < 0.0) | (values > 1.0)).any():
        raise ValueError("predicted probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    result: list[ReliabilityBin] = []
    ece = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if count:
            mean_predicted = float(values[members].mean())
            observed = float(labels[members].mean())
            ece += count / labels.size * abs(observed - mean_predicted)
        else:
            mean_predicted = observed = math.nan
        result.append(
            ReliabilityBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=count,
                mean_predicted=mean_predicted,
                observed_rate=observed,
            )
        )
    return result, (ece if labels.size else math.nan)


def quantile(values: npt.ArrayLike, q: float) -> float:
    """The ``q`` quantile (linear interpolation) or nan for no values."""
    data = np.asarray(values, dtype=np.float64).ravel()
    return float(np.quantile(data, q)) if data.size else math.nan
