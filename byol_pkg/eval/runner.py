"""What every evaluation protocol shares, callable from Python without the command line: the target (an encoder
and the dataset it is evaluated on), the splits (the paper's, or train / a saved hold-out / test), the cached
features or images of those splits, and the result: records assembled in one place, written with the test
predictions they were computed from.

>>> target = EvalTarget(EncoderRef(Path("encoder.pt")), "cifar10", root="data")        # doctest: +SKIP
>>> result = protocols.knn(target, resolve_splits("cifar10", train="train", test="test"))  # doctest: +SKIP
>>> result.write(Path("results/knn.json"))                                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.registry import check_split, dataset_info
from ..data.subsets import save_missing_split_lists
from ..data.validation import DEFAULT_VAL_FRACTION, training_holdout
from ..errors import ConfigError
from .feature_cache import EncoderRef, cached_features
from .image_splits import ImageSplits, image_splits
from .predictions import Predictions, predictions_path, save_predictions
from .results import ResultRecord, write_results

log = logging.getLogger(__name__)


def check_device(device: str, option: str = "--device") -> str:
    """``device`` once it names a device this machine has (``cpu``, ``cuda``, ``cuda:<index>``, ``mps``), else a
    one-line :class:`ConfigError` naming ``option``: not a device name, or CUDA / MPS not available here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"{option} {device!r}: not a device; use cpu, cuda, cuda:<index> or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {device!r}: CUDA is not available on this machine (torch "
                              f"{torch.__version__} sees no GPU); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {device!r}: this machine has {torch.cuda.device_count()} GPU(s) "
                              f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{option} {device!r}: MPS is not available on this machine; use --device cpu")
    elif dev.type != "cpu":
        raise ConfigError(f"{option} {device!r}: device type '{dev.type}' is not supported; use cpu, cuda or mps")
    return device


@dataclass(frozen=True)
class EvalTarget:
    """What is evaluated (``encoder``; ``method`` and ``seed`` are written into its records), on which dataset,
    and where its images are read and its features cached."""

    encoder: EncoderRef
    dataset: str
    root: str = "data"
    cache_root: str = "results/features"
    image_size: int | None = None  # resize + crop side (None: the encoder's)
    device: str = "cpu"
    num_workers: int = 0
    method: str = "byol"
    seed: int = 0

    def __post_init__(self) -> None:
        check_device(self.device)

    def features(self, split: str, preprocessing: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Cached frozen features and labels of ``split`` (``preprocessing``: see ``eval/encoder.py``)."""
        x, y, _ = cached_features(self.encoder, self.dataset, self.root, split, self.cache_root, self.image_size,
                                  device=self.device, num_workers=self.num_workers, preprocessing=preprocessing)
        return x, y

    def records(self, protocol: str, scores: dict[str, float], split_sizes: dict[str, int], hyperparameters: dict,
                started: float, variant: str = "") -> list[ResultRecord]:
        """One record per metric of ``scores``: the only place result records are assembled."""
        return [ResultRecord(protocol=protocol, variant=variant, metric=metric, value=value, dataset=self.dataset,
                             encoder=self.encoder.label, encoder_sha256=self.encoder.sha256, method=self.method,
                             backbone=self.encoder.meta["backbone"], split_sizes=split_sizes,
                             hyperparameters=hyperparameters, seed=self.seed, wall_s=time.perf_counter() - started)
                for metric, value in scores.items()]


@dataclass(frozen=True)
class Splits:
    """The splits a protocol reads: fit on ``train``, select on ``val`` (None: a saved class-stratified hold-out
    of ``val_size`` of ``train``, seed ``split_seed``), report on ``test``. ``paper``: the paper's splits."""

    train: str = "train"
    val: str | None = None
    test: str = "test"
    val_size: float = DEFAULT_VAL_FRACTION
    split_seed: int = 0
    paper: bool = False


def resolve_splits(dataset: str, train: str | None = None, val: str | None = None, test: str | None = None,
                   val_size: float = DEFAULT_VAL_FRACTION, split_seed: int = 0) -> Splits:
    """The splits of ``dataset``: the paper's train / val / test (Table 10; from its record) unless any split is
    given, else ``train`` (default ``train``), ``val`` (default: a hold-out) and ``test`` (default ``test``).
    Every name is checked against the registry before any work."""
    info = dataset_info(dataset)
    if info.has_paper_splits and train is None and val is None and test is None:
        train, val, test = info.train, info.val, info.test
        log.info("%s: the paper's splits train=%s val=%s test=%s (refit on train+val)", info.display, train, val,
                 test)
    splits = Splits(train or "train", val, test or "test", val_size, split_seed, info.has_paper_splits)
    for split in (splits.train, splits.val, splits.test):
        if split:
            check_split(dataset, split)
    return splits


def record_split_lists(target: EvalTarget, splits: Splits) -> None:
    """Keep the file lists of the paper's splits beside the cache (``byol prepare`` writes them; an evaluation
    run on its own writes the ones missing)."""
    if splits.paper:
        save_missing_split_lists(target.cache_root, target.dataset, target.root,
                                 (splits.train, splits.val, splits.test))


def train_val_test_features(target: EvalTarget, splits: Splits, preprocessing: str = "test"):
    """``(train, val, test, note)``: cached features and labels of the three splits; validation = the named
    split or the saved hold-out of the training split (``note`` says which)."""
    train_x, train_y = target.features(splits.train, preprocessing)
    if splits.val:
        val_x, val_y = target.features(splits.val, preprocessing)
        note = f"official split '{splits.val}'"
    else:
        tr_idx, val_idx, note = training_holdout(target.cache_root, target.dataset, splits.train, train_y,
                                                 splits.val_size, splits.split_seed)
        val_x, val_y, train_x, train_y = train_x[val_idx], train_y[val_idx], train_x[tr_idx], train_y[tr_idx]
    return (train_x, train_y), (val_x, val_y), target.features(splits.test, preprocessing), note


def train_val_test_images(target: EvalTarget, splits: Splits) -> ImageSplits:
    """The three splits as images, with the same validation rule as :func:`train_val_test_features`."""
    return image_splits(target.dataset, target.root, splits.train, splits.val, splits.val_size, splits.split_seed,
                        splits.test, target.cache_root)


@dataclass
class ProtocolResult:
    """A protocol's records, the test predictions they were computed from, and a one-line summary."""

    records: list[ResultRecord]
    predictions: Predictions | dict[str, Predictions] | None
    summary: str

    def write(self, out: str | Path | None) -> None:
        """Write the records to ``out`` (atomically) and the predictions beside them
        (``<out stem>.predictions.npz``, see ``eval/predictions.py``); nothing when ``out`` is None."""
        if out is None:
            return
        if self.predictions is not None:
            save_predictions(predictions_path(out), self.predictions)
        write_results(out, self.records)
