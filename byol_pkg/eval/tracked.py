"""What an evaluation logs to its tracked run (``train/tracking.py``) once its protocol returns: the test scores and
selected hyper-parameters of its records as the summary and, for the protocols that select on cached features
(linear, transfer-linear), the validation score of each grid value as a curve (step = position in the grid).
The image-trained sweeps log their own curves while they train (``eval/sweep.py``)."""

from __future__ import annotations

from typing import Any

from ..train.tracking import Tracking
from .runner import ProtocolResult

#: Record hyper-parameters that hold the validation score of each grid value (``linear``, ``transfer_linear``).
GRID_SCORES = ("val_top1", "val_scores")
#: Record hyper-parameters that hold the selected value (logged as ``selected/<name>``).
SELECTED = ("base_lr", "lambda")


def grid_curve(values: Any) -> list[tuple[int, dict[str, float]]]:
    """``[(step, {"val/score": v[, "val/grid_value": g]})]`` for a dict ``{grid value: score}`` (in its order) or a
    list of scores; step 1 is the first grid value."""
    items = list(values.items()) if isinstance(values, dict) else list(enumerate(values))
    curve = []
    for i, (key, score) in enumerate(items, start=1):
        row = {"val/score": float(score)}
        if isinstance(values, dict):
            try:
                row["val/grid_value"] = float(key)
            except (TypeError, ValueError):
                pass
        curve.append((i, row))
    return curve


def result_summary(result: ProtocolResult) -> dict[str, float]:
    """``test/<metric>[/<variant>]`` of each record, and ``selected/<name>`` of its selected hyper-parameters."""
    summary: dict[str, float] = {}
    several = len({record.variant for record in result.records}) > 1  # kNN: one record per k
    for record in result.records:
        suffix = f"/{record.variant}" if several else ""
        summary[f"test/{record.metric}{suffix}"] = record.value
        for name in SELECTED:
            value = record.hyperparameters.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                summary[f"selected/{name}{suffix}"] = value
    return summary


def log_result(tracking: Tracking, result: ProtocolResult, curves: bool = True) -> None:
    """Log ``result`` (``curves``: also the grid's validation curve, for protocols that do not log their own)."""
    if not tracking.enabled:
        return
    last = 0
    if curves and result.records:
        hp = result.records[0].hyperparameters
        for name in GRID_SCORES:
            if name in hp:
                for step, row in grid_curve(hp[name]):
                    tracking.log_metrics(row, step)
                    last = step
                break
    tracking.log_summary(result_summary(result), last)
