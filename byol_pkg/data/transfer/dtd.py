"""Describable Textures Dataset (Cimpoi et al. 2014), official split 1, as in the BYOL paper.

Layout (``dtd-r1.0.1.tar.gz`` extracted; torchvision's ``DTD`` nests it one level deeper, also accepted)::

    <root>/dtd/images/<class>/<class>_<nnnn>.jpg        (or <root>/dtd/dtd/images/...)
    <root>/dtd/labels/{train1,val1,test1}.txt           "<class>/<file>.jpg" per line

Classes: the 47 sorted folder names of ``images/``. Splits: the official ``train1`` (1,880) / ``val1``
(1,880) for selection, ``trainval`` = train1 + val1 (3,760) for the refit, ``test1`` (1,880).
Metric: top-1 accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import Listing, downloader, label_of, locate, make_dataset, read_lines, sort_listing, table3_info

NAME = "dtd"
PARTITION = 1
FILES = {"train": ("train",), "val": ("val",), "trainval": ("train", "val"), "test": ("test",)}
LAYOUT = "<root>/dtd/{images/<class>/*.jpg, labels/{train1,val1,test1}.txt} (dtd-r1.0.1.tar.gz extracted)"
HOW = "download dtd-r1.0.1.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/dtd/ and extract it into <root>"
REQUIRED = ("images", *(f"labels/{s}{PARTITION}.txt" for s in ("train", "val", "test")))


def candidates(root: Path) -> list[Path]:
    out = [root / "dtd", root / "dtd" / "dtd"]
    return out + ([root] if root.name == "dtd" else [])


def read_split(base: Path, files: tuple[str, ...], classes: list[str]) -> Listing:
    """Sorted ``(paths, labels)`` of the listed ``labels/<name>1.txt`` files."""
    lookup = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for name in files:
        path = base / "labels" / f"{name}{PARTITION}.txt"
        for line in read_lines(path):
            cls, sep, _ = line.partition("/")
            if not sep:
                raise DatasetFormatError(path, f"expected '<class>/<file>.jpg' lines, got {line!r}")
            labels.append(label_of(lookup, cls, path, line))
            paths.append(str(base / "images" / line))
    return sort_listing(paths, np.asarray(labels, dtype=np.int64))


@register_dataset(table3_info(
    NAME, "DTD", 47, "top1", (1_880, 1_880, 1_880, 1_880),
    source="https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz; split 1)",
    # unpacked into <root> (it holds dtd/): <root>/dtd/, not torchvision's <root>/dtd/dtd/ (both are read here)
    download=DownloadSource((RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",
                                        "md5:fff73e5086ae6bdbea199a49dfb8a4c1"),), layout=LAYOUT)))
def build_dtd(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """DTD split 1 (47 classes): official train1 / val1 / train1+val1 / test1."""
    base = locate(NAME, split, root, candidates, REQUIRED, LAYOUT, download, downloader(NAME), HOW)
    classes = sorted(e.name for e in os.scandir(base / "images") if e.is_dir() and not e.name.startswith("."))
    listing = read_split(base, FILES[split], classes)
    rule = f"{split}: official " + " + ".join(f"{f}{PARTITION}.txt" for f in FILES[split])
    named_by = [base / "labels" / f"{f}{PARTITION}.txt" for f in FILES[split]]
    return make_dataset(NAME, split, listing, classes, rule, max_samples, base, named_by)
