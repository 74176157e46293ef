"""Report outputs in the forms DVC reads: ``metrics.json`` (the headline results, for ``dvc metrics show`` /
``dvc exp show``) and ``curves/<quantity>/<run>.csv`` (pretraining curves, for ``dvc plots show``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text
from .plots import run_labels
from .records import final_records, prepare

#: Columns of a pretraining metrics.csv that the DVC plots show against ``step``.
CURVE_QUANTITIES = ("loss", "tau", "lr", "collapse_std")


def headline_metrics(frame: pd.DataFrame, decimals: int = 2) -> dict:
    """``{method: {protocol[:variant]: {dataset: {metric: mean over seeds}}}}`` of the final checkpoints, plus
    ``n_seeds`` per method (DVC flattens the nesting into ``byol.linear:cached.fashion_mnist.top1``); ablation
    records (``method`` ``<base>/<ablation>/<variant>``) are left out."""
    df = prepare(frame)
    if df.empty:
        return {}
    df = final_records(df)
    out: dict = {}
    for (method, protocol, variant, dataset, metric), part in df.groupby(
            ["method", "protocol", "variant", "dataset", "metric"], sort=True):
        key = f"{protocol}:{variant}" if variant else protocol
        cell = out.setdefault(method, {}).setdefault(key, {}).setdefault(dataset, {})
        cell[metric] = round(float(part["value"].mean()), decimals)
    for method, part in df.groupby("method"):
        out[method]["n_seeds"] = int(part["seed"].nunique())
    return out


def write_metrics_json(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write :func:`headline_metrics` atomically as JSON."""
    return atomic_write_text(path, json.dumps(headline_metrics(frame), indent=2, sort_keys=True) + "\n")


def _curve_label(path: str | Path) -> str:
    """``.../pretrain/<run>[/<ablation>/<variant>]/seed<S>/metrics.csv`` -> ``<run>[_<ablation>_<variant>]_seed<S>``
    (the folders below ``pretrain``; the last two folders when there is none)."""
    parts = Path(path).parent.parts
    below = parts[len(parts) - parts[::-1].index("pretrain"):] if "pretrain" in parts else ()
    return "_".join(below or parts[-2:])


def export_curves(metrics_csvs: list[Path], folder: str | Path) -> list[Path]:
    """One folder per curve, one file per run (ablation runs included): ``folder/<quantity>/<run>_seed<seed>.csv``
    (``<run>_<ablation>_<variant>_seed<seed>.csv`` for an ablation run) with columns ``step`` and the quantity
    (loss, tau, lr, collapse_std), so that DVC overlays the runs in one plot per quantity. Files of runs
    no longer given are removed so that the folders match the inputs."""
    folder = Path(folder)
    labels = [_curve_label(p) for p in metrics_csvs]  # <run>_seed<seed>
    if len(set(labels)) < len(labels):
        labels = [label.replace("/", "_") for label in run_labels(metrics_csvs)]
    written = []
    for path, label in zip(metrics_csvs, labels):
        try:
            data = pd.read_csv(path)
        except (pd.errors.EmptyDataError, FileNotFoundError):
            continue
        if "step" not in data or data.empty:
            continue
        for quantity in CURVE_QUANTITIES:
            if quantity in data:
                target = folder / quantity / f"{label}.csv"
                written.append(atomic_write_text(target, data[["step", quantity]].to_csv(index=False)))
    for stale in set(folder.glob("*/*.csv")) - set(written):
        stale.unlink()
    return written
