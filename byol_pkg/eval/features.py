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


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset: Dataset, transform, batch_size: int = 256,
                     device: str | torch.device = "cpu", num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(features [N, D] float32, labels [N] int64)`` of ``dataset`` through the frozen ``encoder``."""
    encoder = encoder.to(device).eval()
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
