"""Throughput (images/s), FLOPs per image and MFU of one full BYOL pretraining step.

One step is exactly what ``byol_pkg.train.pretrain`` does per optimiser step (single process, no gradient
accumulation): under autocast, the online network on both views (two separate calls, so BatchNorm statistics
are per view) and the target network on both views under ``no_grad``; ``byol_loss`` in float32; backward; the
paper's LARS step (biases and norm parameters excluded from weight decay and trust ratio); ``zero_grad``; the
multi-tensor EMA update of the target. Inputs are synthetic tensors already on the device, in channels_last,
so data loading and augmentation are not measured.

Usage::

    python benchmarks/pretrain_throughput.py                      # CPU or GPU, defaults per device
    python benchmarks/pretrain_throughput.py --device cuda --compile --json results/bench.json
    python benchmarks/pretrain_throughput.py --configs r50 --batch-sizes 128,256 --precisions bf16

See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from byol_pkg.loss import byol_loss
from byol_pkg.models import build_byol, ema_pairs, update_target
from byol_pkg.models.byol import OnlineNetwork, TargetNetwork
from byol_pkg.optim import LARS, lars_param_groups

# Optimiser settings of the CIFAR-10 preset; they change the numbers, not the cost, of a step.
LR, WEIGHT_DECAY, MOMENTUM, TRUST, TAU = 0.4, 1.5e-6, 0.9, 1e-3, 0.996

#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, matched in order against the lower-cased
#: ``torch.cuda.get_device_name()``; the first substring found wins, so specific names come first.
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("h200 nvl", 835.0),
    ("h200", 989.0),
    ("gh200", 989.0),
    ("h100 nvl", 835.0),
    ("h100 pcie", 756.0),
    ("h100", 989.0),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("a100", 312.0),
)

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class BenchConfig:
    """One network to benchmark: backbone, input size, head widths and default batch sizes per device."""

    name: str
    backbone: str
    cifar_stem: bool
    image_px: int
    proj_hidden: int
    proj_out: int
    pred_hidden: int
    cpu_batches: tuple[int, ...]
    gpu_batches: tuple[int, ...]
    on_cpu_by_default: bool = True
    cpu_max_steps: int | None = None  # cap on timed steps on CPU when --steps is not given
    cpu_max_warmup: int | None = None
    cpu_precisions: tuple[str, ...] | None = None  # default precisions on CPU (None: all of --precisions)


CONFIGS: dict[str, BenchConfig] = {
    c.name: c
    for c in (
        BenchConfig("demo", "resnet_small_nopool_stem16", False, 28, 1024, 128, 1024, (128, 256), (256, 1024)),
        # the demo's network before the 16-channel stem (timm's fixed 64-channel stem), for the side-by-side ratio
        BenchConfig("demo_stem64", "resnet_small_nopool", False, 28, 1024, 128, 1024, (128,), (256, 1024),
                    on_cpu_by_default=False),
        # Emulated bf16 runs ResNet-18 convolutions ~10x slower than fp32 on an AVX2 CPU (minutes per step),
        # so on CPU r18cifar/r50 measure fp32 unless --precisions is given.
        BenchConfig("r18cifar", "resnet18", True, 32, 4096, 256, 4096, (64, 256), (512,),
                    cpu_max_steps=1, cpu_max_warmup=1, cpu_precisions=("fp32",)),
        BenchConfig("r50", "resnet50", False, 224, 4096, 256, 4096, (16,), (256,), on_cpu_by_default=False,
                    cpu_max_steps=1, cpu_max_warmup=1, cpu_precisions=("fp32",)),
    )
}


@dataclass(frozen=True)
class FlopCounts:
    """Forward FLOPs of one image (2 FLOPs per multiply-add) through each part, and the training total."""

    encoder: int
    projector: int
    predictor: int

    @property
    def online_forward(self) -> int:
        return self.encoder + self.projector + self.predictor

    @property
    def target_forward(self) -> int:
        return self.encoder + self.projector

    @property
    def train_per_image(self) -> int:
        """Two views x (online forward + its backward, taken as 2x forward, + target forward)."""
        return 2 * (3 * self.online_forward + self.target_forward)

    @property
    def conventional_8x_encoder(self) -> int:
        """The usual "8 x encoder forward FLOPs per image" (2 views x (3 online + 1 target), heads ignored)."""
        return 8 * self.encoder


@dataclass
class Row:
    """One measured (config, batch, precision) point; ``status`` is ``ok``, ``OOM`` or an error text."""

    config: str
    image_px: int
    batch: int
    precision: str
    status: str = "ok"
    ms_per_step: float | None = None
    images_per_s: float | None = None
    gflop_per_image: float | None = None
    achieved_tflops: float | None = None
    mfu_bf16_peak: float | None = None
    peak_mem_gib: float | None = None
    steps: int = 0
    warmup: int = 0
    step_ms: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- building


def build_networks(cfg: BenchConfig) -> tuple[OnlineNetwork, TargetNetwork]:
    """The online/target pair of ``cfg`` on the CPU, target in train mode as during pretraining."""
    online, target = build_byol(cfg.backbone, cfg.cifar_stem, cfg.proj_hidden, cfg.proj_out, cfg.pred_hidden)
    online.train()
    target.train()
    return online, target


def count_flops(cfg: BenchConfig) -> FlopCounts:
    """Forward FLOPs of one image through encoder, projector and predictor (FlopCounterMode, 2 per MAC).

    Counted on the CPU in eval mode with a batch of one; only matmuls and convolutions are counted, so
    BatchNorm, ReLU, pooling and the loss are left out (a few per cent at most).
    """
    online, _ = build_networks(cfg)
    online.eval()
    x = torch.zeros(1, 3, cfg.image_px, cfg.image_px)
    with torch.no_grad():
        with FlopCounterMode(display=False) as mode:
            y = online.encoder(x)
        enc = mode.get_total_flops()
        with FlopCounterMode(display=False) as mode:
            z = online.projector(y)
        proj = mode.get_total_flops()
        with FlopCounterMode(display=False) as mode:
            online.predictor(z)
        pred = mode.get_total_flops()
    return FlopCounts(int(enc), int(proj), int(pred))


# ----------------------------------------------------------------------------------------------- the step


@dataclass
class Stepper:
    """Everything one BYOL optimiser step touches, built on ``device`` for one batch size and precision."""

    online: nn.Module  # possibly compiled
    target: nn.Module  # possibly compiled
    optimizer: LARS
    tgt_params: list[Tensor]
    onl_params: list[Tensor]
    view1: Tensor
    view2: Tensor
    autocast: Callable[[], contextlib.AbstractContextManager]

    def step(self) -> Tensor:
        """One pretraining step, in the order of ``byol_pkg.train.pretrain``."""
        with self.autocast():
            p1, p2, _, _ = self.online(self.view1, self.view2)
            with torch.no_grad():
                t1 = self.target(self.view1)
                t2 = self.target(self.view2)
        loss = byol_loss(p1, p2, t1, t2)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        update_target(self.tgt_params, self.onl_params, TAU)
        return loss.detach()


def make_stepper(cfg: BenchConfig, batch: int, precision: str, device: torch.device, compile_: bool) -> Stepper:
    """Fresh networks, LARS and two synthetic channels_last views for one measurement."""
    torch.manual_seed(0)
    online, target = build_networks(cfg)
    online.to(device, memory_format=torch.channels_last)
    target.to(device, memory_format=torch.channels_last)
    optimizer = LARS(lars_param_groups([online], WEIGHT_DECAY), lr=LR, momentum=MOMENTUM, trust_coefficient=TRUST)
    tgt_params, onl_params = ema_pairs(online, target)
    shape = (batch, 3, cfg.image_px, cfg.image_px)
    view1 = torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last)
    view2 = torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last)
    dtype = PRECISIONS[precision]

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    online_fwd: nn.Module = torch.compile(online) if compile_ else online
    target_fwd: nn.Module = torch.compile(target) if compile_ else target
    return Stepper(online_fwd, target_fwd, optimizer, tgt_params, onl_params, view1, view2, autocast)


def sync(device: torch.device) -> None:
    """Wait for queued kernels (GPU only)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(stepper: Stepper, device: torch.device, steps: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``steps`` timed steps after ``warmup`` untimed ones."""
    for _ in range(warmup):
        stepper.step()
    sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        stepper.step()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def is_oom(err: BaseException) -> bool:
    """CUDA (or CPU allocator) out-of-memory, whichever exception class torch raised it as."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def free_memory(device: torch.device) -> None:
    """Drop cached blocks and compiled graphs between measurements."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch._dynamo.reset()


def measure(cfg: BenchConfig, batch: int, precision: str, device: torch.device, steps: int, warmup: int,
            flops: FlopCounts, peak_tflops: float | None, compile_: bool) -> Row:
    """One table row: median step time and the figures derived from it; OOM becomes a row, not a crash."""
    row = Row(cfg.name, cfg.image_px, batch, precision, steps=steps, warmup=warmup)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    stepper = None
    try:
        stepper = make_stepper(cfg, batch, precision, device, compile_)
        row.step_ms = time_steps(stepper, device, steps, warmup)
    except Exception as err:  # noqa: BLE001 - report and go on with the next point
        if not is_oom(err):
            raise
        row.status = "OOM"
    finally:
        if device.type == "cuda" and row.status == "ok":
            row.peak_mem_gib = torch.cuda.max_memory_allocated(device) / 2**30
        del stepper
        free_memory(device)
    if row.status != "ok":
        return row
    row.ms_per_step = statistics.median(row.step_ms)
    row.images_per_s = batch / (row.ms_per_step / 1e3)
    row.gflop_per_image = flops.train_per_image / 1e9
    row.achieved_tflops = flops.train_per_image * row.images_per_s / 1e12
    if device.type == "cuda" and peak_tflops:
        row.mfu_bf16_peak = row.achieved_tflops / peak_tflops
    return row


# ----------------------------------------------------------------------------------------------- reporting


def bf16_peak_tflops(device: torch.device, override: float | None) -> float | None:
    """Dense bf16 peak of the GPU: ``--peak-tflops`` if given, else looked up by device name; None on CPU."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    for key, peak in BF16_PEAK_TFLOPS:
        if key in name:
            return peak
    return None


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, or what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(device: torch.device, peak: float | None, compile_: bool) -> dict[str, object]:
    """Versions, device and threading facts for the header and the JSON file."""
    import timm
    import torchvision

    env: dict[str, object] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "device": str(device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "compile": compile_,
    }
    if device.type == "cuda":
        env.update({
            "gpu": torch.cuda.get_device_name(device),
            "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "bf16_peak_tflops": peak,
        })
    return env


def warn_if_busy(device: torch.device) -> None:
    """Say so when other processes already keep the CPU busy: CPU timings then mean little.

    With more runnable threads than cores, every OpenMP barrier of a multi-threaded torch op waits for a
    descheduled thread; on 2 shared cores this made steps ~50x slower (``--threads 1`` avoids most of it).
    """
    if device.type != "cpu" or not hasattr(os, "getloadavg"):
        return
    load, ncpu = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5:
        print(f"WARNING: 1-min load average is {load:.2f} on {ncpu} CPU(s) before this benchmark started: other "
              f"work shares the cores and CPU timings will be slow and noisy (try --threads 1).\n")


def print_header(env: dict[str, object]) -> None:
    print("BYOL pretraining-step throughput")
    for key, value in env.items():
        print(f"  {key:18s} {value}")
    print()


def print_flops(flops: dict[str, FlopCounts]) -> None:
    """Per-config forward FLOPs per image and the two training-FLOPs figures."""
    print("FLOPs per image (GFLOP; 2 FLOPs per multiply-add; matmul + conv only)")
    head = f"{'config':10s} {'encoder fwd':>12s} {'online fwd':>11s} {'target fwd':>11s} {'train/image':>12s} " \
           f"{'8 x enc fwd':>12s}"
    print(head)
    print("-" * len(head))
    for name, f in flops.items():
        print(f"{name:10s} {f.encoder / 1e9:12.4f} {f.online_forward / 1e9:11.4f} {f.target_forward / 1e9:11.4f} "
              f"{f.train_per_image / 1e9:12.4f} {f.conventional_8x_encoder / 1e9:12.4f}")
    print("train/image = 2 views x (3 x online fwd [fwd + bwd] + target fwd); 8 x enc fwd ignores the heads.")
    print()


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    head = (f"{'config':10s} {'px':>4s} {'batch':>6s} {'prec':>5s} {'ms/step':>10s} {'images/s':>10s} "
            f"{'GFLOP/img':>10s} {'TFLOP/s':>9s} {'MFU(bf16)':>10s} {'mem GiB':>8s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.status != "ok":
            print(f"{r.config:10s} {r.image_px:4d} {r.batch:6d} {r.precision:>5s} {r.status:>10s}")
            continue
        mfu = None if r.mfu_bf16_peak is None else 100 * r.mfu_bf16_peak
        print(f"{r.config:10s} {r.image_px:4d} {r.batch:6d} {r.precision:>5s} {r.ms_per_step:10.1f} "
              f"{r.images_per_s:10.1f} {r.gflop_per_image:10.3f} {r.achieved_tflops:9.4f} "
              f"{_fmt(mfu, '9.1f') + ('%' if mfu is not None else ''):>10s} {_fmt(r.peak_mem_gib, '8.2f'):>8s}")
    print()


def speedups(rows: list[Row]) -> list[dict[str, object]]:
    """bf16 vs fp32 speed-up (fp32 ms/step / bf16 ms/step) for every config and batch measured in both."""
    by_key = {(r.config, r.batch, r.precision): r for r in rows if r.status == "ok"}
    out = []
    for (name, batch, prec), r in by_key.items():
        other = by_key.get((name, batch, "fp32"))
        if prec == "bf16" and other is not None:
            out.append({"config": name, "batch": batch, "bf16_speedup": other.ms_per_step / r.ms_per_step})
    return out


def print_speedups(ratios: list[dict[str, object]]) -> None:
    if not ratios:
        return
    print("bf16 vs fp32 speed-up (>1: bf16 faster)")
    for s in ratios:
        print(f"  {s['config']:10s} batch {s['batch']:5d}: {s['bf16_speedup']:.2f}x")
    print()


# ----------------------------------------------------------------------------------------------- main


def parse_ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--configs", default=None,
                   help=f"comma-separated, of {sorted(CONFIGS)}; default: demo,r18cifar on CPU, all on GPU")
    p.add_argument("--batch-sizes", default=None, help="comma-separated; default: per config and device")
    p.add_argument("--precisions", default=None,
                   help="comma-separated, of fp32,bf16; default both (on CPU: fp32 only for r18cifar and r50)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps; default 3 on CPU (1 for r18cifar and r50), 20 on GPU")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first; default 1 on CPU, 5 on GPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the online and target networks")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="dense bf16 peak of the GPU in TFLOP/s, for GPUs not in the built-in table")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--json", type=Path, default=None, help="also write header, FLOPs and rows here")
    args = p.parse_args(argv)
    for prec in (args.precisions or "fp32").split(","):
        if prec not in PRECISIONS:
            p.error(f"--precisions: unknown '{prec}'; use fp32 and/or bf16")
    if args.configs is not None:
        for name in args.configs.split(","):
            if name not in CONFIGS:
                p.error(f"--configs: unknown '{name}'; use some of {sorted(CONFIGS)}")
    return args


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no GPU")
    return torch.device(requested)


