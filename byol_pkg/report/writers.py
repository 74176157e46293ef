"""Writers of a :class:`~byol_pkg.report.table_model.ReportTable`: :func:`to_markdown`, :func:`to_latex`
(booktabs, hand-written: no jinja2), :func:`to_csv` (one tidy row per cell with mean, std, n, the bootstrap
interval and the text) and :func:`write_table` (all three, atomically)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text
from .table_model import ReportTable, display_frame


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(table: ReportTable) -> str:
    """A GitHub pipe table: row labels left-aligned, values right-aligned."""
    frame = display_frame(table)
    n_labels = len(table.row_columns)
    header = "| " + " | ".join(_md_escape(c) for c in frame.columns) + " |"
    rule = "|" + "|".join(":---" if i < n_labels else "---:" for i in range(len(frame.columns))) + "|"
    body = ["| " + " | ".join(_md_escape(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "–": "--", "−": "--", "Δ": r"$\Delta$", "×": r"$\times$", "τ": r"$\tau$",
                  "β": r"$\beta$", "λ": r"$\lambda$", "ℓ": r"$\ell$", "✓": r"$\checkmark$", "—": "---",
                  "<": r"$<$", ">": r"$>$", "✗": r"$\times$", "α": r"$\alpha$",
                  "[": "{[}", "]": "{]}"}  # braced: a cell's "[" after "\\" would read as its optional argument


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_text(text: str) -> str:
    """Escape a caption, turning Markdown code spans (`x`) into ``\\texttt{x}``."""
    parts = str(text).split("`")
    return "".join(rf"\texttt{{{latex_escape(p)}}}" if i % 2 else latex_escape(p) for i, p in enumerate(parts))


def to_latex(table: ReportTable) -> str:
    """A booktabs ``table`` with a ``tabular``; a rule between row groups (ours / published / protocols)."""
    frame = display_frame(table)
    n_labels = len(table.row_columns)
    spec = "l" * n_labels + "r" * len(table.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.title)}. {_latex_text(table.caption)}}}",
             rf"\label{{tab:{table.name}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    previous = None
    for row, rec in zip(table.rows, frame.itertuples(index=False)):
        if previous is not None and row.group != previous:
            lines.append(r"\midrule")
        previous = row.group
        lines.append(" & ".join(latex_escape(v) for v in rec) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: ReportTable) -> str:
    """One tidy row per filled cell: row labels, source, column and what it holds, mean, std, n, the bootstrap
    interval (``ci_low``, ``ci_high``; empty without one) and text."""
    records = []
    for row in table.rows:
        for col in table.columns:
            cell = row.cells.get(col.label)
            if cell is None:
                continue
            records.append({**dict(zip(table.row_columns, row.labels)), "source": row.source,
                            "column": col.label, "protocol": col.protocol, "dataset": col.dataset,
                            "variant": col.variant, "metric": col.metric, "mean": cell.mean,
                            "std": cell.std, "n": cell.n,
                            "ci_low": cell.ci[0] if cell.ci is not None else math.nan,
                            "ci_high": cell.ci[1] if cell.ci is not None else math.nan,
                            "text": cell.text(table.decimals)})
    columns = [*table.row_columns, "source", "column", "protocol", "dataset", "variant", "metric", "mean", "std",
               "n", "ci_low", "ci_high", "text"]
    return pd.DataFrame(records, columns=columns).to_csv(index=False)


def write_table(table: ReportTable, out_dir: str | Path) -> list[Path]:
    """Write ``<name>.md``, ``.tex`` and ``.csv`` atomically under ``out_dir``."""
    out_dir = Path(out_dir)
    return [atomic_write_text(out_dir / f"{table.name}.md", to_markdown(table)),
            atomic_write_text(out_dir / f"{table.name}.tex", to_latex(table)),
            atomic_write_text(out_dir / f"{table.name}.csv", to_csv(table))]
