"""Per-example test predictions kept beside a result file, so that every reported value can be recomputed from
what the model actually output (``tests/test_transfer_datasets.py`` recomputes each Table 3 metric from them).

``<result>.json`` gets ``<result>.predictions.npz`` beside it: ``labels`` (class indices [N], or VOC2007's
{1, -1, 0} [N, C]) and ``scores`` ([N, C] float32: logits, or per-class decision scores for multi-label), in the
test split's order. A command that reports several variants from one set of features (kNN's k=20 and k=200)
keeps one score matrix per variant, ``scores/<variant>``, against the same labels. Written atomically; read
without pickle.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..io import atomic_write


@dataclass(frozen=True)
class Predictions:
    """What a classifier output on the test split: ``scores`` [N, C] and the ``labels`` they are scored against."""

    labels: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if self.scores.ndim != 2 or len(self.scores) != len(self.labels):
            raise ValueError(f"predictions: scores {self.scores.shape} do not match labels {self.labels.shape}")


def predictions_path(result: str | Path) -> Path:
    """``results/x/digits.json`` -> ``results/x/digits.predictions.npz``."""
    result = Path(result)
    return result.with_name(result.stem + ".predictions.npz")


def save_predictions(path: str | Path, predictions: Predictions | Mapping[str, Predictions]) -> Path:
    """Write ``predictions`` to ``path`` (an ``.npz``) atomically: one :class:`Predictions`, or one per result
    variant (all scored against the same labels)."""
    if isinstance(predictions, Predictions):
        arrays = {"scores": np.asarray(predictions.scores, np.float32)}
        labels = predictions.labels
    else:
        if not predictions:
            raise ValueError(f"{path}: no predictions to save")
        labels = next(iter(predictions.values())).labels
        if any(not np.array_equal(p.labels, labels) for p in predictions.values()):
            raise ValueError(f"{path}: the variants' predictions are scored against different labels")
        arrays = {f"scores/{variant}": np.asarray(p.scores, np.float32) for variant, p in predictions.items()}

    def write(f) -> None:
        buf = io.BytesIO()
        np.savez(buf, labels=np.asarray(labels), **arrays)
        f.write(buf.getvalue())

    return atomic_write(path, write)


def load_predictions(path: str | Path, variant: str | None = None) -> Predictions:
    """Read an ``.npz`` written by :func:`save_predictions` (no pickled objects). A file that keeps one score
    matrix per variant needs the ``variant`` (a result record's ``variant``); a single one ignores it."""
    with np.load(path, allow_pickle=False) as data:
        if "scores" in data.files:
            return Predictions(labels=data["labels"], scores=data["scores"])
        key = f"scores/{variant}"
        if key not in data.files:
            kept = sorted(f[len("scores/"):] for f in data.files if f.startswith("scores/"))
            raise KeyError(f"{path}: no predictions for variant {variant!r} (it keeps {kept})")
        return Predictions(labels=data["labels"], scores=data[key])
