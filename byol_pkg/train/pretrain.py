"""``byol pretrain``: BYOL pretraining as in the paper (and the SimCLR / supervised baselines and ablation
variants of ``cfg.method``), resumable, single- or multi-process (torchrun)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import __version__
from ..augment import ViewTransform
from ..augment.batched import BatchedViewTransform
from ..config import Config, dump_yaml, to_dict, to_flat_dict
from ..errors import CheckpointError, ConfigError
from ..data import ImageDataset, build_dataset
from ..io import atomic_write_json, atomic_write_text
from ..loss import collapse_std
from ..models import ema_pairs, update_target
from ..models.sync_bn import convert_sync_batchnorm
from ..optim import LARS, lars_param_groups
from ..runtime import configure_cpu_threads, configure_determinism
from ..schedules import StepPlan, scaled_lr, scheduled_tau, warmup_cosine_lr
from .batched_stream import BatchedTwoViews, ViewDraws, collate_draws, device_images, has_fixed_size_images
from .checkpoint import CheckpointManager
from .distributed import DistInfo, all_reduce_mean, cleanup, init_distributed, resolve_device
from .export import encoder_state, write_encoder
from .methods import batch_loss, build_method_networks
from .metrics_log import MetricsLog
from .stream import StreamBatchSampler, TwoViewDataset

log = logging.getLogger("byol_pkg.pretrain")

#: Config keys that may change between a run and its resume (they do not change what is learned).
RESUMABLE_CHANGES = (
    "train.max_steps", "train.progress", "train.log_every_steps", "train.checkpoint_every_steps",
    "train.checkpoint_every_epochs", "train.device", "train.compile", "train.deterministic", "train.cpu_threads",
    "data.num_workers", "data.root", "data.download", "data.on_device", "data.decode", "augment.backend",
)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass
class RunPlan:
    """Batch sizes and step counts of one run (all schedules are in optimiser steps)."""

    micro_batch: int
    world_size: int
    accumulate: int
    steps: StepPlan
    peak_lr: float
    stop_step: int

    @property
    def global_batch(self) -> int:
        return self.micro_batch * self.world_size * self.accumulate


def plan_run(cfg: Config, dataset_size: int, world_size: int) -> RunPlan:
    """Resolve accumulation, global batch, K, W and the peak LR (base_lr x global_batch / 256)."""
    per_step = cfg.optim.batch_size * world_size
    accumulate = cfg.optim.accumulate_steps
    if cfg.optim.global_batch is not None:
        if cfg.optim.global_batch % per_step:
            raise ConfigError(
                f"config key 'optim.global_batch' ({cfg.optim.global_batch}) must be a multiple of "
                f"optim.batch_size x processes ({per_step})"
            )
        accumulate = cfg.optim.global_batch // per_step
    global_batch = per_step * accumulate
    epoch_size = cfg.data.epoch_size or dataset_size
    steps = StepPlan(epoch_size, global_batch, cfg.optim.epochs, cfg.optim.warmup_epochs)
    if steps.total_steps < 1:
        raise ConfigError(
            f"optim.epochs={cfg.optim.epochs} of {epoch_size} images at global batch {global_batch} gives no "
            "optimiser step; use more epochs or a smaller batch"
        )
    stop = steps.total_steps if cfg.train.max_steps is None else min(cfg.train.max_steps, steps.total_steps)
    return RunPlan(cfg.optim.batch_size, world_size, accumulate, steps,
                   scaled_lr(cfg.optim.base_lr, global_batch), stop)


def _view_transform(cfg: Config, view: int, batched: bool = False) -> ViewTransform | BatchedViewTransform:
    params = getattr(cfg.augment, f"view{view}")
    cls = BatchedViewTransform if batched else ViewTransform
    return cls(params, cfg.augment.image_size, blur=cfg.augment.blur,
               mean=tuple(cfg.augment.mean), std=tuple(cfg.augment.std))


def busy_data_workers(cfg: Config, dataset: ImageDataset) -> int:
    """DataLoader workers that keep a core busy. With the batched backend the augmentation runs on the training
    threads, and the workers only draw uniforms (images held in memory) or read undecoded JPEG files
    (``data.decode: device``): they are not counted. Otherwise all of them are."""
    if cfg.augment.backend == "batched":
        held = cfg.data.on_device != "never" and has_fixed_size_images(dataset)
        if held or cfg.data.decode == "device":
            return 0
    return cfg.data.num_workers


def build_view_stream(cfg: Config, dataset: ImageDataset, sampler: StreamBatchSampler, device: torch.device,
                      memory_format: torch.memory_format) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(view1, view2, labels)`` micro-batches of the stream: views made image by image in the DataLoader
    workers (``augment.backend: reference``) or for the whole micro-batch on ``device`` (``batched``)."""
    workers = dict(num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda", persistent_workers=False,
                   prefetch_factor=4 if cfg.data.num_workers > 0 else None)
    if cfg.augment.backend == "reference":
        return DataLoader(TwoViewDataset(dataset, _view_transform(cfg, 1), _view_transform(cfg, 2), cfg.seed),
                          batch_sampler=sampler, **workers)
    try:
        images = device_images(dataset, device, cfg.data.on_device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    draws = DataLoader(ViewDraws(dataset, cfg.seed, with_images=images is None, encoded=cfg.data.decode == "device"),
                       batch_sampler=sampler,
                       collate_fn=collate_draws, **workers)
    return BatchedTwoViews(draws, _view_transform(cfg, 1, True), _view_transform(cfg, 2, True), device, images,
                           memory_format)


def _check_resume_config(saved: dict, cfg: Config, path: str) -> None:
    """Refuse to resume a checkpoint written with a config that changes what is learned."""
    from ..config import config_from_dict

    old = to_flat_dict(config_from_dict(saved, path))
    new = to_flat_dict(cfg)
    for key, value in new.items():
        if key not in RESUMABLE_CHANGES and old.get(key) != value:
            raise CheckpointError(
                f"{path} was written with {key}={old.get(key)!r} but the config now says {value!r}; "
                "resume with the same config or write to a new --out folder"
            )


class Progress:
    """A tqdm bar with ETA on a terminal, plain log lines otherwise."""

    def __init__(self, mode: str, total: int, initial: int, enabled: bool) -> None:
        use_bar = enabled and (mode == "bar" or (mode == "auto" and sys.stderr.isatty()))
        self.bar = None
        if use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="pretrain", unit="step", dynamic_ncols=True)
        self.enabled, self.total, self.start_step, self.t0 = enabled, total, initial, time.perf_counter()

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def report(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{row['loss']:.4f}", tau=f"{row['tau']:.4f}", ips=f"{row['images_per_s']:.0f}")
            return
        done = row["step"] - self.start_step
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - row["step"]) / rate if rate > 0 else float("nan")
        log.info("step %d/%d epoch %.2f loss %.4f lr %.4g tau %.5f collapse_std %.4f %.0f img/s eta %s",
                 row["step"], self.total, row["epoch"], row["loss"], row["lr"], row["tau"], row["collapse_std"],
                 row["images_per_s"], _hms(eta))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def export_encoder(out_dir: Path, online: nn.Module, cfg: Config, step: int) -> Path:
    """Write ``encoder.pt`` (online encoder state dict) and ``encoder.json`` (how to rebuild it)."""
    return write_encoder(Path(out_dir) / "encoder.pt", encoder_state(online), cfg, step)


