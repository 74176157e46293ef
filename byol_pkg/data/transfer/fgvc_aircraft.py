"""FGVC-Aircraft 2013b (Maji et al. 2013) at **variant** level (100 classes), as in the BYOL paper.

Layout (``fgvc-aircraft-2013b.tar.gz`` extracted, as torchvision's ``FGVCAircraft`` leaves it)::

    <root>/fgvc-aircraft-2013b/data/images/<id>.jpg
    <root>/fgvc-aircraft-2013b/data/variants.txt                    one variant per line; label = line index
    <root>/fgvc-aircraft-2013b/data/images_variant_<split>.txt      "<id> <variant name>" per line
        (<split> in train, val, trainval, test; variant names may contain spaces)

Splits: the creators' official ``train`` (3,334) / ``val`` (3,333) / ``trainval`` (6,667) / ``test``
(3,333), as the paper uses them (Table 10). Images are used whole (the 20-pixel copyright banner at the
bottom is not cropped). Metric: mean per-class accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..registry import register_dataset
from ..sources import DownloadSource, RemoteFile
from ._common import (SPLITS, Listing, folder_candidates, label_of, locate, make_dataset, read_lines, sort_listing,
                      table3_info, downloader)

NAME = "fgvc_aircraft"
FOLDER = "fgvc-aircraft-2013b"
LAYOUT = ("<root>/fgvc-aircraft-2013b/data/{images/<id>.jpg, variants.txt, "
          "images_variant_{train,val,trainval,test}.txt} (fgvc-aircraft-2013b.tar.gz extracted)")
HOW = ("download fgvc-aircraft-2013b.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ "
       "and extract it")
REQUIRED = ("data/images", "data/variants.txt", *(f"data/images_variant_{s}.txt" for s in SPLITS))


def read_split(data: Path, split: str, classes: list[str]) -> Listing:
    """Sorted ``(paths, labels)`` of ``images_variant_<split>.txt``."""
    lookup = {c: i for i, c in enumerate(classes)}
    path = data / f"images_variant_{split}.txt"
    paths, labels = [], []
    for line in read_lines(path):
        image_id, sep, variant = line.partition(" ")
        if not sep or not variant.strip():
            raise DatasetFormatError(path, f"expected '<id> <variant>' lines, got {line!r}")
        labels.append(label_of(lookup, variant.strip(), path, line))
        paths.append(str(data / "images" / f"{image_id}.jpg"))
    return sort_listing(paths, np.asarray(labels, dtype=np.int64))


@register_dataset(table3_info(
    NAME, "Aircraft", 100, "mean_per_class", (3_334, 3_334, 3_333, 3_333),
    source="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ (fgvc-aircraft-2013b.tar.gz; variant level)",
    aliases=("aircraft", "fgvc_aircraft_2013b"),
    # the creators publish an MD5 page beside the archive, but torchvision records none and it is not copied
    # here yet: the archive is checked by unpacking it and reading it with this loader
    download=DownloadSource((RemoteFile(
        "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz", None,
        checksum_by="none recorded (see archives/fgvc-aircraft-2013b.html)"),), layout=LAYOUT, note="2.75 GB")))
def build_fgvc_aircraft(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """FGVC-Aircraft variants (100 classes): official train / val / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download,
                  downloader(NAME), HOW)
    data = base / "data"
    classes = read_lines(data / "variants.txt")
    listing = read_split(data, split, classes)
    return make_dataset(NAME, split, listing, classes, f"{split}: official images_variant_{split}.txt",
                        max_samples, base, [data / f"images_variant_{split}.txt"])
