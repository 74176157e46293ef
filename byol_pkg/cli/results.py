"""``byol results | report``: collect result files into one table; the paper-form report."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_results(args: argparse.Namespace) -> int:
    from ..eval.results import results_frame, summary_table
    from .common import check_outputs

    check_outputs(args)
    frame = results_frame(args.files)
    if frame.empty:
        print("no result records")
        return 0
    if args.csv:
        from ..io import atomic_write_text

        atomic_write_text(args.csv, frame.to_csv(index=False))
    table = summary_table(frame, args.by).reset_index()
    print(table.to_markdown(index=False) if args.markdown else table.to_string(index=False))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report (pandas, seaborn and matplotlib load only here)."""
    from ..report.build import build_report
    from .common import check_outputs

    check_outputs(args)
    if args.bootstrap_resamples < 0:
        from ..errors import ConfigError

        raise ConfigError(f"--bootstrap-resamples: expected 0 (no intervals) or more, got {args.bootstrap_resamples}")
    out = build_report(args.results, args.metrics, args.out, decimals=args.decimals,
                       resamples=args.bootstrap_resamples, bootstrap_seed=args.bootstrap_seed)
    tables = ", ".join(out["tables"]) or "none"
    plots = ", ".join(out["plots"]) or "none"
    print(f"{out['report']}: {out['records']} records; tables: {tables}; plots: {plots}")
    return 0


def register(sub) -> None:
    """Add ``byol results`` and ``byol report``."""
    r = sub.add_parser("results", help="collect result files into one table (value per protocol/dataset/metric)")
    r.add_argument("files", nargs="+", type=Path, help="result JSON files written by the evaluation commands")
    r.add_argument("--by", default="method", help="column of the table (method, encoder, seed, ...)")
    r.add_argument("--csv", default=None, help="also write every record as one tidy CSV")
    r.add_argument("--markdown", action="store_true", help="print a Markdown table")
    r.set_defaults(func=cmd_results)

    p = sub.add_parser("report", help="paper-form tables (Markdown, LaTeX, CSV), plots and report.md "
                                      "from result files")
    p.add_argument("--results", nargs="*", type=Path, default=[], metavar="FILE",
                   help="result JSON files written by the evaluation commands")
    p.add_argument("--metrics", nargs="*", type=Path, default=[], metavar="CSV",
                   help="pretraining metrics.csv files (curves; runs overlaid)")
    p.add_argument("--out", required=True, help="report folder: tables/, plots/, report.md")
    p.add_argument("--decimals", type=int, default=1, help="decimals of the table cells (default 1, as the paper)")
    p.add_argument("--bootstrap-resamples", type=int, default=1000, metavar="B",
                   help="bootstrap resamples of the test examples for the tables' 95%% intervals and the paired "
                        "comparisons (default 1000; 0: no intervals)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resamples (default 0: a "
                                                                 "deterministic report)")
    p.set_defaults(func=cmd_report)
