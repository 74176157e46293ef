"""``byol pretrain``: BYOL pretraining as in the paper (and the SimCLR / supervised baselines and ablation
variants of ``cfg.method``), resumable, single- or multi-process (torchrun)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
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
from ..errors import CheckpointError, ConfigError, DivergenceError, Interrupted
from ..data import ImageDataset, build_dataset
from ..io import atomic_write_json, atomic_write_text, check_output_path
from ..loss import collapse_std
from ..models import ema_pairs, update_target
from ..models.sync_bn import convert_sync_batchnorm
from ..optim import LARS, lars_param_groups
from ..progress import StepProgress
from ..runtime import configure_cpu_threads, configure_determinism
from ..schedules import StepPlan, scaled_lr, scheduled_tau, warmup_cosine_lr
from .batched_stream import BatchedTwoViews, ViewDraws, collate_draws, device_images, has_fixed_size_images
from .checkpoint import CheckpointManager
from .distributed import DistInfo, all_reduce_mean, cleanup, init_distributed, resolve_device
from .export import encoder_state, first_nonfinite, write_encoder
from .interrupts import StopRequest, ignore_stop_signals, signal_name
from .methods import batch_loss, build_method_networks
from .metrics_log import MetricsLog
from .run_folder import RunLock, check_run_folder, config_fingerprint, first_difference
from .stream import StreamBatchSampler, TwoViewDataset
from .tracking import TrackedRun, Tracking, check_packages, open_tracking

log = logging.getLogger("byol_pkg.pretrain")

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
    (``augment.decode: device``): they are not counted. Otherwise all of them are."""
    if cfg.augment.backend == "batched":
        held = cfg.augment.on_device != "never" and has_fixed_size_images(dataset)
        if held or cfg.augment.decode == "device":
            return 0
    return cfg.data.num_workers


