"""scikit-learn's bundled 8x8 digits (1,797 images), with a fixed stratified split.

``test`` is 20% of each class chosen by ``train_test_split(stratify=y, random_state=0,
test_size=0.2)``; ``train`` is the rest. Both keep the original sample order. Pixel
values 0..16 become uint8 ``round(v * 255 / 16)``. ``root`` and ``download`` are unused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ArrayImageDataset
from .registry import DatasetInfo, register_dataset
from .sources import DownloadSource

NAME = "digits"
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Sorted sample indices of ``split`` ('train' or 'test')."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return np.sort(train if split == "train" else test)


@register_dataset(DatasetInfo(
    NAME, "Digits", 10, ("train", "test"), pretraining=True,
    source="scikit-learn's bundled copy (sklearn.datasets.load_digits)",
    download=DownloadSource(bundled="scikit-learn ships it: sklearn.datasets.load_digits")))
def build_digits(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ArrayImageDataset:
    """The sklearn digits, 1x8x8 uint8, 10 classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = np.asarray(bunch.target, dtype=np.int64)
    pixels = np.rint(np.asarray(bunch.images, dtype=np.float64) * 255.0 / 16.0)
    images = np.clip(pixels, 0, 255).astype(np.uint8)[:, None]
    keep = split_indices(labels, split)
    return ArrayImageDataset(
        NAME, split, images[keep], labels[keep], 10, [str(d) for d in range(10)], max_samples
    )
