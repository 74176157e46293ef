"""Step-indexed schedules of the paper: the EMA coefficient tau and the learning rate.

Every schedule counts **optimiser steps** (not micro-batches, not per-process iterations), so that it is the same
under gradient accumulation, with several processes, and after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def target_tau(step: int, total_steps: int, base_tau: float) -> float:
    """tau_k = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2, with k clipped to [0, K] (paper Sec. 3.3).

    tau_0 = tau_base, tau_K = 1.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base_tau) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


def scheduled_tau(step: int, total_steps: int, base_tau: float, schedule: str = "cosine") -> float:
    """The target decay rate of step ``step``: :func:`target_tau` (``cosine``, the paper) or ``base_tau`` at
    every step (``constant``: paper Table 5a's tau = 0, target = online after each step, and tau = 1, a target
    that stays at its initialisation)."""
    if schedule == "cosine":
        return target_tau(step, total_steps, base_tau)
    if schedule == "constant":
        return float(base_tau)
    raise ValueError(f"unknown tau schedule {schedule!r} (cosine | constant)")


def scaled_lr(base_lr: float, global_batch: int) -> float:
    """LR = base_lr * global_batch / 256, global batch = per-device batch x devices x accumulation steps."""
    return base_lr * global_batch / 256.0


def warmup_cosine_lr(step: int, peak_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from 0 over ``warmup_steps``, then cosine decay to 0 at ``total_steps`` (official code).

    lr(s) = L s / W for s < W, else L * (1 + cos(pi (s - W) / (K - W))) / 2.
    """
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    if total_steps <= warmup_steps:
        return peak_lr
    progress = min(step - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps)
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class StepPlan:
    """How many optimiser steps a run takes, derived as in the official code (floor divisions).

    ``total_steps = epochs * epoch_size // global_batch``; ``warmup_steps = warmup_epochs * epoch_size //
    global_batch``. Batches stream across epoch boundaries, so no images are dropped at the end of an epoch.
    """

    epoch_size: int
    global_batch: int
    epochs: float
    warmup_epochs: float

    @property
    def total_steps(self) -> int:
        return int(self.epochs * self.epoch_size) // self.global_batch

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_epochs * self.epoch_size) // self.global_batch

    @property
    def steps_per_epoch(self) -> float:
        return self.epoch_size / self.global_batch
