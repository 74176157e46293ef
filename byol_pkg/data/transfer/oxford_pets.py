"""Oxford-IIIT Pets (Parkhi et al. 2012), 37 breeds, as used for transfer in the BYOL paper.

Layout (``images.tar.gz`` and ``annotations.tar.gz`` extracted, as torchvision's ``OxfordIIITPet`` leaves
them)::

    <root>/oxford-iiit-pet/images/<Breed_name>_<n>.jpg
    <root>/oxford-iiit-pet/annotations/{trainval,test}.txt
        "<image id> <class id 1..37> <species 1|2> <breed id>" per line (``#`` lines are comments)

Label = class id - 1; class names come from the image ids (the id without its trailing ``_<n>``).

Splits: ``trainval`` = the creators' trainval list (3,680); ``val`` = 20 images per class drawn from the
sorted trainval list with seed 0 (740), ``train`` = the rest (2,940); ``test`` = the creators' test list
(3,669). Metric: mean per-class accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, per_class_holdout
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import (Listing, folder_candidates, holdout_split, locate, make_dataset, read_lines, rule_text,
                      sort_listing, table3_info, downloader)

NAME = "oxford_pets"
FOLDER = "oxford-iiit-pet"
VAL_PER_CLASS = 20
LAYOUT = ("<root>/oxford-iiit-pet/{images/<id>.jpg, annotations/trainval.txt, annotations/test.txt} "
          "(images.tar.gz and annotations.tar.gz extracted)")
HOW = ("download images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ "
       "and extract both into <root>/oxford-iiit-pet")
REQUIRED = ("images", "annotations/trainval.txt", "annotations/test.txt")


def read_list(base: Path, which: str) -> tuple[list[str], np.ndarray]:
    """Image ids and 0-based labels of ``annotations/<which>.txt``, in file order."""
    path = base / "annotations" / f"{which}.txt"
    ids, labels = [], []
    for line in read_lines(path):
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise DatasetFormatError(path, f"expected '<id> <class 1..37> <species> <breed>' lines, got {line!r}")
        ids.append(parts[0])
        labels.append(int(parts[1]) - 1)
    return ids, np.asarray(labels, dtype=np.int64)


def class_names(base: Path, lists: list[tuple[list[str], np.ndarray]]) -> list[str]:
    """Breed names by class id, from the image ids (``Abyssinian_100`` -> ``Abyssinian``)."""
    names: dict[int, str] = {}
    for ids, labels in lists:
        for image_id, label in zip(ids, labels.tolist()):
            names.setdefault(label, image_id.rsplit("_", 1)[0])
    if sorted(names) != list(range(len(names))):
        raise DatasetFormatError(base / "annotations", f"class ids are not 1..{len(names)}: {sorted(names)}")
    return [names[i] for i in range(len(names))]


def listing(base: Path, ids: list[str], labels: np.ndarray) -> Listing:
    return sort_listing([str(base / "images" / f"{i}.jpg") for i in ids], labels)


@register_dataset(table3_info(
    NAME, "Pets", 37, "mean_per_class", (3_680, 2_940, 740, 3_669),
    source="https://www.robots.ox.ac.uk/~vgg/data/pets/ (images.tar.gz + annotations.tar.gz)",
    aliases=("pets", "oxford_iiit_pets", "oxford_iiit_pet", "oxford_pet"),
    download=DownloadSource((
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
                   "md5:5c4f3ee8e5d25df40f4fd59a7f44e54c", dest=FOLDER),
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
                   "md5:95a8c909bbe2e81eed6a22bccdf3f68f", dest=FOLDER)), layout=LAYOUT)))
def build_oxford_pets(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Oxford-IIIT Pets (37 classes): train / val (20 per class, seed 0) / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download,
                  downloader(NAME), HOW)
    trainval, test = read_list(base, "trainval"), read_list(base, "test")
    classes = class_names(base, [trainval, test])
    chosen = holdout_split(split, listing(base, *trainval), lambda: listing(base, *test),
                           lambda y: per_class_holdout(y, VAL_PER_CLASS, SEED))
    rule = {"test": "creators' test list", "trainval": "creators' trainval list"}.get(
        split, f"{VAL_PER_CLASS} per class of the sorted trainval list held out as val")
    named_by = base / "annotations" / ("test.txt" if split == "test" else "trainval.txt")
    return make_dataset(NAME, split, chosen, classes, rule_text(rule, split), max_samples, base, [named_by])