def build_view_stream(cfg: Config, dataset: ImageDataset, sampler: StreamBatchSampler, device: torch.device,
                      memory_format: torch.memory_format) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(view1, view2, labels)`` micro-batches of the stream: views made image by image in the DataLoader
    workers (``augment.backend: reference``) or for the whole micro-batch on ``device`` (``batched``)."""
    workers = dict(num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda", persistent_workers=False,
                   prefetch_factor=4 if cfg.data.num_workers > 0 else None,
                   worker_init_fn=ignore_stop_signals if cfg.data.num_workers > 0 else None)
    if cfg.augment.backend == "reference":
        return DataLoader(TwoViewDataset(dataset, _view_transform(cfg, 1), _view_transform(cfg, 2), cfg.seed),
                          batch_sampler=sampler, **workers)
    try:
        images = device_images(dataset, device, cfg.augment.on_device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    draws = DataLoader(ViewDraws(dataset, cfg.seed, with_images=images is None, encoded=cfg.augment.decode == "device"),
                       batch_sampler=sampler,
                       collate_fn=collate_draws, **workers)
    return BatchedTwoViews(draws, _view_transform(cfg, 1, True), _view_transform(cfg, 2, True), device, images,
                           memory_format)


def _check_resume_config(saved: dict, cfg: Config, path: str) -> None:
    """Refuse to resume a checkpoint written with a config that changes what is learned."""
    from ..config import config_from_dict

    diff = first_difference(config_from_dict(saved, path), cfg)
    if diff is not None:
        key, old, new = diff
        raise CheckpointError(f"{path} was written with {key}={old!r} but the config now says {new!r}; "
                              "resume with the same config or write to a new --out folder")


def export_encoder(out_dir: Path, online: nn.Module, cfg: Config, step: int) -> Path:
    """Write ``encoder.pt`` (online encoder state dict) and ``encoder.json`` (how to rebuild it, and the
    fingerprint of the config that trained it). A non-finite encoder is never written (:class:`DivergenceError`)."""
    state = encoder_state(online)
    bad = first_nonfinite(state)
    if bad is not None:
        raise DivergenceError(f"the online encoder holds non-finite values (first: {bad}) at step {step}; "
                              f"nothing was written to {Path(out_dir) / 'encoder.pt'}")
    return write_encoder(Path(out_dir) / "encoder.pt", state, cfg, step, config_sha256=config_fingerprint(cfg))


def pretrain(cfg: Config, out_dir: str | Path, overwrite: bool = False,
             resume_command: str | None = None) -> dict[str, Any]:
    """Pretrain ``cfg.method`` (BYOL unless configured) and write the run folder ``out_dir``; resumes from its
    last checkpoint. The folder is locked while written (:class:`~byol_pkg.train.run_folder.RunLock`); a folder
    holding a run of another config is refused unless ``overwrite``. SIGINT/SIGTERM save a checkpoint and raise
    :class:`~byol_pkg.errors.Interrupted` (its message shows ``resume_command``); a non-finite loss raises
    :class:`~byol_pkg.errors.DivergenceError`."""
    out_dir = check_output_path(out_dir, "--out", folder=True)
    check_packages(cfg.tracking)
    device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = init_distributed(device)
    lock = RunLock(out_dir) if info.is_main else contextlib.nullcontext()
    try:
        with lock:
            if info.is_main:
                check_run_folder(out_dir, cfg, overwrite)
            return _pretrain(cfg, out_dir, device, info, resume_command)
    finally:
        cleanup(info)


@dataclasses.dataclass
class Run:
    """What a pretraining run holds once set up; :func:`_pretrain` reads top to bottom as the official experiment
    does: setup, resume, then per optimiser step the loss (``methods.batch_loss``), the update
    (:func:`optimizer_step`) and the log (:class:`TrainingLog`)."""

    cfg: Config
    device: torch.device
    info: DistInfo
    out_dir: Path
    dataset: ImageDataset
    plan: RunPlan
    online: nn.Module
    target: nn.Module | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    checkpoints: CheckpointManager
    memory_format: torch.memory_format
    ema: tuple[list, list]  # (target, online) parameter pairs updated by the EMA
    step: int = 0  # optimiser steps done
    saved_step: int | None = None  # step of the newest checkpoint written or resumed from

    def state(self) -> dict[str, Any]:
        """The checkpoint of the run at its current step."""
        return _checkpoint_state(self.step, self.online, self.target, self.optimizer, self.scaler, self.cfg)


def setup(cfg: Config, out_dir: Path, device: torch.device, info: DistInfo) -> Run:
    """The dataset, the step plan, the networks of ``cfg.method`` on ``device``, LARS and the grad scaler."""
    configure_determinism(cfg.train.deterministic, device)
    torch.manual_seed(cfg.seed)
    dataset = build_dataset(cfg.data.name, cfg.data.root, cfg.data.split, download=cfg.data.download,
                            max_samples=cfg.data.max_samples)
    if device.type == "cpu":
        configure_cpu_threads(cfg.train.cpu_threads, busy_data_workers(cfg, dataset), info.world_size)
    plan = plan_run(cfg, len(dataset), info.world_size)
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
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.precision == "fp16")
    ema = ema_pairs(online, target) if target is not None else ([], [])
    return Run(cfg, device, info, out_dir, dataset, plan, online, target, optimizer, scaler,
               CheckpointManager(out_dir / "checkpoints"), memory_format, ema)


def resume(run: Run) -> None:
    """Continue from the run folder's latest checkpoint, if there is one (its config must match)."""
    state = run.checkpoints.load_latest(map_location=run.device)
    if state is None:
        return
    _check_resume_config(state["config"], run.cfg, state["_path"])
    run.online.load_state_dict(state["online"])
    if run.target is not None:
        run.target.load_state_dict(state["target"])
    run.optimizer.load_state_dict(state["optimizer"])
    if "scaler" in state and state["scaler"]:
        run.scaler.load_state_dict(state["scaler"])
    run.step = int(state["step"])
    run.saved_step = run.step


