"""A deterministic stream of training images, sharded over processes, that can resume at any micro-batch.

The stream is the concatenation of per-epoch permutations of the dataset (epoch e shuffled with a generator
seeded by (seed, e)). Global micro-batch m holds stream positions [m*G, (m+1)*G) with G = micro-batch x
processes; process r takes the r-th slice of it, so every image is seen exactly once per epoch across all
processes and batches run across epoch boundaries (no image dropped, as in the official input pipeline).

Each element is a *key* ``epoch * N + index``: the epoch travels with the index, so that the per-image
augmentation seed can depend on both (see :class:`TwoViewDataset`). Replaying from micro-batch m therefore
reproduces exactly the same images and the same augmentations, whatever the number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return torch.randperm(n, generator=gen).numpy()


class StreamBatchSampler(Sampler[list[int]]):
    """Yields this process's keys for global micro-batches ``start, start+1, ..., stop-1``."""

    def __init__(self, dataset_size: int, micro_batch: int, seed: int, start: int, stop: int,
                 world_size: int = 1, rank: int = 0) -> None:
        if dataset_size <= 0:
            raise ValueError("the pretraining dataset is empty")
        self.n, self.b, self.seed = dataset_size, micro_batch, seed
        self.start, self.stop = start, stop
        self.world, self.rank = world_size, rank
        self._cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def _perm(self, epoch: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, _epoch_permutation(self.n, self.seed, epoch))
        return self._cache[1]

    def keys(self, micro_batch_index: int) -> list[int]:
        """Keys of this process's slice of global micro-batch ``micro_batch_index``."""
        first = (micro_batch_index * self.world + self.rank) * self.b
        epochs, offsets = np.divmod(np.arange(first, first + self.b, dtype=np.int64), self.n)
        keys = np.empty(self.b, dtype=np.int64)
        for epoch in np.unique(epochs):  # a micro-batch spans at most a few epochs
            at = epochs == epoch
            keys[at] = epoch * self.n + self._perm(int(epoch))[offsets[at]]
        return keys.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for m in range(self.start, self.stop):
            yield self.keys(m)


def augmentation_seed(seed: int, epoch: int, index: int, view: int) -> int:
    """A 63-bit seed for one (epoch, image, view), independent across all four coordinates."""
    return int(np.random.SeedSequence([seed, epoch, index, view]).generate_state(2, dtype=np.uint64)[0] >> 1)


class TwoViewDataset(Dataset):
    """Maps a stream key to the two augmented views ``(t1(x), t2(x))`` of image x and its label (used by the
    supervised baseline only), each view drawn from its own generator seeded by (seed, epoch, index, view):
    independent per image, per view and per epoch, and reproducible on replay."""

    def __init__(self, base: Dataset, view1, view2, seed: int) -> None:
        self.base, self.view1, self.view2, self.seed = base, view1, view2, seed
        self.n = len(base)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        epoch, index = divmod(int(key), self.n)
        image, label = self.base[index]
        g1 = torch.Generator().manual_seed(augmentation_seed(self.seed, epoch, index, 1))
        g2 = torch.Generator().manual_seed(augmentation_seed(self.seed, epoch, index, 2))
        return self.view1(image, g1), self.view2(image, g2), label
