"""The dataset contract shared by every loader.

``ds[i]`` returns ``(img, label)`` with ``img`` a ``torch.uint8`` tensor ``[C, H, W]``
and ``label`` an ``int`` (``-1`` for unlabelled images).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Base class: subclasses set the attributes below and implement ``load_image``."""

    name: str
    split: str
    num_classes: int
    channels: int
    targets: np.ndarray
    classes: list[str] | None
    #: The folder the dataset's files were read from, where the loader records it (``byol prepare`` writes it
    #: to the manifest: e.g. a system copy used because the data root had none).
    data_dir: str | None = None

    def __init__(
        self,
        name: str,
        split: str,
        targets: np.ndarray,
        num_classes: int,
        channels: int,
        classes: Sequence[str] | None = None,
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.name = name
        self.split = split
        self.targets = np.asarray(targets, dtype=np.int64)
        self.num_classes = int(num_classes)
        self.channels = int(channels)
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def load_image(self, index: int) -> torch.Tensor:
        """Return image ``index`` as a uint8 tensor ``[C, H, W]``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        n = len(self)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {self.name}/{self.split} of length {n}")
        if self.targets.ndim == 2:  # multi-label (VOC2007): the int64 row [C] as a tensor
            return self.load_image(index), torch.from_numpy(self.targets[index])
        return self.load_image(index), int(self.targets[index])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, len={len(self)}, "
            f"num_classes={self.num_classes}, channels={self.channels})"
        )


def limit(n: int, max_samples: int | None) -> int:
    """Number of samples kept when only the first ``max_samples`` are wanted."""
    return n if max_samples is None else min(n, int(max_samples))


class ArrayImageDataset(ImageDataset):
    """In-memory dataset over one uint8 array ``[N, C, H, W]``; items are views of it."""

    def __init__(
        self,
        name: str,
        split: str,
        images: np.ndarray,
        targets: np.ndarray,
        num_classes: int,
        classes: Sequence[str] | None = None,
        max_samples: int | None = None,
    ) -> None:
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {images.shape}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} labels")
        n = limit(len(images), max_samples)
        if n < len(images):  # copy so the full array can be freed
            images, targets = images[:n].copy(), np.asarray(targets)[:n]
        images = np.ascontiguousarray(images)
        if not images.flags.writeable:  # torch.from_numpy warns on read-only buffers
            images = images.copy()
        self.images = images
        super().__init__(name, split, targets[:n], num_classes, images.shape[1], classes)

    def load_image(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.images[index])


class MemmapImageDataset(ImageDataset):
    """Dataset over a raw uint8 file of fixed-size images, opened lazily with ``np.memmap``.

    Pickling keeps only the path, so DataLoader workers reopen the file themselves.
    ``transpose_hw`` swaps the last two axes of each image (column-major storage).
    """

    def __init__(
        self,
        name: str,
        split: str,
        path: str | os.PathLike[str],
        shape: tuple[int, int, int, int],
        targets: np.ndarray,
        num_classes: int,
        transpose_hw: bool = False,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.shape = tuple(int(s) for s in shape)
        self.transpose_hw = transpose_hw
        self._mmap: np.memmap | None = None
        super().__init__(name, split, targets, num_classes, self.shape[1], classes)

    def _array(self) -> np.memmap:
        if self._mmap is None:
            self._mmap = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        return self._mmap

    def load_image(self, index: int) -> torch.Tensor:
        img = self._array()[index]
        if self.transpose_hw:
            img = img.transpose(0, 2, 1)
        return torch.from_numpy(np.array(img, copy=True, order="C"))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mmap"] = None
        return state


class ConcatImageDataset(ImageDataset):
    """Several datasets of the same image format, one after the other."""

    def __init__(
        self,
        name: str,
        split: str,
        parts: Sequence[ImageDataset],
        num_classes: int,
        classes: Sequence[str] | None = None,
    ) -> None:
        if not parts:
            raise ValueError("ConcatImageDataset needs at least one part")
        channels = {p.channels for p in parts}
        if len(channels) != 1:
            raise ValueError(f"parts have different channel counts: {sorted(channels)}")
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        targets = np.concatenate([p.targets for p in parts])
        super().__init__(name, split, targets, num_classes, channels.pop(), classes)

    def load_image(self, index: int) -> torch.Tensor:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.parts[part].load_image(index - int(self.offsets[part]))
