"""Result records as the report reads them: one pandas frame of the records of the result files, with display
labels (method, dataset, metric), label fractions, ablation flags, and the orders the tables and plots share."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from . import published as pub


#: Display names of our ``method`` values; others are shown as they are.
METHOD_NAMES = {"byol": "BYOL", "simclr": "SimCLR", "supervised": "Supervised", "random-init": "Random init",
                "random_init": "Random init", "moco": "MoCo", "mocov2": "MoCo v2",
                pub.SUPERVISED_IN: "Supervised-IN"}


METRIC_NAMES = {"top1": "top-1", "top5": "top-5", "mean_per_class": "mean per-class", "voc07_map": "11-pt mAP"}


PROTOCOL_NAMES = {"transfer_linear": "Linear evaluation", "finetune": "Fine-tuned"}


def method_label(method: str) -> str:
    """Display name of a method (``byol`` -> ``BYOL``)."""
    return METHOD_NAMES.get(str(method).lower(), str(method))


def dataset_label(dataset: str) -> str:
    """Display name of a dataset registry name (its record's ``display``: Table 3's title for the transfer
    sets); a name not registered is shown as it is."""
    from ..data.registry import DATASETS

    builder = DATASETS.get(dataset)
    return builder.info.display if builder is not None else dataset


def label_fraction(variant: str, hyperparameters: object = None) -> float | None:
    """Label fraction in percent of a semi-supervised record: ``hyperparameters["label_fraction"]`` (a
    fraction) when present, else parsed from the variant (``"1%"``, ``"10percent"``, ``"frac0.01"``)."""
    if isinstance(hyperparameters, dict) and isinstance(hyperparameters.get("label_fraction"), (int, float)):
        return round(100.0 * float(hyperparameters["label_fraction"]), 6)
    text = str(variant or "")
    m = re.search(r"(\d+(?:\.\d+)?)\s*(%|percent|pct)", text)
    if m:
        return float(m.group(1))
    m = re.search(r"frac(?:tion)?[_-]?(\d*\.\d+)", text)
    return 100.0 * float(m.group(1)) if m else None


def is_ablation_method(method: object) -> bool:
    """Whether a ``method`` value names an ablation variant (``"{base}/{ablation}/{variant}"``)."""
    return "/" in str(method)


_SEED_DIR = re.compile(r"seed\d+")


def is_ablation_run(path: str | Path) -> bool:
    """Whether a file of a pretraining run (``metrics.csv``, ``encoder.pt``) belongs to an ablation run: its
    folder has extra levels below ``pretrain/``, ``results/pretrain/<run>/<ablation>/<variant>/seed<S>/``.
    False when the path has no ``pretrain`` folder."""
    parts = [p for p in Path(path).parent.parts if p not in ("", ".")]
    if "pretrain" not in parts:
        return False
    last = len(parts) - 1 - parts[::-1].index("pretrain")
    below = parts[last + 1:]
    if below and _SEED_DIR.fullmatch(below[-1]):
        below = below[:-1]
    return len(below) > 1


def prepare(frame: pd.DataFrame, ablations: bool = False) -> pd.DataFrame:
    """Normalised copy of a :func:`~byol_pkg.eval.results.results_frame`: missing fields filled (``variant`` "",
    ``method`` "unknown", ``seed`` 0), ``pretrain_epoch`` and ``fraction`` columns, a ``label`` column (method
    display name, plus the backbone when one method has several), and only each run's final checkpoint kept
    (records without ``pretrain_epoch``, else the latest epoch). Ablation records (``method`` with a ``/``, see
    :mod:`byol_pkg.report.ablations`) are dropped unless ``ablations`` is true."""
    df = frame.copy() if frame is not None else pd.DataFrame()
    for col, default in (("protocol", ""), ("variant", ""), ("metric", ""), ("dataset", ""), ("method", "unknown"),
                         ("backbone", ""), ("seed", 0), ("value", math.nan)):
        if col not in df:
            df[col] = default
        df[col] = df[col].fillna(default)
    if not ablations and not df.empty:
        df = df[~df["method"].map(is_ablation_method)].copy()
    if df.empty:
        return df.assign(pretrain_epoch=pd.Series(dtype=float), fraction=pd.Series(dtype=float),
                         label=pd.Series(dtype=str))
    df["method"] = df["method"].astype(str).replace("", "unknown")
    df["value"] = df["value"].astype(float)
    df["seed"] = df["seed"].astype(int)
    hps = df["hyperparameters"] if "hyperparameters" in df else pd.Series([{}] * len(df), index=df.index)
    df["pretrain_epoch"] = [h.get("pretrain_epoch") if isinstance(h, dict) else None for h in hps]
    df["pretrain_epoch"] = pd.to_numeric(df["pretrain_epoch"], errors="coerce")
    df["fraction"] = [label_fraction(v, h) if p == "semisup" else None
                      for v, h, p in zip(df["variant"], hps, df["protocol"])]
    df["fraction"] = pd.to_numeric(df["fraction"], errors="coerce")
    backbones = df.groupby("method")["backbone"].nunique()
    df["label"] = [method_label(m) + (f" ({b})" if backbones[m] > 1 and b else "")
                   for m, b in zip(df["method"], df["backbone"])]
    return df


def final_records(df: pd.DataFrame) -> pd.DataFrame:
    """Drop records of intermediate checkpoints: per run and cell keep the records without ``pretrain_epoch``
    if there are any, else those of the largest ``pretrain_epoch``."""
    if df.empty:
        return df
    keys = ["label", "seed", "protocol", "dataset", "variant", "metric"]
    epoch = df["pretrain_epoch"].fillna(math.inf)
    best = epoch.groupby([df[k] for k in keys]).transform("max")
    return df[epoch == best]


def summarise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean, sample std (NaN for one seed) and seed count of ``value`` per ``keys``; one seed's repeats are
    averaged first."""
    if df.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "n"])
    per_seed = df.groupby([*keys, "seed"], dropna=False, sort=False)["value"].mean().reset_index()
    out = per_seed.groupby(keys, dropna=False, sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def sorted_labels(df: pd.DataFrame) -> list[str]:
    """Row order: BYOL first, then the other methods alphabetically, the baselines (supervised, random init)
    last."""
    def rank(label: str) -> tuple:
        low = label.lower()
        baselines = {"supervised": 2, "random": 3}
        group = 0 if low.startswith("byol") else next((g for k, g in baselines.items() if low.startswith(k)), 1)
        return group, low

    return sorted(set(df["label"]), key=rank)


def k_of(variant: str) -> float:
    m = re.search(r"k\s*=\s*(\d+)", str(variant))
    return float(m.group(1)) if m else math.inf


def dataset_order(datasets) -> list[str]:
    """ImageNet first, then Table 3's order, then the rest alphabetically."""
    table3 = {d: i for i, d in enumerate(pub.TABLE3_DATASETS)}
    return sorted(set(datasets), key=lambda d: (d not in pub.IMAGENET_NAMES, table3.get(d, len(table3)), d))


def table3_metric(dataset: str) -> str:
    """The metric Table 3 reports for a dataset (spec §6.6; its record's ``metric``)."""
    from ..data.registry import metric_for_dataset

    try:
        return metric_for_dataset(dataset)
    except ValueError:
        return "top1"


def pick_table3_metric(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset keep the paper's metric, or the only metric recorded when that one is absent."""
    keep = []
    for dataset, group in df.groupby("dataset"):
        metric = table3_metric(dataset)
        if metric not in set(group["metric"]):
            metrics = sorted(set(group["metric"]))
            metric = "top1" if "top1" in metrics else metrics[0]
        keep.append(group[group["metric"] == metric])
    return pd.concat(keep) if keep else df
