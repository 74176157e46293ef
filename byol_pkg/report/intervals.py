"""The bootstrap intervals of the report's cells, from the predictions kept beside the result files.

A record is traced to its predictions by its file (the records frame's ``source``):
``<result>.json`` -> ``<result>.predictions.npz`` (``eval/predictions.py``), the record's ``variant`` picking the
score matrix of a file that keeps one per variant (kNN's ``k=20``, ``k=200``). A record's metric is recomputed on
the full test set first: predictions that do not reproduce the recorded value (a stale file) give no interval.
The statistics are :mod:`.bootstrap`'s; this module loads each predictions file once and computes each record's
bootstrap values once per report (the tables and the comparisons share them), and says why a cell has none.
"""

from __future__ import annotations

import logging
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..eval.predictions import Predictions, load_predictions, predictions_path
from ..metrics import METRICS
from .bootstrap import (DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, check_same_test_images,
                        metric_replicates, percentile_interval, resample_indices, seed_mean_replicates)

log = logging.getLogger(__name__)

#: Why a cell has no interval (each reads after "No interval where" in the captions).
NO_FILE = "a result has no predictions file beside it (an older result)"
NO_VARIANT = "a predictions file keeps no scores for the record's variant"
NO_METRIC = "the metric cannot be recomputed from predictions"
STALE = "the predictions do not reproduce the recorded value (a stale file)"
UNDEFINED = "the metric is undefined on more than 5 % of the resamples (a class left without positives)"
OFF = "the bootstrap is switched off"

#: Largest |recomputed - recorded| (percentage points) accepted as the same value (float noise only).
VALUE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CellInterval:
    """The interval of one cell (or one paired difference), or None and why."""

    interval: Interval | None
    reason: str = ""

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None if self.interval is None else (self.interval.low, self.interval.high)


@dataclass
class _Replicates:
    source: str
    predictions: Predictions
    values: np.ndarray  # [B]


@dataclass
class Bootstrapper:
    """Bootstrap intervals of report cells (``resamples`` 0: switched off). One per report build: it caches the
    predictions of each file, the resamples of each test-set size and the bootstrap values of each record, and
    collects the reasons cells went without an interval (:attr:`reasons`, for the captions)."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL
    reasons: set[str] = field(default_factory=set)
    _predictions: dict = field(default_factory=dict, repr=False)
    _indices: dict = field(default_factory=dict, repr=False)
    _records: dict = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return self.resamples > 0

    def indices(self, n: int) -> np.ndarray:
        """The ``[resamples, n]`` resampled indices of a test set of ``n`` examples: the same for every record of
        that size (``resample_indices`` is seeded); only the last size is kept (ImageNet's: 200 MB)."""
        if n not in self._indices:
            self._indices.clear()
            self._indices[n] = resample_indices(n, self.resamples, self.seed)
        return self._indices[n]

    def _load(self, source: str, variant: str) -> Predictions | str:
        key = (source, variant)
        if key not in self._predictions:
            path = predictions_path(source) if source else None
            if path is None or not path.is_file():
                self._predictions[key] = NO_FILE
            else:
                try:
                    self._predictions[key] = load_predictions(path, variant)
                except KeyError:
                    self._predictions[key] = NO_VARIANT
                except (ValueError, OSError, zipfile.BadZipFile) as exc:
                    raise InputFileError(f"{path}: not a readable predictions file ({exc}); expected the .npz "
                                         "an evaluation command writes beside its result file") from None
        return self._predictions[key]

    def record(self, rec: dict) -> _Replicates | str:
        """The bootstrap values of one record (a row of the records frame), or why there are none."""
        source = rec.get("source")
        source = "" if source is None or (isinstance(source, float) and math.isnan(source)) else str(source)
        variant, metric = str(rec.get("variant") or ""), str(rec.get("metric"))
        key = (source, variant, metric)
        if key in self._records:
            return self._records[key]
        pred = self._load(source, variant)
        if isinstance(pred, str):
            result: _Replicates | str = pred
        elif metric not in METRICS:
            result = NO_METRIC
        else:
            value = METRICS[metric](pred.scores, pred.labels)
            if abs(value - float(rec["value"])) > VALUE_TOLERANCE:
                log.warning("%s (%s %s): predictions give %.6f, the record %.6f: no interval",
                            predictions_path(source), variant or "-", metric, value, float(rec["value"]))
                result = STALE
            else:
                result = _Replicates(source, pred,
                                     metric_replicates(pred, metric, self.indices(len(pred.labels))))
        self._records[key] = result
        return result

    def _cell_values(self, records: pd.DataFrame) -> tuple[np.ndarray, list[_Replicates]] | str:
        """The statistic of a cell on each resample (mean over seeds of each seed's mean), or why none."""
        if not self.enabled:
            return OFF
        per_seed: dict[int, list[np.ndarray]] = {}
        found: list[_Replicates] = []
        for rec in records.to_dict("records"):
            rep = self.record(rec)
            if isinstance(rep, str):
                return rep
            found.append(rep)
            per_seed.setdefault(int(rec.get("seed", 0)), []).append(rep.values)
        if not found:
            return NO_FILE
        check_same_test_images([r.predictions for r in found], [predictions_path(r.source).as_posix() for r in found])
        return seed_mean_replicates(list(per_seed.values())), found

    def _interval(self, values: np.ndarray | str) -> CellInterval:
        if isinstance(values, str):
            self.reasons.add(values)
            return CellInterval(None, values)
        interval = percentile_interval(values, self.level)
        if interval is None:
            self.reasons.add(UNDEFINED)
            return CellInterval(None, UNDEFINED)
        return CellInterval(interval)

    def cell(self, records: pd.DataFrame) -> CellInterval:
        """The interval of the cell made of ``records`` (one method; one or several seeds)."""
        got = self._cell_values(records)
        return self._interval(got if isinstance(got, str) else got[0])

    def paired(self, records_a: pd.DataFrame, records_b: pd.DataFrame) -> CellInterval:
        """The paired interval of (cell A - cell B) on the same resampled test images; an
        :class:`InputFileError` naming a file of each when they are not scored on the same test images."""
        a, b = self._cell_values(records_a), self._cell_values(records_b)
        if isinstance(a, str) or isinstance(b, str):
            return self._interval(a if isinstance(a, str) else b)
        check_same_test_images([a[1][0].predictions, b[1][0].predictions],
                               [predictions_path(a[1][0].source).as_posix(),
                                predictions_path(b[1][0].source).as_posix()])
        return self._interval(a[0] - b[0])

    def intervals(self, df: pd.DataFrame, keys: list[str]) -> dict[tuple, CellInterval]:
        """The interval of every group of ``df`` by ``keys`` (the cells of a table)."""
        if df.empty:
            return {}
        return {(key if isinstance(key, tuple) else (key,)): self.cell(group)
                for key, group in df.groupby(keys, dropna=False, sort=False)}


def result_sources(frame: pd.DataFrame) -> list[Path]:
    """The predictions files the records of ``frame`` are traced to (whether or not they exist)."""
    if frame.empty or "source" not in frame:
        return []
    return sorted({predictions_path(s) for s in frame["source"].dropna().astype(str)})
