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
from .grids import SGD_RECIPE
from .predictions import Predictions

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
    test_predictions: Predictions | None = None  # the selected head's test logits, ``test_top1``'s inputs


def train_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, base_lr: float, epochs: int = 80,
                 batch_size: int = 1024, seed: int = 0) -> nn.Linear:
    """Train a linear classifier with the paper's optimiser and a per-step cosine schedule."""
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes).to(x.device)
    lr = base_lr * batch_size / 256
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    for idx, cosine in _cosine_batches(len(x), epochs, batch_size, seed, x.device):
        for group in opt.param_groups:
            group["lr"] = lr * cosine
        loss = F.cross_entropy(head(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head


def _cosine_batches(n: int, epochs: int, batch_size: int, seed: int, device: torch.device):
    """The batches of a run (a seeded permutation per epoch, the last batch ragged) with the cosine LR factor of
    each step, ``0.5 (1 + cos(pi k / K))``, no warm-up."""
    gen = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(n / batch_size)
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size], 0.5 * (1 + math.cos(math.pi * step / total))
            step += 1


def train_linear_grid(x: torch.Tensor, y: torch.Tensor, num_classes: int, base_lrs: tuple[float, ...],
                      epochs: int = 80, batch_size: int = 1024, seed: int = 0) -> list[nn.Linear]:
    """:func:`train_linear` for every base LR of a grid in one pass: the runs share their initialisation (the same
    seeded ``nn.Linear``) and their batches (the same seeded permutations), so they differ only in the LR, and one
    batched step updates all of them (a ``[L, C, D]`` weight stack, the same Nesterov-SGD update per run). Equal
    to separate :func:`train_linear` runs up to float rounding, in about half their time
    (``benchmarks/linear_grid.py``)."""
    torch.manual_seed(seed)
    init = nn.Linear(x.shape[1], num_classes).to(x.device)
    n_runs = len(base_lrs)
    weight = init.weight.detach().expand(n_runs, -1, -1).clone().requires_grad_()  # [L, C, D]
    bias = init.bias.detach().expand(n_runs, -1).clone().requires_grad_()  # [L, C]
    lrs = torch.tensor([lr * batch_size / 256 for lr in base_lrs], dtype=x.dtype, device=x.device)
    bufs = [torch.zeros_like(weight), torch.zeros_like(bias)]
    for idx, cosine in _cosine_batches(len(x), epochs, batch_size, seed, x.device):
        logits = torch.einsum("nd,lcd->lnc", x[idx], weight) + bias[:, None, :]  # [L, B, C]
        # the sum of the runs' mean losses: each run's gradient is that of its own loss
        loss = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(n_runs), reduction="sum") / len(idx)
        grad_w, grad_b = torch.autograd.grad(loss, (weight, bias))
        scale = lrs * cosine
        with torch.no_grad():
            for param, grad, buf, lr in ((weight, grad_w, bufs[0], scale[:, None, None]),
                                         (bias, grad_b, bufs[1], scale[:, None])):
                buf.mul_(0.9).add_(grad)  # torch SGD: momentum 0.9, no dampening, Nesterov
                param.sub_(lr * (grad + 0.9 * buf))
    heads = []
    for i in range(n_runs):
        head = nn.Linear(x.shape[1], num_classes).to(x.device)
        with torch.no_grad():
            head.weight.copy_(weight[i])
            head.bias.copy_(bias[i])
        heads.append(head)
    return heads


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
    heads = dict(zip(base_lrs, train_linear_grid(xtr, ytr, num_classes, tuple(base_lrs), epochs, batch_size, seed)))
    val_top1 = {lr: top1_accuracy(_scores(heads[lr], xva), val[1]) for lr in base_lrs}
    best = max(base_lrs, key=lambda lr: (val_top1[lr], -base_lrs.index(lr)))
    scores = _scores(heads[best], xte)  # the test split is scored once, for the selected run only
    return LinearResult(best, val_top1, top1_accuracy(scores, test[1]), top5_accuracy(scores, test[1]),
                        len(ytr), len(yva), len(yte), time.perf_counter() - t0,
                        {"epochs": epochs, "batch_size": batch_size, **SGD_RECIPE, "weight_decay": 0.0,
                         "lr_scaling": "base x batch/256", "mode": "cached centre-crop features"},
                        Predictions(labels=np.asarray(test[1]), scores=np.asarray(scores, dtype=np.float32)))
