"""Oxford Flowers-102 (Nilsback & Zisserman 2008), official splits, as used in the BYOL paper.

Layout (``102flowers.tgz`` extracted next to the two .mat files, as torchvision's ``Flowers102`` leaves it)::

    <root>/flowers-102/jpg/image_<nnnnn>.jpg    (image ids 1..8189, 5 digits)
    <root>/flowers-102/imagelabels.mat          labels: 1 x 8189, 1-based class per image id
    <root>/flowers-102/setid.mat                trnid / valid / tstid: image ids of each split

Splits: the official ``train`` (trnid, 1,020) / ``val`` (valid, 1,020) for selection, ``trainval`` (2,040) for
the refit, ``test`` (tstid, 6,149). 102 classes. Metric: mean per-class accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import (Listing, downloader, folder_candidates, load_mat, locate, make_dataset, sort_listing,
                      table3_info)

NAME = "flowers102"
FOLDER = "flowers-102"
SET_KEYS = {"train": ("trnid",), "val": ("valid",), "trainval": ("trnid", "valid"), "test": ("tstid",)}
LAYOUT = "<root>/flowers-102/{jpg/image_<nnnnn>.jpg, imagelabels.mat, setid.mat}"
HOW = ("download 102flowers.tgz, imagelabels.mat and setid.mat from "
       "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ into <root>/flowers-102 and extract the .tgz there")
REQUIRED = ("jpg", "imagelabels.mat", "setid.mat")


def read_labels(base: Path) -> np.ndarray:
    """0-based label of every image id (index 0 = image id 1)."""
    path = base / "imagelabels.mat"
    mat = load_mat(path)
    if "labels" not in mat:
        raise DatasetFormatError(path, "no 'labels' variable")
    labels = np.atleast_1d(np.asarray(mat["labels"], dtype=np.int64)) - 1
    if labels.size == 0 or labels.min() < 0:
        raise DatasetFormatError(path, "labels must be 1-based class ids")
    return labels


def read_ids(base: Path, keys: tuple[str, ...], n_images: int) -> np.ndarray:
    """1-based image ids of the ``setid.mat`` variables ``keys``."""
    path = base / "setid.mat"
    mat = load_mat(path)
    ids = []
    for key in keys:
        if key not in mat:
            raise DatasetFormatError(path, f"no {key!r} variable (expected trnid, valid, tstid)")
        ids.append(np.atleast_1d(np.asarray(mat[key], dtype=np.int64)))
    out = np.concatenate(ids)
    if out.size and (out.min() < 1 or out.max() > n_images):
        raise DatasetFormatError(path, f"image ids outside 1..{n_images}")
    return out


def class_names(num_classes: int) -> list[str]:
    """The flower names (torchvision's list) for the full dataset, else ``class_<k>`` (1-based)."""
    try:
        from torchvision.datasets import Flowers102

        names = list(getattr(Flowers102, "classes", []))
    except ImportError:
        names = []
    return names if len(names) == num_classes else [f"class_{k:03d}" for k in range(1, num_classes + 1)]


def read_split(base: Path, split: str) -> tuple[Listing, int]:
    labels = read_labels(base)
    ids = read_ids(base, SET_KEYS[split], len(labels))
    paths = [str(base / "jpg" / f"image_{i:05d}.jpg") for i in ids.tolist()]
    return sort_listing(paths, labels[ids - 1]), int(labels.max()) + 1


@register_dataset(table3_info(
    NAME, "Flowers", 102, "mean_per_class", (1_020, 1_020, 1_020, 6_149),
    source="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ (102flowers.tgz + imagelabels.mat + setid.mat)",
    aliases=("flowers", "oxford_flowers", "oxford_flowers102", "oxford_102_flowers", "oxford102"),
    download=DownloadSource(tuple(
        RemoteFile(f"https://www.robots.ox.ac.uk/~vgg/data/flowers/102/{fname}", f"md5:{md5}", dest=FOLDER,
                   unpack=fname.endswith(".tgz"))
        for fname, md5 in (("102flowers.tgz", "52808999861908f626f3c1f4e79d11fa"),
                           ("imagelabels.mat", "e0620be6f572b9609742df49c70aed4d"),
                           ("setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c"))), layout=LAYOUT)))
def build_flowers102(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Flowers-102 (102 classes): official train / val / trainval / test (setid.mat)."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download,
                  downloader(NAME), HOW)
    listing, num_classes = read_split(base, split)
    rule = f"{split}: official setid.mat " + " + ".join(SET_KEYS[split])
    return make_dataset(NAME, split, listing, class_names(num_classes), rule, max_samples, base,
                        [base / "setid.mat"])
