"""Time of one BYOL pretraining step: byol_pkg side by side with lightly and byol-pytorch, at equal work.

Every implementation gets the same backbone (torchvision ``resnet18`` with the CIFAR stem, ``fc`` removed:
512-d), 4096-256 projector and 4096-256 predictor (Linear-BN-ReLU-Linear), batch size, 32-px image size and
precision (fp32, or bf16 autocast), and two synthetic pre-augmented views already on the device, so data
loading and augmentation are not measured. One step = both views through the online network (with gradient)
and the target network (without), the symmetric BYOL loss, backward, a LARS step, ``zero_grad`` and the EMA
update of the target. Each implementation does it its own way:

* ``byol_pkg``: :class:`pretrain_throughput.Stepper` (exactly ``byol_pkg.train.pretrain``): channels_last (the
  package default ``train.channels_last: true``), and again in NCHW (the peers' memory format); with
  ``--compile`` also channels_last + ``torch.compile``. Paper LARS (``byol_pkg.optim.LARS``), foreach EMA.
* ``lightly``: its BYOL building blocks assembled as lightly's BYOL example/benchmark does: online backbone +
  ``BYOLProjectionHead`` + ``BYOLPredictionHead``, a deep-copied momentum backbone + projection head
  (``deactivate_requires_grad``), one call per view, ``NegativeCosineSimilarity`` both ways,
  ``update_momentum`` each step, lightly's own ``lightly.utils.lars.LARS`` (biases and norm parameters without
  weight decay via ``get_weight_decay_parameters``).
* ``byol-pytorch``: ``byol_pytorch.BYOL(net, hidden_layer='avgpool', projection_size=256,
  projection_hidden_size=4096, use_simplicial_embeddings=False)``; ``loss = learner(x)``;
  ``learner.update_moving_average()``. It makes its two views itself as ``augment_fn(x)`` and ``augment_fn2(x)``
  of one input and runs them as one concatenated batch of 2 x batch images; here ``x`` holds the two
  pre-augmented views stacked along channels ([batch, 6, H, W]) and the two "augmentations" only pick
  channels 0-2 and 3-5, so it does no augmentation work. It ships no optimiser: it gets ``byol_pkg``'s LARS
  (same parameter groups as ours), so ours and it differ in the network/loss/EMA code only.

Steps are timed interleaved (one step of each implementation in turn, the order rotating every round) so
that background load hits all of them alike; warm-up steps are untimed, the first one also counts the images
that go through each online and target backbone (must be 2 x batch each). ``ms/step`` is the median. On a CPU
(``--profile``) one more step of each is profiled for its time in convolution ops: every implementation runs
the same convolutions, so ``peer ms/step / byol_pkg conv ms`` (the "ceiling") is the most any step code could
gain over that peer without faster convolution kernels.

Usage::

    python benchmarks/peer_step_time.py                       # CPU: batch 64, 1 warm-up + 3 timed steps
    python benchmarks/peer_step_time.py --threads 1 --json results/peer_step_time_cpu.json
    python benchmarks/peer_step_time.py --device cuda --compile --json results/peer_step_time_gpu.json

Needs ``pip install lightly byol-pytorch`` for the peer rows (without them only byol_pkg is timed).
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # keep the profiler's start/stop lines off the output
import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrain_throughput import (  # noqa: E402 - after the sys.path line, so it works from any directory
    CONFIGS,
    LR,
    MOMENTUM,
    PRECISIONS,
    TAU,
    TRUST,
    WEIGHT_DECAY,
    BenchConfig,
    Stepper,
    build_networks,
    count_flops,
    cpu_name,
    free_memory,
    is_oom,
    make_stepper,
    resolve_device,
    sync,
    time_steps,
    warn_if_busy,
)

from byol_pkg.models import create_backbone, ema_pairs  # noqa: E402
from byol_pkg.optim import LARS, lars_param_groups  # noqa: E402

#: The network all three implementations train: torchvision resnet18, CIFAR stem, 4096-256 heads, 32 px.
CFG: BenchConfig = CONFIGS["r18cifar"]
PEERS = {"lightly": "lightly", "byol-pytorch": "byol_pytorch"}  # distribution name -> import name
INSTALL_HINT = "pip install lightly byol-pytorch"

PKG, PKG_NCHW, PKG_COMPILE, LIGHTLY, BYOL_PT = ("byol_pkg", "byol_pkg NCHW", "byol_pkg compile", "lightly",
                                               "byol-pytorch")
PKG_ROWS = (PKG, PKG_NCHW, PKG_COMPILE)
PEER_ROWS = (LIGHTLY, BYOL_PT)
#: FLOPs of one step per image (pair of views): online forward + backward on both views, target forward on both.
STEP_FLOPS_PER_IMAGE: float = count_flops(CFG).train_per_image


# ----------------------------------------------------------------------------------------------- building


def make_backbone() -> nn.Module:
    """The one backbone of every implementation: torchvision resnet18, conv1 3x3/1, no max-pool, fc = Identity."""
    backbone, feat_dim = create_backbone(CFG.backbone, cifar_stem=CFG.cifar_stem)
    assert feat_dim == 512, feat_dim
    return backbone


def autocast_for(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    dtype = PRECISIONS[precision]

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    return autocast


def n_params(params) -> int:
    return sum(p.numel() for p in params)


@dataclass
class Impl:
    """One implementation ready to step, with the modules used to check its work."""

    name: str
    stepper: Any  # has .step() -> Tensor
    online_backbone: nn.Module | None  # None: not checked (compiled)
    target_backbone: nn.Module | None
    trainable_params: int
    target_params: int
    optimizer: str
    memory_format: str


def build_pkg(batch: int, precision: str, device: torch.device, channels_last: bool, compile_: bool,
              name: str) -> Impl:
    """byol_pkg's step: ``make_stepper`` (channels_last) or the same thing in NCHW."""
    if channels_last:
        stepper = make_stepper(CFG, batch, precision, device, compile_)
        online = getattr(stepper.online, "_orig_mod", stepper.online)
        target = getattr(stepper.target, "_orig_mod", stepper.target)
    else:  # make_stepper without the channels_last conversions
        torch.manual_seed(0)
        online, target = build_networks(CFG)
        online.to(device)
        target.to(device)
        optimizer = LARS(lars_param_groups([online], WEIGHT_DECAY), lr=LR, momentum=MOMENTUM,
                         trust_coefficient=TRUST)
        tgt_params, onl_params = ema_pairs(online, target)
        shape = (batch, 3, CFG.image_px, CFG.image_px)
        view1, view2 = torch.randn(shape, device=device), torch.randn(shape, device=device)
        stepper = Stepper(online, target, optimizer, tgt_params, onl_params, view1, view2,
                          autocast_for(device, precision))
    return Impl(name, stepper, None if compile_ else online.encoder, None if compile_ else target.encoder,
                n_params(p for p in online.parameters() if p.requires_grad), n_params(target.parameters()),
                "byol_pkg.optim.LARS", "channels_last" if channels_last else "NCHW")