def start_outputs(run: Run) -> MetricsLog | None:
    """On the main process: the run folder's config.yaml, the epoch-0 checkpoint of a fresh run, the metrics
    log (rows after the resumed step are dropped) and the run's description in the log."""
    cfg, plan, info = run.cfg, run.plan, run.info
    if not info.is_main:
        return None
    run.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.out_dir / "config.yaml", dump_yaml(cfg))
    if run.step == 0 and cfg.train.checkpoint_every_epochs:
        # epoch 0: the initialisation itself, so that kNN against epoch starts from the random network
        run.checkpoints.save(run.state(), keep_epoch=0)
        run.saved_step = 0
    log.info("%s pretraining: %s on %s (%d images), %d process(es) x batch %d x accumulation %d = global "
             "batch %d; K=%d optimiser steps (warm-up %d), peak lr %.4g, device %s (%d threads), precision %s, "
             "augmentation %s",
             _describe(cfg), cfg.model.backbone, cfg.data.name, len(run.dataset), info.world_size, plan.micro_batch,
             plan.accumulate, plan.global_batch, plan.steps.total_steps, plan.steps.warmup_steps, plan.peak_lr,
             run.device, torch.get_num_threads(), cfg.train.precision, cfg.augment.backend)
    return MetricsLog(run.out_dir / "metrics.csv", resume_step=run.step)


def start_tracking(run: Run) -> Tracking:
    """On the main process: the run's tracked run on the backends of ``cfg.tracking`` (none by default), continued
    from the resumed step when the run folder's ``tracking.json`` holds this run (``train/tracking.py``); params:
    the resolved config, flattened."""
    if not run.info.is_main:
        return Tracking()
    tracking = open_tracking(run.cfg.tracking, TrackedRun(run.out_dir, str(run.out_dir), config_fingerprint(run.cfg)),
                             resume_step=run.step)
    tracking.log_params(to_flat_dict(run.cfg))
    return tracking


def optimizer_step(run: Run) -> tuple[float, float]:
    """``(lr, tau)``: one LARS update of the online network with the step's learning rate (warm-up + cosine),
    then the target's EMA with the step's tau, computed after the update (with the new theta)."""
    plan, total = run.plan, run.plan.steps.total_steps
    lr = warmup_cosine_lr(run.step, plan.peak_lr, plan.steps.warmup_steps, total)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    tau = float("nan")  # no target network: nothing to average
    if run.target is not None:
        tau = scheduled_tau(run.step, total, run.cfg.target.base_tau, run.cfg.target.schedule)
        update_target(*run.ema, tau)
    run.step += 1
    return lr, tau


def checkpoint_if_due(run: Run, training_log: TrainingLog) -> None:
    """Save every ``checkpoint_every_steps``, at each kept epoch (``checkpoint_every_epochs``) and at the end;
    never a state reached through a non-finite loss (:meth:`TrainingLog.check_finite` first)."""
    cfg, step = run.cfg, run.step
    epoch_done = _epoch_boundary(step, run.plan)
    keep_epoch = (epoch_done if epoch_done and cfg.train.checkpoint_every_epochs
                  and epoch_done % cfg.train.checkpoint_every_epochs == 0 else None)
    if step % cfg.train.checkpoint_every_steps == 0 or keep_epoch or step == run.plan.stop_step:
        training_log.check_finite()  # on every process (a collective under torchrun)
        if run.info.is_main:
            run.checkpoints.save(run.state(), keep_epoch=keep_epoch)
            training_log.tracking.checkpoint()
        run.saved_step = step


def stop_if_requested(run: Run, stop: StopRequest, training_log: TrainingLog, resume_command: str | None) -> None:
    """After a SIGINT/SIGTERM: save a checkpoint of the step just finished (unless the last one holds it) and
    raise :class:`Interrupted` with the command that resumes. Under torchrun the processes agree at log steps."""
    if run.info.enabled and run.step % run.cfg.train.log_every_steps:
        return
    signum = stop.agreed(run.info.enabled, run.device)
    if signum is None:
        return
    training_log.check_finite()
    if run.saved_step != run.step:
        if run.info.is_main:
            run.checkpoints.save(run.state())
        run.saved_step = run.step
    training_log.tracking.checkpoint()
    training_log.progress.close()
    resume = f"; resume with: {resume_command}" if resume_command else ""
    raise Interrupted(f"{signal_name(signum)} at step {run.step} of {run.plan.stop_step}; checkpoint "
                      f"{run.checkpoints.last} holds step {run.step}{resume}", signum)


