"""PASCAL VOC2007 classification (Everingham et al.), multi-label over 20 classes, as in the BYOL paper.

Layout (``VOCtrainval_06-Nov-2007.tar`` and ``VOCtest_06-Nov-2007.tar`` extracted into the same root, as
torchvision's ``VOCDetection(year="2007")`` leaves them; both fill the same ``VOC2007`` folder)::

    <root>/VOCdevkit/VOC2007/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC2007/ImageSets/Main/<split>.txt           one image id per line
    <root>/VOCdevkit/VOC2007/ImageSets/Main/<class>_<split>.txt   "<id> <flag>" per line, flag 1 / -1 / 0

Targets: int64 ``[N, 20]`` in the devkit convention (1 = class present, -1 = absent, 0 = only "difficult"
objects of the class), classes in the devkit order (:data:`CLASSES`). ``ds[i]`` returns the row as a tensor.

Splits: the official ``train`` (2,501) / ``val`` (2,510) for selection, ``trainval`` (5,011) for the refit,
``test`` (4,952). Metric: 11-point mAP (VOC07).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import Listing, downloader, locate, make_dataset, not_found, read_lines, table3_info

NAME = "voc2007"
CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
LAYOUT = ("<root>/VOCdevkit/VOC2007/{JPEGImages/<id>.jpg, ImageSets/Main/<split>.txt, "
          "ImageSets/Main/<class>_<split>.txt} (VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar extracted)")
HOW = ("download VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar from "
       "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/ and extract both into <root>")
REQUIRED = ("JPEGImages", "ImageSets/Main")
FLAGS = (-1, 0, 1)


def candidates(root: Path) -> list[Path]:
    """``<root>/VOCdevkit/VOC2007``, ``<root>/VOC2007`` or ``<root>`` itself when it is that folder."""
    out = [root / "VOCdevkit" / "VOC2007", root / "VOC2007"]
    return out + ([root] if root.name == "VOC2007" else [])


def read_flags(path: Path) -> dict[str, int]:
    """``{image id: flag}`` of one ``<class>_<split>.txt`` file."""
    out: dict[str, int] = {}
    for line in read_lines(path):
        parts = line.split()
        try:
            flag = int(parts[1]) if len(parts) == 2 else None
        except ValueError:
            flag = None
        if flag not in FLAGS:
            raise DatasetFormatError(path, f"expected '<id> <1|-1|0>' lines, got {line!r}")
        out[parts[0]] = flag
    return out


def read_split(voc: Path, split: str) -> Listing:
    """Sorted ``(paths, targets [N, 20])`` of one official image set."""
    main = voc / "ImageSets" / "Main"
    ids_file = main / f"{split}.txt"
    if not ids_file.is_file():
        raise not_found(NAME, split, [ids_file], LAYOUT, HOW)
    ids = sorted(set(read_lines(ids_file)))
    targets = np.zeros((len(ids), len(CLASSES)), dtype=np.int64)
    for c, cls in enumerate(CLASSES):
        path = main / f"{cls}_{split}.txt"
        if not path.is_file():
            raise DatasetFormatError(path, f"class list missing (every one of the 20 <class>_{split}.txt is needed)")
        flags = read_flags(path)
        absent = [i for i in ids if i not in flags]
        if absent:
            raise DatasetFormatError(path, f"{len(absent)} image ids of {split}.txt are not listed, e.g. {absent[0]}")
        targets[:, c] = [flags[i] for i in ids]
    return [str(voc / "JPEGImages" / f"{i}.jpg") for i in ids], targets


@register_dataset(table3_info(
    NAME, "VOC2007", 20, "voc07_map", (5_011, 2_501, 2_510, 4_952),
    source="http://host.robots.ox.ac.uk/pascal/VOC/voc2007/ (VOCtrainval_06-Nov-2007.tar + VOCtest_06-Nov-2007.tar)",
    multilabel=True,
    download=DownloadSource(tuple(  # both tars fill <root>/VOCdevkit/VOC2007/
        RemoteFile(f"https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/{tar}", f"md5:{md5}")
        for tar, md5 in (("VOCtrainval_06-Nov-2007.tar", "c52e279531787c972589f7e41ab4ae64"),
                         ("VOCtest_06-Nov-2007.tar", "b6e924de25625d8de591ea690078ad9f"))), layout=LAYOUT),
    aliases=("voc07", "pascal_voc2007", "pascal_voc07", "voc")))
def build_voc2007(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """VOC2007 multi-label (20 classes, targets 1/-1/0): official train / val / trainval / test."""
    voc = locate(NAME, split, root, candidates, REQUIRED, LAYOUT, download, downloader(NAME), HOW)
    if download and root is not None and not (voc / "ImageSets" / "Main" / f"{split}.txt").is_file():
        downloader(NAME)(root)  # only one of the two tars was there: the download adds the other
    listing = read_split(voc, split)
    return make_dataset(NAME, split, listing, CLASSES, f"{split}: official ImageSets/Main/{split}.txt",
                        max_samples, voc, [voc / "ImageSets" / "Main" / f"{split}.txt"])
