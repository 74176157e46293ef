"""Food-101 (Bossard et al. 2014) as used for transfer in the BYOL paper (Table 3, Table 10).

Layout (``food-101.tar.gz`` extracted, as torchvision's ``Food101`` leaves it)::

    <root>/food-101/images/<class>/<id>.jpg
    <root>/food-101/meta/classes.txt   one class name per line; label = line index
    <root>/food-101/meta/train.txt     "<class>/<id>" per line (75,750 = 750 per class)
    <root>/food-101/meta/test.txt      "<class>/<id>" per line (25,250 = 250 per class)

Splits: ``trainval`` = the creators' train list; ``val`` = 75 images per class drawn from the sorted train
list with seed 0 (:func:`byol_pkg.data.holdout.per_class_holdout`), ``train`` = the rest; ``test`` = the
creators' test list. Paper sizes: train 68,175 / val 7,575 / test 25,250 (trainval 75,750). 101 classes.
Metric: top-1 accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, per_class_holdout
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import (Listing, folder_candidates, holdout_split, label_of, locate, make_dataset, read_lines, rule_text,
                      sort_listing, table3_info, downloader)

NAME = "food101"
FOLDER = "food-101"
VAL_PER_CLASS = 75
LAYOUT = ("<root>/food-101/{images/<class>/<id>.jpg, meta/classes.txt, meta/train.txt, meta/test.txt} "
          "(food-101.tar.gz extracted)")
HOW = "download food-101.tar.gz from https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ and extract it"
REQUIRED = ("images", "meta/classes.txt", "meta/train.txt", "meta/test.txt")


def read_split(base: Path, which: str, classes: list[str]) -> Listing:
    """Sorted ``(paths, labels)`` of ``meta/<which>.txt``."""
    lookup = {c: i for i, c in enumerate(classes)}
    path = base / "meta" / f"{which}.txt"
    paths, labels = [], []
    for line in read_lines(path):
        cls, sep, _ = line.partition("/")
        if not sep:
            raise DatasetFormatError(path, f"expected '<class>/<id>' lines, got {line!r}")
        labels.append(label_of(lookup, cls, path, line))
        paths.append(str(base / "images" / f"{line}.jpg"))
    return sort_listing(paths, np.asarray(labels, dtype=np.int64))


@register_dataset(table3_info(
    NAME, "Food101", 101, "top1", (75_750, 68_175, 7_575, 25_250),
    source="https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ (food-101.tar.gz; torchvision Food101)",
    aliases=("food_101",),
    download=DownloadSource((RemoteFile("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",
                                        "md5:85eeb15f3717b99a5da872d97d918f87"),), layout=LAYOUT,
                            note="5 GB")))
def build_food101(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Food-101 (101 classes): train / val (75 per class held out, seed 0) / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download,
                  downloader(NAME), HOW)
    classes = read_lines(base / "meta" / "classes.txt")
    listing = holdout_split(split, read_split(base, "train", classes), lambda: read_split(base, "test", classes),
                            lambda y: per_class_holdout(y, VAL_PER_CLASS, SEED))
    rule = {"test": "creators' test list", "trainval": "creators' train list"}.get(
        split, f"{VAL_PER_CLASS} per class of the sorted train list held out as val")
    named_by = base / "meta" / ("test.txt" if split == "test" else "train.txt")
    return make_dataset(NAME, split, listing, classes, rule_text(rule, split), max_samples, base, [named_by])
