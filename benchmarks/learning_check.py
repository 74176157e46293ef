"""Does BYOL learn on this device? Fashion-MNIST pretraining for as many epochs as fit in a time budget, then the
paper's kNN (k=20, 200) and linear evaluation on cached features, for the BYOL encoder and a random init of the
same architecture (the Table 5a contrast: a bootstrapped representation against the network it starts from).

The number of epochs is chosen from the measured rate: a probe run of ``--probe-steps`` steps gives images/s,
then ``epochs = floor(budget x rate x 0.85 / 60,000)`` (at least 1, at most ``--max-epochs``), so the full cosine
schedules of the run are kept (a run cut short by a clock would not be the paper's schedule). Everything runs
through the ``byol`` commands, as the workflow runs it.

    python benchmarks/learning_check.py --device cuda --budget-s 75 --work /tmp/learn --json learning.json
    python benchmarks/learning_check.py --smoke --device cpu --work /tmp/learn --json learning.json   # digits, toy

The preset is ``demo`` (resnet_small_nopool_stem16, 28 px, batch 128, 4 epochs) with the batched augmentation on the device, fp32.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: Random-init figures of the CPU demo (the default workflow's report at the validation-chosen recipe,
#: 2026-11-30, the paper's test crop): the GPU's random init must land where the CPU's does (same seeded weights,
#: same protocol).
CPU_RANDOM_INIT = {"knn_k20": 77.52, "knn_k200": 72.89, "linear": 76.48}
TRAIN_IMAGES = 60000
SMOKE_IMAGES = 256  # digits images pretrained on in --smoke


def byol(*args: str) -> None:
    """Run one ``byol`` command (this interpreter), streaming its output into ours."""
    cmd = [sys.executable, "-m", "byol_pkg", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def top1(path: Path, variant: str | None = None) -> float:
    records = json.loads(path.read_text())
    records = records["records"] if isinstance(records, dict) else records
    return next(r["value"] for r in records if r["metric"] == "top1" and (variant is None or r["variant"] == variant))


def median_rate(run: Path) -> float:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    rates = [float(r["images_per_s"]) for r in rows[1:]] or [float(r["images_per_s"]) for r in rows]
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget-s", type=float, default=75.0, help="pretraining wall time to fill")
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--root", default="data", help="data root (Fashion-MNIST is also found in its system folders)")
    ap.add_argument("--smoke", action="store_true", help="toy size on digits (checks the section runs, not learning)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.smoke:  # one epoch, a few probe steps: the section's plumbing, not its figures
        args.max_epochs, args.probe_steps = 1, min(args.probe_steps, 3)
    dataset = "digits" if args.smoke else "fashion_mnist"
    # fp32 on a GPU too: the demo network is launch-bound there and bf16 autocast made it slower (H100: 0.72x at
    # batch 256, benchmarks/README.md)
    sets = [f"train.device={args.device}", "train.precision=fp32", "augment.backend=batched",
            f"data.num_workers={args.workers}", f"data.root={args.root}", "train.progress=log",
            "train.checkpoint_every_epochs=0"]
    if args.smoke:
        sets += ["data.name=digits", "augment.image_size=8", "model.cifar_stem=true", "model.projector_hidden=64",
                 "model.projector_out=16", "model.predictor_hidden=64", "optim.batch_size=64",
                 f"data.max_samples={SMOKE_IMAGES}"]
    train_images = SMOKE_IMAGES if args.smoke else TRAIN_IMAGES
    flags = [a for s in sets for a in ("--set", s)]

    t0 = time.perf_counter()
    probe = args.work / "probe"
    byol("pretrain", "--config", "demo", *flags, "--set", f"train.max_steps={args.probe_steps}",
         "--set", "train.log_every_steps=5", "--out", str(probe))
    rate = median_rate(probe)
    epochs = max(1, min(args.max_epochs, math.floor(args.budget_s * rate * 0.85 / train_images)))
    print(f"probe: {rate:.0f} images/s -> {epochs} epochs of {train_images} images in about {args.budget_s:.0f} s",
          flush=True)

    run = args.work / "run"
    t1 = time.perf_counter()
    byol("pretrain", "--config", "demo", *flags, "--set", f"optim.epochs={epochs}", "--set", "train.log_every_steps=50",
         "--out", str(run))
    pretrain_s = time.perf_counter() - t1
    summary = json.loads((run / "summary.json").read_text())

    results: dict[str, dict[str, float]] = {}
    eval_t0 = time.perf_counter()
    for method, extra in (("byol", []), ("random-init", ["--random-init"])):
        common = ["--encoder", str(run / "encoder.pt"), *extra, "--method", method, "--dataset", dataset,
                  "--root", args.root, "--device", args.device, "--num-workers", str(args.workers),
                  "--cache-root", str(args.work / "features")]
        knn_out, lin_out = args.work / f"{method}_knn.json", args.work / f"{method}_linear.json"
        byol("knn", *common, "--k", "20", "200", "--out", str(knn_out))
        linear_args = ["--epochs", "2", "--base-lrs", "0.4"] if args.smoke else []
        byol("linear", *common, *linear_args, "--out", str(lin_out))
        results[method] = {"knn_k20": top1(knn_out, "k=20"), "knn_k200": top1(knn_out, "k=200"),
                           "linear": top1(lin_out)}
    eval_s = time.perf_counter() - eval_t0

    byol_r, rand_r = results["byol"], results["random-init"]
    payload = {
        "dataset": dataset, "device": args.device, "smoke": args.smoke, "probe_images_per_s": rate,
        "epochs": epochs, "steps": summary["step"], "global_batch": summary["global_batch"],
        "pretrain_s": pretrain_s, "pretrain_images_per_s": median_rate(run), "eval_s": eval_s,
        "total_s": time.perf_counter() - t0, "byol": byol_r, "random_init": rand_r,
        "linear_gain": byol_r["linear"] - rand_r["linear"],
        "cpu_random_init": None if args.smoke else CPU_RANDOM_INIT,
        "random_init_linear_vs_cpu": None if args.smoke else rand_r["linear"] - CPU_RANDOM_INIT["linear"],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"{dataset}: {epochs} epochs ({summary['step']} steps) in {pretrain_s:.0f} s; "
          f"BYOL kNN k=20 {byol_r['knn_k20']:.1f} / k=200 {byol_r['knn_k200']:.1f}, linear {byol_r['linear']:.1f}; "
          f"random init kNN {rand_r['knn_k20']:.1f} / {rand_r['knn_k200']:.1f}, linear {rand_r['linear']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