def pretrain(cfg: Config, out_dir: str | Path) -> dict[str, Any]:
    """Pretrain ``cfg.method`` (BYOL unless configured) and write the run folder ``out_dir``; resumes from its
    last checkpoint."""
    out_dir = Path(out_dir)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = init_distributed(device)
    try:
        return _pretrain(cfg, out_dir, device, info)
    finally:
        cleanup(info)


def _pretrain(cfg: Config, out_dir: Path, device: torch.device, info: DistInfo) -> dict[str, Any]:
    configure_determinism(cfg.train.deterministic, device)
    torch.manual_seed(cfg.seed)
    dataset = build_dataset(cfg.data.name, cfg.data.root, cfg.data.split, download=cfg.data.download,
                            max_samples=cfg.data.max_samples)
    if device.type == "cpu":
        configure_cpu_threads(cfg.train.cpu_threads, busy_data_workers(cfg, dataset), info.world_size)
    plan = plan_run(cfg, len(dataset), info.world_size)
    K = plan.steps.total_steps

    if cfg.method.name == "supervised" and bool((dataset.targets < 0).any()):
        raise ConfigError(f"method.name 'supervised' needs labels, but {cfg.data.name} split "
                          f"'{cfg.data.split}' has unlabelled images; use a labelled split")
    nets = build_method_networks(cfg, dataset.num_classes)
    online, target = nets.online, nets.target
    if cfg.model.sync_bn and info.enabled:
        online = convert_sync_batchnorm(online, device)
        target = convert_sync_batchnorm(target, device) if target is not None else None
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    online.to(device, memory_format=memory_format)
    if target is not None:
        target.to(device, memory_format=memory_format)
        target.train()
    optimizer = LARS(lars_param_groups([online], cfg.optim.weight_decay), momentum=cfg.optim.momentum,
                     trust_coefficient=cfg.optim.trust_coefficient)
    amp_dtype = AMP_DTYPES.get(cfg.train.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.precision == "fp16")

    ckpts = CheckpointManager(out_dir / "checkpoints")
    step = 0
    state = ckpts.load_latest(map_location=device)
    if state is not None:
        _check_resume_config(state["config"], cfg, state["_path"])
        online.load_state_dict(state["online"])
        if target is not None:
            target.load_state_dict(state["target"])
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
    del state

    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "config.yaml", dump_yaml(cfg))
        if step == 0 and cfg.train.checkpoint_every_epochs:
            # epoch 0: the initialisation itself, so that kNN against epoch starts from the random network
            ckpts.save(_checkpoint_state(0, online, target, optimizer, scaler, cfg), keep_epoch=0)
        metrics = MetricsLog(out_dir / "metrics.csv", resume_step=step)
        log.info("%s pretraining: %s on %s (%d images), %d process(es) x batch %d x accumulation %d = global "
                 "batch %d; K=%d optimiser steps (warm-up %d), peak lr %.4g, device %s (%d threads), precision %s, "
                 "augmentation %s",
                 _describe(cfg), cfg.model.backbone, cfg.data.name, len(dataset), info.world_size, plan.micro_batch,
                 plan.accumulate, plan.global_batch, K, plan.steps.warmup_steps, plan.peak_lr, device,
                 torch.get_num_threads(), cfg.train.precision, cfg.augment.backend)

    model: nn.Module = online
    if info.enabled:
        model = DistributedDataParallel(online, device_ids=[device.index] if device.type == "cuda" else None)
    target_forward = target
    if cfg.train.compile:
        model = torch.compile(model)
        target_forward = torch.compile(target) if target is not None else None
    tgt_params, onl_params = ema_pairs(online, target) if target is not None else ([], [])

    sampler = StreamBatchSampler(len(dataset), plan.micro_batch, cfg.seed, step * plan.accumulate,
                                 plan.stop_step * plan.accumulate, info.world_size, info.rank)
    loader = build_view_stream(cfg, dataset, sampler, device, memory_format)
    progress = Progress(cfg.train.progress, plan.stop_step, step, info.is_main)
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())
    loss_sum = torch.zeros((), device=device)
    window_t0 = time.perf_counter()
    window_wait = 0.0
    window_steps = 0
    run_t0 = time.perf_counter()
    micro = 0
    wait_t0 = time.perf_counter()
    for view1, view2, labels in loader:
        window_wait += time.perf_counter() - wait_t0
        view1 = view1.to(device, non_blocking=True, memory_format=memory_format)
        view2 = view2.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        micro += 1
        last_micro = micro % plan.accumulate == 0
        sync = contextlib.nullcontext() if (last_micro or not info.enabled) else model.no_sync()
        with sync:
            loss, monitor = batch_loss(cfg.method, model, target_forward, view1, view2, labels, autocast,
                                       gather=info.enabled)
            scaler.scale(loss / plan.accumulate).backward()
        loss_sum += loss.detach()
        if not last_micro:
            wait_t0 = time.perf_counter()
            continue

        lr = warmup_cosine_lr(step, plan.peak_lr, plan.steps.warmup_steps, K)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        tau = float("nan")  # no target network: nothing to average
        if target is not None:
            tau = scheduled_tau(step, K, cfg.target.base_tau, cfg.target.schedule)
            update_target(tgt_params, onl_params, tau)  # after the optimiser step, with the new theta
        step += 1
        window_steps += 1
        progress.step()

        if step % cfg.train.log_every_steps == 0 or step == plan.stop_step:
            mean_loss = all_reduce_mean(loss_sum / (window_steps * plan.accumulate), info)
            elapsed = time.perf_counter() - window_t0
            row = {
                "step": step, "epoch": step * plan.global_batch / plan.steps.epoch_size,
                "loss": float(mean_loss), "lr": lr, "tau": tau, "collapse_std": float(collapse_std(monitor)),
                "images_per_s": window_steps * plan.global_batch / max(elapsed, 1e-9),
                "data_wait_frac": window_wait / max(elapsed, 1e-9),
                "elapsed_s": time.perf_counter() - run_t0,
            }
            if info.is_main:
                metrics.append(row)
            progress.report(row)
            loss_sum.zero_()
            window_t0, window_wait, window_steps = time.perf_counter(), 0.0, 0

        epoch_done = _epoch_boundary(step, plan)
        keep_epoch = (epoch_done if epoch_done and cfg.train.checkpoint_every_epochs
                      and epoch_done % cfg.train.checkpoint_every_epochs == 0 else None)
        if info.is_main and (step % cfg.train.checkpoint_every_steps == 0 or keep_epoch or step == plan.stop_step):
            ckpts.save(_checkpoint_state(step, online, target, optimizer, scaler, cfg), keep_epoch=keep_epoch)
        wait_t0 = time.perf_counter()
    progress.close()

    summary = {"step": step, "total_steps": K, "stop_step": plan.stop_step, "complete": step >= K,
               "global_batch": plan.global_batch, "accumulate_steps": plan.accumulate,
               "world_size": info.world_size, "peak_lr": plan.peak_lr, "epoch_size": plan.steps.epoch_size,
               "wall_s": time.perf_counter() - run_t0}
    if info.is_main:
        export_encoder(out_dir, online, cfg, step)
        atomic_write_json(out_dir / "summary.json", summary)
        log.info("done: %d/%d steps; online encoder written to %s", step, K, out_dir / "encoder.pt")
    return summary


