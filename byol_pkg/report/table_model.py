"""The table model every report table is made of: value columns, rows of cells (mean ± std over seeds, n, and a
bootstrap interval where there is one), and the table with its title, caption and row-label columns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd


MISSING = "–"


@dataclass(frozen=True)
class Column:
    """One value column: its header and what it holds."""

    label: str
    protocol: str = ""
    dataset: str = ""
    variant: str = ""
    metric: str = ""


@dataclass
class Cell:
    """A mean ± std over ``n`` seeds (``n == 0``: a published value), with an optional bootstrap interval ``ci``
    (``report/bootstrap.py``): shown after a single-seed number (``83.5 [82.8, 84.2] (n=1)``), alone in a cell
    without a number (an interval column), and kept in the CSV for every cell that has one."""

    mean: float
    std: float = math.nan
    n: int = 0
    note: str = ""  # shown instead of the number when set (a text cell)
    decimals: int | None = None  # overrides the table's decimals (e.g. a collapse std of about 0.06)
    ci: tuple[float, float] | None = None  # (low, high) of the bootstrap interval

    def ci_text(self, decimals: int = 1) -> str:
        """``[low, high]`` of the interval, or "" without one."""
        if self.ci is None:
            return ""
        decimals = decimals if self.decimals is None else self.decimals
        return f"[{self.ci[0]:.{decimals}f}, {self.ci[1]:.{decimals}f}]"

    def text(self, decimals: int = 1) -> str:
        if self.note:
            return self.note
        decimals = decimals if self.decimals is None else self.decimals
        if self.mean is None or (isinstance(self.mean, float) and math.isnan(self.mean)):
            return self.ci_text(decimals) or MISSING
        if self.n == 0:
            return f"{self.mean:.{decimals}f}"
        if self.n == 1 or math.isnan(self.std):
            ci = f" {self.ci_text(decimals)}" if self.ci is not None else ""
            return f"{self.mean:.{decimals}f}{ci} (n={self.n})"
        return f"{self.mean:.{decimals}f} ± {self.std:.{decimals}f} (n={self.n})"


@dataclass
class Row:
    """A table row: its labels (one per row-label column), whether it is ours or published, its cells."""

    labels: tuple[str, ...]
    source: str  # "ours" | "published"
    cells: dict[str, Cell] = field(default_factory=dict)  # column label -> cell
    group: str = ""  # rows of one group are printed together; LaTeX puts a rule between groups


@dataclass
class ReportTable:
    """A paper-form table (text cells via :func:`display_frame`)."""

    name: str
    title: str
    caption: str
    row_columns: tuple[str, ...]
    columns: list[Column]
    rows: list[Row]
    decimals: int = 1

    @property
    def empty(self) -> bool:
        return not any(r.source == "ours" for r in self.rows)


def display_frame(table: ReportTable) -> pd.DataFrame:
    """The table as text cells: row-label columns, then one column per value column."""
    records = []
    for row in table.rows:
        rec = dict(zip(table.row_columns, row.labels))
        for col in table.columns:
            cell = row.cells.get(col.label)
            rec[col.label] = cell.text(table.decimals) if cell is not None else MISSING
        records.append(rec)
    return pd.DataFrame(records, columns=[*table.row_columns, *(c.label for c in table.columns)])
