"""Per-example test predictions kept beside a result file, so that every reported value can be recomputed from
what the model actually output (``tests/test_transfer_datasets.py`` recomputes each Table 3 metric from them).

``<result>.json`` gets ``<result>.predictions.npz`` beside it: ``labels`` (class indices [N], or VOC2007's
{1, -1, 0} [N, C]) and ``scores`` ([N, C] float32: logits, or per-class decision scores for multi-label), in the
test split's order. Written atomically; read without pickle.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

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


def save_predictions(path: str | Path, predictions: Predictions) -> Path:
    """Write ``predictions`` to ``path`` (an ``.npz``) atomically."""

    def write(f) -> None:
        buf = io.BytesIO()
        np.savez(buf, labels=np.asarray(predictions.labels), scores=np.asarray(predictions.scores, np.float32))
        f.write(buf.getvalue())

    return atomic_write(path, write)


def load_predictions(path: str | Path) -> Predictions:
    """Read an ``.npz`` written by :func:`save_predictions` (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return Predictions(labels=data["labels"], scores=data["scores"])