def _describe(cfg: Config) -> str:
    """``BYOL`` / ``SimCLR`` / ``supervised``, or the variant's settings."""
    m = cfg.method
    names = {"byol": "BYOL", "simclr": "SimCLR", "supervised": "supervised"}
    if m.name == "supervised":
        return names[m.name]
    return f"{names[m.name]} (predictor {m.predictor}, target {m.target}, beta {m.beta}, alpha {m.alpha})"


def _epoch_boundary(step: int, plan: RunPlan) -> int | None:
    """The epoch number completed by optimiser step ``step`` (None if no epoch ended at this step). The last
    step K = floor(epochs x N / B) ends the last whole epoch even when the floor division leaves it a few
    images short of epochs x N (so a 2-epoch run always keeps ``epoch_0002.pt``)."""
    before = (step - 1) * plan.global_batch // plan.steps.epoch_size
    after = step * plan.global_batch // plan.steps.epoch_size
    if step == plan.steps.total_steps:
        after = max(after, math.floor(plan.steps.epochs + 1e-9))
    return after if after > before else None


def _checkpoint_state(step: int, online: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler, cfg: Config) -> dict[str, Any]:
    return {
        "step": step,
        "online": online.state_dict(),
        "target": target.state_dict() if target is not None else {},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "config": to_dict(cfg),
        "version": __version__,
    }
