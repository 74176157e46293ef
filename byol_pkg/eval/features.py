"""Frozen-encoder features of a dataset split (BN in eval mode, no augmentation)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..progress import StepProgress


class TransformedImages(Dataset):
    """``(transform(image), label)`` of every item of ``base``."""

    def __init__(self, base: Dataset, transform) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        image, label = self.base[i]
        return self.transform(image), label


def _fixed_size_batches(dataset: Dataset, transform, batch_size: int):
    """``(images, labels)`` batches transformed whole (``transform.batch``) when the dataset holds its images as
    uint8 arrays of one size (read part by part, never concatenated), else None (then a DataLoader transforms
    image by image)."""
    from ..train.batched_stream import uint8_parts

    parts = uint8_parts(dataset) if hasattr(transform, "batch") else None  # type: ignore[arg-type]
    if parts is None:
        return None
    targets = np.asarray(dataset.targets)  # type: ignore[attr-defined]
    starts = np.cumsum([0] + [len(p) for p in parts])

    def batches():
        for part, start in zip(parts, starts):
            for i in range(0, len(part), batch_size):
                images = torch.from_numpy(np.ascontiguousarray(part[i:i + batch_size]))
                yield transform.batch(images), torch.from_numpy(targets[start + i:start + i + len(images)])

    return batches()


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset: Dataset, transform, batch_size: int = 256,
                     device: str | torch.device = "cpu", num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(features [N, D] float32, labels [N] int64)`` of ``dataset`` through the frozen ``encoder``; a fixed-size
    in-memory dataset is transformed a whole batch at a time (Fashion-MNIST through the demo's network: 1.2-1.4x
    the per-image rate on one busy core), others image by image in ``num_workers`` workers."""
    encoder = encoder.to(device).eval()
    loader = _fixed_size_batches(dataset, transform, batch_size)
    if loader is None:
        loader = DataLoader(TransformedImages(dataset, transform), batch_size=batch_size, num_workers=num_workers)
    progress = StepProgress(f"features {getattr(dataset, 'name', '')}/{getattr(dataset, 'split', '')}",
                            len(dataset), every=20 * batch_size, unit="image")  # type: ignore[arg-type]
    feats, labels = [], []
    done = 0
    for x, y in loader:
        feats.append(encoder(x.to(device)).float().cpu())
        labels.append(torch.as_tensor(y))
        done += len(x)
        progress.update(done)
    progress.close()
    return torch.cat(feats).numpy(), torch.cat(labels).numpy().astype(np.int64)
