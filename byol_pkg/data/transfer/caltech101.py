"""Caltech-101 (Fei-Fei et al. 2004) with the DeCAF protocol, as in the BYOL paper (Table 3, Table 10).

Layout (``101_ObjectCategories.tar.gz`` extracted, as torchvision's ``Caltech101`` leaves it)::

    <root>/caltech101/101_ObjectCategories/<class>/image_<nnnn>.jpg

Classes: the 102 sorted folder names **including** ``BACKGROUND_Google`` (Table 10's counts, 3,060 = 30 x 102,
imply the background category is a 102nd class although the paper's class column says 101; spec §6.5).

Splits (no official split): every class's sorted image list is permuted with its own generator (seed 0,
:func:`byol_pkg.data.holdout.per_class_chunks`); its first 5 images are ``val``, the next 25 ``train``, the
first 30 together ``trainval``, and all remaining images ``test``. Paper sizes: train 2,550 / val 510 /
test 6,084 (trainval 3,060). Metric: mean per-class accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, per_class_chunks
from ..image_folder import is_image_file
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import Listing, downloader, locate, make_dataset, table3_info, take

NAME = "caltech101"
VAL_PER_CLASS, TRAIN_PER_CLASS = 5, 25
LAYOUT = ("<root>/caltech101/101_ObjectCategories/<class>/image_<nnnn>.jpg "
          "(102 class folders incl. BACKGROUND_Google; 101_ObjectCategories.tar.gz extracted)")
HOW = ("download caltech-101.zip from https://data.caltech.edu/records/mzrjq-6wc02 and extract "
       "101_ObjectCategories.tar.gz into <root>/caltech101")
CATEGORIES = "101_ObjectCategories"


def candidates(root: Path) -> list[Path]:
    out = [root / "caltech101" / CATEGORIES, root / CATEGORIES]
    return out + ([root] if root.name == CATEGORIES else [])


def scan(folder: Path) -> tuple[list[str], Listing]:
    """Classes (sorted folder names) and the sorted ``(paths, labels)`` of every image."""
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(f for f in os.listdir(folder / cls) if is_image_file(f) and not f.startswith("."))
        paths += [str(folder / cls / f) for f in files]
        labels += [label] * len(files)
    return classes, (paths, np.asarray(labels, dtype=np.int64))


def split_indices(labels: np.ndarray, split: str, folder: Path) -> np.ndarray:
    try:
        val, train, test = per_class_chunks(labels, (VAL_PER_CLASS, TRAIN_PER_CLASS), SEED)
    except ValueError as exc:
        raise DatasetFormatError(folder, f"every class needs at least 30 images ({exc})") from None
    return {"train": train, "val": val, "trainval": np.union1d(train, val), "test": test}[split]


@register_dataset(table3_info(
    NAME, "Caltech-101", 102, "mean_per_class", (3_060, 2_550, 510, 6_084),
    source="https://data.caltech.edu/records/mzrjq-6wc02 (caltech-101.zip -> 101_ObjectCategories.tar.gz)",
    aliases=("caltech",),
    # the zip holds caltech-101/101_ObjectCategories.tar.gz, unpacked in turn into <root>/caltech101/
    download=DownloadSource((RemoteFile("https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
                                        "md5:3138e1922a9193bfa496528edbbc45d0", dest="caltech101",
                                        inner=("caltech-101/101_ObjectCategories.tar.gz",)),), layout=LAYOUT),
    note="Table 10 says 101 classes but its counts (30 x 102) include BACKGROUND_Google as a 102nd class"))
def build_caltech101(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Caltech-101 incl. background (102 classes): 25 train / 5 val per class (seed 0), rest test."""
    folder = locate(NAME, split, root, candidates, (), LAYOUT, download, downloader(NAME), HOW)
    classes, everything = scan(folder)
    listing = take(everything, split_indices(everything[1], split, folder))
    rule = {"train": f"{TRAIN_PER_CLASS} per class", "val": f"{VAL_PER_CLASS} per class",
            "trainval": f"{VAL_PER_CLASS + TRAIN_PER_CLASS} per class (train + val)",
            "test": "all images not in trainval"}[split]
    rule = f"{split}: {rule}, DeCAF protocol on the sorted per-class lists (seed {SEED})"
    return make_dataset(NAME, split, listing, classes, rule, max_samples, folder)
