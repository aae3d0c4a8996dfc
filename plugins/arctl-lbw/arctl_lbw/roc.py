"""How well scores separate watermarked from clean images: AUC, TPR at a false-positive rate, ROC points.

Scores are "higher means more likely marked" (the evaluation uses -log10 p). Two ways to fix the
false-positive rate are kept apart on purpose:

- **empirical**: the threshold comes from the clean images' own scores, so at most ``floor(fpr * n)`` of
  the n clean images score above it. It needs no trust in the p-values, but it cannot resolve rates
  below 1 / n (with 200 clean images, "FPR 0.1%" means "above every clean score", i.e. FPR 0);
- **nominal**: an image is flagged when its p-value is <= alpha. This is what `arctl detect --fpr alpha`
  does, and its false-positive rate is alpha only if the p-values are calibrated; the share of clean
  images with p <= alpha checks that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SMALLEST_P = 1e-300  # p-values below this (they underflow to 0) share the top score


def score(p_value: float) -> float:
    """-log10 p, finite: marks beyond 1e-300 tie, which rank-based numbers handle."""
    return -math.log10(max(p_value, SMALLEST_P))


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting one half (Mann-Whitney U / (n_pos n_neg))."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if not len(pos) or not len(neg):
        raise ValueError("AUC needs at least one positive and one negative score")
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse = np.unique(values, return_inverse=True)  # average ranks over ties
    ranks = (np.bincount(inverse, weights=ranks) / np.bincount(inverse))[inverse]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def empirical_threshold(negative: Sequence[float], fpr: float) -> float:
    """The lowest threshold t such that at most floor(fpr * n) negatives score strictly above t."""
    ordered = np.sort(np.asarray(negative, dtype=np.float64))[::-1]
    allowed = math.floor(fpr * len(ordered) + 1e-9)
    return float(ordered[allowed]) if allowed < len(ordered) else -math.inf


def tpr_at_empirical_fpr(positive: Sequence[float], negative: Sequence[float], fpr: float) -> float:
    """Share of positives scoring strictly above ``empirical_threshold(negative, fpr)``."""
    threshold = empirical_threshold(negative, fpr)
    return float(np.mean(np.asarray(positive, dtype=np.float64) > threshold))


def share_at_most(p_values: Sequence[float], alpha: float) -> float:
    """Share of p-values <= alpha: TPR at nominal FPR alpha on marked images, the observed FPR on clean ones."""
    return float(np.mean(np.asarray(p_values, dtype=np.float64) <= alpha))


def roc_points(positive: Sequence[float], negative: Sequence[float]) -> list[tuple[float, float]]:
    """(FPR, TPR) for "score >= t" at every distinct score t, from (0, 0) to (1, 1)."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    points = [(0.0, 0.0)]
    for t in np.unique(np.concatenate([pos, neg]))[::-1]:
        points.append((float(np.mean(neg >= t)), float(np.mean(pos >= t))))
    return points
