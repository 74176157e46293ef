"""Command-line entry: ``byol <command>`` or ``python -m byol_pkg <command>``.

Every workflow rule (Snakemake, DVC) and every test calls these same commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__

if TYPE_CHECKING:  # imported lazily at run time, like every command's dependencies
    from .eval.predictions import Predictions


def _setup_logging(out_dir: Path | None, quiet: bool = False) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(out_dir / "train.log"))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from .config import load_config
    from .train.pretrain import pretrain

    cfg = load_config(args.config, args.set)
    if int(os.environ.get("RANK", "0")) == 0:
        _setup_logging(Path(args.out))
    else:
        _setup_logging(None, quiet=True)
    pretrain(cfg, args.out)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from .eval.probe import quick_probe

    _setup_logging(None)
    for random_init in ([False, True] if args.with_random_init else [False]):
        out = args.out if not random_init else (args.out.with_name(args.out.stem + "_random.json") if args.out else None)
        rec = quick_probe(args.encoder, args.dataset, args.root, args.train_samples, args.test_samples,
                          random_init=random_init, seed=args.seed, out=out)
        print(f"quick linear probe ({rec['init']} {rec['backbone']}) on {rec['dataset']}: top-1 {rec['value']:.2f}% "
              f"[{rec['train_size']} train / {rec['test_size']} test images, {rec['wall_s']:.0f}s]")
    return 0


def _resolve_splits(args: argparse.Namespace) -> None:
    """Fill in the split names: a transfer dataset of the paper or ImageNet gets its train / val / test splits
    (Table 10) unless any split is given explicitly; any other dataset gets train, a hold-out of it, and test."""
    if not hasattr(args, "val_split"):
        return
    from .data.prepare import paper_splits

    spec = paper_splits(args.dataset)
    if spec is not None and args.train_split is None and args.val_split is None and args.test_split is None:
        args.train_split, args.val_split, args.test_split = spec.train, spec.val, spec.test
        logging.getLogger(__name__).info("%s: the paper's splits train=%s val=%s test=%s (refit on train+val)",
                                         spec.display, spec.train, spec.val, spec.test)
    args.train_split = args.train_split or "train"
    args.test_split = args.test_split or "test"
    args.paper_splits = spec is not None


def _start_eval(args: argparse.Namespace):
    """Common start of the evaluation commands: logging, CPU threads, the splits, and the encoder they evaluate."""
    from .eval.feature_cache import EncoderRef
    from .runtime import configure_cpu_threads

    from .data.registry import check_split

    _setup_logging(None)
    _resolve_splits(args)
    named = [getattr(args, a, None) for a in ("train_split", "val_split", "test_split")]
    named += args.splits.split(",") if getattr(args, "splits", None) else []
    for split in [None, *named]:  # fail on a typo before any work
        if split or split is None:
            check_split(args.dataset, split)
    if getattr(args, "paper_splits", False):  # byol prepare writes them; an evaluation run on its own, here
        from .data.subsets import save_missing_split_lists

        save_missing_split_lists(args.cache_root, args.dataset, args.root,
                                 (args.train_split, args.val_split, args.test_split))
    configure_cpu_threads(None, args.num_workers)
    return EncoderRef(Path(args.encoder), random_init=args.random_init, seed=args.seed, backbone=args.backbone)


def cmd_extract(args: argparse.Namespace) -> int:
    from .eval.feature_cache import cached_features

    encoder = _start_eval(args)
    splits = args.splits.split(",") if args.splits else [args.train_split, args.val_split, args.test_split]
    index = {}
    for split in [s for s in splits if s]:
        feats, _, folder = cached_features(encoder, args.dataset, args.root, split, args.cache_root,
                                           args.image_size, device=args.device, num_workers=args.num_workers,
                                           preprocessing=args.preprocessing)
        index[split] = {"folder": str(folder), "num_images": int(feats.shape[0]), "feature_dim": int(feats.shape[1])}
        print(f"{folder}: {feats.shape[0]} x {feats.shape[1]} features")
    if args.out:
        from .io import atomic_write_json

        atomic_write_json(args.out, {"encoder": encoder.label, "encoder_sha256": encoder.sha256,
                                     "dataset": args.dataset, "splits": index})
    return 0


def cmd_knn(args: argparse.Namespace) -> int:
    from .eval.feature_cache import cached_features
    from .eval.knn import knn_predict
    from .eval.predictions import Predictions
    from .eval.results import ResultRecord
    from .metrics import top1_accuracy

    encoder = _start_eval(args)
    t0 = time.perf_counter()
    train_x, train_y, _ = cached_features(encoder, args.dataset, args.root, args.train_split, args.cache_root,
                                          args.image_size, device=args.device, num_workers=args.num_workers)
    test_x, test_y, _ = cached_features(encoder, args.dataset, args.root, args.test_split, args.cache_root,
                                        args.image_size, device=args.device, num_workers=args.num_workers)
    num_classes = int(max(train_y.max(), test_y.max()) + 1)
    epoch = args.pretrain_epoch
    if epoch is None and not encoder.random_init:
        epoch = encoder.meta.get("pretrain_epoch")  # set by byol export-encoder
    extra = {} if epoch is None else {"pretrain_epoch": epoch}
    records, predictions = [], {}
    for k in args.k:
        scores = knn_predict(train_x, train_y, test_x, k, args.temperature, num_classes, device=args.device).numpy()
        predictions[f"k={k}"] = Predictions(labels=np.asarray(test_y), scores=scores)
        value = top1_accuracy(scores, test_y)
        records.append(ResultRecord(
            protocol="knn", variant=f"k={k}", metric="top1", value=value, dataset=args.dataset, encoder=encoder.label,
            encoder_sha256=encoder.sha256, method=args.method, backbone=encoder.meta["backbone"],
            split_sizes={args.train_split: int(len(train_y)), args.test_split: int(len(test_y))},
            hyperparameters={"k": k, "temperature": args.temperature, **extra}, seed=args.seed,
            wall_s=time.perf_counter() - t0))
    scores = ", ".join(f"k={r.hyperparameters['k']} top-1 {r.value:.2f}%" for r in records)
    at = "" if epoch is None else f" (pretraining epoch {epoch})"
    return _emit(args, records, f"kNN (T={args.temperature}) {encoder.label}{at} on {args.dataset}: {scores}",
                 predictions)


def _train_val_test(args: argparse.Namespace, encoder, preprocessing: str = "test"):
    """Cached features of the train / validation / test splits (``preprocessing``: see
    ``byol_pkg.eval.encoder.PREPROCESSING``); validation = the official split (``--val-split``) or a saved
    class-stratified hold-out of the training split."""
    from .eval.feature_cache import cached_features
    from .data.validation import training_holdout

    def features(split: str):
        x, y, _ = cached_features(encoder, args.dataset, args.root, split, args.cache_root, args.image_size,
                                  device=args.device, num_workers=args.num_workers, preprocessing=preprocessing)
        return x, y

    train_x, train_y = features(args.train_split)
    if args.val_split:
        val_x, val_y = features(args.val_split)
        val_note = f"official split '{args.val_split}'"
    else:
        tr_idx, val_idx, val_note = training_holdout(args.cache_root, args.dataset, args.train_split, train_y,
                                                     args.val_size, args.split_seed)
        val_x, val_y, train_x, train_y = train_x[val_idx], train_y[val_idx], train_x[tr_idx], train_y[tr_idx]
    return (train_x, train_y), (val_x, val_y), features(args.test_split), val_note


def cmd_linear(args: argparse.Namespace) -> int:
    from .eval.linear import LINEAR_BASE_LRS, linear_eval
    from .eval.results import ResultRecord

    if args.mode == "augmented":
        return _linear_augmented(args)
    encoder = _start_eval(args)
    t0 = time.perf_counter()
    (train_x, train_y), val, test, val_note = _train_val_test(args, encoder)
    num_classes = int(max(train_y.max(), val[1].max(), test[1].max()) + 1)
    base_lrs = tuple(args.base_lrs or LINEAR_BASE_LRS)
    res = linear_eval((train_x, train_y), val, test, num_classes, base_lrs, args.epochs, args.batch_size,
                      args.seed, args.device)
    hp = {"base_lr": res.best_base_lr, "base_lr_grid": list(base_lrs),
          "val_top1": {str(k): v for k, v in res.val_top1.items()}, "validation": val_note, **res.config}
    records = [ResultRecord(
        protocol="linear", variant="cached", metric=metric, value=value, dataset=args.dataset, encoder=encoder.label,
        encoder_sha256=encoder.sha256, method=args.method, backbone=encoder.meta["backbone"],
        split_sizes={"train": res.train_size, "val": res.val_size, "test": res.test_size}, hyperparameters=hp,
        seed=args.seed, wall_s=time.perf_counter() - t0) for metric, value in (("top1", res.test_top1),
                                                                              ("top5", res.test_top5))]
    return _emit(args, records, f"linear eval (cached features) {encoder.label} on {args.dataset}: "
                 f"top-1 {res.test_top1:.2f}% top-5 {res.test_top5:.2f}% "
                 f"(base lr {res.best_base_lr} chosen on validation)", res.test_predictions)


def _image_splits(args: argparse.Namespace):
    from .eval.image_splits import image_splits

    return image_splits(args.dataset, args.root, args.train_split, args.val_split, args.val_size, args.split_seed,
                        args.test_split, args.cache_root)


def _image_sweep(args: argparse.Namespace, encoder, protocol: str, points, data, num_classes: int,
                 multilabel: bool, select: str, test_metrics: list[str], frozen: bool = False):
    """Run a hyper-parameter sweep that trains encoder + head on images (see ``eval/finetune.py``)."""
    import tempfile

    from .eval.finetune import SweepSettings, run_sweep
    from .eval.supervised import Classifier
    from .metrics import metric_by_name

    meta = encoder.meta

    def make_model() -> Classifier:
        model, m = encoder.load()
        return Classifier(model, m["feature_dim"], num_classes, frozen_encoder=frozen)

    size = int(args.image_size or meta["image_size"])
    settings = SweepSettings(size, meta["mean"], meta["std"], multilabel, args.device, args.num_workers,
                             args.precision, args.checkpoint_every)
    work = args.work_dir or (args.out.with_name(args.out.stem + ".work") if args.out else
                             Path(tempfile.mkdtemp(prefix=f"byol-{protocol}-")))
    fingerprint = {"protocol": protocol, "encoder": encoder.key, "dataset": args.dataset, "image_size": size,
                   "train": len(data.train), "val": len(data.val), "test": len(data.test)}
    logging.getLogger(__name__).info("%s: %d grid points, work folder %s", protocol, len(points), work)
    return run_sweep(points, make_model, data, settings, metric_by_name(select),
                     {m: metric_by_name(m) for m in test_metrics},
                     Path(work), fingerprint, seed=args.seed, desc=protocol)


def _sweep_records(args: argparse.Namespace, encoder, protocol: str, res, hp: dict, t0: float,
                   variant: str = "") -> list:
    from .eval.results import ResultRecord

    sizes = {"train": res.train_size, "val": res.val_size, "test": res.test_size}
    if res.refit_size is not None:
        sizes["trainval"] = res.refit_size
    hp = {**hp, **res.best.hyper, "selected": res.best.tag, "val_scores": res.val_scores, "run": res.best_spec}
    return [ResultRecord(protocol=protocol, variant=variant, metric=metric, value=value, dataset=args.dataset,
                         encoder=encoder.label, encoder_sha256=encoder.sha256, method=args.method,
                         backbone=encoder.meta["backbone"], split_sizes=sizes, hyperparameters=hp, seed=args.seed, wall_s=time.perf_counter() - t0)
            for metric, value in res.test_scores.items()]


def _linear_augmented(args: argparse.Namespace) -> int:
    from .eval.finetune import SweepData, linear_aug_grid
    from .eval.linear import LINEAR_BASE_LRS

    encoder = _start_eval(args)
    t0 = time.perf_counter()
    sp = _image_splits(args)
    points = linear_aug_grid(tuple(args.base_lrs or LINEAR_BASE_LRS), args.epochs, args.batch_size)
    res = _image_sweep(args, encoder, "linear", points, SweepData(sp.train, sp.val, sp.test), sp.num_classes,
                       sp.multilabel, "top1", ["top1", "top5"], frozen=True)
    hp = {"mode": "augmented (random resized crop + flip on the fly)", "validation": sp.note,
          "base_lr_grid": [p.hyper["base_lr"] for p in points], "batch_size": args.batch_size,
          "optimizer": "SGD nesterov momentum 0.9", "weight_decay": 0.0, "schedule": "cosine, no warm-up",
          "lr_scaling": "base x batch/256"}
    records = _sweep_records(args, encoder, "linear", res, hp, t0, variant="augmented")
    return _emit(args, records, f"linear eval (augmented) {encoder.label} on {args.dataset}: "
                 f"top-1 {res.test_scores['top1']:.2f}% top-5 {res.test_scores['top5']:.2f}% "
                 f"({res.best.tag} chosen on validation)", res.test_predictions)


def cmd_finetune(args: argparse.Namespace) -> int:
    from .eval.finetune import SweepData, finetune_grid
    from .data.registry import dataset_info

    encoder = _start_eval(args)
    t0 = time.perf_counter()
    sp = _image_splits(args)
    metric = args.metric or dataset_info(args.dataset).metric
    points = finetune_grid(args.lrs, args.wds, args.steps, args.batch_size)
    res = _image_sweep(args, encoder, "finetune", points, SweepData(sp.train, sp.val, sp.test, sp.trainval),
                       sp.num_classes, sp.multilabel, metric, [metric])
    hp = {"validation": sp.note, "refit": "train+val", "lr_grid": list(args.lrs), "wd_grid": list(args.wds),
          "steps": args.steps, "batch_size": args.batch_size, "optimizer": "SGD nesterov momentum 0.9",
          "schedule": "cosine, no warm-up", "weight_decay_rule": "torch weight_decay = wd / lr",
          "bn_momentum_rule": "TF decay max(1 - 10/steps_per_epoch, 0.9)", "augmentation": "random resized crop + flip"}
    records = _sweep_records(args, encoder, "finetune", res, hp, t0)
    return _emit(args, records, f"fine-tuned {encoder.label} on {args.dataset}: {metric} "
                 f"{res.test_scores[metric]:.2f}% ({res.best.tag} chosen on validation, refit on train+val)",
                 res.test_predictions)


def _listed_subset(args: argparse.Namespace, sp) -> np.ndarray:
    """Indices into the full training split of the images of ``--subset``. When the validation split is held
    out of the labelled training images (ImageNet's 10,009; SimCLR's lists were drawn from all of them), the
    list is read against the ``trainval`` split and its validation images are dropped with a warning."""
    from .data import build_dataset
    from .data.prepare import paper_splits
    from .data.subsets import read_subset

    try:
        return read_subset(args.subset, sp.full_train)
    except ValueError:
        spec = paper_splits(args.dataset)
        if (spec is None or sp.val_indices is not None or args.train_split != spec.train
                or spec.trainval == spec.train or not hasattr(sp.full_train, "paths")):
            raise
    trainval = build_dataset(args.dataset, args.root, spec.trainval)
    picked = [trainval.paths[int(i)] for i in read_subset(args.subset, trainval)]
    position = {p: i for i, p in enumerate(sp.full_train.paths)}
    kept = np.sort(np.asarray([position[p] for p in picked if p in position], dtype=np.int64))
    logging.getLogger(__name__).warning("%d images of %s are in the validation split '%s' and were dropped",
                                        len(picked) - len(kept), args.subset, args.val_split)
    return kept


def _semisup_subset(args: argparse.Namespace, sp):
    """Indices (into the full training split) of the labelled subset, never containing validation images."""
    from .data.subsets import balanced_subset, read_subset, write_subset

    log = logging.getLogger(__name__)
    held = set() if sp.val_indices is None else set(int(i) for i in sp.val_indices)
    if args.subset:
        idx = _listed_subset(args, sp)
        kept = np.asarray([i for i in idx if int(i) not in held], dtype=np.int64)
        if len(kept) < len(idx):
            log.warning("%d images of %s are in the validation hold-out and were dropped", len(idx) - len(kept),
                        args.subset)
        return kept, str(args.subset)
    path = Path(args.cache_root) / "subsets" / (f"{args.dataset}_{args.train_split}_frac{args.fraction}"
                                                f"_seed{args.subset_seed}_val{args.val_size}_seed{args.split_seed}.txt")
    if path.is_file():
        return read_subset(path, sp.full_train), str(path)
    exclude = None if sp.val_indices is None else sp.val_indices
    idx = balanced_subset(np.asarray(sp.full_train.targets), args.fraction, args.subset_seed, exclude=exclude)
    write_subset(path, sp.full_train, idx, fraction=args.fraction, seed=args.subset_seed,
                 rule="class-balanced, round(fraction x n_c) >= 1, validation hold-out excluded")
    return idx, str(path)


def cmd_semisup(args: argparse.Namespace) -> int:
    from .eval.finetune import SweepData, semisup_grid
    from .eval.supervised import IndexedImages

    encoder = _start_eval(args)
    t0 = time.perf_counter()
    sp = _image_splits(args)
    idx, source = _semisup_subset(args, sp)
    labelled = IndexedImages(sp.full_train, idx)
    points = semisup_grid(args.lrs, args.epochs, args.batch_size)
    res = _image_sweep(args, encoder, "semisup", points, SweepData(labelled, sp.val, sp.test), sp.num_classes,
                       sp.multilabel, "top1", ["top1", "top5"])
    hp = {"label_fraction": args.fraction if not args.subset else None, "subset": source,
          "labelled_images": int(len(idx)), "validation": sp.note, "lr_grid": list(args.lrs),
          "epochs_grid": list(args.epochs), "batch_size": args.batch_size, "weight_decay": 0.0,
          "optimizer": "SGD nesterov momentum 0.9", "schedule": "cosine, no warm-up",
          "augmentation": "random resized crop + flip", "bn": "train mode"}
    variant = Path(args.subset).stem if args.subset else f"{100 * args.fraction:g}%"
    records = _sweep_records(args, encoder, "semisup", res, hp, t0, variant=variant)
    return _emit(args, records, f"semi-supervised ({len(idx)} labelled images) {encoder.label} on {args.dataset}: "
                 f"top-1 {res.test_scores['top1']:.2f}% top-5 {res.test_scores['top5']:.2f}% ({res.best.tag})",
                 res.test_predictions)


def _emit(args: argparse.Namespace, records: list, line: str,
          predictions: Predictions | dict[str, Predictions] | None = None) -> int:
    """Print the command's one-line summary and write its result records to ``--out`` (atomically), with the
    test predictions they were computed from beside them (``<out>.predictions.npz``, see eval/predictions.py)."""
    from .eval.predictions import predictions_path, save_predictions
    from .eval.results import write_results

    print(line)
    if args.out:
        if predictions is not None:
            save_predictions(predictions_path(args.out), predictions)
        write_results(args.out, records)
    return 0


def _add_split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-split", default=None,
                   help="default: the paper's split of a transfer dataset (see byol_pkg.data.transfer), else train")
    p.add_argument("--val-split", default=None,
                   help="validation split (default: the paper's for a transfer dataset, else held out of train)")
    p.add_argument("--val-size", type=float, default=0.1, help="hold-out size: fraction (<1) or count")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the validation hold-out")
    p.add_argument("--test-split", default=None, help="default: test")
    p.add_argument("--out", type=Path, default=None, help="result file (JSON list of records; extract: an index)")


def cmd_transfer_linear(args: argparse.Namespace) -> int:
    from .eval.logreg import sweep_logreg
    from .eval.results import ResultRecord
    from .data.registry import dataset_info
    from .metrics import metric_by_name

    encoder = _start_eval(args)
    t0 = time.perf_counter()

    # App. D.2: shorter side resized to the crop size, no 256/224 test crop; features not standardised
    (train_x, train_y), (val_x, val_y), (test_x, test_y), val_note = _train_val_test(args, encoder, "transfer")
    metric = args.metric or dataset_info(args.dataset).metric
    multilabel = train_y.ndim == 2  # VOC2007: [N, C] labels in {1, -1, 0}
    num_classes = int(train_y.shape[1]) if multilabel else int(max(train_y.max(), val_y.max(), test_y.max()) + 1)
    res = sweep_logreg((train_x, train_y), (val_x, val_y), (test_x, test_y), metric_by_name(metric), num_classes,
                       device=args.device, multilabel=multilabel, standardize=args.standardize)
    record = ResultRecord(
        protocol="transfer_linear", metric=metric, value=res.test_score, dataset=args.dataset,
        encoder=encoder.label, encoder_sha256=encoder.sha256, method=args.method, backbone=encoder.meta["backbone"],
        split_sizes={"train": res.train_size, "val": res.val_size, "test": res.test_size},
        hyperparameters={"lambda": res.best_lambda, "lambda_grid": "logspace(-6, 5, 45)",
                         "val_scores": res.val_scores, "validation": val_note, "refit": "train+val",
                         "objective": ("sum of per-class binary cross-entropies (difficult entries ignored)"
                                       if multilabel else "sum of cross-entropies")
                                      + " + lambda/2 ||W||^2 (C = 1/lambda)",
                         "features": ("standardised with the fitting split's mean/std (--standardize)"
                                      if args.standardize else "as extracted, not standardised (paper App. D.2)"),
                         "preprocessing": "shorter side resized to the crop size, centre crop (App. D.2)"},
        seed=args.seed, wall_s=time.perf_counter() - t0)
    return _emit(args, [record], f"transfer linear {encoder.label} on {args.dataset}: {metric} {res.test_score:.2f}% "
          f"(lambda {res.best_lambda:.3g} chosen on validation, refit on train+val)", res.test_predictions)


def cmd_subset(args: argparse.Namespace) -> int:
    from .data import build_dataset
    from .data.subsets import balanced_subset, read_subset, write_subset

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


def _add_training_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16 autocast (GPU)")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="sweep state for resuming (default: <out stem>.work next to --out)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints of a run")


def _add_encoder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", required=True, help="encoder.pt written by byol pretrain (encoder.json beside it)")
    p.add_argument("--backbone", default=None,
                   help="the encoder file is an external state dict of this torchvision/timm architecture "
                        "(e.g. resnet50, timm:resnet50; ImageNet statistics, --image-size default 224)")
    p.add_argument("--random-init", action="store_true", help="a seeded random init of the encoder's architecture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="byol", help="method name written into the result records")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default="data", help="data root")
    p.add_argument("--cache-root", default="results/features", help="feature cache folder")
    p.add_argument("--image-size", type=int, default=None, help="resize+crop side (default: the encoder's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-workers", type=int, default=0)


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import prepare_dataset, prepare_pretrain
    from .data.registry import check_split

    _setup_logging(None)
    if args.set and args.config is None:
        print("byol prepare: error: --set applies to --config only", file=sys.stderr)
        return 2
    cfg = None
    if args.config is not None:
        from .config import load_config

        cfg = load_config(args.config, args.set)
    name = cfg.data.name if cfg is not None else args.dataset
    check_split(name)
    if cfg is not None:
        manifest = prepare_pretrain(cfg, args.out, args.cache_root, args.download, config=args.config,
                                    overrides=args.set)
    else:
        manifest = prepare_dataset(args.dataset, args.root, args.out, args.cache_root, args.download)
    sizes = ", ".join(f"{split} {entry['size']}" for split, entry in manifest["splits"].items())
    print(f"{args.out}: {manifest['dataset']} ({manifest['num_classes']} classes): {sizes}")
    return 0


def cmd_export_encoder(args: argparse.Namespace) -> int:
    from .train.export import export_checkpoint

    _setup_logging(None)
    info = export_checkpoint(args.checkpoint, args.out, args.pretrain_epoch)
    epoch = info.get("pretrain_epoch")
    print(f"{args.out}: online encoder of {args.checkpoint} (step {info['step']}"
          + (f", epoch {epoch})" if epoch is not None else ")"))
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from .eval.results import results_frame, summary_table

    frame = results_frame(args.files)
    if frame.empty:
        print("no result records")
        return 0
    if args.csv:
        from .io import atomic_write_text

        atomic_write_text(args.csv, frame.to_csv(index=False))
    table = summary_table(frame, args.by).reset_index()
    print(table.to_markdown(index=False) if args.markdown else table.to_string(index=False))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .config import dump_yaml, load_config

    sys.stdout.write(dump_yaml(load_config(args.config, args.set)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .eval.grids import (FINETUNE_BATCH, FINETUNE_LRS, FINETUNE_STEPS, FINETUNE_WDS, SEMISUP_BATCH,
                             SEMISUP_EPOCHS, SEMISUP_LRS)

    parser = argparse.ArgumentParser(prog="byol", description="byol-bench: BYOL pretraining and evaluation.")
    parser.add_argument("--version", action="version", version=f"byol-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="pretraining: BYOL, or the SimCLR / supervised baselines and ablation "
                                        "variants of config section method (resumes from OUT/checkpoints)")
    p.add_argument("--config", required=True, help="YAML file or preset name (demo, cifar10, imagenet)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.epochs=3 (repeatable)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics.csv, encoder.pt, config.yaml")
    p.set_defaults(func=cmd_pretrain)

    x = sub.add_parser("export-encoder", help="write the online encoder of a training checkpoint as "
                                                "encoder.pt + encoder.json (e.g. one per kept epoch)")
    x.add_argument("--checkpoint", required=True, type=Path, help="RUN/checkpoints/epoch_XXXX.pt (or last.pt)")
    x.add_argument("--out", required=True, type=Path, help="encoder file to write (encoder.json goes beside it)")
    x.add_argument("--pretrain-epoch", type=int, default=None,
                   help="epoch recorded in encoder.json (default: XXXX of an epoch_XXXX.pt name)")
    x.set_defaults(func=cmd_export_encoder)

    from .models.convert_official import add_convert_parser

    add_convert_parser(sub)

    pp = sub.add_parser("prepare", help="check a dataset and record its splits (file lists + manifest JSON)")
    what = pp.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="evaluation dataset: every split the protocols use")
    what.add_argument("--config", help="pretrain config (YAML file or preset): its pretraining dataset")
    pp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (--config)")
    pp.add_argument("--root", default="data", help="data root (--dataset; --config uses data.root)")
    pp.add_argument("--cache-root", default="results/features",
                    help="the split lists go to <cache-root>/splits/ (where the evaluation commands write them)")
    pp.add_argument("--download", action="store_true", help="download the dataset where the loader can")
    pp.add_argument("--out", required=True, type=Path, help="manifest JSON, e.g. results/data/<dataset>.json")
    pp.set_defaults(func=cmd_prepare)

    q = sub.add_parser("probe", help="quick linear probe of an encoder (sanity check, not the paper protocol)")
    q.add_argument("--encoder", required=True, type=Path, help="encoder.pt written by byol pretrain")
    q.add_argument("--dataset", default="fashion_mnist")
    q.add_argument("--root", default="data")
    q.add_argument("--train-samples", type=int, default=10000)
    q.add_argument("--test-samples", type=int, default=10000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--with-random-init", action="store_true", help="also probe a random-init encoder")
    q.add_argument("--out", type=Path, default=None, help="JSON result file")
    q.set_defaults(func=cmd_probe)

    e = sub.add_parser("extract", help="cache frozen-encoder features of dataset splits (.npy)")
    _add_encoder_args(e)
    _add_split_args(e)
    e.add_argument("--splits", default=None,
                   help="comma-separated splits (default: the train / validation / test splits the protocols use)")
    e.add_argument("--preprocessing", choices=("test", "transfer"), default="test",
                   help="test: resize to size x 256/224, centre crop (linear evaluation, kNN; paper App. C.1); "
                        "transfer: resize to size, centre crop (transfer-linear; App. D.2)")
    e.set_defaults(func=cmd_extract)

    k = sub.add_parser("knn", help="weighted kNN accuracy on cached features (k=20 and k=200 by default)")
    _add_encoder_args(k)
    k.add_argument("--k", type=int, nargs="+", default=[20, 200])
    k.add_argument("--temperature", type=float, default=0.07)
    k.add_argument("--train-split", default="train")
    k.add_argument("--test-split", default="test")
    k.add_argument("--pretrain-epoch", type=int, default=None,
                   help="pretraining epoch of the encoder, recorded for the kNN-vs-epoch curve "
                        "(default: pretrain_epoch of encoder.json, written by byol export-encoder)")
    k.add_argument("--out", type=Path, default=None, help="result file (JSON list of records)")
    k.set_defaults(func=cmd_knn)

    t = sub.add_parser("transfer-linear", help="L2 logistic regression (L-BFGS, 45 lambdas) on cached features")
    _add_encoder_args(t)
    _add_split_args(t)
    t.add_argument("--metric", default=None, help="top1 | mean_per_class | voc07_map (default: the paper's)")
    t.add_argument("--standardize", action="store_true",
                   help="standardise the features with the fitting split's mean/std (not the paper's protocol)")
    t.set_defaults(func=cmd_transfer_linear)

    lin = sub.add_parser("linear", help="linear evaluation (Table 1 protocol) on cached features")
    _add_encoder_args(lin)
    _add_split_args(lin)
    lin.add_argument("--mode", choices=("cached", "augmented"), default="cached",
                     help="cached: centre-crop features (fast); augmented: crop + flip on the fly (the paper's)")
    lin.add_argument("--epochs", type=int, default=80)
    lin.add_argument("--batch-size", type=int, default=1024)
    lin.add_argument("--base-lrs", type=float, nargs="+", default=None,
                     help="base LR grid (default: the paper's 0.4 0.3 0.2 0.1 0.05)")
    _add_training_args(lin)
    lin.set_defaults(func=cmd_linear)

    ft = sub.add_parser("finetune", help="fine-tune encoder + head (paper App. D.3: LR x wd grid, refit on train+val)")
    _add_encoder_args(ft)
    _add_split_args(ft)
    ft.add_argument("--metric", default=None, help="top1 | mean_per_class | voc07_map (default: the paper's)")
    ft.add_argument("--lrs", type=float, nargs="+", default=list(FINETUNE_LRS), help="default: logspace(-4, -1, 7)")
    ft.add_argument("--wds", type=float, nargs="+", default=list(FINETUNE_WDS),
                    help="weight decay grid, divided by the LR before use (default: 0 and logspace(-6, -3, 7))")
    ft.add_argument("--steps", type=int, default=FINETUNE_STEPS)
    ft.add_argument("--batch-size", type=int, default=FINETUNE_BATCH)
    _add_training_args(ft)
    ft.set_defaults(func=cmd_finetune)

    ss = sub.add_parser("semisup", help="semi-supervised: fine-tune on a labelled fraction (paper Table 2)")
    _add_encoder_args(ss)
    _add_split_args(ss)
    group = ss.add_mutually_exclusive_group()
    group.add_argument("--fraction", type=float, default=0.01, help="class-balanced label fraction (0.01, 0.1)")
    group.add_argument("--subset", type=Path, default=None,
                       help="a subset file list (byol subset, or SimCLR's 1percent.txt / 10percent.txt)")
    ss.add_argument("--subset-seed", type=int, default=0, help="seed of the balanced subset")
    ss.add_argument("--lrs", type=float, nargs="+", default=list(SEMISUP_LRS))
    ss.add_argument("--epochs", type=int, nargs="+", default=list(SEMISUP_EPOCHS))
    ss.add_argument("--batch-size", type=int, default=SEMISUP_BATCH)
    _add_training_args(ss)
    ss.set_defaults(func=cmd_semisup)

    sb = sub.add_parser("subset", help="labelled subset for semi-supervised runs (balanced, or a SimCLR list)")
    sb.add_argument("--dataset", required=True)
    sb.add_argument("--root", default="data")
    sb.add_argument("--split", default="train")
    sb.add_argument("--fraction", type=float, default=0.01, help="label fraction, e.g. 0.01 or 0.1")
    sb.add_argument("--seed", type=int, default=0)
    sb.add_argument("--simclr-list", type=Path, default=None,
                    help="SimCLR 1percent.txt / 10percent.txt (ImageNet) instead of a balanced subset")
    sb.add_argument("--out", type=Path, required=True, help="the subset file list to write")
    sb.set_defaults(func=cmd_subset)

    r = sub.add_parser("results", help="collect result files into one table (value per protocol/dataset/metric)")
    r.add_argument("files", nargs="+", type=Path, help="result JSON files written by the evaluation commands")
    r.add_argument("--by", default="method", help="column of the table (method, encoder, seed, ...)")
    r.add_argument("--csv", type=Path, default=None, help="also write every record as one tidy CSV")
    r.add_argument("--markdown", action="store_true", help="print a Markdown table")
    r.set_defaults(func=cmd_results)

    from .report.command import register as register_report

    register_report(sub)  # byol report: paper-form tables and plots from result files

    c = sub.add_parser("config", help="print the fully resolved config (defaults + file + --set)")
    c.add_argument("--config", default=None, help="YAML file or preset name (omit for the defaults)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; known errors become one line on stderr and exit code 2."""
    from .errors import ByolError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ByolError as err:
        print(f"byol {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
