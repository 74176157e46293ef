"""Bootstrap confidence intervals over test examples: error bars that a single run can have.

A reported number is a metric of one model's predictions on one test set; the test set is a sample, so the number
would move with another sample of the same size. The **percentile bootstrap** (Efron & Tibshirani, 1993, ch. 13)
estimates that spread: draw ``B`` resamples of the N test examples with replacement (each a row of N indices),
recompute the metric on each, and take the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the ``B``
values (``numpy.quantile``'s default linear interpolation between order statistics). Nothing is retrained: the
interval covers test-set sampling only, not training randomness (the seed spread, std over seeds, covers that).

* **One method, several seeds** (one predictions file per seed, the same test images): on each resample the
  statistic is the **mean over seeds** of the metric (a seed with several records of one cell: their mean first,
  as the tables do), with the *same* resampled indices for every seed. A full-index resample gives the cell's
  mean.
* **Paired difference of two methods** (:func:`paired_interval`): the same resampled indices for both methods
  (the test images are shared, so the per-image correlation of the two is kept); the statistic is
  ``stat_A - stat_B`` on each resample, its percentile interval, and whether that interval excludes 0. Refused
  (:class:`~byol_pkg.errors.InputFileError` naming both files) when the labels differ, i.e. not the same test
  images in the same order; labels are what identifies them in a predictions file.

The metric of a resample is the metric the evaluation used (``byol_pkg.metrics``): top-k through
:func:`~byol_pkg.metrics.topk_hits` (a hit depends only on the example's own row, ``100 * hits.sum() / N`` is
:func:`~byol_pkg.metrics.topk_accuracy`'s formula), mean per-class accuracy through
:func:`~byol_pkg.metrics.mean_per_class_accuracy` of ``argmax(scores)`` on each resample, and every other metric
(VOC2007 11-point mAP) by calling it on ``scores[idx], labels[idx]``; so the full index set (``arange(N)``)
reproduces the reported value exactly. A resample on which the metric is undefined (mAP with a class left without
positives) gives NaN and is left out of the quantiles (it depends on the labels only, so paired methods lose the
same resamples); when more than 5 % are undefined, no interval is given (the rest would be a biased subset). On
VOC2007's test set (every class with 100+ positives among 4,952 images) that never happens.

Defaults: ``B = 1000`` resamples (the usual minimum for percentile intervals; for N = 10,000 at 90 % accuracy the
Monte-Carlo error of an end point is about 0.03 points, below the tables' 0.1), ``seed = 0`` (the report is
deterministic, and every cell of one test-set size reuses the same resamples), ``level = 0.95``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputFileError
from ..eval.predictions import Predictions
from ..metrics import mean_per_class_accuracy, metric_by_name, topk_hits

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
#: Least fraction of resamples on which the metric must be defined for an interval to be given.
DEFAULT_MIN_DEFINED = 0.95

#: The top-k metrics of ``byol_pkg.metrics.METRICS`` and their k (computed from per-example hits).
_TOPK = {"top1": 1, "top5": 5}


@dataclass(frozen=True)
class Interval:
    """A percentile interval ``[low, high]`` of ``resamples`` defined bootstrap values at ``level``."""

    low: float
    high: float
    level: float = DEFAULT_LEVEL
    resamples: int = 0

    @property
    def excludes_zero(self) -> bool:
        """Whether 0 lies outside the interval (for a difference: the sign is resolved at this level)."""
        return self.low > 0.0 or self.high < 0.0


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``[resamples, n]`` indices into ``n`` test examples, drawn uniformly with replacement by
    ``numpy.random.default_rng(seed)``; row ``b`` is resample ``b``. The same ``(n, resamples, seed)`` gives the
    same rows, so two methods scored on the same test set are resampled identically (paired)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"resample_indices: n must be a positive integer, got {n!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resample_indices: resamples must be a positive integer, got {resamples!r}")
    dtype = np.int32 if n < 2**31 else np.int64
    return np.random.default_rng(seed).integers(0, n, size=(int(resamples), int(n)), dtype=dtype)


def metric_replicates(predictions: Predictions, metric: str, indices: np.ndarray) -> np.ndarray:
    """The metric ``metric`` (a name of ``byol_pkg.metrics.METRICS``) of ``predictions`` on each resample: a
    float64 ``[B]`` for ``indices`` ``[B, N]`` (NaN where the metric is undefined on that resample)."""
    fn = metric_by_name(metric)
    scores, labels = predictions.scores, predictions.labels
    indices = np.asarray(indices)
    if indices.ndim != 2 or (indices.size and (indices.min() < 0 or indices.max() >= len(labels))):
        raise ValueError(f"metric_replicates: indices must be [B, N] into {len(labels)} examples, "
                         f"got shape {indices.shape}")
    n = indices.shape[1]
    if metric in _TOPK:
        hits = topk_hits(scores, labels, _TOPK[metric])
        chunks = np.array_split(indices, max(1, -(-len(indices) // 100)))  # bounds the [B, N] boolean temporary
        counts = np.concatenate([hits[rows].sum(axis=1, dtype=np.int64) for rows in chunks])
        return 100.0 * counts / n  # topk_accuracy's 100.0 * hits / n
    if metric == "mean_per_class":  # the metric of argmax(scores) (ties: lowest class index), as METRICS has it
        predicted = np.argmax(np.asarray(scores, dtype=np.float64), axis=1)
        return np.array([mean_per_class_accuracy(predicted[rows], labels[rows], num_classes=scores.shape[1])
                         for rows in indices], dtype=np.float64)
    out = np.empty(len(indices), dtype=np.float64)
    for b, rows in enumerate(indices):
        try:
            out[b] = fn(scores[rows], labels[rows])
        except ValueError:  # undefined on this resample (e.g. an AP without positives); the labels decide it
            out[b] = np.nan
    return out


def percentile_interval(values: np.ndarray, level: float = DEFAULT_LEVEL,
                        min_defined: float = DEFAULT_MIN_DEFINED) -> Interval | None:
    """The percentile interval of bootstrap ``values``, NaNs (undefined resamples) left out; None when fewer than
    ``min_defined`` of them are defined (the defined ones would be a biased subset: those that kept every class
    with positives) or none is."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"percentile_interval: level must be in (0, 1), got {level!r}")
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < min_defined * values.size:
        return None
    low, high = np.quantile(finite, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(low), float(high), level, int(finite.size))


