"""Command-line entry: ``byol <command>`` or ``python -m byol_pkg <command>``.

Parsing and dispatch only: each module registers its commands, and each command turns its arguments into plain
values and calls one library function (the evaluation protocols: :mod:`byol_pkg.eval.protocols`). Every
workflow rule (Snakemake, DVC) and every test calls these same commands. Errors the user can fix
(:class:`~byol_pkg.errors.ByolError`) are caught once, in :func:`main`, and printed as one line.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading

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
    data.register_download(sub)  # download
    results.register(sub)  # results, report
    train.register_config(sub)  # config
    return parser


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    from ..errors import SignalStop

    raise SignalStop(signum)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command. A :class:`ByolError` becomes one line on stderr and its exit code (the
    table in :mod:`byol_pkg.errors`); so does an ``OSError`` (disk full, permission: exit 7). SIGINT and SIGTERM
    end a command with one line and ``128 + signal`` (pretraining first saves a checkpoint; finished outputs are
    written atomically, so they are whole or absent). ``BYOL_DEBUG=1`` keeps the traceback instead."""
    import signal

    from ..errors import OS_ERROR_EXIT, ByolError, Interrupted, os_error_line
    from ..train.interrupts import signal_name

    args = build_parser().parse_args(argv)
    debug = bool(os.environ.get("BYOL_DEBUG"))
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return args.func(args)
    except ByolError as err:
        if debug:
            raise
        line = str(err)
        if isinstance(err, Interrupted) and "resume with:" not in line:
            line += f"; resume with: byol {shlex.join(sys.argv[1:] if argv is None else argv)}"
        print(f"byol {args.command}: {err.label}: {line}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        if debug:
            raise
        print(f"byol {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return OS_ERROR_EXIT
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM as SignalStop
        if debug:
            raise
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"byol {args.command}: stopped: {signal_name(signum)} before the command finished; its finished "
              "outputs are intact, and the same command continues (sweeps from their last checkpoint)",
              file=sys.stderr)
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
