"""Evaluation metrics of the paper (spec §6.6, pitfalls 10 and 11).

* ``top1`` / ``top5`` accuracy (``topk_accuracy``), in percent.
* ``mean_per_class`` accuracy: accuracy of each class, then the unweighted mean (Aircraft, Pets,
  Caltech-101, Flowers).
* ``voc07_map``: PASCAL VOC2007 11-point interpolated average precision, averaged over classes
  (VOC2007 classification). This is *not* sklearn's ``average_precision_score`` nor the VOC2010+
  all-point AP.

Inputs may be numpy arrays, torch tensors or nested lists; every function returns a Python float in
percent (0-100) and raises a one-line ``ValueError`` on malformed input.

Tie rules (documented here once, tested in ``tests/test_metrics.py``):

* Top-k / argmax: among equal scores the **lower class index ranks first**, as a stable descending
  sort (``np.argsort(-s, kind="stable")``) or ``np.argmax`` would order them. A sample counts as a
  top-k hit iff ``#{j: s_j > s_y} + #{j < y: s_j = s_y} < k``.
* VOC AP: samples with **equal scores form one block**; precision and recall are only evaluated after
  a whole block (as sklearn's ``precision_recall_curve`` does), so the AP does not depend on the order
  of the input. Without ties this is identical to the VOC devkit (``VOCevalcls.m``), whose stable
  ``sort(-out)`` would instead rank tied samples in input order.
* VOC AP recall thresholds ``t = i/10`` are compared exactly (``10 * TP >= i * P`` in integers). The
  devkit's ``0:0.1:1`` (and ``np.arange(0, 1.1, 0.1)``) make ``t = 0.30000000000000004`` etc., so a
  recall of exactly 3/10, 6/10 or 7/10 narrowly misses its threshold there; we follow the formula of
  the spec instead of that float artefact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
import torch

from .errors import UnknownMetricError

ArrayLike = Union[np.ndarray, torch.Tensor, list, tuple]

#: Rows processed at once by ``topk_accuracy`` (bounds the N x C boolean temporaries).
_CHUNK_ROWS = 8192


# ----------------------------------------------------------------------------------------------
# input conversion / validation
# ----------------------------------------------------------------------------------------------
def _to_numpy(x: Any, fn: str, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
            x = x.float()  # bf16/fp16 -> numpy-compatible
        return x.numpy()
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists etc.
        raise ValueError(f"{fn}: {what} cannot be converted to an array ({exc})") from None


def _scores(x: Any, fn: str, ndim: int) -> np.ndarray:
    a = _to_numpy(x, fn, "scores")
    if a.ndim != ndim:
        shape = "[N, C]" if ndim == 2 else "[N]"
        raise ValueError(f"{fn}: scores must be {ndim}-D {shape}, got shape {tuple(a.shape)}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: scores must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if np.isnan(a).any():
        raise ValueError(f"{fn}: scores contain NaN")
    return a


def _int_array(x: Any, fn: str, what: str) -> np.ndarray:
    a = _to_numpy(x, fn, what)
    if a.dtype.kind == "b":
        raise ValueError(f"{fn}: {what} must be integer class indices, got booleans")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{fn}: {what} must be integers, got non-integral values")
    elif a.dtype.kind not in "iu" and a.size > 0:
        raise ValueError(f"{fn}: {what} must be integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _class_indices(x: Any, fn: str, what: str, n: int, num_classes: int | None) -> np.ndarray:
    """1-D int64 array of length ``n`` with values in ``[0, num_classes)`` (``>= 0`` if None)."""
    a = _int_array(x, fn, what)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{fn}: {what} must have shape ({n},), got {tuple(a.shape)}")
    if a.size and a.min() < 0:
        raise ValueError(f"{fn}: {what} contain a negative class index ({int(a.min())})")
    if num_classes is not None and a.size and a.max() >= num_classes:
        raise ValueError(f"{fn}: {what} contain class {int(a.max())} but there are only {num_classes} classes")
    return a


# ----------------------------------------------------------------------------------------------
# top-k accuracy
# ----------------------------------------------------------------------------------------------
def topk_accuracy(scores: ArrayLike, labels: ArrayLike, k: int) -> float:
    """Percentage of samples whose label is among the ``k`` highest of ``scores`` [N, C].

    ``labels`` [N] are class indices in ``[0, C)``. ``k >= C`` counts every sample as a hit.
    Ties: lower class index ranks first (stable descending sort), so a label tied with classes of
    lower index is pushed down by them.
    """
    hits = _topk_hits(scores, labels, k, "topk_accuracy")
    return 100.0 * int(hits.sum()) / len(hits)


def topk_hits(scores: ArrayLike, labels: ArrayLike, k: int) -> np.ndarray:
    """Per-sample form of :func:`topk_accuracy`: a boolean [N], True where the label is among the ``k`` highest
    scores (same tie rule, same validation), so that ``100.0 * int(hits.sum()) / N == topk_accuracy(...)``
    exactly. A hit depends only on the sample's own row, so the hits of a resample (bootstrap, ``report/
    bootstrap.py``) are ``hits[indices]``."""
    return _topk_hits(scores, labels, k, "topk_hits")


def _topk_hits(scores: ArrayLike, labels: ArrayLike, k: int, fn: str) -> np.ndarray:
    """The hits of :func:`topk_hits`, checked and computed in chunks of rows; errors name ``fn``."""
    s = _scores(scores, fn, ndim=2)
    n, c = s.shape
    if n == 0 or c == 0:
        raise ValueError(f"{fn}: scores must be non-empty, got shape {(n, c)}")
    y = _class_indices(labels, fn, "labels", n, c)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{fn}: k must be a positive integer, got {k!r}")
    k = min(int(k), c)
    cols = np.arange(c)
    hits = np.empty(n, dtype=bool)
    for lo in range(0, n, _CHUNK_ROWS):
        sc, yc = s[lo : lo + _CHUNK_ROWS], y[lo : lo + _CHUNK_ROWS]
        sy = sc[np.arange(len(yc)), yc][:, None]
        rank = (sc > sy).sum(axis=1) + ((sc == sy) & (cols[None, :] < yc[:, None])).sum(axis=1)
        hits[lo : lo + len(yc)] = rank < k
    return hits


def top1_accuracy(scores: ArrayLike, labels: ArrayLike) -> float:
    """Top-1 accuracy in percent (ties: lowest class index is the prediction, as ``argmax``)."""
    return topk_accuracy(scores, labels, 1)


def top5_accuracy(scores: ArrayLike, labels: ArrayLike) -> float:
    """Top-5 accuracy in percent; with fewer than 5 classes ``k = C`` (always 100)."""
    return topk_accuracy(scores, labels, 5)


# ----------------------------------------------------------------------------------------------
# mean per-class accuracy
# ----------------------------------------------------------------------------------------------
def mean_per_class_accuracy(predictions: ArrayLike, labels: ArrayLike, num_classes: int | None = None) -> float:
    """Unweighted mean over classes of per-class accuracy, in percent.

    ``predictions`` and ``labels`` are [N] class indices. Only classes that occur in ``labels`` are
    averaged: a class absent from ``labels`` has no defined accuracy and is ignored (even if it is
    predicted; such wrong predictions still lower the accuracy of the true classes). ``num_classes``,
    when given, only validates that all indices are ``< num_classes``.
    """
    fn = "mean_per_class_accuracy"
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):
        raise ValueError(f"{fn}: num_classes must be a positive integer or None, got {num_classes!r}")
    y_raw = _int_array(labels, fn, "labels")
    if y_raw.ndim != 1:
        raise ValueError(f"{fn}: labels must be 1-D [N], got shape {tuple(y_raw.shape)}")
    n = y_raw.shape[0]
    if n == 0:
        raise ValueError(f"{fn}: no samples")
    p = _to_numpy(predictions, fn, "predictions")
    if p.shape != y_raw.shape:
        raise ValueError(f"{fn}: predictions {tuple(p.shape)} and labels {tuple(y_raw.shape)} differ in shape"
                         + (" (pass class indices, not [N, C] scores)" if p.ndim == 2 else ""))
    y = _class_indices(y_raw, fn, "labels", n, num_classes)
    p = _class_indices(p, fn, "predictions", n, num_classes)
    counts = np.bincount(y)
    correct = np.bincount(y, weights=(p == y).astype(np.float64), minlength=counts.size)
    present = counts > 0
    return 100.0 * float(np.mean(correct[present] / counts[present]))


def _mean_per_class_from_scores(scores: ArrayLike, labels: ArrayLike) -> float:
    """``mean_per_class_accuracy`` with predictions ``argmax(scores)`` (ties: lowest class index)."""
    s = _scores(scores, "mean_per_class", ndim=2)
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"mean_per_class: scores must be non-empty, got shape {tuple(s.shape)}")
    return mean_per_class_accuracy(np.argmax(s, axis=1), labels, num_classes=s.shape[1])


# ----------------------------------------------------------------------------------------------
# VOC2007 11-point AP
# ----------------------------------------------------------------------------------------------
def _voc07_ap(s: np.ndarray, y: np.ndarray, fn: str, which: str) -> float:
    """11-point AP (percent) of one class; ``s`` float [N], ``y`` int [N] in {-1, 0, 1}."""
    if y.size and not np.isin(y, (-1, 0, 1)).all():
        bad = sorted(set(np.unique(y).tolist()) - {-1, 0, 1})
        raise ValueError(f"{fn}: {which}labels must be 1 (present), -1 (absent) or 0 (difficult), got {bad}")
    if (y == 0).any() and not (y == -1).any():
        raise ValueError(f"{fn}: {which}labels contain 0 (difficult) but no -1 (absent); "
                         "use the VOC convention 1/-1/0, not 0/1")
    keep = y != 0  # difficult samples are removed before ranking
    s, pos = s[keep], y[keep] == 1
    n_pos = int(pos.sum())
    if n_pos == 0:
        raise ValueError(f"{fn}: {which}no positive (label 1) samples, AP is undefined")
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    tp = np.cumsum(pos)
    # evaluate only at the end of each block of tied scores
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp_e = tp[ends]
    precision = tp_e / (ends + 1.0)
    total = 0.0
    for i in range(11):  # recall >= i/10  <=>  10 * TP >= i * P, exactly
        mask = 10 * tp_e >= i * n_pos
        total += float(precision[mask].max()) if mask.any() else 0.0
    return 100.0 * total / 11.0


def voc07_ap(scores: ArrayLike, labels: ArrayLike) -> float:
    """VOC2007 11-point interpolated AP of one class, in percent.

    ``scores`` [N]; ``labels`` [N] with 1 = present, -1 = absent, 0 = difficult (removed before
    ranking). ``AP = mean_{t in 0, 0.1, .., 1} max{precision(r) : recall r >= t}`` (0 when no recall
    reaches ``t``), precision/recall taken down the list sorted by descending score, tied scores as one
    block. Raises ``ValueError`` without positives, or with 0s but no -1s (0/1 labels by mistake).
    """
    fn = "voc07_ap"
    s = _scores(scores, fn, ndim=1)
    y = _int_array(labels, fn, "labels")
    if y.shape != s.shape:
        raise ValueError(f"{fn}: scores {tuple(s.shape)} and labels {tuple(y.shape)} differ in shape")
    return _voc07_ap(s, y, fn, "")


def voc07_map(scores: ArrayLike, labels: ArrayLike) -> float:
    """Mean over classes of ``voc07_ap`` (percent); ``scores`` and ``labels`` are [N, C], labels 1/-1/0."""
    fn = "voc07_map"
    s = _scores(scores, fn, ndim=2)
    y = _int_array(labels, fn, "labels")
    if y.shape != s.shape:
        raise ValueError(f"{fn}: scores {tuple(s.shape)} and labels {tuple(y.shape)} differ in shape")
    if s.shape[1] == 0:
        raise ValueError(f"{fn}: no classes (scores shape {tuple(s.shape)})")
    aps = [_voc07_ap(s[:, c], y[:, c], fn, f"class {c}: ") for c in range(s.shape[1])]
    return float(np.mean(aps))


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------
#: Metric name -> callable(scores [N, C], labels) -> percent. ``mean_per_class`` predicts argmax(scores).
METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "top1": top1_accuracy,
    "top5": top5_accuracy,
    "mean_per_class": _mean_per_class_from_scores,
    "voc07_map": voc07_map,
}



def metric_by_name(name: str) -> Callable[[ArrayLike, ArrayLike], float]:
    """The metric ``name`` of :data:`METRICS`, or :class:`~byol_pkg.errors.UnknownMetricError` listing them."""
    if name not in METRICS:
        raise UnknownMetricError(f"--metric: unknown metric '{name}'; allowed: {', '.join(METRICS)}")
    return METRICS[name]


__all__ = [
    "METRICS",
    "mean_per_class_accuracy",
    "top1_accuracy",
    "top5_accuracy",
    "topk_accuracy",
    "topk_hits",
    "voc07_ap",
    "voc07_map",
]
