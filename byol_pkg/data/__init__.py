"""Datasets for the BYOL pipeline: uint8 ``[C, H, W]`` images with int labels.

>>> ds = build_dataset("fashion_mnist", "data", "train", max_samples=100)  # doctest: +SKIP
>>> img, label = ds[0]                                                     # doctest: +SKIP

Registered names: ``fashion_mnist``, ``digits``, ``cifar10``, ``cifar100``, ``stl10``,
``imagefolder``, ``imagenet`` (the paper's ImageNet splits, :mod:`byol_pkg.data.imagenet`), and the transfer
datasets of :mod:`byol_pkg.data.transfer` (``food101``, ``voc2007``, ...).
Nothing is downloaded unless ``download=True``.
"""

from .base import ArrayImageDataset, ConcatImageDataset, ImageDataset, MemmapImageDataset
from ..errors import DatasetFormatError, DatasetNotFoundError
from .idx import read_idx
from .registry import DATASETS, build_dataset, register_dataset

# Importing the loaders registers them in DATASETS.
from . import cifar, digits, fashion_mnist, image_folder, imagenet, stl10  # noqa: F401  isort: skip
from . import transfer  # noqa: F401  isort: skip  (food101, voc2007, ...: their records in each module)

__all__ = [
    "DATASETS",
    "ArrayImageDataset",
    "ConcatImageDataset",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageDataset",
    "MemmapImageDataset",
    "build_dataset",
    "read_idx",
    "register_dataset",
]
