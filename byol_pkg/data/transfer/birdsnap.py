"""Birdsnap v1.1 (Berg et al. 2014), 500 species, as used for transfer in the BYOL paper (Table 3, 10).

Layout (``birdsnap.tgz`` extracted, then its ``get_birdsnap.py`` run from inside ``birdsnap/`` with the
default ``--output_dir download``)::

    <root>/birdsnap/species.txt        tab-separated with a header: id, common, scientific, dir (ids 1..500)
    <root>/birdsnap/images.txt         tab-separated with a header incl. ``path`` and ``species_id``
    <root>/birdsnap/test_images.txt    a header line ("path"), then one ``path`` per line (2,443)
    <root>/birdsnap/download/images/<path>      e.g. download/images/Acadian_Flycatcher/<md5-ish>.jpg
        (``<root>/birdsnap/images/<path>`` is accepted too)

Images are downloaded from Flickr and many fail: images listed but absent on disk are skipped (their count is
logged). Label = ``species_id - 1``; class names are the ``common`` names in id order.

Splits: ``test`` = the listed test images present on disk; ``trainval`` = all other images of images.txt
present on disk (paper: 47,386); ``val`` = per species as many images as test_images.txt lists for that
species (capped at what the species has), drawn from the sorted trainval list with seed 0; ``train`` = the
rest. Paper sizes: train 42,405 / val 4,981 / test 2,443 (the paper's val is about twice the test count
although its text states "the same number per category as the test split"; this adapter follows the text).
Metric: top-1 accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, per_class_holdout
from ..registry import register_dataset
from ..sources import DownloadSource
from ._common import (Listing, folder_candidates, holdout_split, keep_existing, locate, make_dataset, not_found,
                      read_lines, rule_text, sort_listing, table3_info)

NAME = "birdsnap"
FOLDER = "birdsnap"
IMAGE_DIRS = ("download/images", "images")
LAYOUT = ("<root>/birdsnap/{species.txt, images.txt, test_images.txt, download/images/<path from images.txt>} "
          "(birdsnap.tgz extracted and get_birdsnap.py run there; images/<path> also accepted)")
HOW = ("download birdsnap.tgz from http://thomasberg.org/datasets/birdsnap/1.1/birdsnap.tgz, extract it into "
       "<root> and run 'python get_birdsnap.py' inside <root>/birdsnap (fetches the images from Flickr)")
REQUIRED = ("species.txt", "images.txt", "test_images.txt")


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header fields and rows of a tab-separated file with a header line."""
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise DatasetFormatError(path, "empty file, expected a header line")
    header = lines[0].strip().split("\t")
    rows = [ln.rstrip("\r\n").split("\t") for ln in lines[1:]]
    bad = next((r for r in rows if len(r) != len(header)), None)
    if bad is not None:
        raise DatasetFormatError(path, f"row with {len(bad)} fields, header has {len(header)}: {bad[:4]}")
    return header, rows


def column(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise DatasetFormatError(path, f"no {name!r} column in header {header[:6]}")
    return header.index(name)


def read_species(base: Path) -> list[str]:
    """Common names ordered by species id (ids must be 1..K)."""
    path = base / "species.txt"
    header, rows = read_table(path)
    id_col, name_col = column(path, header, "id"), column(path, header, "common")
    try:
        by_id = {int(r[id_col]): r[name_col] for r in rows}
    except ValueError as exc:
        raise DatasetFormatError(path, f"non-integer species id ({exc})") from None
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise DatasetFormatError(path, f"species ids are not 1..{len(by_id)}")
    return [by_id[i] for i in range(1, len(by_id) + 1)]


def read_images(base: Path, num_classes: int) -> dict[str, int]:
    """``{path: label}`` of images.txt (label = species_id - 1)."""
    path = base / "images.txt"
    header, rows = read_table(path)
    p_col, s_col = column(path, header, "path"), column(path, header, "species_id")
    out = {}
    for r in rows:
        if not r[s_col].strip().isdigit() or not 1 <= int(r[s_col]) <= num_classes:
            raise DatasetFormatError(path, f"species_id {r[s_col]!r} outside 1..{num_classes} for {r[p_col]!r}")
        out[r[p_col].strip()] = int(r[s_col]) - 1
    return out


def read_test_paths(base: Path, labels: dict[str, int]) -> list[str]:
    path = base / "test_images.txt"
    lines = read_lines(path)
    paths = lines[1:] if lines and lines[0] == "path" else lines
    unknown = [p for p in paths if p not in labels]
    if unknown:
        raise DatasetFormatError(path, f"{len(unknown)} test paths are not in images.txt, e.g. {unknown[0]!r}")
    return paths


def image_dir(base: Path, split: str) -> Path:
    for rel in IMAGE_DIRS:
        if (base / rel).is_dir():
            return base / rel
    raise not_found(NAME, split, [base / rel for rel in IMAGE_DIRS], LAYOUT, f"no image folder yet; {HOW}")


def listing(images: Path, rel_paths: list[str], labels: dict[str, int]) -> Listing:
    paths = [str(images / p) for p in rel_paths]
    return sort_listing(*keep_existing(NAME, paths, np.asarray([labels[p] for p in rel_paths], dtype=np.int64)))


@register_dataset(table3_info(
    NAME, "Birdsnap", 500, "top1", (47_386, 42_405, 4_981, 2_443),
    source="http://thomasberg.org/datasets/birdsnap/1.1/birdsnap.tgz, then its get_birdsnap.py (images from Flickr)",
    note=("many Flickr images are gone: sizes depend on what downloaded; val follows the paper's text (as many per "
          "species as the test split), Table 10's 4,981 is about twice the test size"),
    # birdsnap.tgz itself is public, but it holds only URL lists: the images come from Flickr (get_birdsnap.py)
    download=DownloadSource(manual=HOW, layout=LAYOUT)))
def build_birdsnap(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Birdsnap (500 species): train / val (per species as many as its test images, seed 0) / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download, None, HOW)
    classes = read_species(base)
    labels = read_images(base, len(classes))
    test_paths = read_test_paths(base, labels)
    images = image_dir(base, split)
    test_set = set(test_paths)
    trainval = listing(images, [p for p in labels if p not in test_set], labels)
    val_counts = np.bincount([labels[p] for p in test_paths], minlength=len(classes))
    chosen = holdout_split(split, trainval, lambda: listing(images, test_paths, labels),
                           lambda y: per_class_holdout(y, val_counts, SEED, cap=True))
    rule = {"test": "test_images.txt (present on disk)", "trainval": "images.txt minus test (present on disk)"}.get(
        split, "per species as many val images as test_images.txt lists, from the sorted trainval list")
    named_by = base / ("test_images.txt" if split == "test" else "images.txt")
    return make_dataset(NAME, split, chosen, classes, rule_text(rule, split), max_samples, base, [named_by])
