"""``byol report --results FILE... [--metrics CSV...] --out DIR``: the report stage on the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report; a missing or malformed result file is an InputFileError."""
    from .build import build_report

    out = build_report(args.results, args.metrics, args.out, decimals=args.decimals)  # errors: ``byol`` prints them
    tables = ", ".join(out["tables"]) or "none"
    plots = ", ".join(out["plots"]) or "none"
    print(f"{out['report']}: {out['records']} records; tables: {tables}; plots: {plots}")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the ``byol`` parser's subparsers."""
    p = subparsers.add_parser("report", help="paper-form tables (Markdown, LaTeX, CSV), plots and report.md "
                                             "from result files")
    p.add_argument("--results", nargs="*", type=Path, default=[], metavar="FILE",
                   help="result JSON files written by the evaluation commands")
    p.add_argument("--metrics", nargs="*", type=Path, default=[], metavar="CSV",
                   help="pretraining metrics.csv files (curves; runs overlaid)")
    p.add_argument("--out", type=Path, required=True, help="report folder: tables/, plots/, report.md")
    p.add_argument("--decimals", type=int, default=1, help="decimals of the table cells (default 1, as the paper)")
    p.set_defaults(func=cmd_report)
    return p
