"""``byol pretrain | export-encoder | convert-official | config``: pretraining runs and the encoders they leave."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from .common import add_config_args, setup_logging


def resume_command(args: argparse.Namespace) -> str:
    """The ``byol pretrain`` command line that continues this run (printed when a signal stops it)."""
    argv = ["byol", "pretrain"] + (["--config", args.config] if args.config else [])
    for override in args.set:
        argv += ["--set", override]
    return shlex.join(argv + ["--out", args.out])


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..io import check_output_path
    from ..train.pretrain import pretrain
    from ..train.tracking import check_packages

    cfg = load_config(args.config, args.set)
    out = check_output_path(args.out, "--out", folder=True)
    check_packages(cfg.tracking)  # before the run folder (train.log) exists
    if int(os.environ.get("RANK", "0")) == 0:
        setup_logging(out)
    else:
        setup_logging(None, quiet=True)
    pretrain(cfg, out, overwrite=args.overwrite, resume_command=resume_command(args))
    return 0


def cmd_export_encoder(args: argparse.Namespace) -> int:
    from ..train.export import export_checkpoint

    from ..io import check_output_path

    setup_logging()
    check_output_path(args.out)
    info = export_checkpoint(args.checkpoint, args.out, args.pretrain_epoch)
    epoch = info.get("pretrain_epoch")
    print(f"{args.out}: online encoder of {args.checkpoint} (step {info['step']}"
          + (f", epoch {epoch})" if epoch is not None else ")"))
    return 0


def cmd_convert_official(args: argparse.Namespace) -> int:
    from ..io import check_output_path
    from ..models.convert_official import convert_official_checkpoint

    check_output_path(args.out)
    meta = convert_official_checkpoint(args.checkpoint, args.out, args.depth)
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from ..config import dump_yaml, load_config

    sys.stdout.write(dump_yaml(load_config(args.config, args.set)))
    return 0


def add_convert_parser(sub) -> argparse.ArgumentParser:
    """Register ``convert-official`` on an argparse subparsers object (``func`` = :func:`cmd_convert_official`)."""
    from ..models.convert_official import SUPPORTED_DEPTHS

    p = sub.add_parser("convert-official", help="convert an official BYOL checkpoint (DeepMind JAX release, e.g. "
                                                "pretrain_res50x1.pkl) to encoder.pt + encoder.json")
    p.add_argument("--checkpoint", required=True, type=Path, help="the official .pkl (online network is used)")
    p.add_argument("--out", required=True, help="encoder file to write (encoder.json and encoder.timm/ go beside it)")
    p.add_argument("--depth", type=int, default=50, choices=sorted(SUPPORTED_DEPTHS),
                   help="ResNet depth of the checkpoint (default 50; width multiplier 1 only)")
    p.set_defaults(func=cmd_convert_official)
    return p


def register(sub) -> None:
    """Add the pretraining commands to the ``byol`` parser's subparsers."""
    p = sub.add_parser("pretrain", help="pretraining: BYOL, or the SimCLR / supervised baselines and ablation "
                                        "variants of config section method (resumes from OUT/checkpoints)")
    add_config_args(p)
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics.csv, encoder.pt, encoder.timm/, config.yaml")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run of a different config in --out (default: refuse, naming the first "
                        "setting that differs)")
    p.set_defaults(func=cmd_pretrain)

    x = sub.add_parser("export-encoder", help="write the online encoder of a training checkpoint as "
                                                "encoder.pt + encoder.json (e.g. one per kept epoch)")
    x.add_argument("--checkpoint", required=True, type=Path, help="RUN/checkpoints/epoch_XXXX.pt (or last.pt)")
    x.add_argument("--out", required=True, help="encoder file to write (encoder.json and encoder.timm/ go beside it)")
    x.add_argument("--pretrain-epoch", type=int, default=None,
                   help="epoch recorded in encoder.json (default: XXXX of an epoch_XXXX.pt name)")
    x.set_defaults(func=cmd_export_encoder)

    add_convert_parser(sub)


def register_config(sub) -> None:
    """Add ``byol config`` (printed last in ``byol --help``)."""
    c = sub.add_parser("config", help="print the fully resolved config (defaults + file + --set)")
    add_config_args(c, required=False)
    c.set_defaults(func=cmd_config)
