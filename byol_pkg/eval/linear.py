"""Linear evaluation (paper Table 1, App. C.1) on cached frozen features: the fast mode.

A linear layer on the frozen representation, softmax cross-entropy, SGD with Nesterov momentum 0.9, batch
1024, no weight decay, 80 epochs, cosine decay without warm-up; the grid values {0.4, 0.3, 0.2, 0.1, 0.05}
are base learning rates (effective LR = base x batch / 256, as the official code). The LR is chosen on the
validation split by top-1; the run trained at that LR (on the training split without the validation images)
is reported on the test split, top-1 and top-5. The paper's mode trains on random-resized-crop + flip views
computed on the fly; this mode trains on the cached centre-crop features instead (documented difference).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import top1_accuracy, top5_accuracy

LINEAR_BASE_LRS: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1, 0.05)


@dataclass
class LinearResult:
    best_base_lr: float
    val_top1: dict[float, float]
    test_top1: float
    test_top5: float
    train_size: int
    val_size: int
    test_size: int
    wall_s: float
    config: dict = field(default_factory=dict)


def train_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, base_lr: float, epochs: int = 80,
                 batch_size: int = 1024, seed: int = 0) -> nn.Linear:
    """Train a linear classifier with the paper's optimiser and a per-step cosine schedule."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes).to(x.device)
    lr = base_lr * batch_size / 256
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return head


@torch.no_grad()
def _scores(head: nn.Linear, x: torch.Tensor) -> np.ndarray:
    return head(x).cpu().numpy()


def linear_eval(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray], num_classes: int, base_lrs=LINEAR_BASE_LRS,
                epochs: int = 80, batch_size: int = 1024, seed: int = 0, device: str = "cpu") -> LinearResult:
    """Select the base LR on ``val`` (top-1; ties: the first in grid order), report that run on ``test``."""
    t0 = time.perf_counter()

    def tensors(split):
        return (torch.as_tensor(split[0], dtype=torch.float32, device=device),
                torch.as_tensor(split[1], dtype=torch.long, device=device))

    (xtr, ytr), (xva, yva), (xte, yte) = tensors(train), tensors(val), tensors(test)
    heads, val_top1 = {}, {}
    for lr in base_lrs:
        heads[lr] = train_linear(xtr, ytr, num_classes, lr, epochs, batch_size, seed)
        val_top1[lr] = top1_accuracy(_scores(heads[lr], xva), val[1])
    best = max(base_lrs, key=lambda lr: (val_top1[lr], -base_lrs.index(lr)))
    scores = _scores(heads[best], xte)  # the test split is scored once, for the selected run only
    return LinearResult(best, val_top1, top1_accuracy(scores, test[1]), top5_accuracy(scores, test[1]),
                        len(ytr), len(yva), len(yte), time.perf_counter() - t0,
                        {"epochs": epochs, "batch_size": batch_size, "optimizer": "SGD nesterov momentum 0.9",
                         "weight_decay": 0.0, "schedule": "cosine, no warm-up", "lr_scaling": "base x batch/256",
                         "mode": "cached centre-crop features"})