class TrainingLog:
    """Every ``log_every_steps`` optimiser steps (and at the last), one row of metrics.csv over the steps since
    the previous row: mean loss (averaged over processes), lr, tau, collapse monitor, throughput, data wait."""

    def __init__(self, run: Run, metrics: MetricsLog | None, tracking: Tracking | None = None) -> None:
        self.run, self.metrics = run, metrics
        self.tracking = tracking or Tracking()
        self.progress = StepProgress("pretrain", run.plan.stop_step, run.step, run.cfg.train.log_every_steps,
                                     mode=run.cfg.train.progress, enabled=run.info.is_main)
        self.loss_sum = torch.zeros((), device=run.device)
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=run.device)  # first non-finite loss
        self.run_t0 = time.perf_counter()
        self.window_t0, self.wait, self.steps = self.run_t0, 0.0, 0

    def timed(self, batches: Iterable) -> Iterable:
        """The batches, counting the time spent waiting for each as data wait."""
        t = time.perf_counter()
        for batch in batches:
            self.wait += time.perf_counter() - t
            yield batch
            t = time.perf_counter()

    def add_loss(self, loss: torch.Tensor) -> None:
        """Add a micro-batch's loss to the window's sum and note the step if it is not finite (on the device: no
        synchronisation here; :meth:`check_finite` reads it at log steps, checkpoints and the end)."""
        loss = loss.detach()
        self.loss_sum += loss
        bad = (self.first_bad_step < 0) & ~torch.isfinite(loss)
        self.first_bad_step = torch.where(bad, self.run.step + 1, self.first_bad_step)

    def check_finite(self) -> None:
        """Raise :class:`DivergenceError` (one line: the step, the last finite checkpoint) if any loss so far was
        not finite, on any process."""
        first_bad = self.first_bad_step
        if self.run.info.enabled:
            import torch.distributed as dist

            first_bad = first_bad.clone()
            dist.all_reduce(first_bad, op=dist.ReduceOp.MAX)
        step = int(first_bad)
        if step < 0:
            return
        self.progress.close()
        run = self.run
        kept = (f"the last finite checkpoint is {run.checkpoints.last} (step {run.saved_step})"
                if run.saved_step is not None else "no checkpoint was written")
        raise DivergenceError(
            f"pretraining diverged: the loss became non-finite at step {step} (peak lr {run.plan.peak_lr:.4g}); "
            f"{kept}; no encoder was exported. Lower optim.base_lr or check the augmentation statistics")

    def step_done(self, lr: float, tau: float, monitor: torch.Tensor) -> None:
        run, plan = self.run, self.run.plan
        self.steps += 1
        if run.step % run.cfg.train.log_every_steps != 0 and run.step != plan.stop_step:
            self.progress.update(run.step)
            return
        self.check_finite()
        mean_loss = all_reduce_mean(self.loss_sum / (self.steps * plan.accumulate), run.info)
        elapsed = time.perf_counter() - self.window_t0
        row = {
            "step": run.step, "epoch": run.step * plan.global_batch / plan.steps.epoch_size,
            "loss": float(mean_loss), "lr": lr, "tau": tau, "collapse_std": float(collapse_std(monitor)),
            "images_per_s": self.steps * plan.global_batch / max(elapsed, 1e-9),
            "data_wait_frac": self.wait / max(elapsed, 1e-9),
            "elapsed_s": time.perf_counter() - self.run_t0,
        }
        if self.metrics is not None:
            self.metrics.append(row)
        self.tracking.log_metrics({k: v for k, v in row.items() if k != "step"}, run.step)
        self.progress.update(run.step, note=(f"epoch {row['epoch']:.2f} loss {row['loss']:.4f} lr {lr:.4g} "
                                             f"tau {tau:.5f} collapse_std {row['collapse_std']:.4f} "
                                             f"{row['images_per_s']:.0f} img/s"),
                             postfix={"loss": f"{row['loss']:.4f}", "tau": f"{tau:.4f}",
                                      "ips": f"{row['images_per_s']:.0f}"})
        self.loss_sum.zero_()
        self.window_t0, self.wait, self.steps = time.perf_counter(), 0.0, 0


def _pretrain(cfg: Config, out_dir: Path, device: torch.device, info: DistInfo,
              resume_command: str | None = None) -> dict[str, Any]:
    with StopRequest() as stop:
        return _train(cfg, out_dir, device, info, stop, resume_command)


