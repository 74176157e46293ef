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
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..augment.batched import BatchedViewTransform, view_uniforms
from ..data.base import ArrayImageDataset, ConcatImageDataset, ImageDataset, MemmapImageDataset
from .stream import augmentation_seed

log = logging.getLogger("byol_pkg.pretrain")

#: ``data.on_device: auto`` holds a dataset on a GPU when it takes at most this fraction of the GPU's memory.
AUTO_DEVICE_FRACTION = 0.25


def uint8_array(dataset: ImageDataset) -> np.ndarray | None:
    """All images as one ``uint8 [N, C, H, W]`` array (a view where possible), or None when the images are not
    stored at one fixed size (ImageFolder)."""
    if isinstance(dataset, ArrayImageDataset):
        return dataset.images
    if isinstance(dataset, MemmapImageDataset):
        array = np.asarray(dataset._array())
        return array.transpose(0, 1, 3, 2) if dataset.transpose_hw else array
    if isinstance(dataset, ConcatImageDataset):
        parts = [uint8_array(p) for p in dataset.parts]
        if any(p is None for p in parts) or len({p.shape[1:] for p in parts}) != 1:  # type: ignore[union-attr]
            return None
        return np.concatenate(parts)  # type: ignore[arg-type]
    return None


def device_images(dataset: ImageDataset, device: torch.device, mode: str) -> Tensor | None:
    """The dataset as a ``uint8 [N, C, H, W]`` tensor on ``device`` (``data.on_device``: auto | always | never),
    or None to decode images in the DataLoader workers instead."""
    if mode == "never":
        return None
    array = uint8_array(dataset)
    if array is None:
        if mode == "always":
            raise ValueError(f"config key 'data.on_device': 'always' needs images of one fixed size, but "
                             f"{dataset.name} is read image by image; use auto or never")
        return None
    if mode == "auto" and device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        if array.nbytes > AUTO_DEVICE_FRACTION * total:
            log.info("data.on_device auto: %s (%.1f GiB) stays in host memory", dataset.name, array.nbytes / 2**30)
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
    held on the device (then an empty tensor)."""

    def __init__(self, base: ImageDataset, seed: int, with_images: bool) -> None:
        self.base, self.seed, self.with_images = base, seed, with_images
        self.n = len(base)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int) -> tuple[int, Tensor, int, Tensor]:
        epoch, index = divmod(int(key), self.n)
        uniforms = torch.stack([
            view_uniforms(torch.Generator().manual_seed(augmentation_seed(self.seed, epoch, index, view)))
            for view in (1, 2)
        ])
        image = self.base.load_image(index) if self.with_images else torch.empty(0, dtype=torch.uint8)
        return index, uniforms, int(self.base.targets[index]), image


def collate_draws(items: list[tuple[int, Tensor, int, Tensor]]) -> dict[str, Tensor]:
    """Stack a micro-batch; decoded images of different sizes are zero-padded to the largest (bottom, right)."""
    indices, uniforms, labels, images = zip(*items)
    batch = {"index": torch.tensor(indices, dtype=torch.int64), "uniforms": torch.stack(uniforms),
             "label": torch.tensor(labels, dtype=torch.int64)}
    if images[0].numel():
        heights = torch.tensor([im.shape[-2] for im in images], dtype=torch.int64)
        widths = torch.tensor([im.shape[-1] for im in images], dtype=torch.int64)
        channels = max(im.shape[0] for im in images)
        padded = torch.zeros(len(images), channels, int(heights.max()), int(widths.max()), dtype=torch.uint8)
        for i, im in enumerate(images):
            padded[i, :, : im.shape[-2], : im.shape[-1]] = im  # a 1-channel image broadcasts to RGB
        batch.update(images=padded, heights=heights, widths=widths)
    return batch


class BatchedTwoViews:
    """Iterates ``(view1, view2, labels)`` on ``device`` from micro-batches of :func:`collate_draws`."""

    def __init__(self, batches: Iterable[dict[str, Tensor]], view1: BatchedViewTransform,
                 view2: BatchedViewTransform, device: torch.device, images: Tensor | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.batches, self.view1, self.view2 = batches, view1, view2
        self.device, self.images, self.memory_format = device, images, memory_format

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        dev = self.device
        for batch in self.batches:
            if self.images is not None:
                index = batch["index"].to(self.images.device, non_blocking=True)
                images = self.images.index_select(0, index).to(dev, non_blocking=True)
                n = len(index)
                heights = torch.full((n,), images.shape[-2], dtype=torch.int64, device=dev)
                widths = torch.full((n,), images.shape[-1], dtype=torch.int64, device=dev)
            else:
                images = batch["images"].to(dev, non_blocking=True)
                heights = batch["heights"].to(dev, non_blocking=True)
                widths = batch["widths"].to(dev, non_blocking=True)
            uniforms = batch["uniforms"].to(dev, non_blocking=True)
            views = [transform(images, uniforms[:, v], heights, widths).contiguous(memory_format=self.memory_format)
                     for v, transform in enumerate((self.view1, self.view2))]
            yield views[0], views[1], batch["label"].to(dev, non_blocking=True)
