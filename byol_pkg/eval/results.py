"""Tidy result records: every evaluation command writes a JSON list of flat records that the report stage
collects (``pandas.DataFrame(json.load(f))``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import InputFileError
from ..io import atomic_write_text, read_json


@dataclasses.dataclass
class ResultRecord:
    """One number of one protocol: what was evaluated, how, on what, and the value."""

    protocol: str  # knn | linear | transfer_linear | finetune | semisup | quick_linear_probe
    metric: str  # top1 | top5 | mean_per_class | voc07_map
    value: float  # percentage
    dataset: str
    encoder: str  # path of the encoder state dict, or "random-init"
    encoder_sha256: str
    method: str = "byol"
    variant: str = ""  # what distinguishes records of one protocol: "k=20", "cached", "1%", ...
    backbone: str = ""
    split_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    hyperparameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    wall_s: float = 0.0
    byol_bench_version: str = __version__
    created: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_results(path: str | Path, records: list[ResultRecord]) -> Path:
    """Write the records atomically as a JSON list."""
    text = json.dumps([dataclasses.asdict(r) for r in records], indent=2, sort_keys=True) + "\n"
    return atomic_write_text(path, text)


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The records of one result file (a JSON list of objects)."""
    data = read_json(path, "a JSON list of result records")
    if not isinstance(data, list):
        raise InputFileError(f"{path}: expected a JSON list of result records, got a {type(data).__name__}")
    return data


def results_frame(paths: list[str | Path]):
    """All records of the given result files as one pandas DataFrame (one row per record, ``source`` = file)."""
    import pandas as pd

    rows = []
    for path in paths:
        for rec in read_results(path):
            rows.append({**rec, "source": str(path)})
    return pd.DataFrame(rows)


def summary_table(frame, by: str = "encoder"):
    import pandas as pd

    """Pivot of ``value``: one row per (protocol, variant, dataset, metric), one column per ``by`` (mean over
    seeds). Records of an intermediate pretraining checkpoint (``hyperparameters.pretrain_epoch``) get their own
    rows (variant ``"k=20, epoch 1"``) instead of being averaged into the final encoder's."""
    variant = frame["variant"].fillna("") if "variant" in frame else pd.Series([""] * len(frame), index=frame.index)
    hps = frame["hyperparameters"] if "hyperparameters" in frame else pd.Series([{}] * len(frame), index=frame.index)
    epochs = [h.get("pretrain_epoch") if isinstance(h, dict) else None for h in hps]
    frame = frame.assign(variant=[v if e is None else f"{v}, epoch {e}" if v else f"epoch {e}"
                                  for v, e in zip(variant, epochs)])
    table = frame.pivot_table(index=["protocol", "variant", "dataset", "metric"], columns=by, values="value",
                              aggfunc="mean")
    return table.round(2)
