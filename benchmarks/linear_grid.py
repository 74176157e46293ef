"""Cached-feature linear evaluation: the paper's LR grid trained run by run (``train_linear`` per base LR) against
all of it in one batched pass (``train_linear_grid``), side by side in one process on the same features.

    python benchmarks/linear_grid.py --json linear_grid.json                     # the demo's shape, 80 epochs
    python benchmarks/linear_grid.py --samples 2000 --epochs 2 --json x.json     # quick

Features are random (timing does not depend on their values); the shape defaults to the CPU demo's cached-feature
linear evaluation: 54,000 training images (60,000 less the validation hold-out), 128-d, 10 classes, batch 1024.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from byol_pkg.eval.linear import LINEAR_BASE_LRS, train_linear, train_linear_grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=54_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (a workflow evaluation job has 1)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, args.dim, generator=gen)
    y = torch.randint(0, args.classes, (args.samples,), generator=gen)
    t0 = time.perf_counter()
    for lr in LINEAR_BASE_LRS:
        train_linear(x, y, args.classes, lr, args.epochs, args.batch_size)
    separate = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_linear_grid(x, y, args.classes, LINEAR_BASE_LRS, args.epochs, args.batch_size)
    grid = time.perf_counter() - t0
    row = {"samples": args.samples, "dim": args.dim, "epochs": args.epochs, "batch_size": args.batch_size,
           "grid": list(LINEAR_BASE_LRS), "threads": args.threads, "separate_s": round(separate, 4),
           "one_pass_s": round(grid, 4), "speedup": round(separate / grid, 2)}
    print(f"{len(LINEAR_BASE_LRS)} LRs x {args.epochs} epochs on {args.samples} x {args.dim}: run by run "
          f"{separate:.2f} s, one pass {grid:.2f} s, {separate / grid:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
