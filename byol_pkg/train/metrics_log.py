"""The per-step metrics log of a run (``metrics.csv``), resumable without duplicate rows."""

from __future__ import annotations

import csv
from pathlib import Path

from ..io import atomic_write_text

COLUMNS = ("step", "epoch", "loss", "lr", "tau", "collapse_std", "images_per_s", "data_wait_frac", "elapsed_s")


class MetricsLog:
    """Appends one CSV row per logged step; on resume, rows after the checkpoint's step are dropped first."""

    def __init__(self, path: str | Path, resume_step: int = 0) -> None:
        self.path = Path(path)
        kept = [r for r in self.read() if int(r["step"]) <= resume_step] if resume_step else []
        header = ",".join(COLUMNS) + "\n"
        body = "".join(",".join(str(r[c]) for c in COLUMNS) + "\n" for r in kept)
        atomic_write_text(self.path, header + body)

    def read(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with self.path.open(newline="") as f:
            return [row for row in csv.DictReader(f) if row.get("step")]

    def append(self, row: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(",".join(_fmt(row[c]) for c in COLUMNS) + "\n")
            f.flush()


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"