def check_same_test_images(predictions: Sequence[Predictions], sources: Sequence[str]) -> None:
    """Refuse predictions that are not scored against the same labels in the same order (not the same test
    images): an :class:`InputFileError` naming the first two files that differ."""
    first = predictions[0].labels
    for pred, source in zip(predictions[1:], sources[1:]):
        if not np.array_equal(pred.labels, first):
            what = (f"{len(first)} and {len(pred.labels)} test examples" if len(pred.labels) != len(first)
                    else "the same number of test examples but different labels")
            raise InputFileError(f"{sources[0]} and {source}: predictions scored against different test labels "
                                 f"({what}), so not the same test images in the same order; the bootstrap "
                                 "pairs examples and needs one test set")


def seed_mean_replicates(per_seed: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """The statistic of a cell on each resample: per seed the mean of its records' replicates, then the mean over
    seeds (the order the tables average in)."""
    return np.mean([np.mean(np.stack(records), axis=0) for records in per_seed], axis=0)


def _per_seed(predictions: Sequence[Sequence[Predictions]] | Predictions) -> list[list[Predictions]]:
    return [[predictions]] if isinstance(predictions, Predictions) else [list(p) for p in predictions]


def _names(sources: Sequence[str], count: int, side: str) -> list[str]:
    """One name per predictions (the files when given, else ``<side> predictions <i>``)."""
    return list(sources) if len(sources) == count else [f"{side} predictions {i}" for i in range(count)]


def _statistic(per_seed: list[list[Predictions]], metric: str, indices: np.ndarray) -> np.ndarray:
    return seed_mean_replicates([[metric_replicates(p, metric, indices) for p in s] for s in per_seed])


def bootstrap_interval(predictions: Sequence[Sequence[Predictions]] | Predictions, metric: str,
                       sources: Sequence[str] = (), resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                       level: float = DEFAULT_LEVEL) -> tuple[float, Interval | None]:
    """``(full-set value, interval)`` of ``metric`` for one method: a single :class:`Predictions`, or one list
    of predictions per seed (statistic: the mean over seeds on each resample). ``sources`` (one per
    predictions, in order) name the files in the error raised when the labels differ."""
    per_seed = _per_seed(predictions)
    flat = [p for s in per_seed for p in s]
    check_same_test_images(flat, _names(sources, len(flat), "method"))
    n = len(flat[0].labels)
    value = float(_statistic(per_seed, metric, np.arange(n)[None, :])[0])
    return value, percentile_interval(_statistic(per_seed, metric, resample_indices(n, resamples, seed)), level)


def paired_interval(a: Sequence[Sequence[Predictions]] | Predictions, b: Sequence[Sequence[Predictions]] | Predictions,
                    metric: str, sources_a: Sequence[str] = (), sources_b: Sequence[str] = (),
                    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                    level: float = DEFAULT_LEVEL) -> tuple[float, Interval | None]:
    """``(full-set difference A - B, paired interval)`` of ``metric``: the same resampled test images for both
    methods (each a :class:`Predictions` or one list per seed, see :func:`bootstrap_interval`); refused with
    an :class:`InputFileError` naming a file of each side when their labels differ."""
    sa, sb = _per_seed(a), _per_seed(b)
    flat_a, flat_b = [p for s in sa for p in s], [p for s in sb for p in s]
    names_a, names_b = _names(sources_a, len(flat_a), "A"), _names(sources_b, len(flat_b), "B")
    check_same_test_images(flat_a, names_a)
    check_same_test_images(flat_b, names_b)
    check_same_test_images([flat_a[0], flat_b[0]], [names_a[0], names_b[0]])
    n = len(flat_a[0].labels)
    full, idx = np.arange(n)[None, :], resample_indices(n, resamples, seed)
    diff = float((_statistic(sa, metric, full) - _statistic(sb, metric, full))[0])
    return diff, percentile_interval(_statistic(sa, metric, idx) - _statistic(sb, metric, idx), level)


__all__ = ["DEFAULT_LEVEL", "DEFAULT_MIN_DEFINED", "DEFAULT_RESAMPLES", "DEFAULT_SEED", "Interval", "bootstrap_interval",
           "check_same_test_images", "metric_replicates", "paired_interval", "percentile_interval",
           "resample_indices", "seed_mean_replicates"]
