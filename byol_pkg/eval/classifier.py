"""Supervised training of encoder + linear head on augmented images: the engine behind fine-tuning (paper
App. D.3, Table 3 bottom), semi-supervised training (App. C.1, Table 2) and linear evaluation with on-the-fly
augmentation (App. C.1, Table 1; the encoder frozen).

Training views are a random resized crop (area U[0.08, 1], log-uniform ratio in [3/4, 4/3], bicubic) and a
horizontal flip with probability 1/2, nothing else, normalised with the encoder's statistics. The batch
stream is :class:`~byol_pkg.train.stream.StreamBatchSampler`'s (per-epoch permutations, batches run across
epoch boundaries) and each view's random draws come from a generator seeded by (seed, epoch, image), so a run
killed and resumed from its checkpoint replays exactly the same batches and crops. Optimiser: SGD with
Nesterov momentum 0.9, learning rate with a per-step cosine decay to zero and no warm-up, weight decay on every
parameter (PyTorch's ``weight_decay``). Multi-label targets ({1, -1, 0} per class, VOC convention) train one
sigmoid per class with binary cross-entropy, entries marked 0 (difficult) ignored.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from ..augment import EvalTransform, ViewParams, ViewTransform
from ..errors import Interrupted
from ..io import atomic_torch_save
from ..progress import StepProgress
from .features import TransformedImages
from ..train.interrupts import StopRequest, ignore_stop_signals, signal_name
from ..train.stream import StreamBatchSampler, augmentation_seed

log = logging.getLogger(__name__)

#: Random resized crop + horizontal flip only (no colour jitter, grayscale, blur or solarisation).
CROP_FLIP = ViewParams(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)


class IndexedImages(Dataset):
    """The images ``indices`` of ``base`` (an :class:`~byol_pkg.data.ImageDataset`), with their ``targets``."""

    def __init__(self, base, indices: Sequence[int] | np.ndarray | None = None) -> None:
        self.base = base
        self.indices = np.arange(len(base)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.targets = np.asarray(base.targets)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[int(self.indices[i])]


class ConcatImages(ConcatDataset):
    """Several :class:`IndexedImages` one after the other (train + val for a refit): torch's ``ConcatDataset``
    with the parts' ``targets`` concatenated."""

    def __init__(self, parts: Sequence[IndexedImages]) -> None:
        super().__init__(list(parts))
        self.targets = np.concatenate([p.targets for p in self.datasets])


class CropFlipViews(Dataset):
    """Maps a stream key ``epoch * N + index`` to ``(crop-and-flip view, label)`` of image ``index``."""

    def __init__(self, base: Dataset, size: int, mean: Sequence[float], std: Sequence[float], seed: int) -> None:
        self.base, self.seed = base, seed
        self.n = len(base)  # type: ignore[arg-type]
        self.view = ViewTransform(CROP_FLIP, size, blur=False, mean=mean, std=std)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int):
        epoch, index = divmod(int(key), self.n)
        image, label = self.base[index]
        gen = torch.Generator().manual_seed(augmentation_seed(self.seed, epoch, index, 0))
        return self.view(image, gen), label


