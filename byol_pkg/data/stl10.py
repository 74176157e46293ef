"""STL-10 from the official binary files in ``<root>/stl10_binary/``.

``*_X.bin``: uint8 images of 3x96x96, each channel stored column-major (so a
``reshape(-1, 3, 96, 96)`` gives ``[N, C, W, H]`` and the last two axes are swapped).
``*_y.bin``: uint8 labels 1..10, mapped to 0..9. ``unlabeled`` (100,000 images,
2.7 GB) is read lazily through ``np.memmap``; ``train+unlabeled`` is train followed by
unlabeled, the usual self-supervised pretraining set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ArrayImageDataset, ConcatImageDataset, ImageDataset, MemmapImageDataset, limit
from ..errors import DatasetFormatError, DatasetNotFoundError
from .registry import DatasetInfo, register_dataset
from .sources import DownloadSource, RemoteFile

NAME = "stl10"
FOLDER = "stl10_binary"
SIZE = 96
IMAGE_BYTES = 3 * SIZE * SIZE
NUM_CLASSES = 10
SPLITS = ("train", "test", "unlabeled", "train+unlabeled")


def _files(split: str) -> list[str]:
    parts = split.split("+")
    return [f for p in parts for f in ([f"{p}_X.bin"] if p == "unlabeled" else [f"{p}_X.bin", f"{p}_y.bin"])]


def candidate_dirs(root: Path | None) -> list[Path]:
    """``<root>/stl10_binary``, or ``<root>`` itself when it is that folder."""
    if root is None:
        return []
    return [root / FOLDER] + ([root] if root.name == FOLDER else [])


def find_dir(root: Path | None, split: str) -> Path | None:
    for folder in candidate_dirs(root):
        if all((folder / f).is_file() for f in _files(split)):
            return folder
    return None


def _count(path: Path) -> int:
    """Number of 3x96x96 images in ``path`` (its size must be a positive multiple of one image)."""
    size = path.stat().st_size
    if size % IMAGE_BYTES:
        raise DatasetFormatError(
            path, f"size {size} is not a multiple of {IMAGE_BYTES} (3x96x96); truncated?"
        )
    if not size:
        raise DatasetFormatError(path, f"empty file; expected N x {IMAGE_BYTES} bytes of 3x96x96 images")
    return size // IMAGE_BYTES


def _class_names(folder: Path) -> list[str] | None:
    path = folder / "class_names.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return names if len(names) == NUM_CLASSES else None


def _labelled(
    folder: Path, part: str, max_samples: int | None, classes: list[str] | None
) -> ArrayImageDataset:
    x_path, y_path = folder / f"{part}_X.bin", folder / f"{part}_y.bin"
    n = _count(x_path)
    labels = np.fromfile(y_path, dtype=np.uint8)
    if len(labels) != n:
        raise DatasetFormatError(y_path, f"{len(labels)} labels for {n} images in {x_path.name}")
    if n and (labels.min() < 1 or labels.max() > NUM_CLASSES):
        raise DatasetFormatError(y_path, f"labels outside 1..{NUM_CLASSES}")
    n = limit(n, max_samples)
    raw = np.fromfile(x_path, dtype=np.uint8, count=n * IMAGE_BYTES).reshape(n, 3, SIZE, SIZE)
    images = np.ascontiguousarray(raw.transpose(0, 1, 3, 2))
    return ArrayImageDataset(NAME, part, images, labels[:n].astype(np.int64) - 1, NUM_CLASSES, classes)


def _unlabeled(folder: Path, max_samples: int | None, classes: list[str] | None) -> MemmapImageDataset:
    path = folder / "unlabeled_X.bin"
    total = _count(path)
    n = limit(total, max_samples)
    return MemmapImageDataset(
        NAME,
        "unlabeled",
        path,
        (total, 3, SIZE, SIZE),
        np.full(n, -1, dtype=np.int64),
        NUM_CLASSES,
        transpose_hw=True,
        classes=classes,
    )


@register_dataset(DatasetInfo(
    NAME, "STL-10", NUM_CLASSES, SPLITS, pretraining=True,
    source="https://cs.stanford.edu/~acoates/stl10/ (stl10_binary.tar.gz; torchvision STL10)",
    download=DownloadSource((RemoteFile("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                                        "md5:91f7769df0f17e558f3565bffb0c7dfb"),),
                            layout=f"<root>/{FOLDER}/ (stl10_binary.tar.gz extracted; 2.5 GB)")))
def build_stl10(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ImageDataset:
    """STL-10, 3x96x96, 10 classes (5,000 train / 8,000 test / 100,000 unlabeled)."""
    folder = find_dir(root, split)
    if folder is None and download and root is not None:
        from .download import download as fetch

        fetch(NAME, root)  # the archive holds every split
        folder = find_dir(root, split)
    if folder is None:
        raise DatasetNotFoundError.build(
            NAME,
            split,
            candidate_dirs(root) or ["<no root given>"],
            f"<root>/{FOLDER}/{{{', '.join(_files(split))}}} (stl10_binary.tar.gz extracted)",
            f"set data.root to a folder holding {FOLDER}/ (extract stl10_binary.tar.gz there), "
            f"set data.download: true, or run: byol download {NAME} --root <root>",
        )
    classes = _class_names(folder)
    ds: ImageDataset
    if split in ("train", "test"):
        ds = _labelled(folder, split, max_samples, classes)
    elif split == "unlabeled":
        ds = _unlabeled(folder, max_samples, classes)
    else:
        train = _labelled(folder, "train", max_samples, classes)
        rest = None if max_samples is None else max_samples - len(train)
        if rest is not None and rest <= 0:
            parts: list[ImageDataset] = [train]
        else:
            parts = [train, _unlabeled(folder, rest, classes)]
        ds = ConcatImageDataset(NAME, split, parts, NUM_CLASSES, classes)
    ds.data_dir = str(folder)  # recorded in the prepare manifest
    return ds