@dataclass(frozen=True)
class Point:
    """One measurement to make."""

    cfg: BenchConfig
    batch: int
    precision: str
    steps: int
    warmup: int


def plan(args: argparse.Namespace, device: torch.device) -> Iterator[Point]:
    """The points to measure, in order: config, then batch size, then precision."""
    gpu = device.type == "cuda"
    names = (args.configs.split(",") if args.configs
             else [n for n, c in CONFIGS.items() if gpu or c.on_cpu_by_default])
    for name in names:
        cfg = CONFIGS[name]
        batches = parse_ints(args.batch_sizes) if args.batch_sizes else list(cfg.gpu_batches if gpu else cfg.cpu_batches)
        if args.precisions:
            precisions = args.precisions.split(",")
        else:
            precisions = list(PRECISIONS) if gpu or cfg.cpu_precisions is None else list(cfg.cpu_precisions)
        steps = args.steps if args.steps is not None else (20 if gpu else min(3, cfg.cpu_max_steps or 3))
        warmup = args.warmup if args.warmup is not None else (5 if gpu else min(1, cfg.cpu_max_warmup or 1))
        for batch in batches:
            for prec in precisions:
                yield Point(cfg, batch, prec, steps, warmup)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    points = list(plan(args, device))
    peak = bf16_peak_tflops(device, args.peak_tflops)
    env = environment(device, peak, args.compile)
    print_header(env)
    warn_if_busy(device)
    if device.type == "cuda" and peak is None:
        print(f"(no bf16 peak known for '{env['gpu']}': pass --peak-tflops to get MFU)\n")

    flops = {pt.cfg.name: count_flops(pt.cfg) for pt in points}
    print_flops(flops)

    rows: list[Row] = []
    for pt in points:
        print(f"... {pt.cfg.name} batch {pt.batch} {pt.precision}: {pt.warmup} warm-up + {pt.steps} timed steps",
              flush=True)
        rows.append(measure(pt.cfg, pt.batch, pt.precision, device, pt.steps, pt.warmup, flops[pt.cfg.name], peak,
                            args.compile))
    print()
    print_table(rows)
    ratios = speedups(rows)
    print_speedups(ratios)
    if device.type == "cuda":
        print("MFU = (train GFLOP/image x images/s) / dense bf16 peak, for fp32 rows too.")

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "environment": env,
            "flops_per_image": {n: {**asdict(f), "online_forward": f.online_forward,
                                    "target_forward": f.target_forward, "train_per_image": f.train_per_image,
                                    "conventional_8x_encoder": f.conventional_8x_encoder}
                                for n, f in flops.items()},
            "rows": [asdict(r) for r in rows],
            "bf16_speedups": ratios,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
