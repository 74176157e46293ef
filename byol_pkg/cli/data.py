"""``byol prepare | subset | download``: check a dataset and record its splits; draw a labelled subset; fetch a
dataset's public files."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import check_outputs, setup_logging


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data.prepare import prepare_dataset, prepare_pretrain
    from ..data.registry import check_split
    from ..errors import ConfigError

    check_outputs(args)
    setup_logging()
    if args.set and args.config is None:
        raise ConfigError("--set applies to --config only")
    cfg = None
    if args.config is not None:
        from ..config import load_config

        cfg = load_config(args.config, args.set)
    check_split(cfg.data.name if cfg is not None else args.dataset)
    if cfg is not None:
        manifest = prepare_pretrain(cfg, args.out, args.cache_root, args.download, config=args.config,
                                    overrides=args.set)
    else:
        manifest = prepare_dataset(args.dataset, args.root, args.out, args.cache_root, args.download)
    sizes = ", ".join(f"{split} {entry['size']}" for split, entry in manifest["splits"].items())
    print(f"{args.out}: {manifest['dataset']} ({manifest['num_classes']} classes): {sizes}")
    return 0


def cmd_subset(args: argparse.Namespace) -> int:
    from ..data import build_dataset
    from ..data.subsets import balanced_subset, read_subset, write_subset

    check_outputs(args)
    dataset = build_dataset(args.dataset, args.root, args.split)
    if args.simclr_list:
        indices = read_subset(args.simclr_list, dataset)
        header = {"source": str(args.simclr_list)}
    else:
        indices = balanced_subset(dataset.targets, args.fraction, args.seed)
        header = {"fraction": args.fraction, "seed": args.seed, "rule": "class-balanced, round(fraction x n_c) >= 1"}
    write_subset(args.out, dataset, indices, **header)
    counts = np.bincount(dataset.targets[indices], minlength=dataset.num_classes)
    print(f"{args.out}: {len(indices)} of {len(dataset)} images, {int((counts > 0).sum())} classes, "
          f"{counts.min()}-{counts.max()} per class")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from ..data.download import download, downloadable, listing, manual_names, source_name
    from ..errors import ConfigError
    from ..io import atomic_write_json

    check_outputs(args)
    setup_logging()
    if args.list:
        print("\n".join(listing()))
        return 0
    if args.all == bool(args.datasets):
        raise ConfigError("name one or more datasets, or give --all (--list shows them)")
    if args.out is not None and len(args.datasets) != 1:
        raise ConfigError("--out records one dataset; name exactly one")
    names = downloadable() if args.all else [source_name(n) for n in args.datasets]
    for name in names:
        result = download(name, args.root, args.mirror)
        print(result.line())
        if args.out is not None:
            atomic_write_json(args.out, result.as_json())
    if args.all:
        print(f"not downloaded (no public source; byol download <name> lists the manual steps): "
              f"{', '.join(manual_names())}")
    return 0


def register_download(sub) -> None:
    """Add ``byol download``."""
    from ..data.sources import MIRROR_ENV

    dp = sub.add_parser("download", help="fetch datasets from their public sources into the layout the loaders read",
                        description="Fetch a dataset's published files (checksums verified before anything is "
                                    "unpacked; partial downloads resumed) and move them into place under --root only "
                                    "when complete; a dataset already complete is left alone. Datasets without a "
                                    "public source (imagenet, birdsnap, stanford_cars) print their manual steps. "
                                    "'imagenet-subsets' fetches SimCLR's 1 % / 10 % ImageNet lists into "
                                    "<root>/imagenet/.")
    dp.add_argument("datasets", nargs="*", metavar="DATASET", help="registered dataset names, or imagenet-subsets")
    dp.add_argument("--all", action="store_true", help="every dataset with a public source")
    dp.add_argument("--list", action="store_true", help="list every dataset and how it is obtained")
    dp.add_argument("--root", default="data", help="data root (the loaders' --root / data.root)")
    dp.add_argument("--mirror", default=None,
                    help=f"fetch every file as <mirror>/<file name> instead of its URL (default: ${MIRROR_ENV})")
    dp.add_argument("--out", default=None, help="a JSON record of what was done (one dataset; the workflow's marker)")
    dp.set_defaults(func=cmd_download)


def register(sub) -> None:
    """Add ``byol prepare``."""
    pp = sub.add_parser("prepare", help="check a dataset and record its splits (file lists + manifest JSON)")
    what = pp.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="evaluation dataset: every split the protocols use")
    what.add_argument("--config", help="pretrain config (YAML file or preset): its pretraining dataset")
    pp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (--config)")
    pp.add_argument("--root", default="data", help="data root (--dataset; --config uses data.root)")
    pp.add_argument("--cache-root", default="results/features",
                    help="the split lists go to <cache-root>/splits/ (where the evaluation commands write them)")
    pp.add_argument("--download", action="store_true", help="download the dataset where the loader can")
    pp.add_argument("--out", required=True, help="manifest JSON, e.g. results/data/<dataset>.json")
    pp.set_defaults(func=cmd_prepare)


def register_subset(sub) -> None:
    """Add ``byol subset``."""
    sb = sub.add_parser("subset", help="labelled subset for semi-supervised runs (balanced, or a SimCLR list)")
    sb.add_argument("--dataset", required=True)
    sb.add_argument("--root", default="data")
    sb.add_argument("--split", default="train")
    sb.add_argument("--fraction", type=float, default=0.01, help="label fraction, e.g. 0.01 or 0.1")
    sb.add_argument("--seed", type=int, default=0)
    sb.add_argument("--simclr-list", type=Path, default=None,
                    help="SimCLR 1percent.txt / 10percent.txt (ImageNet) instead of a balanced subset")
    sb.add_argument("--out", required=True, help="the subset file list to write")
    sb.set_defaults(func=cmd_subset)
