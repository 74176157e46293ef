"""Stanford Cars (Krause et al. 2013) as used for transfer in the BYOL paper (Table 3, Table 10).

Layout (torchvision's ``StanfordCars``)::

    <root>/stanford_cars/cars_train/<fname>.jpg
    <root>/stanford_cars/cars_test/<fname>.jpg
    <root>/stanford_cars/devkit/cars_meta.mat          class_names: 1 x 196 cell of strings
    <root>/stanford_cars/devkit/cars_train_annos.mat   annotations: 1 x 8144 struct
    <root>/stanford_cars/cars_test_annos_withlabels.mat  annotations: 1 x 8041 struct (also accepted in devkit/)

Each annotation struct has ``bbox_x1, bbox_y1, bbox_x2, bbox_y2, class`` (1-based) and ``fname``; label =
``class - 1``. Bounding boxes are not used (whole images, as in the paper).

Splits: ``trainval`` = the creators' train set (8,144); ``val`` = a class-stratified hold-out of 1,650 images
drawn from the train list sorted by file name with seed 0 (per-class counts by largest remainder,
:func:`byol_pkg.data.holdout.stratified_holdout`; on a list of another size the count scales as
``round(n * 1650 / 8144)``), ``train`` = the rest (6,494); ``test`` = the creators' test set (8,041).
196 classes. Metric: top-1 accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DatasetFormatError
from ..holdout import SEED, scaled_count, stratified_holdout
from ..registry import register_dataset
from ..sources import DownloadSource
from ._common import (Listing, folder_candidates, holdout_split, load_mat, locate, make_dataset, not_found, rule_text,
                      sort_listing, table3_info)

NAME = "stanford_cars"
FOLDER = "stanford_cars"
PAPER_VAL, PAPER_TRAINVAL = 1650, 8144
TEST_ANNOS = "cars_test_annos_withlabels.mat"
LAYOUT = ("<root>/stanford_cars/{cars_train/*.jpg, cars_test/*.jpg, devkit/cars_meta.mat, "
          "devkit/cars_train_annos.mat, cars_test_annos_withlabels.mat} (torchvision StanfordCars layout)")
HOW = ("the original download URL is gone: get cars_train.tgz, cars_test.tgz, car_devkit.tgz and "
       "cars_test_annos_withlabels.mat from a mirror (e.g. the Kaggle 'stanford-cars-dataset' copies) and "
       "arrange them as above")
REQUIRED = ("cars_train", "devkit/cars_meta.mat", "devkit/cars_train_annos.mat")


def read_class_names(devkit: Path) -> list[str]:
    path = devkit / "cars_meta.mat"
    mat = load_mat(path)
    if "class_names" not in mat:
        raise DatasetFormatError(path, "no 'class_names' variable")
    return [str(n) for n in np.atleast_1d(mat["class_names"])]


def read_annotations(path: Path, image_dir: Path, num_classes: int) -> Listing:
    """Sorted ``(paths, labels)`` from an ``annotations`` struct array (``class`` 1-based)."""
    mat = load_mat(path)
    annos = np.atleast_1d(mat.get("annotations", np.zeros(0)))
    names = annos.dtype.names or ()
    if "annotations" not in mat or not {"fname", "class"} <= set(names):
        raise DatasetFormatError(path, f"expected an 'annotations' struct with fields 'fname' and 'class', "
                                       f"got fields {list(names)}")
    paths = [str(image_dir / str(a["fname"])) for a in annos]
    labels = np.asarray([int(a["class"]) for a in annos], dtype=np.int64) - 1
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetFormatError(path, f"class ids outside 1..{num_classes}")
    return sort_listing(paths, labels)


def find_test_annotations(base: Path, split: str) -> Path:
    for path in (base / TEST_ANNOS, base / "devkit" / TEST_ANNOS):
        if path.is_file():
            return path
    raise not_found(NAME, split, [base / TEST_ANNOS, base / "devkit" / TEST_ANNOS], LAYOUT, HOW)


def holdout(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return stratified_holdout(labels, scaled_count(len(labels), PAPER_VAL, PAPER_TRAINVAL), SEED)


@register_dataset(table3_info(
    NAME, "Cars", 196, "top1", (8_144, 6_494, 1_650, 8_041),
    source=("https://ai.stanford.edu/~jkrause/cars/car_dataset.html (original URL gone: use a mirror of "
            "cars_train/cars_test/devkit + cars_test_annos_withlabels.mat)"),
    aliases=("cars",),
    # torchvision's StanfordCars download URL (ai.stanford.edu) is dead: no public source left
    download=DownloadSource(manual=HOW, layout=LAYOUT)))
def build_stanford_cars(root: Path | None, split: str, download: bool = False, max_samples: int | None = None):
    """Stanford Cars (196 classes): train / val (stratified 1,650, seed 0) / trainval / test."""
    base = locate(NAME, split, root, folder_candidates(FOLDER), REQUIRED, LAYOUT, download, None, HOW)
    classes = read_class_names(base / "devkit")
    train_annos = base / "devkit" / "cars_train_annos.mat"
    trainval = read_annotations(train_annos, base / "cars_train", len(classes))
    named_by = find_test_annotations(base, split) if split == "test" else train_annos
    listing = holdout_split(
        split, trainval, lambda: read_annotations(named_by, base / "cars_test", len(classes)), holdout)
    rule = {"test": "creators' test set", "trainval": "creators' train set"}.get(
        split, f"class-stratified hold-out of round(n x {PAPER_VAL}/{PAPER_TRAINVAL}) images of the sorted "
               "train list as val")
    return make_dataset(NAME, split, listing, classes, rule_text(rule, split), max_samples, base, [named_by])