def _train(cfg: Config, out_dir: Path, device: torch.device, info: DistInfo, stop: StopRequest,
           resume_command: str | None) -> dict[str, Any]:
    run = setup(cfg, out_dir, device, info)
    resume(run)
    done = finished_run(run)
    if done is not None:
        return done
    metrics = start_outputs(run)
    with start_tracking(run) as tracking:
        return _train_steps(run, metrics, tracking, stop, resume_command)


def _train_steps(run: Run, metrics: MetricsLog | None, tracking: Tracking, stop: StopRequest,
                 resume_command: str | None) -> dict[str, Any]:
    """The optimiser steps of a set-up (and resumed) run, then the encoder and the summary."""
    cfg, device, info, out_dir = run.cfg, run.device, run.info, run.out_dir
    plan = run.plan
    model: nn.Module = run.online
    if info.enabled:
        model = DistributedDataParallel(run.online, device_ids=[device.index] if device.type == "cuda" else None)
    target_forward = run.target
    if cfg.train.compile:
        model = torch.compile(model)
        target_forward = torch.compile(run.target) if run.target is not None else None
    sampler = StreamBatchSampler(len(run.dataset), plan.micro_batch, cfg.seed, run.step * plan.accumulate,
                                 plan.stop_step * plan.accumulate, info.world_size, info.rank)
    batches = build_view_stream(cfg, run.dataset, sampler, device, run.memory_format)
    amp_dtype = AMP_DTYPES.get(cfg.train.precision)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    training_log = TrainingLog(run, metrics, tracking)
    micro = 0
    for view1, view2, labels in training_log.timed(batches):
        view1 = view1.to(device, non_blocking=True, memory_format=run.memory_format)
        view2 = view2.to(device, non_blocking=True, memory_format=run.memory_format)
        labels = labels.to(device, non_blocking=True)
        micro += 1
        last_micro = micro % plan.accumulate == 0  # gradients of `accumulate` micro-batches make one step
        sync = contextlib.nullcontext() if (last_micro or not info.enabled) else model.no_sync()
        with sync:
            loss, monitor = batch_loss(cfg.method, model, target_forward, view1, view2, labels, autocast,
                                       gather=info.enabled)
            run.scaler.scale(loss / plan.accumulate).backward()
        training_log.add_loss(loss)
        if last_micro:
            lr, tau = optimizer_step(run)
            training_log.step_done(lr, tau, monitor)
            checkpoint_if_due(run, training_log)
            stop_if_requested(run, stop, training_log, resume_command)
    training_log.check_finite()
    training_log.progress.close()

    summary = {"step": run.step, "total_steps": plan.steps.total_steps, "stop_step": plan.stop_step,
               "complete": run.step >= plan.steps.total_steps, "global_batch": plan.global_batch,
               "accumulate_steps": plan.accumulate, "world_size": info.world_size, "peak_lr": plan.peak_lr,
               "epoch_size": plan.steps.epoch_size, "wall_s": time.perf_counter() - training_log.run_t0,
               "config_sha256": config_fingerprint(cfg)}
    if info.is_main:
        export_encoder(out_dir, run.online, cfg, run.step)
        atomic_write_json(out_dir / "summary.json", summary)
        tracking.log_summary({k: v for k, v in summary.items() if k != "config_sha256"}, run.step)
        log.info("done: %d/%d steps; online encoder written to %s", run.step, plan.steps.total_steps,
                 out_dir / "encoder.pt")
    return summary


def finished_run(run: Run) -> dict[str, Any] | None:
    """The summary of a run folder that already holds this run, finished (no checkpoint left to resume from, a
    ``summary.json`` of the same config that reached this run's stop step, and its ``encoder.pt``): nothing is
    retrained. ``None`` otherwise."""
    if run.step > 0 or not run.info.is_main:
        return None
    path = run.out_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (isinstance(summary, dict) and summary.get("config_sha256") == config_fingerprint(run.cfg)
            and summary.get("step", -1) >= run.plan.stop_step and (run.out_dir / "encoder.pt").is_file()):
        log.info("%s already holds this run, finished at step %s: nothing to do", run.out_dir, summary["step"])
        return summary
    return None


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
