"""Deterministic validation hold-outs for datasets without an official validation split.

The held-out indices are drawn class-stratified from the training split with a fixed, recorded seed and saved
as a plain index file, so every method and seed of a comparison selects hyper-parameters on the same images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SplitError
from ..io import atomic_write_json, read_json

#: Validation fraction for datasets the paper does not cover (Fashion-MNIST, digits, ...): 10 %.
DEFAULT_VAL_FRACTION = 0.1


def heldout_indices(labels: np.ndarray, val_size: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``, sorted, class-stratified; ``val_size``: a count or a fraction of the split."""
    idx = np.arange(len(labels))
    try:
        from sklearn.model_selection import train_test_split  # imported here: scikit-learn loads slowly

        train_idx, val_idx = train_test_split(idx, test_size=val_size, random_state=seed, stratify=labels)
    except ValueError as err:  # too few images, or a class with a single image
        raise SplitError(f"cannot hold out a class-stratified validation set of {val_size} from {len(labels)} "
                         f"images ({err}); pass --val-split or another --val-size") from None
    return np.sort(train_idx), np.sort(val_idx)


def heldout_path(cache_root: str | Path, dataset: str, split: str, val_size: int | float, seed: int) -> Path:
    """Where the hold-out of ``split`` is saved: shared by every protocol, method and seed using it."""
    return Path(cache_root) / "splits" / f"{dataset}_{split}_val{val_size}_seed{seed}.json"


def load_or_make_heldout(path: str | Path, labels: np.ndarray, val_size: int | float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Read the saved hold-out at ``path`` (checked against ``labels``' length), or make and save it."""
    path = Path(path)
    if path.is_file():
        saved = read_json(path, "a saved validation hold-out")
        if saved["num_images"] != len(labels):
            raise SplitError(f"{path}: hold-out made for {saved['num_images']} images, the split has {len(labels)}")
        return np.asarray(saved["train"], dtype=np.int64), np.asarray(saved["val"], dtype=np.int64)
    train_idx, val_idx = heldout_indices(labels, val_size, seed)
    atomic_write_json(path, {"num_images": int(len(labels)), "seed": seed, "val_size": val_size,
                             "stratified": True, "train": train_idx.tolist(), "val": val_idx.tolist()})
    return train_idx, val_idx


def training_holdout(cache_root: str | Path, dataset: str, split: str, labels: np.ndarray, val_size: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(train_idx, val_idx, note)``: the saved stratified hold-out of ``split`` used as validation by every
    protocol; ``val_size`` >= 1 is a count, below 1 a fraction."""
    size = int(val_size) if val_size >= 1 else val_size
    path = heldout_path(cache_root, dataset, split, size, seed)
    train_idx, val_idx = load_or_make_heldout(path, np.asarray(labels), size, seed)
    return train_idx, val_idx, f"stratified hold-out of '{split}' ({path})"
