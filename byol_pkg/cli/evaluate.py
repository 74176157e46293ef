"""``byol probe | extract | knn | linear | transfer-linear | finetune | semisup``: parse, call the protocol of
:mod:`byol_pkg.eval.protocols`, print its summary, write its records and predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (add_encoder_args, add_split_args, add_training_args, check_outputs, eval_splits, eval_target,
                     eval_tracking, setup_logging, sweep_options)


def _finish(args: argparse.Namespace, result) -> int:
    print(result.summary)
    result.write(args.out)
    return 0


def _tracked(args: argparse.Namespace, run) -> int:
    """Run a protocol on cached features (``run()`` returns its result) in the command's tracked run: it
    restarts from scratch, so what an earlier, killed attempt tracked is dropped first, then the result is
    logged (``eval/tracked.py``)."""
    from ..eval.tracked import log_result

    with eval_tracking(args) as tracking:
        tracking.rewind(0)
        result = run()
        log_result(tracking, result)
    return _finish(args, result)


def _swept(args: argparse.Namespace, run) -> int:
    """Run an image-trained sweep (``run(options)``) in the command's tracked run: the sweep logs its curves, its
    selection and test scores itself, and a resumed sweep continues the same tracked run."""
    with eval_tracking(args) as tracking:
        result = run(sweep_options(args, tracking))
    return _finish(args, result)


def cmd_probe(args: argparse.Namespace) -> int:
    from ..eval.probe import quick_probe

    check_outputs(args)
    setup_logging()
    for random_init in ([False, True] if args.with_random_init else [False]):
        out = args.out if not random_init else (args.out.with_name(args.out.stem + "_random.json") if args.out else None)
        rec = quick_probe(args.encoder, args.dataset, args.root, args.train_samples, args.test_samples,
                          random_init=random_init, seed=args.seed, out=out)
        print(f"quick linear probe ({rec['init']} {rec['backbone']}) on {rec['dataset']}: top-1 {rec['value']:.2f}% "
              f"[{rec['train_size']} train / {rec['test_size']} test images, {rec['wall_s']:.0f}s]")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from ..data.registry import check_split
    from ..eval.feature_cache import cached_features
    from ..eval.runner import record_split_lists
    from ..io import atomic_write_json

    target = eval_target(args)
    splits = eval_splits(args)
    names = [s for s in (args.splits.split(",") if args.splits else [splits.train, splits.val, splits.test]) if s]
    for split in names:  # every name checked before any work
        check_split(args.dataset, split)
    record_split_lists(target, splits)
    index = {}
    with eval_tracking(args) as tracking:
        for split in names:
            feats, _, folder = cached_features(target.encoder, args.dataset, args.root, split, args.cache_root,
                                               args.image_size, device=args.device, num_workers=args.num_workers,
                                               preprocessing=args.preprocessing)
            index[split] = {"folder": str(folder), "num_images": int(feats.shape[0]),
                            "feature_dim": int(feats.shape[1])}
            print(f"{folder}: {feats.shape[0]} x {feats.shape[1]} features")
        tracking.log_summary({f"{split}/{key}": v[key] for split, v in index.items()
                              for key in ("num_images", "feature_dim")}, 0)
    if args.out:
        atomic_write_json(args.out, {"encoder": target.encoder.label, "encoder_sha256": target.encoder.sha256,
                                     "dataset": args.dataset, "splits": index})
    return 0


def cmd_knn(args: argparse.Namespace) -> int:
    from ..eval import protocols
    from ..eval.runner import resolve_splits

    target = eval_target(args)
    splits = resolve_splits(args.dataset, args.train_split, None, args.test_split)
    return _tracked(args, lambda: protocols.knn(target, splits, tuple(args.k), args.temperature,
                                                args.pretrain_epoch))


def cmd_linear(args: argparse.Namespace) -> int:
    from ..eval import protocols
    from ..eval.linear import LINEAR_BASE_LRS

    target, splits = eval_target(args), eval_splits(args)
    base_lrs = tuple(args.base_lrs or LINEAR_BASE_LRS)
    if args.mode == "augmented":
        return _swept(args, lambda options: protocols.linear_augmented(target, splits, base_lrs, args.epochs,
                                                                       args.batch_size, options))
    return _tracked(args, lambda: protocols.linear(target, splits, base_lrs, args.epochs, args.batch_size))


def cmd_transfer_linear(args: argparse.Namespace) -> int:
    from ..eval import protocols

    target, splits = eval_target(args), eval_splits(args)
    return _tracked(args, lambda: protocols.transfer_linear(target, splits, args.metric, args.standardize))


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..eval import protocols

    target, splits = eval_target(args), eval_splits(args)
    return _swept(args, lambda options: protocols.finetune(target, splits, tuple(args.lrs), tuple(args.wds),
                                                           args.steps, args.batch_size, args.metric, options))


def cmd_semisup(args: argparse.Namespace) -> int:
    from ..eval import protocols

    target, splits = eval_target(args), eval_splits(args)
    return _swept(args, lambda options: protocols.semisup(target, splits, tuple(args.lrs), tuple(args.epochs),
                                                          args.batch_size, args.fraction, args.subset_seed,
                                                          args.subset, options))


def register(sub) -> None:
    """Add the evaluation commands to the ``byol`` parser's subparsers."""
    from ..eval.grids import (FINETUNE_BATCH, FINETUNE_LRS, FINETUNE_STEPS, FINETUNE_WDS, SEMISUP_BATCH,
                              SEMISUP_EPOCHS, SEMISUP_LRS)

    q = sub.add_parser("probe", help="quick linear probe of an encoder (sanity check, not the paper protocol)")
    q.add_argument("--encoder", required=True, type=Path, help="encoder.pt written by byol pretrain")
    q.add_argument("--dataset", default="fashion_mnist")
    q.add_argument("--root", default="data")
    q.add_argument("--train-samples", type=int, default=10000)
    q.add_argument("--test-samples", type=int, default=10000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--with-random-init", action="store_true", help="also probe a random-init encoder")
    q.add_argument("--out", default=None, help="JSON result file")
    q.set_defaults(func=cmd_probe)

    e = sub.add_parser("extract", help="cache frozen-encoder features of dataset splits (.npy)")
    add_encoder_args(e)
    add_split_args(e)
    e.add_argument("--splits", default=None,
                   help="comma-separated splits (default: the train / validation / test splits the protocols use)")
    e.add_argument("--preprocessing", choices=("test", "transfer"), default="test",
                   help="test: resize to size x 256/224, centre crop (linear evaluation, kNN; paper App. C.1); "
                        "transfer: resize to size, centre crop (transfer-linear; App. D.2)")
    e.set_defaults(func=cmd_extract)

    k = sub.add_parser("knn", help="weighted kNN accuracy on cached features (k=20 and k=200 by default)")
    add_encoder_args(k)
    k.add_argument("--k", type=int, nargs="+", default=[20, 200])
    k.add_argument("--temperature", type=float, default=0.07)
    k.add_argument("--train-split", default="train")
    k.add_argument("--test-split", default="test")
    k.add_argument("--pretrain-epoch", type=int, default=None,
                   help="pretraining epoch of the encoder, recorded for the kNN-vs-epoch curve "
                        "(default: pretrain_epoch of encoder.json, written by byol export-encoder)")
    k.add_argument("--out", default=None, help="result file (JSON list of records)")
    k.set_defaults(func=cmd_knn)

    t = sub.add_parser("transfer-linear", help="L2 logistic regression (L-BFGS, 45 lambdas) on cached features")
    add_encoder_args(t)
    add_split_args(t)
    t.add_argument("--metric", default=None, help="top1 | mean_per_class | voc07_map (default: the paper's)")
    t.add_argument("--standardize", action="store_true",
                   help="standardise the features with the fitting split's mean/std (not the paper's protocol)")
    t.set_defaults(func=cmd_transfer_linear)

    lin = sub.add_parser("linear", help="linear evaluation (Table 1 protocol) on cached features")
    add_encoder_args(lin)
    add_split_args(lin)
    lin.add_argument("--mode", choices=("cached", "augmented"), default="cached",
                     help="cached: centre-crop features (fast); augmented: crop + flip on the fly (the paper's)")
    lin.add_argument("--epochs", type=int, default=80)
    lin.add_argument("--batch-size", type=int, default=1024)
    lin.add_argument("--base-lrs", type=float, nargs="+", default=None,
                     help="base LR grid (default: the paper's 0.4 0.3 0.2 0.1 0.05)")
    add_training_args(lin)
    lin.set_defaults(func=cmd_linear)

    ft = sub.add_parser("finetune", help="fine-tune encoder + head (paper App. D.3: LR x wd grid, refit on train+val)")
    add_encoder_args(ft)
    add_split_args(ft)
    ft.add_argument("--metric", default=None, help="top1 | mean_per_class | voc07_map (default: the paper's)")
    ft.add_argument("--lrs", type=float, nargs="+", default=list(FINETUNE_LRS), help="default: logspace(-4, -1, 7)")
    ft.add_argument("--wds", type=float, nargs="+", default=list(FINETUNE_WDS),
                    help="weight decay grid, divided by the LR before use (default: 0 and logspace(-6, -3, 7))")
    ft.add_argument("--steps", type=int, default=FINETUNE_STEPS)
    ft.add_argument("--batch-size", type=int, default=FINETUNE_BATCH)
    add_training_args(ft)
    ft.set_defaults(func=cmd_finetune)

    ss = sub.add_parser("semisup", help="semi-supervised: fine-tune on a labelled fraction (paper Table 2)")
    add_encoder_args(ss)
    add_split_args(ss)
    group = ss.add_mutually_exclusive_group()
    group.add_argument("--fraction", type=float, default=0.01, help="class-balanced label fraction (0.01, 0.1)")
    group.add_argument("--subset", type=Path, default=None,
                       help="a subset file list (byol subset, or SimCLR's 1percent.txt / 10percent.txt)")
    ss.add_argument("--subset-seed", type=int, default=0, help="seed of the balanced subset")
    ss.add_argument("--lrs", type=float, nargs="+", default=list(SEMISUP_LRS))
    ss.add_argument("--epochs", type=int, nargs="+", default=list(SEMISUP_EPOCHS))
    ss.add_argument("--batch-size", type=int, default=SEMISUP_BATCH)
    add_training_args(ss)
    ss.set_defaults(func=cmd_semisup)
