"""Command-line entry: ``byol <command>`` or ``python -m byol_pkg <command>``.

Parsing and dispatch only: each module registers its commands, and each command turns its arguments into plain
values and calls one library function (the evaluation protocols: :mod:`byol_pkg.eval.protocols`). Every
workflow rule (Snakemake, DVC) and every test calls these same commands. Errors the user can fix
(:class:`~byol_pkg.errors.ByolError`) are caught once, in :func:`main`, and printed as one line.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import data, evaluate, results, train


def build_parser() -> argparse.ArgumentParser:
    """The ``byol`` parser with every command."""
    parser = argparse.ArgumentParser(prog="byol", description="byol-bench: BYOL pretraining and evaluation.")
    parser.add_argument("--version", action="version", version=f"byol-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train.register(sub)  # pretrain, export-encoder, convert-official
    data.register(sub)  # prepare
    evaluate.register(sub)  # probe, extract, knn, transfer-linear, linear, finetune, semisup
    data.register_subset(sub)  # subset
    results.register(sub)  # results, report
    train.register_config(sub)  # config
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; a :class:`ByolError` becomes one line on stderr and exit code 2."""
    from ..errors import ByolError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ByolError as err:
        print(f"byol {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
