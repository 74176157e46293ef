"""The evaluation protocols of the paper, each a function of plain arguments that returns its
:class:`~byol_pkg.eval.runner.ProtocolResult` (records, test predictions, a one-line summary) and records its
own hyper-parameters. ``byol knn | linear | transfer-linear | finetune | semisup`` are thin wrappers of these.

- :func:`knn`: weighted kNN on frozen features (the kNN-vs-epoch curve; not a paper table).
- :func:`linear`: linear evaluation (Table 1, App. C.1) on cached centre-crop features.
- :func:`linear_augmented`: the same with random resized crop + flip on the fly (the paper's).
- :func:`transfer_linear`: L2 logistic regression over 45 lambdas (Table 3 top, App. D.2).
- :func:`finetune`: fine-tuning over an LR x weight-decay grid, refit on train+val (Table 3 bottom, App. D.3).
- :func:`semisup`: fine-tuning on a labelled fraction (Table 2, App. C.1).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import build_dataset
from ..data.registry import dataset_info
from ..data.subsets import balanced_subset, read_subset, write_subset
from ..metrics import metric_by_name, top1_accuracy
from .classifier import Classifier, IndexedImages
from .feature_cache import resolved_root
from .grids import CROP_FLIP_NOTE, SGD_RECIPE
from .image_splits import ImageSplits
from .knn import knn_predict
from .linear import LINEAR_BASE_LRS, linear_eval
from .logreg import sweep_logreg
from .predictions import Predictions
from .runner import (EvalTarget, ProtocolResult, Splits, record_split_lists, train_val_test_features,
                     train_val_test_images)
from ..train.tracking import Tracking
from .sweep import (GridPoint, SweepData, SweepResult, SweepSettings, finetune_grid, linear_aug_grid, run_sweep,
                    semisup_grid)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- on cached features


def knn(target: EvalTarget, splits: Splits, ks: tuple[int, ...] = (20, 200), temperature: float = 0.07,
        pretrain_epoch: int | None = None) -> ProtocolResult:
    """Weighted kNN top-1 (cosine similarity, votes exp(cos / T)) for each k; ``pretrain_epoch`` (default:
    encoder.json's, written by ``byol export-encoder``) is recorded for the kNN-vs-epoch curve."""
    encoder, started = target.encoder, time.perf_counter()
    train_x, train_y = target.features(splits.train)
    test_x, test_y = target.features(splits.test)
    num_classes = int(max(train_y.max(), test_y.max()) + 1)
    epoch = pretrain_epoch
    if epoch is None and not encoder.random_init:
        epoch = encoder.meta.get("pretrain_epoch")
    extra = {} if epoch is None else {"pretrain_epoch": epoch}
    records, predictions = [], {}
    for k in ks:
        scores = knn_predict(train_x, train_y, test_x, k, temperature, num_classes, device=target.device).numpy()
        predictions[f"k={k}"] = Predictions(labels=np.asarray(test_y), scores=scores)
        records += target.records("knn", {"top1": top1_accuracy(scores, test_y)},
                                  {splits.train: int(len(train_y)), splits.test: int(len(test_y))},
                                  {"k": k, "temperature": temperature, **extra}, started, variant=f"k={k}")
    values = ", ".join(f"k={r.hyperparameters['k']} top-1 {r.value:.2f}%" for r in records)
    at = "" if epoch is None else f" (pretraining epoch {epoch})"
    return ProtocolResult(records, predictions,
                          f"kNN (T={temperature}) {encoder.label}{at} on {target.dataset}: {values}")


def linear(target: EvalTarget, splits: Splits, base_lrs: tuple[float, ...] = LINEAR_BASE_LRS, epochs: int = 80,
           batch_size: int = 1024) -> ProtocolResult:
    """Linear evaluation on cached centre-crop features: one head per base LR, selected on validation top-1."""
    record_split_lists(target, splits)
    started = time.perf_counter()
    (train_x, train_y), val, test, val_note = train_val_test_features(target, splits)
    num_classes = int(max(train_y.max(), val[1].max(), test[1].max()) + 1)
    res = linear_eval((train_x, train_y), val, test, num_classes, base_lrs, epochs, batch_size, target.seed,
                      target.device)
    hp = {"base_lr": res.best_base_lr, "base_lr_grid": list(base_lrs),
          "val_top1": {str(k): v for k, v in res.val_top1.items()}, "validation": val_note, **res.config}
    records = target.records("linear", {"top1": res.test_top1, "top5": res.test_top5},
                             {"train": res.train_size, "val": res.val_size, "test": res.test_size}, hp, started,
                             variant="cached")
    return ProtocolResult(records, res.test_predictions,
                          f"linear eval (cached features) {target.encoder.label} on {target.dataset}: "
                          f"top-1 {res.test_top1:.2f}% top-5 {res.test_top5:.2f}% "
                          f"(base lr {res.best_base_lr} chosen on validation)")


def transfer_linear(target: EvalTarget, splits: Splits, metric: str | None = None,
                    standardize: bool = False) -> ProtocolResult:
    """L2-regularised logistic regression on frozen features (App. D.2: shorter side resized to the crop size,
    no 256/224 test crop, features not standardised), lambda selected on validation, refit on train+val;
    ``metric``: default the dataset's (its record)."""
    record_split_lists(target, splits)
    started = time.perf_counter()
    metric = metric or dataset_info(target.dataset).metric
    score = metric_by_name(metric)
    (train_x, train_y), (val_x, val_y), (test_x, test_y), val_note = train_val_test_features(
        target, splits, "transfer")
    multilabel = train_y.ndim == 2  # VOC2007: [N, C] labels in {1, -1, 0}
    num_classes = int(train_y.shape[1]) if multilabel else int(max(train_y.max(), val_y.max(), test_y.max()) + 1)
    res = sweep_logreg((train_x, train_y), (val_x, val_y), (test_x, test_y), score, num_classes,
                       device=target.device, multilabel=multilabel, standardize=standardize)
    hp = {"lambda": res.best_lambda, "lambda_grid": "logspace(-6, 5, 45)", "val_scores": res.val_scores,
          "validation": val_note, "refit": "train+val",
          "objective": ("sum of per-class binary cross-entropies (difficult entries ignored)" if multilabel
                        else "sum of cross-entropies") + " + lambda/2 ||W||^2 (C = 1/lambda)",
          "features": ("standardised with the fitting split's mean/std (--standardize)" if standardize
                       else "as extracted, not standardised (paper App. D.2)"),
          "preprocessing": "shorter side resized to the crop size, centre crop (App. D.2)"}
    records = target.records("transfer_linear", {metric: res.test_score},
                             {"train": res.train_size, "val": res.val_size, "test": res.test_size}, hp, started)
    return ProtocolResult(records, res.test_predictions,
                          f"transfer linear {target.encoder.label} on {target.dataset}: {metric} "
                          f"{res.test_score:.2f}% (lambda {res.best_lambda:.3g} chosen on validation, refit on "
                          "train+val)")


# --------------------------------------------------------------------------------------- trained on images


@dataclass(frozen=True)
class SweepOptions:
    """How an image-trained protocol runs: ``work_dir`` keeps the sweep's state for resuming (None: a fresh
    temporary folder), ``precision`` fp32 or bf16 (autocast, GPU), ``checkpoint_every`` steps of a run,
    ``tracking`` the tracked run the sweep logs its curves to (``train/tracking.py``; None: none)."""

    work_dir: Path | None = None
    precision: str = "fp32"
    checkpoint_every: int = 500
    tracking: Tracking | None = None


def _sweep(target: EvalTarget, protocol: str, points: list[GridPoint], data: SweepData, splits: ImageSplits,
           select: str, test_metrics: list[str], options: SweepOptions, frozen: bool = False) -> SweepResult:
    """Train every grid point on images (encoder + head; ``frozen``: the head only), see ``eval/sweep.py``."""
    encoder, meta = target.encoder, target.encoder.meta

    def make_model() -> Classifier:
        model, m = encoder.load()
        return Classifier(model, m["feature_dim"], splits.num_classes, frozen_encoder=frozen)

    size = int(target.image_size or meta["image_size"])
    settings = SweepSettings(size, meta["mean"], meta["std"], splits.multilabel, target.device, target.num_workers,
                             options.precision, options.checkpoint_every)
    work = options.work_dir or Path(tempfile.mkdtemp(prefix=f"byol-{protocol}-"))
    fingerprint = {"protocol": protocol, "encoder": encoder.key, "dataset": target.dataset, "image_size": size,
                   "data_root": resolved_root(target.root),
                   "train": len(data.train), "val": len(data.val), "test": len(data.test)}
    log.info("%s: %d grid points, work folder %s", protocol, len(points), work)
    return run_sweep(points, make_model, data, settings, metric_by_name(select),
                     {m: metric_by_name(m) for m in test_metrics}, Path(work), fingerprint, seed=target.seed,
                     desc=protocol, tracking=options.tracking, select_name=select)


def _sweep_hyperparameters(res: SweepResult, hp: dict) -> dict:
    return {**hp, **res.best.hyper, "selected": res.best.tag, "val_scores": res.val_scores, "run": res.best_spec}


def _sweep_sizes(res: SweepResult) -> dict[str, int]:
    sizes = {"train": res.train_size, "val": res.val_size, "test": res.test_size}
    if res.refit_size is not None:
        sizes["trainval"] = res.refit_size
    return sizes


def linear_augmented(target: EvalTarget, splits: Splits, base_lrs: tuple[float, ...] = LINEAR_BASE_LRS,
                     epochs: int = 80, batch_size: int = 1024, options: SweepOptions = SweepOptions()
                     ) -> ProtocolResult:
    """Linear evaluation as the paper runs it: frozen encoder, a linear head trained on random resized crops +
    flips, base LR x batch / 256 selected on validation top-1."""
    record_split_lists(target, splits)
    started = time.perf_counter()
    sp = train_val_test_images(target, splits)
    points = linear_aug_grid(tuple(base_lrs), epochs, batch_size)
    res = _sweep(target, "linear", points, SweepData(sp.train, sp.val, sp.test), sp, "top1", ["top1", "top5"],
                 options, frozen=True)
    hp = {"mode": f"augmented ({CROP_FLIP_NOTE} on the fly)", "validation": sp.note,
          "base_lr_grid": [p.hyper["base_lr"] for p in points], "batch_size": batch_size, **SGD_RECIPE,
          "weight_decay": 0.0, "lr_scaling": "base x batch/256"}
    records = target.records("linear", res.test_scores, _sweep_sizes(res), _sweep_hyperparameters(res, hp),
                             started, variant="augmented")
    return ProtocolResult(records, res.test_predictions,
                          f"linear eval (augmented) {target.encoder.label} on {target.dataset}: "
                          f"top-1 {res.test_scores['top1']:.2f}% top-5 {res.test_scores['top5']:.2f}% "
                          f"({res.best.tag} chosen on validation)")


def finetune(target: EvalTarget, splits: Splits, lrs: tuple[float, ...], wds: tuple[float, ...], steps: int,
             batch_size: int, metric: str | None = None, options: SweepOptions = SweepOptions()) -> ProtocolResult:
    """Fine-tuning (App. D.3): encoder + head over the LR x weight-decay grid, the best point on validation
    retrained on train+val and scored on test once; ``metric``: default the dataset's (its record)."""
    record_split_lists(target, splits)
    started = time.perf_counter()
    sp = train_val_test_images(target, splits)
    metric = metric or dataset_info(target.dataset).metric
    points = finetune_grid(lrs, wds, steps, batch_size)
    res = _sweep(target, "finetune", points, SweepData(sp.train, sp.val, sp.test, sp.trainval), sp, metric,
                 [metric], options)
    hp = {"validation": sp.note, "refit": "train+val", "lr_grid": list(lrs), "wd_grid": list(wds), "steps": steps,
          "batch_size": batch_size, **SGD_RECIPE, "weight_decay_rule": "torch weight_decay = wd / lr",
          "bn_momentum_rule": "TF decay max(1 - 10/steps_per_epoch, 0.9)", "augmentation": CROP_FLIP_NOTE}
    records = target.records("finetune", res.test_scores, _sweep_sizes(res), _sweep_hyperparameters(res, hp),
                             started)
    return ProtocolResult(records, res.test_predictions,
                          f"fine-tuned {target.encoder.label} on {target.dataset}: {metric} "
                          f"{res.test_scores[metric]:.2f}% ({res.best.tag} chosen on validation, refit on "
                          "train+val)")


def _listed_subset(target: EvalTarget, splits: Splits, sp: ImageSplits, subset: Path) -> np.ndarray:
    """Indices into the full training split of the images of a subset list. When the validation split is held
    out of the labelled training images (ImageNet's 10,009; SimCLR's lists were drawn from all of them), the
    list is read against the ``trainval`` split and its validation images are dropped with a warning."""
    try:
        return read_subset(subset, sp.full_train)
    except ValueError:
        info = dataset_info(target.dataset)
        if (not info.has_paper_splits or sp.val_indices is not None or splits.train != info.train
                or info.trainval == info.train or not hasattr(sp.full_train, "paths")):
            raise
    trainval = build_dataset(target.dataset, target.root, info.trainval)
    picked = [trainval.paths[int(i)] for i in read_subset(subset, trainval)]
    position = {p: i for i, p in enumerate(sp.full_train.paths)}
    kept = np.sort(np.asarray([position[p] for p in picked if p in position], dtype=np.int64))
    log.warning("%d images of %s are in the validation split '%s' and were dropped", len(picked) - len(kept),
                subset, splits.val)
    return kept


def labelled_subset(target: EvalTarget, splits: Splits, sp: ImageSplits, fraction: float, subset_seed: int,
                    subset: Path | None) -> tuple[np.ndarray, str]:
    """``(indices into the full training split, source)`` of the labelled images, never validation images: a
    given list, or a class-balanced ``fraction`` saved under ``<cache_root>/subsets/`` (reused when there)."""
    held = set() if sp.val_indices is None else set(int(i) for i in sp.val_indices)
    if subset:
        idx = _listed_subset(target, splits, sp, subset)
        kept = np.asarray([i for i in idx if int(i) not in held], dtype=np.int64)
        if len(kept) < len(idx):
            log.warning("%d images of %s are in the validation hold-out and were dropped", len(idx) - len(kept),
                        subset)
        return kept, str(subset)
    path = Path(target.cache_root) / "subsets" / (f"{target.dataset}_{splits.train}_frac{fraction}_seed{subset_seed}"
                                                  f"_val{splits.val_size}_seed{splits.split_seed}.txt")
    if path.is_file():
        return read_subset(path, sp.full_train), str(path)
    idx = balanced_subset(np.asarray(sp.full_train.targets), fraction, subset_seed, exclude=sp.val_indices)
    write_subset(path, sp.full_train, idx, fraction=fraction, seed=subset_seed,
                 rule="class-balanced, round(fraction x n_c) >= 1, validation hold-out excluded")
    return idx, str(path)


def semisup(target: EvalTarget, splits: Splits, lrs: tuple[float, ...], epochs: tuple[int, ...], batch_size: int,
            fraction: float = 0.01, subset_seed: int = 0, subset: Path | None = None,
            options: SweepOptions = SweepOptions()) -> ProtocolResult:
    """Semi-supervised (Table 2): the whole network fine-tuned on a labelled subset (a class-balanced
    ``fraction``, or a ``subset`` list such as SimCLR's), LR x epochs selected on validation top-1."""
    record_split_lists(target, splits)
    started = time.perf_counter()
    sp = train_val_test_images(target, splits)
    idx, source = labelled_subset(target, splits, sp, fraction, subset_seed, subset)
    points = semisup_grid(lrs, epochs, batch_size)
    res = _sweep(target, "semisup", points, SweepData(IndexedImages(sp.full_train, idx), sp.val, sp.test), sp,
                 "top1", ["top1", "top5"], options)
    hp = {"label_fraction": fraction if not subset else None, "subset": source, "labelled_images": int(len(idx)),
          "validation": sp.note, "lr_grid": list(lrs), "epochs_grid": list(epochs), "batch_size": batch_size,
          "weight_decay": 0.0, **SGD_RECIPE, "augmentation": CROP_FLIP_NOTE, "bn": "train mode"}
    variant = Path(subset).stem if subset else f"{100 * fraction:g}%"
    records = target.records("semisup", res.test_scores, _sweep_sizes(res), _sweep_hyperparameters(res, hp),
                             started, variant=variant)
    return ProtocolResult(records, res.test_predictions,
                          f"semi-supervised ({len(idx)} labelled images) {target.encoder.label} on "
                          f"{target.dataset}: top-1 {res.test_scores['top1']:.2f}% top-5 "
                          f"{res.test_scores['top5']:.2f}% ({res.best.tag})")
