"""A folder of images in the ImageNet layout: ``<root>/<split>/<class_name>/<image>``.

Classes are the sorted sub-folder names of ``<root>/<split>``; files (searched
recursively, extensions jpg/jpeg/png/bmp/webp in any case) are sorted per class.
Images are decoded lazily to RGB uint8 ``[3, H, W]``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset, limit
from ..errors import DatasetFormatError, DatasetNotFoundError
from .registry import DatasetInfo, register_dataset
from .sources import DownloadSource

NAME = "imagefolder"
#: The start of torchvision's image-decoding deprecation warning (silenced where images are decoded).
TV_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"
EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in EXTENSIONS


def scan(split_dir: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(classes, sorted file paths, labels) of one split folder."""
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    paths: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        found = []
        for dirpath, dirnames, filenames in os.walk(split_dir / cls, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            found += [
                os.path.join(dirpath, f) for f in filenames if is_image_file(f) and not f.startswith(".")
            ]
        found.sort()
        paths += found
        labels += [label] * len(found)
    return classes, paths, np.asarray(labels, dtype=np.int64)


def decode_rgb(path: str) -> torch.Tensor:
    """Decode an image file to RGB uint8 ``[3, H, W]`` (torchvision, then PIL as fallback)."""
    try:
        from torchvision.io import ImageReadMode, decode_image

        with warnings.catch_warnings():  # torchvision 0.29 warns on every decode call
            warnings.filterwarnings("ignore", TV_DEPRECATION, DeprecationWarning)
            return decode_image(path, mode=ImageReadMode.RGB)
    except (ImportError, RuntimeError, ValueError, OSError):
        pass
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetFormatError(path, f"cannot decode image ({exc})") from exc
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class ImageFolderDataset(ImageDataset):
    """Lazily decoded image files with labels from their class folder."""

    def __init__(self, split: str, paths: list[str], targets: np.ndarray, classes: list[str],
                 split_dir: Path | None = None) -> None:
        self.paths = paths
        self.split_dir = split_dir  # <root>/<split>: image paths relative to it name images in subset lists
        super().__init__(NAME, split, targets, len(classes), 3, classes)

    def load_image(self, index: int) -> torch.Tensor:
        return decode_rgb(self.paths[index])

    def load_encoded(self, index: int) -> torch.Tensor | None:
        """The undecoded bytes of a JPEG file as a 1-D uint8 tensor (to decode on a GPU); None for other formats."""
        data = Path(self.paths[index]).read_bytes()
        if not data.startswith(b"\xff\xd8"):
            return None
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _layout_hint(split: str) -> str:
    return f"<root>/{split}/<class_name>/<image>.(jpg|jpeg|png|bmp|webp), e.g. <root>/train/n01440764/x.JPEG"


#: An image folder stands for ImageNet in the published tables: the ImageNet preset pretrains on one.
@register_dataset(DatasetInfo(
    NAME, "ImageNet", None, None, published="imagenet", pretraining=True,
    source="any <root>/<split>/<class>/<image> tree (e.g. ImageNet's train and val folders)",
    download=DownloadSource(manual="an image folder is your own data: put one folder per split under <root>, "
                                   "each with one folder per class", layout=_layout_hint("train"))))
def build_image_folder(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ImageFolderDataset:
    """ImageFolder dataset; ``split`` is a sub-folder of ``root`` (train, val, ...)."""
    if not split or split in (".", "..") or "/" in split or os.sep in split:
        raise ValueError(
            f"imagefolder split must be a single folder name such as 'train' or 'val', got {split!r}"
        )
    fix = "set data.root to a folder holding one sub-folder per split, each with one folder per class (imagefolder cannot download)"
    if root is None:
        raise DatasetNotFoundError.build(NAME, split, ["<no root given>"], _layout_hint(split), fix)
    split_dir = root / split
    if not split_dir.is_dir():
        present = sorted(e.name for e in os.scandir(root) if e.is_dir()) if root.is_dir() else []
        shown = ", ".join(present[:10]) + (f", ... ({len(present)} in all)" if len(present) > 10 else "")
        raise DatasetNotFoundError.build(
            NAME,
            split,
            [split_dir],
            _layout_hint(split),
            f"{fix}; split folders present under {root}: {shown or 'none'}",
        )
    classes, paths, labels = scan(split_dir)
    if not paths:
        raise DatasetNotFoundError.build(
            NAME,
            split,
            [split_dir],
            _layout_hint(split),
            f"{fix}; found {len(classes)} class folder(s) but no image files",
        )
    n = limit(len(paths), max_samples)
    return ImageFolderDataset(split, paths[:n], labels[:n], classes, split_dir)
