"""Tidy result records: every evaluation command writes a JSON list of flat records that the report stage
collects (``pandas.DataFrame(json.load(f))``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
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


#: Fields every result record must have, and the types of the optional ones a reader relies on.
REQUIRED_FIELDS = ("protocol", "metric", "dataset", "value")
FIELD_TYPES: dict[str, tuple[type, ...]] = {"protocol": (str,), "metric": (str,), "dataset": (str,),
                                            "method": (str,), "variant": (str,), "encoder": (str,),
                                            "backbone": (str,), "seed": (int,), "hyperparameters": (dict,),
                                            "split_sizes": (dict,)}


def record_problem(rec: object) -> str | None:
    """Why ``rec`` is not a usable result record (None: it is): not an object, a required field missing, a field
    of the wrong type, or a value that is not a finite number."""
    if not isinstance(rec, dict):
        return f"is a {type(rec).__name__}, not an object"
    missing = [k for k in REQUIRED_FIELDS if k not in rec]
    if missing:
        return f"lacks {', '.join(repr(k) for k in missing)} (a record needs {', '.join(REQUIRED_FIELDS)})"
    for key, types in FIELD_TYPES.items():
        value = rec.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"field '{key}' is {value!r}, expected a {' or '.join(t.__name__ for t in types)}"
    value = rec["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"field 'value' is {value!r}, expected a finite number"
    return None


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The records of one result file (a JSON list of objects with at least :data:`REQUIRED_FIELDS`); anything
    else is an :class:`InputFileError` naming the file and the first bad record."""
    data = read_json(path, "a JSON list of result records")
    if not isinstance(data, list):
        raise InputFileError(f"{path}: expected a JSON list of result records, got a {type(data).__name__}")
    for i, rec in enumerate(data):
        problem = record_problem(rec)
        if problem is not None:
            raise InputFileError(f"{path}: record {i} {problem}")
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
    """Pivot of ``value``: one row per (protocol, variant, dataset, metric), one column per ``by`` (mean over
    seeds; a record without ``by`` is in the column ``(none)``). Records of an intermediate pretraining checkpoint
    (``hyperparameters.pretrain_epoch``) get their own rows (variant ``"k=20, epoch 1"``) instead of being averaged
    into the final encoder's. An unknown ``by`` is a :class:`~byol_pkg.errors.ConfigError` listing the fields."""
    import pandas as pd

    from ..errors import ConfigError

    if by not in frame:
        fields = ", ".join(sorted(c for c in frame.columns if c != "source"))
        raise ConfigError(f"--by {by}: no record has that field; fields: {fields}")
    frame = frame.assign(**{by: frame[by].map(lambda v: "(none)" if v is None or v != v else v)})
    variant = frame["variant"].fillna("") if "variant" in frame else pd.Series([""] * len(frame), index=frame.index)
    hps = frame["hyperparameters"] if "hyperparameters" in frame else pd.Series([{}] * len(frame), index=frame.index)
    epochs = [h.get("pretrain_epoch") if isinstance(h, dict) else None for h in hps]
    frame = frame.assign(variant=[v if e is None else f"{v}, epoch {e}" if v else f"epoch {e}"
                                  for v, e in zip(variant, epochs)])
    table = frame.pivot_table(index=["protocol", "variant", "dataset", "metric"], columns=by, values="value",
                              aggfunc="mean")
    return table.round(2)
