"""Train / validation / test images of a dataset for the protocols that train on images (fine-tuning,
semi-supervised, linear with augmentation), with the same validation rule as the cached-feature protocols:
the dataset's official validation split when one is named, else the saved class-stratified hold-out of the
training split (one index file per dataset, split, size and seed, shared by every protocol and method)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import build_dataset
from ..data.validation import training_holdout
from .classifier import ConcatImages, IndexedImages


@dataclass
class ImageSplits:
    train: IndexedImages
    val: IndexedImages
    test: IndexedImages
    full_train: object  # the whole training split (subsets index into it)
    val_indices: np.ndarray | None  # hold-out indices into full_train (None: official validation split)
    note: str

    @property
    def trainval(self) -> ConcatImages:
        """The refit set: train + validation images."""
        return ConcatImages([self.train, self.val])

    @property
    def multilabel(self) -> bool:
        return np.asarray(self.full_train.targets).ndim == 2

    @property
    def num_classes(self) -> int:
        return int(self.full_train.num_classes)


def image_splits(dataset: str, root: str, train_split: str, val_split: str | None, val_size: float,
                 split_seed: int, test_split: str, cache_root: str | Path) -> ImageSplits:
    """Build the three image splits (see the module docstring)."""
    full = build_dataset(dataset, root, train_split)
    if val_split:
        train = IndexedImages(full)
        val = IndexedImages(build_dataset(dataset, root, val_split))
        val_idx, note = None, f"official split '{val_split}'"
    else:
        tr_idx, val_idx, note = training_holdout(cache_root, dataset, train_split, full.targets, val_size,
                                                 split_seed)
        train, val = IndexedImages(full, tr_idx), IndexedImages(full, val_idx)
    test = IndexedImages(build_dataset(dataset, root, test_split))
    return ImageSplits(train, val, test, full, val_idx, note)
