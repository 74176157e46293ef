"""The report stage: paper-form tables (Markdown / LaTeX / CSV), plots and ``report.md`` from result files.

Reads only result records (``byol_pkg.eval.results``) and pretraining ``metrics.csv`` files; the paper's
published numbers live in :mod:`byol_pkg.report.published`. The names below are imported on first use, so that
``byol`` (whose ``report`` command is in :mod:`byol_pkg.cli.results`) does not load pandas, seaborn and matplotlib.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_report": "build",
    "all_plots": "plots", "plot_knn_curve": "plots", "plot_pretrain_curves": "plots", "plot_semisup": "plots",
    "plot_transfer": "plots",
    "Comparison": "tables", "ReportTable": "table_model", "compare": "tables", "comparison_table": "tables",
    "knn_table": "tables", "paper_tables": "tables", "table1": "tables", "table2": "tables", "table3": "tables",
    "to_csv": "writers", "to_latex": "writers", "to_markdown": "writers", "write_table": "writers",
    "Bootstrapper": "intervals", "bootstrap_interval": "bootstrap", "paired_interval": "bootstrap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
