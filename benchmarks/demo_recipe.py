"""How the CPU demo's pretraining recipe was chosen: candidate recipes scored on a validation hold-out of the
training images, never on the test split.

Each candidate is the ``demo`` preset plus ``--set`` overrides. It is pretrained with ``byol pretrain`` (the
command the workflow runs), then its encoder and a seeded random init of the same architecture (the paper's
Table 5a contrast) are scored on validation: the last ``--val-size`` training images are the queries, the
others the kNN bank and the linear classifier's training set. Scores: kNN top-1 at k = 20 and 200 (cosine,
temperature-weighted votes, as ``byol knn``) and linear top-1 on cached features (the paper's optimiser and
LR grid, as ``byol linear``), with the pretraining wall time beside them, one JSON line per candidate.

    python benchmarks/demo_recipe.py --work /tmp/recipe --json recipe.jsonl                 # every candidate
    python benchmarks/demo_recipe.py --work /tmp/recipe --candidates chosen resnet_small    # some of them

The first table in docs/demo_recipe.md was measured by an in-process forerunner of this script (the same hold-out
and kNN scores, no linear score); the ``FIRST`` candidates below re-measure its main rows. The second table (the
16-channel stem and the epochs it pays for) was measured by this script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: The first search's recipe (docs/demo_recipe.md, first table): timm's 64-channel stem, 2 epochs, NCHW.
FIRST = ["model.backbone=resnet_small_nopool", "optim.epochs=2", "train.channels_last=false"]

# The chosen recipe is the preset itself; every other candidate changes it in a few places (later --set wins).
CANDIDATES: dict[str, list[str]] = {
    "chosen": [],
    # second search: the 16-channel stem, and the epochs its speed pays for
    "stem16_epochs2": ["optim.epochs=2"],
    "stem16_epochs3": ["optim.epochs=3"],
    # first search, around its chosen recipe (resnet_small_nopool, batch 128, 2 epochs)
    "nopool": FIRST,
    "resnet_small": [*FIRST, "model.backbone=resnet_small"],
    "resnet_small_lr4_tau0.98_b256": [*FIRST, "model.backbone=resnet_small", "optim.base_lr=4.0",
                                      "target.base_tau=0.98", "optim.batch_size=256"],
    "batch256": [*FIRST, "optim.batch_size=256"],
    "batch256_epochs3": [*FIRST, "optim.batch_size=256", "optim.epochs=3"],
    "lr1": [*FIRST, "optim.base_lr=1.0"],
    "lr3": [*FIRST, "optim.base_lr=3.0"],
    "tau0.995": [*FIRST, "target.base_tau=0.995"],
    "min_scale0.3": [*FIRST, "augment.view1.min_scale=0.3", "augment.view2.min_scale=0.3"],
    "heads512": [*FIRST, "model.projector_hidden=512", "model.predictor_hidden=512"],
}


def pretrain(name: str, overrides: list[str], base: list[str], work: Path) -> tuple[Path, float]:
    """``byol pretrain --config demo`` with the candidate's overrides; returns the encoder and the wall time."""
    run = work / name
    sets = [a for s in [*base, *overrides, "train.progress=log"] for a in ("--set", s)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "byol_pkg", "pretrain", "--config", "demo", *sets, "--out", str(run)],
                   check=True, stdout=subprocess.DEVNULL)
    return run / "encoder.pt", time.perf_counter() - t0


def validation_scores(encoder: Path, train, val_size: int, random_init: bool) -> dict[str, float]:
    """kNN (k = 20, 200) and linear top-1 of the last ``val_size`` training images against the others."""
    from byol_pkg.eval.encoder import encoder_eval_transform, load_encoder
    from byol_pkg.eval.features import extract_features
    from byol_pkg.eval.knn import knn_accuracy
    from byol_pkg.eval.linear import linear_eval

    y = np.asarray(train.targets)
    model, meta = load_encoder(encoder, random_init=random_init, seed=0)
    x, _ = extract_features(model, train, encoder_eval_transform(meta))
    n = len(y) - val_size
    fit, val = (x[:n], y[:n]), (x[n:], y[n:])
    scores = {f"knn_k{k}": knn_accuracy(*fit, *val, k) for k in (20, 200)}
    scores["linear"] = linear_eval(fit, val, val, int(y.max()) + 1).test_top1  # val doubles as the report split
    return {k: round(float(v), 2) for k, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the candidates' runs")
    ap.add_argument("--json", type=Path, help="append one JSON line per candidate here")
    ap.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES), default=list(CANDIDATES))
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--root", default="data")
    ap.add_argument("--val-size", type=int, default=10_000, help="last training images held out as queries")
    ap.add_argument("--set", action="append", default=[], dest="base",
                    help="override applied to every candidate first (smoke runs: a small dataset)")
    args = ap.parse_args(argv)
    from byol_pkg.data import build_dataset

    train = build_dataset(args.dataset, args.root, "train")  # read once, scored for every candidate
    random_done: dict[str, dict[str, float]] = {}
    for name in args.candidates:
        encoder, wall = pretrain(name, CANDIDATES[name], args.base, args.work)
        backbone = json.loads(encoder.with_suffix(".json").read_text())["backbone"]
        row = {"candidate": name, "overrides": CANDIDATES[name], "backbone": backbone, "pretrain_s": round(wall, 1),
               "byol": validation_scores(encoder, train, args.val_size, False)}
        if backbone not in random_done:
            random_done[backbone] = validation_scores(encoder, train, args.val_size, True)
        row["random_init"] = random_done[backbone]
        row["gain"] = {k: round(row["byol"][k] - row["random_init"][k], 2) for k in row["byol"]}
        print(json.dumps(row), flush=True)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