class Classifier(nn.Module):
    """Encoder + linear head. With ``frozen_encoder`` the encoder stays in eval mode (running BN statistics)
    and gets no gradient: the linear-evaluation setting."""

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int, frozen_encoder: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(feature_dim, num_classes)
        self.frozen_encoder = frozen_encoder
        if frozen_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen_encoder:
            with torch.no_grad():
                feats = self.encoder(x)
            return self.head(feats)
        return self.head(self.encoder(x))


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``weight_decay`` is the value handed to PyTorch (the fine-tuning grid's wd / lr);
    ``bn_momentum`` is PyTorch's convention (1 - TF decay), None keeps the model's."""

    lr: float
    steps: int
    batch_size: int
    weight_decay: float = 0.0
    frozen_encoder: bool = False
    bn_momentum: float | None = None
    seed: int = 0
    momentum: float = 0.9
    nesterov: bool = True

    def describe(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainHooks:
    """Where a run reports to (experiment tracking, ``eval/sweep.py``): ``started(step)`` once, with the step it
    starts or resumes at; ``epoch(step, stats)`` after each epoch of its data (``ceil(N / batch)`` steps) and at
    its last step, with the window's mean ``loss`` and training-batch ``top1`` (single-label) and the ``epoch``;
    ``saved()`` after each checkpoint."""

    started: Callable[[int], None] = field(default=lambda step: None)
    epoch: Callable[[int, dict], None] = field(default=lambda step, stats: None)
    saved: Callable[[], None] = field(default=lambda: None)


class EpochStats:
    """Sums of one epoch window: loss and correct training predictions (numbers checked in test_tracking)."""

    def __init__(self, steps_per_epoch: int, multilabel: bool) -> None:
        self.steps_per_epoch, self.multilabel = steps_per_epoch, multilabel
        self.reset()

    def reset(self) -> None:
        self.loss, self.correct, self.seen, self.steps = 0.0, 0, 0, 0

    def add(self, loss: float, logits: torch.Tensor, target: torch.Tensor) -> None:
        self.loss += loss
        self.steps += 1
        if not self.multilabel:
            self.correct += int((logits.argmax(1) == target).sum())
            self.seen += int(target.shape[0])

    def due(self, step: int, total: int) -> bool:
        return step % self.steps_per_epoch == 0 or step == total

    def result(self, step: int) -> dict[str, float]:
        """``loss`` (mean over the window's steps), ``top1`` (% of its training images), ``epoch``."""
        out = {"loss": self.loss / max(self.steps, 1), "epoch": step / self.steps_per_epoch}
        if not self.multilabel and self.seen:
            out["top1"] = 100.0 * self.correct / self.seen
        return out


def cosine_lr(base_lr: float, step: int, total: int) -> float:
    """Cosine decay from ``base_lr`` at step 0 towards 0 at ``total``, no warm-up."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def set_bn_momentum(model: nn.Module, momentum: float) -> int:
    """Set every BatchNorm layer's running-statistics momentum (PyTorch convention); returns how many."""
    count = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum
            count += 1
    return count


def classification_loss(logits: torch.Tensor, target: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Softmax cross-entropy, or for multi-label {1, -1, 0} targets the mean binary cross-entropy over the
    entries that are not 0 (difficult)."""
    if not multilabel:
        return F.cross_entropy(logits, target.long())
    mask = (target != 0).to(logits.dtype)
    pos = (target > 0).to(logits.dtype)
    per_entry = F.binary_cross_entropy_with_logits(logits, pos, reduction="none")
    return (per_entry * mask).sum() / mask.sum().clamp_min(1.0)


def train_classifier(model: Classifier, data: Dataset, spec: RunSpec, image_size: int, mean: Sequence[float],
                     std: Sequence[float], multilabel: bool = False, device: str | torch.device = "cpu",
                     checkpoint: Path | None = None, checkpoint_every: int = 500, num_workers: int = 0,
                     precision: str = "fp32", desc: str = "train", log_every: int = 50,
                     hooks: TrainHooks | None = None) -> Classifier:
    """Train ``model`` on ``data`` for ``spec.steps`` SGD steps; resumes from ``checkpoint`` when it exists (and
    was written for the same ``spec``), saving it atomically every ``checkpoint_every`` steps; ``hooks``: see
    :class:`TrainHooks`."""
    tracked = hooks is not None
    hooks = hooks or TrainHooks()
    model.to(device)
    if spec.bn_momentum is not None and not spec.frozen_encoder:
        set_bn_momentum(model, spec.bn_momentum)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov,
                          weight_decay=spec.weight_decay)
    start = 0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state.get("spec") == spec.describe():
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start = int(state["step"])
            log.info("%s: resuming from %s at step %d", desc, checkpoint, start)
        else:
            log.warning("%s: ignoring %s (written for another run spec)", desc, checkpoint)

    views = CropFlipViews(data, image_size, mean, std, spec.seed)
    sampler = StreamBatchSampler(len(views), spec.batch_size, spec.seed, start, spec.steps)
    loader = DataLoader(views, batch_sampler=sampler, num_workers=num_workers, persistent_workers=False,
                        pin_memory=str(device).startswith("cuda"),
                        worker_init_fn=ignore_stop_signals if num_workers > 0 else None)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
    progress = StepProgress(desc, spec.steps, start, log_every)
    model.train()
    hooks.started(start)
    # epoch statistics only for a run that reports them: their argmax and sums would cost a device sync a step
    stats = EpochStats(math.ceil(len(views) / spec.batch_size), multilabel) if tracked else None
    with StopRequest() as stop:
        _train_steps(model, opt, loader, spec, start, multilabel, device, autocast, progress, checkpoint,
                     checkpoint_every, desc, stop, hooks, stats)
    progress.close()
    return model


def _save(checkpoint: Path, step: int, model: Classifier, opt: torch.optim.Optimizer, spec: RunSpec,
          hooks: TrainHooks) -> None:
    atomic_torch_save(checkpoint, {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                   "spec": spec.describe()})
    hooks.saved()


def _train_steps(model: Classifier, opt: torch.optim.Optimizer, loader: DataLoader, spec: RunSpec, start: int,
                 multilabel: bool, device: str | torch.device, autocast: torch.autocast, progress: StepProgress,
                 checkpoint: Path | None, checkpoint_every: int, desc: str, stop: StopRequest, hooks: TrainHooks,
                 stats: EpochStats | None) -> None:
    """The SGD steps of :func:`train_classifier`; after a SIGINT/SIGTERM, the step finishes, a checkpoint is saved
    and :class:`Interrupted` is raised (the same command resumes from it)."""
    step = start
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = cosine_lr(spec.lr, step, spec.steps)
        with autocast:
            logits = model(x)
        loss = classification_loss(logits.float(), y, multilabel)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step} (lr {spec.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        progress.update(step, f"loss {float(loss.detach()):.4f}")
        if stats is not None:
            stats.add(float(loss.detach()), logits.detach(), y)
            if stats.due(step, spec.steps):
                hooks.epoch(step, stats.result(step))
                stats.reset()
        if checkpoint is not None and step < spec.steps and step % checkpoint_every == 0:
            _save(checkpoint, step, model, opt, spec, hooks)
        if stop.signum is not None and step < spec.steps:
            saved = ""
            if checkpoint is not None:
                _save(checkpoint, step, model, opt, spec, hooks)
                saved = f"; checkpoint {checkpoint} holds step {step}"
            progress.close()
            raise Interrupted(f"{signal_name(stop.signum)} at step {step} of {spec.steps} ({desc}){saved}",
                              stop.signum)


@torch.no_grad()
def predict_scores(model: nn.Module, data: Dataset, transform: EvalTransform, batch_size: int = 256,
                   device: str | torch.device = "cpu", num_workers: int = 0,
                   precision: str = "fp32") -> tuple[np.ndarray, np.ndarray]:
    """``(scores [N, C] float32, labels)`` of ``data`` through ``model`` in eval mode (no augmentation)."""
    model.to(device).eval()
    loader = DataLoader(TransformedImages(data, transform), batch_size=batch_size, num_workers=num_workers)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
    scores, labels = [], []
    for x, y in loader:
        with autocast:
            scores.append(model(x.to(device)).float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(scores).numpy(), torch.cat(labels).numpy()
