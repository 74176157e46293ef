"""The paper's transfer metrics (BYOL_SPEC 6.6) written again from their definitions, independently of
``byol_pkg.metrics``, to recompute reported values from saved predictions (plain loops, no shared code)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Percent of images whose highest score is their label's."""
    hits = [int(np.argmax(row)) == int(y) for row, y in zip(scores, labels)]
    return 100.0 * sum(hits) / len(hits)


def top5(scores: np.ndarray, labels: np.ndarray) -> float:
    """Percent of images whose label is among their min(5, C) highest scores (ties: the lower class index
    first, as a stable sort of the negated scores)."""
    k = min(5, scores.shape[1])
    hits = [int(y) in [int(c) for c in np.argsort(-row, kind="stable")[:k]] for row, y in zip(scores, labels)]
    return 100.0 * sum(hits) / len(hits)


def mean_per_class(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of each class's top-1 accuracy (Aircraft, Pets, Flowers...)."""
    per_class = []
    for c in sorted(set(int(y) for y in labels)):
        rows = [i for i, y in enumerate(labels) if int(y) == c]
        per_class.append(sum(int(np.argmax(scores[i])) == c for i in rows) / len(rows))
    return 100.0 * sum(per_class) / len(per_class)


def voc07_11point_map(scores: np.ndarray, labels: np.ndarray) -> float:
    """VOC2007 mean average precision, 11-point interpolated: labels [N, C] in {1, -1, 0}, 0 ('difficult')
    left out of both positives and negatives. Per class, the operating points are the thresholds at each distinct
    score (images with equal scores enter together, so the result does not depend on their order): precision
    and recall of 'score >= threshold'. AP = mean over t in {0, 0.1, ..., 1} of the highest precision at
    recall >= t (0 when no such point), recall compared exactly as a fraction."""
    aps = []
    for c in range(labels.shape[1]):
        kept = [(float(scores[i, c]), int(labels[i, c]) == 1) for i in range(len(labels)) if labels[i, c] != 0]
        n_pos = sum(positive for _, positive in kept)
        points = []
        for threshold in sorted({score for score, _ in kept}, reverse=True):
            chosen = [positive for score, positive in kept if score >= threshold]
            tp = sum(chosen)
            points.append((Fraction(tp, n_pos), tp / len(chosen)))  # (recall, precision)
        ap = 0.0
        for i in range(11):
            ap += max([p for r, p in points if r >= Fraction(i, 10)], default=0.0) / 11
        aps.append(ap)
    return 100.0 * sum(aps) / len(aps)


INDEPENDENT = {"top1": top1, "top5": top5, "mean_per_class": mean_per_class, "voc07_map": voc07_11point_map}
