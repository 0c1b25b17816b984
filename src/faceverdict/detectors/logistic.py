"""The logistic function and its inverse: the one place detectors and the fusion take them."""

from __future__ import annotations

import math

_EPS = 1e-4


def logit(p: float) -> float:
    """Log-odds of ``p``, clipped away from 0 and 1."""
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    """The logistic function (inverse of ``logit``), overflow-safe for any magnitude."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
