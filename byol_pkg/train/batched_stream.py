"""The fast input path of pretraining: uint8 images (held on the device when they fit) and per-image draws, with
both views computed for the whole micro-batch on the training device by :class:`BatchedViewTransform`.

It consumes the same stream of keys as the reference path (:class:`~byol_pkg.train.stream.StreamBatchSampler`)
and draws each view's uniforms from the same per-(seed, epoch, image, view) generator as
:class:`~byol_pkg.train.stream.TwoViewDataset`, so both paths see the same images with the same crops, flips and
colour draws; their views differ by float rounding only (see ``tests/test_batched_augment.py``).

DataLoader workers only draw uniforms (and decode images that are not held on the device), so a step never waits
for per-image augmentation on the CPU.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..augment.batched import BatchedViewTransform, view_uniforms
from ..data.base import ArrayImageDataset, ConcatImageDataset, ImageDataset, MemmapImageDataset
from ..data.image_folder import TV_DEPRECATION
from .stream import augmentation_seed

log = logging.getLogger("byol_pkg.pretrain")

#: ``augment.on_device: auto`` holds a dataset on a GPU when it takes at most this fraction of the GPU's memory.
AUTO_DEVICE_FRACTION = 0.25


def _uint8_parts(dataset: ImageDataset) -> list[np.ndarray] | None:
    """The images as ``uint8 [n, C, H, W]`` arrays of one size, one per stored part (views, nothing read), or None
    when the images are not stored at one fixed size (ImageFolder)."""
    if isinstance(dataset, ArrayImageDataset):
        return [dataset.images]
    if isinstance(dataset, MemmapImageDataset):
        array = np.asarray(dataset._array())
        return [array.transpose(0, 1, 3, 2) if dataset.transpose_hw else array]
    if isinstance(dataset, ConcatImageDataset):
        parts = [_uint8_parts(p) for p in dataset.parts]
        if any(p is None for p in parts):
            return None
        arrays = [a for p in parts for a in p]  # type: ignore[union-attr]
        return arrays if len({a.shape[1:] for a in arrays}) == 1 else None
    return None


def uint8_parts(dataset: ImageDataset) -> list[np.ndarray] | None:
    """The images as ``uint8 [n, C, H, W]`` arrays of one size, one per stored part, in the dataset's order (views:
    nothing is read or copied), or None when the images are not stored at one fixed size (ImageFolder)."""
    return _uint8_parts(dataset)


def has_fixed_size_images(dataset: ImageDataset) -> bool:
    """Whether :func:`uint8_array` can hold the dataset (without reading or copying it)."""
    return _uint8_parts(dataset) is not None


def uint8_array(dataset: ImageDataset) -> np.ndarray | None:
    """All images as one ``uint8 [N, C, H, W]`` array (a view where possible), or None when the images are not
    stored at one fixed size (ImageFolder)."""
    parts = _uint8_parts(dataset)
    if parts is None:
        return None
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def device_images(dataset: ImageDataset, device: torch.device, mode: str) -> Tensor | None:
    """The dataset as a ``uint8 [N, C, H, W]`` tensor on ``device`` (``augment.on_device``: auto | always | never),
    or None to decode images in the DataLoader workers instead."""
    if mode == "never":
        return None
    array = uint8_array(dataset)
    if array is None:
        if mode == "always":
            raise ValueError(f"config key 'augment.on_device': 'always' needs images of one fixed size, but "
                             f"{dataset.name} is read image by image; use auto or never")
        return None
    if mode == "auto" and device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        if array.nbytes > AUTO_DEVICE_FRACTION * total:
            log.info("augment.on_device auto: %s (%.1f GiB) stays in host memory", dataset.name, array.nbytes / 2**30)
            return None
    images = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cpu":
        images = images.to(device)
    log.info("images held on %s: %s uint8 %s (%.1f MiB)", device, dataset.name, tuple(images.shape),
             images.numel() / 2**20)
    return images


class ViewDraws(Dataset):
    """Maps a stream key to ``(index, uniforms [2, NUM_DRAWS], label, image)``: the draws of both views from the
    generators :class:`~byol_pkg.train.stream.TwoViewDataset` uses, and the uint8 image unless the images are
    held on the device (then an empty tensor). With ``encoded`` a JPEG file comes as its undecoded bytes (a 1-D
    uint8 tensor) for :func:`decode_on_device`; other files are decoded here."""

    def __init__(self, base: ImageDataset, seed: int, with_images: bool, encoded: bool = False) -> None:
        self.base, self.seed, self.with_images = base, seed, with_images
        self.encoded = encoded and hasattr(base, "load_encoded")
        self.n = len(base)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int) -> tuple[int, Tensor, int, Tensor]:
        epoch, index = divmod(int(key), self.n)
        uniforms = torch.stack([
            view_uniforms(torch.Generator().manual_seed(augmentation_seed(self.seed, epoch, index, view)))
            for view in (1, 2)
        ])
        image = torch.empty(0, dtype=torch.uint8)
        if self.with_images:
            raw = self.base.load_encoded(index) if self.encoded else None  # type: ignore[attr-defined]
            image = raw if raw is not None else self.base.load_image(index)
        return index, uniforms, int(self.base.targets[index]), image


def collate_draws(items: list[tuple[int, Tensor, int, Tensor]]) -> dict[str, object]:
    """Stack a micro-batch. Images (when not held on the device) stay a list: decoded uint8 ``[C, H, W]`` images
    or, for JPEG files read undecoded (:meth:`ViewDraws` with ``encoded``), 1-D byte tensors."""
    indices, uniforms, labels, images = zip(*items)
    batch: dict[str, object] = {"index": torch.tensor(indices, dtype=torch.int64), "uniforms": torch.stack(uniforms),
                                "label": torch.tensor(labels, dtype=torch.int64)}
    if images[0].numel():
        batch["images"] = list(images)
    return batch


def decode_on_device(images: list[Tensor], device: torch.device) -> list[Tensor]:
    """Decoded images on ``device``: JPEG byte tensors (1-D) are decoded there in one ``torchvision.io.decode_jpeg``
    call (nvJPEG on a GPU), the others (already decoded by a worker) are copied."""
    encoded = [i for i, im in enumerate(images) if im.ndim == 1]
    out = [im.to(device, non_blocking=True) if im.ndim == 3 else im for im in images]
    if encoded:
        from torchvision.io import ImageReadMode, decode_jpeg

        with warnings.catch_warnings():  # torchvision 0.29 warns on every decode call
            warnings.filterwarnings("ignore", TV_DEPRECATION, DeprecationWarning)
            decoded = decode_jpeg([images[i] for i in encoded], mode=ImageReadMode.RGB, device=device)
        for i, im in zip(encoded, decoded):
            out[i] = im
    return out


class BatchedTwoViews:
    """Iterates ``(view1, view2, labels)`` on ``device`` from micro-batches of :func:`collate_draws`."""

    def __init__(self, batches: Iterable[dict[str, object]], view1: BatchedViewTransform,
                 view2: BatchedViewTransform, device: torch.device, images: Tensor | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.batches, self.view1, self.view2 = batches, view1, view2
        self.device, self.images, self.memory_format = device, images, memory_format

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        dev = self.device
        for batch in self.batches:
            images: Tensor | list[Tensor]
            if self.images is not None:
                index = batch["index"].to(self.images.device, non_blocking=True)  # type: ignore[union-attr]
                images = self.images.index_select(0, index).to(dev, non_blocking=True)
            else:
                images = decode_on_device(batch["images"], dev)  # type: ignore[arg-type]
            uniforms: Tensor = batch["uniforms"]  # type: ignore[assignment]
            views = [transform(images, uniforms[:, v]).contiguous(memory_format=self.memory_format)
                     for v, transform in enumerate((self.view1, self.view2))]
            yield views[0], views[1], batch["label"].to(dev, non_blocking=True)  # type: ignore[union-attr]
