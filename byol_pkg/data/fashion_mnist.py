"""Fashion-MNIST from its four IDX files (raw or ``.gz``).

Searched, in order: ``<root>/FashionMNIST/raw`` (torchvision), ``<root>/fashion_mnist``,
``<root>/fashion-mnist``, ``<root>`` and the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``). When the files come from a system folder, a WARNING says so
(``fashion_mnist: <root> has no copy; using the system copy in <folder>``) and the dataset's ``data_dir`` (written
to the ``byol prepare`` manifest) names that folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .base import ArrayImageDataset
from ..errors import DatasetFormatError, DatasetNotFoundError
from .idx import read_idx
from .registry import DatasetInfo, register_dataset
from .sources import DownloadSource, RemoteFile

log = logging.getLogger(__name__)

NAME = "fashion_mnist"
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
#: System-wide folders searched after ``root``; the environment variable
#: ``BYOL_FASHION_MNIST_SYSTEM_DIRS`` (os.pathsep-separated, empty = none) replaces them.
DEFAULT_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
SYSTEM_DIRS_ENV = "BYOL_FASHION_MNIST_SYSTEM_DIRS"
_PREFIX = {"train": "train", "test": "t10k"}


def root_dirs(root: Path | None) -> list[Path]:
    """The folders under ``root`` searched for the IDX files, in order."""
    if root is None:
        return []
    return [root / "FashionMNIST" / "raw", root / "fashion_mnist", root / "fashion-mnist", root]


def candidate_dirs(root: Path | None) -> list[Path]:
    """Folders searched for the IDX files, in order: those under ``root``, then :func:`system_dirs`."""
    return root_dirs(root) + system_dirs()


def system_dirs() -> list[Path]:
    """System-wide folders searched after ``root`` (see ``SYSTEM_DIRS_ENV``)."""
    value = os.environ.get(SYSTEM_DIRS_ENV)
    if value is None:
        return list(DEFAULT_SYSTEM_DIRS)
    return [Path(p) for p in value.split(os.pathsep) if p]


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(root: Path | None, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in the first folder holding both."""
    prefix = _PREFIX[split]
    for folder in candidate_dirs(root):
        images = _find(folder, f"{prefix}-images-idx3-ubyte")
        labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
        if images is not None and labels is not None:
            return images, labels
    return None


#: torchvision's mirror and md5s; the four .gz files are read as they are, from ``<root>/FashionMNIST/raw/``.
_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
DOWNLOAD = DownloadSource(tuple(
    RemoteFile(f"{_MIRROR}/{stem}.gz", f"md5:{md5}", dest="FashionMNIST/raw", unpack=False)
    for stem, md5 in (("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                      ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe"),
                      ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79"),
                      ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310"))),
    layout="<root>/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz")


def _download(root: Path) -> None:
    from .download import download

    download(NAME, root)


@register_dataset(DatasetInfo(
    NAME, "Fashion-MNIST", len(CLASSES), ("train", "test"),
    pretraining=True, aliases=("fashionmnist",),
    source="https://github.com/zalandoresearch/fashion-mnist (Debian dataset-fashion-mnist; torchvision FashionMNIST)",
    download=DOWNLOAD))
def build_fashion_mnist(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ArrayImageDataset:
    """Fashion-MNIST, 28x28 grayscale, 10 classes (60,000 train / 10,000 test)."""
    files = find_files(root, split)
    if files is None and download and root is not None:
        _download(root)
        files = find_files(root, split)
    if files is None:
        prefix = _PREFIX[split]
        raise DatasetNotFoundError.build(
            NAME,
            split,
            candidate_dirs(root),
            f"a folder holding {prefix}-images-idx3-ubyte and {prefix}-labels-idx1-ubyte "
            "(raw or .gz), e.g. <root>/FashionMNIST/raw/",
            "set data.root to a folder holding the Fashion-MNIST IDX files, "
            "apt-get install dataset-fashion-mnist, set data.download: true, "
            "or run: byol download fashion_mnist --root <root>",
        )
    image_path, label_path = files
    folder = image_path.parent
    if folder not in root_dirs(root):
        log.warning("%s: %s has no copy; using the system copy in %s", NAME,
                    root if root is not None else "<no root given>", folder)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise DatasetFormatError(
            image_path, f"expected uint8 [N, 28, 28] images, got {images.dtype} {images.shape}"
        )
    if not len(images):
        raise DatasetFormatError(image_path, "holds no images (expected uint8 [N, 28, 28] with N > 0)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetFormatError(label_path, f"expected {len(images)} labels (one per image in {image_path.name}), "
                                             f"got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise DatasetFormatError(label_path, f"labels outside 0..{len(CLASSES) - 1}")
    ds = ArrayImageDataset(NAME, split, images[:, None], labels.astype(np.int64), len(CLASSES), CLASSES, max_samples)
    ds.data_dir = str(folder)  # recorded in the prepare manifest
    return ds
