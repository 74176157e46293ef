"""End-to-end pretraining throughput: real ``byol pretrain`` steps, data path included, per augmentation backend.

Unlike ``pretrain_throughput.py`` (the step alone, on synthetic tensors), this runs the package's own training
loop on images in their real on-disk layout: reading, augmentation (``augment.backend`` reference or batched),
the step, the EMA, logging. It prints images/s (median over the logged steps after ``--warmup``), the fraction of
step time spent waiting for data (``data_wait_frac`` of ``metrics.csv``) and, on a GPU, the model FLOPs
utilisation: images/s x 8 x encoder forward FLOPs per image / the device's dense bf16 peak.

Without ``--data-root`` it writes a synthetic dataset in the real layout to a temporary folder: CIFAR-10 python
pickles (``--config cifar10``) or an ImageFolder of 375x500 JPEGs (``--config imagenet``, read as
``imagefolder``).

    python benchmarks/end_to_end.py --config cifar10 --device cuda --steps 50            # ResNet-18 CIFAR, b 512
    python benchmarks/end_to_end.py --config imagenet --device cuda --batch-size 256 --set augment.decode=device
    python benchmarks/end_to_end.py --config demo --device cpu --steps 10                 # the CPU demo
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from byol_pkg.config import load_config  # noqa: E402
from byol_pkg.train.pretrain import pretrain  # noqa: E402
from pretrain_throughput import BenchConfig, bf16_peak_tflops, count_flops  # noqa: E402


def synthetic_cifar10(root: Path, n: int) -> None:
    from tests.data_fixtures import make_cifar10

    make_cifar10(root, n_per_batch=max(n // 5, 1), n_test=10)


def _write_jpeg(task: tuple[Path, int, tuple[int, int]]) -> None:
    from PIL import Image

    root, i, size = task
    rng = np.random.default_rng(i)
    folder = root / "train" / f"class{i % 10}"
    folder.mkdir(parents=True, exist_ok=True)
    # smooth random images (noise would make unrealistically large JPEGs)
    small = rng.integers(0, 256, size=(size[0] // 25, size[1] // 25, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size[::-1], Image.BICUBIC).save(folder / f"{i:06d}.JPEG", quality=90)


def synthetic_jpegs(root: Path, n: int, size: tuple[int, int] = (375, 500)) -> None:
    """``n`` ImageNet-sized JPEGs in an ImageFolder, written by one process per core."""
    from concurrent.futures import ProcessPoolExecutor

    tasks = [(root, i, size) for i in range(n)]
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, max(1, n // 64))
    if workers <= 1:
        for task in tasks:
            _write_jpeg(task)
        return
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_jpeg, tasks, chunksize=64))


def run(args: argparse.Namespace, backend: str, data_root: Path, out: Path) -> dict:
    overrides = [f"augment.backend={backend}", f"train.device={args.device}", "train.log_every_steps=1",
                 f"train.max_steps={args.warmup + args.steps}", "train.checkpoint_every_steps=1000000",
                 "train.checkpoint_every_epochs=0", "train.progress=log", f"data.root={data_root}"]
    if args.config == "imagenet" and not args.data_root:
        overrides += ["data.name=imagefolder", "data.epoch_size=null"]
    if args.batch_size:
        overrides.append(f"optim.batch_size={args.batch_size}")
    if args.precision:
        overrides.append(f"train.precision={args.precision}")
    cfg = load_config(args.config, overrides + list(args.set))
    pretrain(cfg, out)
    with (out / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f)][args.warmup:]
    ips = statistics.median(float(r["images_per_s"]) for r in rows)
    wait = statistics.mean(float(r["data_wait_frac"]) for r in rows)
    bench = BenchConfig(args.config, cfg.model.backbone, cfg.model.cifar_stem, cfg.augment.image_size,
                        cfg.model.projector_hidden, cfg.model.projector_out, cfg.model.predictor_hidden, (), ())
    flops = count_flops(bench)
    peak = bf16_peak_tflops(torch.device(args.device), args.peak_tflops) if args.device.startswith("cuda") else None
    mfu = ips * flops.conventional_8x_encoder / (peak * 1e12) if peak else None
    return {"config": args.config, "backend": backend, "backbone": cfg.model.backbone, "px": cfg.augment.image_size,
            "batch": cfg.optim.batch_size, "precision": cfg.train.precision, "images_per_s": ips,
            "data_wait_frac": wait, "encoder_gflop": flops.encoder / 1e9, "mfu": mfu, "steps": len(rows),
            "threads": torch.get_num_threads(), "workers": cfg.data.num_workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="cifar10", help="preset: demo | cifar10 | imagenet (or a YAML file)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--backends", default="reference,batched")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--precision", default=None)
    ap.add_argument("--images", type=int, default=10000, help="synthetic dataset size")
    ap.add_argument("--data-root", default=None, help="real data instead of a synthetic dataset")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--set", action="append", default=[], help="extra config override KEY=VALUE")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_root = Path(args.data_root) if args.data_root else tmp_path / "data"
        if not args.data_root and args.config == "cifar10":
            synthetic_cifar10(data_root, args.images)
        elif not args.data_root and args.config == "imagenet":
            synthetic_jpegs(data_root, args.images)
        rows = [run(args, b, data_root, tmp_path / b) for b in args.backends.split(",")]
    print(f"end-to-end pretraining, {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}), "
          f"torch {torch.__version__}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        digits = 0 if r["images_per_s"] >= 100 else 1
        print(f"  {r['config']:8s} {r['backbone']:12s} {r['px']:3d}px batch {r['batch']:4d} {r['precision']:4s} "
              f"{r['backend']:9s} {r['images_per_s']:9.{digits}f} img/s  data wait {100 * r['data_wait_frac']:5.1f}%  "
              f"MFU {mfu}  ({r['threads']} compute threads, {r['workers']} workers)")
    if len(rows) == 2:
        print(f"  batched / reference: {rows[1]['images_per_s'] / rows[0]['images_per_s']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
