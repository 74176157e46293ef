"""ImageNet (ILSVRC-2012) with the BYOL paper's evaluation splits (spec §6.1, §6.5, Table 10).

Layout (torchvision's ``ImageNet`` after its devkit parsing: one folder per WordNet id in both splits)::

    <root>/imagenet/train/<wnid>/<wnid>_<n>.JPEG     1,281,167 images, 1,000 classes
    <root>/imagenet/val/<wnid>/ILSVRC2012_val_<n>.JPEG   50,000 images

``<root>`` may also be that ``imagenet`` folder itself (any folder holding ``train/`` and ``val/``).
Classes: the sorted ``<wnid>`` folder names of ``train/`` (labels 0..999); ``val/`` uses the same labels.

Splits:

- ``trainval``: every train image (1,281,167), sorted by relative path ``<wnid>/<file>``.
- ``val``: the local validation set held out of ``trainval``: 10,009 images on full ImageNet, in general
  ``max(1, round(n x 10,009 / 1,281,167))`` of the ``n`` train images
  (:func:`~byol_pkg.data.holdout.scaled_count`), class-stratified (per-class counts by largest remainder) and
  drawn per class with seed 0 from the sorted list (:func:`~byol_pkg.data.holdout.stratified_holdout`,
  the rule the CIFAR and Cars hold-outs use). About 10 images per class.
- ``train``: ``trainval`` minus ``val`` (1,271,158 images).
- ``test``: the official 50,000 validation images (the paper reports on them).

Deviation, recorded here: the paper holds out "the last 10,009 images of the TF ImageNet train split". TFDS's
record order is a shuffle of its own TFRecord shards and cannot be rebuilt from the image files, so the
order is replaced by the sorted relative paths; and because the *last* 10,009 images in sorted order would
be the last ~8 classes only, the 10,009 are drawn class-stratified with a fixed seed instead, which, like
the tail of a shuffled list, covers every class about equally. Only the count (10,009) and its source (the
train images) follow the paper. [DM] holds out the first 10,000 TFDS records instead (note only).

SimCLR's ``1percent.txt`` / ``10percent.txt`` (``n01440764_10026.JPEG`` per line) resolve against the
``train`` / ``trainval`` splits by file name (:func:`byol_pkg.data.subsets.read_subset`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetFormatError, DatasetNotFoundError
from .holdout import SEED, scaled_count, stratified_holdout
from .image_folder import ImageFolderDataset, scan
from .registry import DatasetInfo, PaperSizes, register_dataset
from .sources import DownloadSource

NAME = "imagenet"
SPLITS = ("train", "val", "trainval", "test")
#: Table 10: original train, selection train, local validation, test.
PAPER_TRAINVAL, PAPER_TRAIN, PAPER_VAL, PAPER_TEST = 1_281_167, 1_271_158, 10_009, 50_000
LAYOUT = "<root>/imagenet/{train,val}/<wnid>/*.JPEG (torchvision ImageNet layout after devkit parsing)"
HOW = ("extract ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org into "
       "<root>/imagenet/{train,val}/<wnid>/ (e.g. torchvision.datasets.ImageNet(<root>/imagenet, split=...) "
       "sorts val into wnid folders); ImageNet cannot be downloaded automatically")


class ImageNetDataset(ImageFolderDataset):
    """Lazily decoded ImageNet images; ``split_dir`` (``train/`` or ``val/``) names images in subset lists."""

    def __init__(self, split: str, paths: list[str], targets: np.ndarray, classes: list[str], split_dir: Path,
                 split_rule: str) -> None:
        super().__init__(split, paths, targets, classes, split_dir)
        self.name = NAME
        self.split_rule = split_rule


def candidates(root: Path) -> list[Path]:
    """``<root>/imagenet``, then ``<root>`` itself."""
    return [root / NAME, root]


def locate(root: Path | None, split: str) -> Path:
    """The folder holding ``train/`` and ``val/``, or a one-line :class:`DatasetNotFoundError`."""
    cands = candidates(root) if root is not None else []
    for base in cands:
        if (base / "train").is_dir() and (base / "val").is_dir():
            return base
    missing = ""
    if cands and cands[0].is_dir():
        missing = f" (missing in {cands[0]}: {', '.join(d for d in ('train', 'val') if not (cands[0] / d).is_dir())})"
    raise DatasetNotFoundError.build(NAME, split, cands or ["<no root given>"], LAYOUT,
                                     f"set --root / data.root to the folder holding it{missing}; {HOW}")


def val_count(n: int) -> int:
    """Size of the local validation hold-out of ``n`` train images (10,009 of 1,281,167)."""
    return min(n, max(1, scaled_count(n, PAPER_VAL, PAPER_TRAINVAL))) if n > 1 else 0


def _listing(split_dir: Path, classes: list[str], split: str) -> tuple[list[str], np.ndarray]:
    """All images of ``split_dir`` sorted by relative path, labelled by ``classes`` (the train wnids)."""
    found, paths, labels = scan(split_dir)
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetFormatError(split_dir, f"class folder(s) not in train/: {', '.join(unknown[:3])}")
    if not paths:
        raise DatasetNotFoundError.build(NAME, split, [split_dir], LAYOUT, f"no image files found; {HOW}")
    lookup = {c: i for i, c in enumerate(classes)}
    remap = np.asarray([lookup[c] for c in found], dtype=np.int64)
    order = sorted(range(len(paths)), key=paths.__getitem__)  # common prefix <split_dir>/: relative path order
    return [paths[i] for i in order], remap[labels[order]]


@register_dataset(DatasetInfo(
    NAME, "ImageNet", 1000, SPLITS, train="train", val="val", trainval="trainval", test="test",
    paper=PaperSizes(PAPER_TRAINVAL, PAPER_TRAIN, PAPER_VAL, PAPER_TEST), published="imagenet",
    aliases=("ilsvrc2012", "imagenet1k"), source="https://image-net.org (ILSVRC2012 train and val archives)",
    download=DownloadSource(
        manual=("log in at https://image-net.org (registration and terms of access), download "
                "ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz into "
                "<root>/imagenet and run python -c \"import torchvision.datasets as d; "
                "[d.ImageNet('<root>/imagenet', split=s) for s in ('train', 'val')]\" (it unpacks both and sorts val "
                "into wnid folders); SimCLR's 1 %/10 % subset lists: byol download imagenet-subsets"),
        layout=LAYOUT)))
def build_imagenet(root: Path | None, split: str, download: bool = False,
                   max_samples: int | None = None) -> ImageNetDataset:
    """ImageNet: train (minus the 10,009 held out) / val (10,009) / trainval (all train) / test (official val)."""
    base = locate(root, split)
    classes = sorted(e.name for e in os.scandir(base / "train") if e.is_dir() and not e.name.startswith("."))
    folder = base / ("val" if split == "test" else "train")
    paths, labels = _listing(folder, classes, split)
    if split in ("train", "val"):
        rest, held = stratified_holdout(labels, val_count(len(labels)), SEED)
        keep = held if split == "val" else rest
        paths, labels = [paths[int(i)] for i in keep], labels[keep]
    rule = {"test": "official ILSVRC-2012 validation images", "trainval": "all train images",
            "val": f"class-stratified hold-out of the sorted train list, round(n x {PAPER_VAL}/{PAPER_TRAINVAL}) "
                   f"images (seed {SEED})",
            "train": f"train images minus the val hold-out (seed {SEED})"}[split]
    n = len(paths) if max_samples is None else min(len(paths), max_samples)
    return ImageNetDataset(split, paths[:n], labels[:n], classes, folder, f"{split}: {rule}")