class LightlyBYOL(nn.Module):
    """lightly's BYOL model, as in its examples/pytorch/byol.py and benchmarks/imagenet/resnet50/byol.py."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        self.backbone = backbone
        self.projection_head = BYOLProjectionHead(512, CFG.proj_hidden, CFG.proj_out)
        self.prediction_head = BYOLPredictionHead(CFG.proj_out, CFG.pred_hidden, CFG.proj_out)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def forward(self, x: Tensor) -> Tensor:
        y = self.backbone(x).flatten(start_dim=1)
        return self.prediction_head(self.projection_head(y))

    @torch.no_grad()
    def forward_momentum(self, x: Tensor) -> Tensor:
        y = self.backbone_momentum(x).flatten(start_dim=1)
        return self.projection_head_momentum(y).detach()


@dataclass
class LightlyStepper:
    model: LightlyBYOL
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    view1: Tensor
    view2: Tensor
    autocast: Callable[[], contextlib.AbstractContextManager]

    def step(self) -> Tensor:
        """lightly's training step: momentum update first (as its example and benchmark), then the views."""
        from lightly.models.utils import update_momentum

        m = self.model
        update_momentum(m.backbone, m.backbone_momentum, m=TAU)
        update_momentum(m.projection_head, m.projection_head_momentum, m=TAU)
        with self.autocast():
            z0 = m.forward_momentum(self.view1)
            z1 = m.forward_momentum(self.view2)
            p0 = m(self.view1)
            p1 = m(self.view2)
            # 2 x negative cosine = the BYOL regression loss up to a constant (lightly's benchmark).
            loss = 2 * self.criterion(z0, p1) + 2 * self.criterion(z1, p0)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def build_lightly(batch: int, precision: str, device: torch.device) -> Impl:
    from lightly.loss import NegativeCosineSimilarity
    from lightly.models.utils import get_weight_decay_parameters

    torch.manual_seed(0)
    model = LightlyBYOL(make_backbone()).to(device).train()
    decay, no_decay = get_weight_decay_parameters([model.backbone, model.projection_head, model.prediction_head])
    groups = [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        from lightly.utils.lars import LARS as LightlyLARS

        optimizer: torch.optim.Optimizer = LightlyLARS(groups, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                                       trust_coefficient=TRUST)
        opt_name = "lightly.utils.lars.LARS"
    except ImportError:  # older lightly without LARS
        optimizer = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        opt_name = "torch.optim.SGD(momentum)"
    shape = (batch, 3, CFG.image_px, CFG.image_px)
    torch.manual_seed(1)
    view1, view2 = torch.randn(shape, device=device), torch.randn(shape, device=device)
    stepper = LightlyStepper(model, optimizer, NegativeCosineSimilarity(), view1, view2,
                             autocast_for(device, precision))
    trainable = [p for p in model.parameters() if p.requires_grad]
    target = list(model.backbone_momentum.parameters()) + list(model.projection_head_momentum.parameters())
    return Impl(LIGHTLY, stepper, model.backbone, model.backbone_momentum, n_params(trainable), n_params(target),
                opt_name, "NCHW")


def first_view(x: Tensor) -> Tensor:
    """byol-pytorch ``augment_fn``: view 1 of the stacked [B, 6, H, W] input (identity on 3-channel input)."""
    return x[:, :3] if x.shape[1] == 6 else x


def second_view(x: Tensor) -> Tensor:
    """byol-pytorch ``augment_fn2``: view 2 of the stacked input (identity on its 3-channel probe at init)."""
    return x[:, 3:] if x.shape[1] == 6 else x


@dataclass
class ByolPytorchStepper:
    learner: nn.Module
    optimizer: torch.optim.Optimizer
    x: Tensor  # [B, 6, H, W]: the two views along channels
    autocast: Callable[[], contextlib.AbstractContextManager]

    def step(self) -> Tensor:
        with self.autocast():
            loss = self.learner(self.x)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.learner.update_moving_average()
        return loss.detach()


def build_byol_pytorch(batch: int, precision: str, device: torch.device) -> Impl:
    from byol_pytorch import BYOL

    torch.manual_seed(0)
    net = make_backbone().to(device)
    kwargs: dict[str, Any] = dict(image_size=CFG.image_px, hidden_layer="avgpool", projection_size=CFG.proj_out,
                                  projection_hidden_size=CFG.proj_hidden, augment_fn=first_view,
                                  augment_fn2=second_view, moving_average_decay=TAU)
    try:  # byol-pytorch >= 0.9 puts a simplicial-embedding layer before the projector by default: not BYOL's
        learner = BYOL(net, use_simplicial_embeddings=False, **kwargs)
    except TypeError:
        learner = BYOL(net, **kwargs)
    learner.train()
    trainable = [p for p in learner.parameters() if p.requires_grad]
    # The same optimiser (and groups) as byol_pkg: byol-pytorch has none of its own.
    optimizer = LARS(lars_param_groups([learner], WEIGHT_DECAY), lr=LR, momentum=MOMENTUM, trust_coefficient=TRUST)
    torch.manual_seed(1)
    x = torch.randn(batch, 6, CFG.image_px, CFG.image_px, device=device)
    stepper = ByolPytorchStepper(learner, optimizer, x, autocast_for(device, precision))
    target = learner.target_encoder
    return Impl(BYOL_PT, stepper, learner.online_encoder.net, target.net, n_params(trainable),
                n_params(target.parameters()), "byol_pkg.optim.LARS (byol-pytorch has none)", "NCHW")


# ----------------------------------------------------------------------------------------------- measuring


@dataclass
class Row:
    impl: str
    precision: str
    batch: int
    status: str = "ok"
    ms_per_step: float | None = None
    images_per_s: float | None = None
    online_images: int | None = None  # images through the online backbone in one step
    target_images: int | None = None
    trainable_params: int | None = None
    target_params: int | None = None
    optimizer: str | None = None
    memory_format: str | None = None
    gflop_per_s: float | None = None  # BYOL training FLOPs of the step / median step time
    conv_ms: float | None = None  # time in convolution ops (forward + backward) in one profiled step (CPU)
    profiled_ms: float | None = None  # wall time of that profiled step
    step_ms: list[float] = field(default_factory=list)


def count_images(impl: Impl, device: torch.device) -> tuple[int | None, int | None]:
    """One untimed step with forward hooks on both backbones: images through online and target."""
    if impl.online_backbone is None or impl.target_backbone is None:
        impl.stepper.step()
        sync(device)
        return None, None
    counts = {"online": 0, "target": 0}

    def hook(key: str):
        def fn(_module: nn.Module, args: tuple, _out: Any) -> None:
            counts[key] += int(args[0].shape[0])
        return fn

    handles = [impl.online_backbone.register_forward_hook(hook("online")),
               impl.target_backbone.register_forward_hook(hook("target"))]
    try:
        impl.stepper.step()
        sync(device)
    finally:
        for h in handles:
            h.remove()
    return counts["online"], counts["target"]


def profile_convolutions(impl: Impl, device: torch.device) -> tuple[float, float]:
    """One profiled step: (ms in convolution ops, forward and backward, by self CPU time; wall ms of the step).

    Every implementation runs the same convolutions (same backbone, batch, images, precision), so the first
    figure is work they all share, and ``peer ms/step / byol_pkg conv ms`` bounds any step-code speed-up."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        impl.stepper.step()
        sync(device)
        wall_ms = (time.perf_counter() - t0) * 1e3
    conv_us = sum(e.self_cpu_time_total for e in prof.key_averages() if "conv" in e.key.lower())
    return conv_us / 1e3, wall_ms


def one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def measure_precision(names: list[str], batch: int, precision: str, device: torch.device, steps: int,
                      warmup: int, profile_convs: bool = False) -> list[Row]:
    """Build every implementation for one precision, warm each up, then time them interleaved (and, with
    ``profile_convs``, profile one more step of each for its time in convolutions)."""
    builders: dict[str, Callable[[], Impl]] = {
        PKG: lambda: build_pkg(batch, precision, device, True, False, PKG),
        PKG_NCHW: lambda: build_pkg(batch, precision, device, False, False, PKG_NCHW),
        PKG_COMPILE: lambda: build_pkg(batch, precision, device, True, True, PKG_COMPILE),
        LIGHTLY: lambda: build_lightly(batch, precision, device),
        BYOL_PT: lambda: build_byol_pytorch(batch, precision, device),
    }
    rows = {n: Row(n, precision, batch) for n in names}
    impls: dict[str, Impl] = {}
    for name in names:
        row = rows[name]
        print(f"... {precision} {name}: build + {max(warmup, 1)} warm-up step(s)", flush=True)
        try:
            impl = builders[name]()
            row.trainable_params, row.target_params = impl.trainable_params, impl.target_params
            row.optimizer, row.memory_format = impl.optimizer, impl.memory_format
            row.online_images, row.target_images = count_images(impl, device)
            for _ in range(warmup - 1):
                impl.stepper.step()
            sync(device)
            impls[name] = impl
        except Exception as err:  # noqa: BLE001 - one failing implementation must not stop the others
            row.status = "OOM" if is_oom(err) else one_line(err)
            print(f"    {name} failed: {row.status}", flush=True)
    print(f"... {precision}: {steps} timed step(s) of each, interleaved", flush=True)
    order = list(impls)
    for i in range(steps):
        k = i % len(order) if order else 0
        for name in order[k:] + order[:k]:
            if rows[name].status != "ok":
                continue
            try:
                rows[name].step_ms += time_steps(impls[name].stepper, device, steps=1, warmup=0)
            except Exception as err:  # noqa: BLE001
                rows[name].status = "OOM" if is_oom(err) else one_line(err)
    if profile_convs:
        print(f"... {precision}: one profiled step of each (time in convolutions)", flush=True)
        for name in order:
            if rows[name].status == "ok":
                rows[name].conv_ms, rows[name].profiled_ms = profile_convolutions(impls[name], device)
    impls.clear()
    free_memory(device)
    out = []
    for name in names:
        row = rows[name]
        if row.status == "ok" and row.step_ms:
            row.ms_per_step = statistics.median(row.step_ms)
            row.images_per_s = batch / (row.ms_per_step / 1e3)
            row.gflop_per_s = STEP_FLOPS_PER_IMAGE * row.images_per_s / 1e9
        out.append(row)
    return out


# ----------------------------------------------------------------------------------------------- reporting


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: torch.device, args: argparse.Namespace, batch: int, precisions: list[str],
                steps: int, warmup: int) -> dict[str, object]:
    import torchvision

    import byol_pkg

    env: dict[str, object] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightly": dist_version("lightly") or "not installed",
        "byol-pytorch": dist_version("byol-pytorch") or "not installed",
        "byol_pkg": getattr(byol_pkg, "__version__", dist_version("byol-bench")),
        "device": str(device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "network": f"{CFG.backbone} (CIFAR stem, fc removed, 512-d), projector 512-{CFG.proj_hidden}-{CFG.proj_out}, "
                   f"predictor {CFG.proj_out}-{CFG.pred_hidden}-{CFG.proj_out}",
        "image_px": CFG.image_px,
        "batch": batch,
        "precisions": ",".join(precisions),
        "steps": steps,
        "warmup": max(warmup, 1),
        "compile": args.compile,
        "lars": f"lr {LR}, momentum {MOMENTUM}, weight decay {WEIGHT_DECAY}, trust {TRUST}; EMA tau {TAU}",
    }
    if device.type == "cuda":
        env.update({
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        })
    return env


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    head = (f"{'implementation':17s} {'prec':>5s} {'batch':>6s} {'ms/step':>10s} {'images/s':>9s} {'GFLOP/s':>8s} "
            f"{'conv ms':>8s} {'img on/tgt':>11s} {'train params':>13s} {'format':>13s}  optimiser")
    print(head)
    print("-" * (len(head) + 20))
    for r in rows:
        if r.status != "ok":
            print(f"{r.impl:17s} {r.precision:>5s} {r.batch:6d}  {r.status}")
            continue
        imgs = "-" if r.online_images is None else f"{r.online_images}/{r.target_images}"
        print(f"{r.impl:17s} {r.precision:>5s} {r.batch:6d} {_fmt(r.ms_per_step, '10.1f')} "
              f"{_fmt(r.images_per_s, '9.1f')} {_fmt(r.gflop_per_s, '8.1f')} {_fmt(r.conv_ms, '8.1f')} {imgs:>11s} "
              f"{_fmt(r.trainable_params, '13,d')} {r.memory_format or '-':>13s}  {r.optimizer}")
    print("img on/tgt: images through the online / target backbone in one (untimed) step; 2 x batch each.")
    print(f"GFLOP/s: {STEP_FLOPS_PER_IMAGE / 1e9:.2f} GFLOP per image x images/s. conv ms: self time of the "
          "convolution ops (forward + backward) in one profiled step.")
    print()


def ratios(rows: list[Row]) -> list[dict[str, object]]:
    """For each byol_pkg row and precision: peer ms/step / byol_pkg ms/step (>1: byol_pkg faster)."""
    ok = {(r.impl, r.precision): r.ms_per_step for r in rows if r.status == "ok" and r.ms_per_step}
    convs = {(r.impl, r.precision): r.conv_ms for r in rows if r.conv_ms}
    out = []
    for prec in dict.fromkeys(r.precision for r in rows):
        peers = {p: ok.get((p, prec)) for p in PEER_ROWS}
        have = {p: ms for p, ms in peers.items() if ms is not None}
        fastest = min(have, key=have.get) if have else None
        for ours in PKG_ROWS:
            ms = ok.get((ours, prec))
            if ms is None:
                continue
            conv_ms = convs.get((ours, prec))
            out.append({
                "precision": prec, "byol_pkg_row": ours,
                "vs_lightly": None if peers[LIGHTLY] is None else peers[LIGHTLY] / ms,
                "vs_byol_pytorch": None if peers[BYOL_PT] is None else peers[BYOL_PT] / ms,
                "faster_peer": fastest,
                "vs_faster_peer": None if fastest is None else have[fastest] / ms,
                # the ratio byol_pkg would reach if nothing but its convolutions took time
                "ceiling_vs_faster_peer": None if fastest is None or not conv_ms else have[fastest] / conv_ms,
            })
    return out


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_ratios(rs: list[dict[str, object]]) -> None:
    if not any(r["faster_peer"] for r in rs):
        return
    print("Speed ratios: peer ms/step / byol_pkg ms/step (>1: byol_pkg faster)")
    head = (f"{'byol_pkg row':17s} {'prec':>5s} {'vs lightly':>11s} {'vs byol-pytorch':>16s} {'vs faster peer':>22s} "
            f"{'ceiling':>8s}")
    print(head)
    print("-" * len(head))
    for r in rs:
        faster = "-" if r["faster_peer"] is None else f"{r['vs_faster_peer']:.2f}x ({r['faster_peer']})"
        print(f"{r['byol_pkg_row']:17s} {r['precision']:>5s} {_ratio(r['vs_lightly']):>11s} "
              f"{_ratio(r['vs_byol_pytorch']):>16s} {faster:>22s} {_ratio(r['ceiling_vs_faster_peer']):>8s}")
    if any(r["ceiling_vs_faster_peer"] for r in rs):
        print("ceiling: faster peer ms/step / byol_pkg conv ms, the ratio byol_pkg would reach if everything but "
              "its convolutions (which every implementation runs alike) took no time.")
    print()


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int, default=None, help="default 64 on CPU, 512 on GPU")
    p.add_argument("--precisions", default=None,
                   help="comma-separated, of fp32,bf16; default both (on a CPU without native bf16: fp32)")
    p.add_argument("--steps", type=int, default=None, help="timed steps of each implementation; default 3 CPU, 20 GPU")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps first (at least 1; the first counts images); default 1 CPU, 5 GPU")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--compile", action="store_true", help="also time byol_pkg channels_last with torch.compile")
    p.add_argument("--no-peers", action="store_true", help="time byol_pkg only")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                   help="profile one more step of each for its time in convolutions (default: on a CPU)")
    p.add_argument("--json", type=Path, default=None, help="also write header, rows (with each step's time), ratios")
    args = p.parse_args(argv)
    for prec in (args.precisions or "fp32").split(","):
        if prec not in PRECISIONS:
            p.error(f"--precisions: unknown '{prec}'; use fp32 and/or bf16")
    for opt in ("batch_size", "steps"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            p.error(f"--{opt.replace('_', '-')} must be >= 1")
    return args


def cpu_has_native_bf16() -> bool:
    """oneDNN bf16 kernels (AVX-512 BF16 or AMX); elsewhere bf16 autocast on the CPU is emulated and ~10x slower."""
    with contextlib.suppress(Exception):
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def missing_peers() -> list[str]:
    return [dist for dist, mod in PEERS.items() if importlib.util.find_spec(mod) is None]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cudnn.benchmark = True
    batch = args.batch_size or (512 if gpu else 64)
    if args.precisions:
        precisions = args.precisions.split(",")
    else:
        precisions = ["fp32", "bf16"] if gpu or cpu_has_native_bf16() else ["fp32"]
    steps = args.steps or (20 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)

    env = environment(device, args, batch, precisions, steps, warmup)
    print("BYOL pretraining step: byol_pkg vs lightly vs byol-pytorch (equal work)")
    for key, value in env.items():
        print(f"  {key:18s} {value}")
    print()
    warn_if_busy(device)

    names = [PKG, PKG_NCHW] + ([PKG_COMPILE] if args.compile else [])
    missing = missing_peers()
    if missing and not args.no_peers:
        print(f"peers not installed ({', '.join(missing)}): run `{INSTALL_HINT}` to time them; timing byol_pkg "
              f"{'and the other peer ' if len(missing) < len(PEERS) else ''}only.\n")
    if not args.no_peers:
        names += [n for n in PEER_ROWS if n not in missing]

    rows: list[Row] = []
    for prec in precisions:
        rows += measure_precision(names, batch, prec, device, steps, warmup,
                                  profile_convs=not gpu if args.profile is None else args.profile)
    print()
    print_table(rows)
    rs = ratios(rows)
    print_ratios(rs)

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"environment": env, "rows": [asdict(r) for r in rows], "ratios": rs}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
