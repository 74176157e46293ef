"""SUN397, first official partition (Xiao et al. 2010), as used for transfer in the BYOL paper (Table 3, 10).

Layout (``SUN397.tar.gz`` extracted, as torchvision's ``SUN397`` leaves it, plus ``Partitions.zip``)::

    <root>/SUN397/<letter>/<class>[/<sub>]/sun_*.jpg
    <root>/SUN397/ClassName.txt          "/a/abbey" per line (397 lines); label = line index
    Training_01.txt, Testing_01.txt      "/a/abbey/sun_xxx.jpg" per line (50 + 50 per class)

The partition files (and optionally their own ``ClassName.txt``) are looked for in ``<root>/SUN397/``,
``<root>/SUN397/Partitions/`` and ``<root>/Partitions/``, in that order.

Splits: ``trainval`` = Training_01 (19,850); ``val`` = 10 images per class drawn from the sorted Training_01
list with seed 0, ``train`` = the other 40 per class; ``test`` = Testing_01. Paper sizes: train 15,880 /
val 3,970 / test 19,850. 397 classes. Metric: top-1 accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, per_class_holdout
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import (Listing, folder_candidates, holdout_split, label_of, locate, make_dataset, not_found, read_lines,
                      rule_text, sort_listing, table3_info, downloader)

NAME = "sun397"
FOLDER = "SUN397"
VAL_PER_CLASS = 10
PARTITION_FILES = ("Training_01.txt", "Testing_01.txt")
LAYOUT = ("<root>/SUN397/<letter>/<class>[/<sub>]/sun_*.jpg with <root>/SUN397/ClassName.txt, and "
          "Training_01.txt + Testing_01.txt in <root>/SUN397/, <root>/SUN397/Partitions/ or <root>/Partitions/")
HOW = ("download SUN397.tar.gz and Partitions.zip from https://vision.princeton.edu/projects/2010/SUN/ "
       "and extract both under <root>")


def partition_dirs(base: Path) -> list[Path]:
    return [base, base / "Partitions", base.parent / "Partitions"]


def find_partitions(base: Path, split: str) -> Path:
    """Folder holding Training_01.txt and Testing_01.txt, or :class:`DatasetNotFoundError`."""
    for folder in partition_dirs(base):
        if all((folder / f).is_file() for f in PARTITION_FILES):
            return folder
    raise not_found(NAME, split, partition_dirs(base), LAYOUT, f"the partition files are missing; {HOW}")


def read_classes(base: Path, partitions: Path, split: str) -> list[str]:
    """Class paths such as ``a/abbey`` (leading slash dropped), in ClassName.txt order."""
    path = next((p for p in (partitions / "ClassName.txt", base / "ClassName.txt") if p.is_file()), None)
    if path is None:
        raise not_found(NAME, split, [base, partitions], LAYOUT, f"ClassName.txt is missing; {HOW}")
    return [line.strip("/") for line in read_lines(path)]


def read_partition(base: Path, path: Path, classes: list[str]) -> Listing:
    """Sorted ``(paths, labels)`` of one partition file; the class is the listed path's folder."""
    lookup = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for line in read_lines(path):
        rel = line.strip("/")
        cls, sep, _ = rel.rpartition("/")
        if not sep:
            raise DatasetFormatError(path, f"expected '/<letter>/<class>/<file>.jpg' lines, got {line!r}")
        labels.append(label_of(lookup, cls, path, line))
        paths.append(str(base / rel))
    return sort_listing(paths, np.asarray(labels, dtype=np.int64))


@register_dataset(table3_info(
    NAME, "SUN397", 397, "top1", (19_850, 15_880, 3_970, 19_850),
    source="https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz + Partitions.zip; partition 1)",
    # Partitions.zip is unpacked into <root>/SUN397/ (its files, or its Partitions/ folder, both read here); no
    # checksum of it is published (torchvision does not fetch it), so it is checked by unpacking and reading it
    download=DownloadSource((
        RemoteFile("http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",
                   "md5:8ca2778205c41d23104230ba66911c7a"),
        RemoteFile("https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip", None, dest=FOLDER,
                   checksum_by="none published")), layout=LAYOUT, note="37 GB")))
def build_sun397(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """SUN397 partition 1 (397 classes): train 40 / val 10 per class (seed 0) / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), (), LAYOUT, download,
                  downloader(NAME), HOW)
    parts = find_partitions(base, split)
    classes = read_classes(base, parts, split)
    listing = holdout_split(split, read_partition(base, parts / PARTITION_FILES[0], classes),
                            lambda: read_partition(base, parts / PARTITION_FILES[1], classes),
                            lambda y: per_class_holdout(y, VAL_PER_CLASS, SEED))
    rule = {"test": "Testing_01", "trainval": "Training_01"}.get(
        split, f"{VAL_PER_CLASS} per class of the sorted Training_01 list held out as val")
    named_by = parts / PARTITION_FILES[1 if split == "test" else 0]
    return make_dataset(NAME, split, listing, classes, rule_text(rule, split), max_samples, base, [named_by])
