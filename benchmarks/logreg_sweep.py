"""Time the 45-λ linear-transfer sweep (selection + refit): ``byol_pkg.eval.logreg`` vs scikit-learn.

    python benchmarks/logreg_sweep.py [--n 5000 --d 512 --classes 10] [--device cpu|cuda] [--threads N]

Both sides run the identical protocol on identical features: standardise with the train statistics, fit
λ = 1e5 … 1e-6 (strong → weak) warm-started along the path, select on validation (ties → larger λ), refit on
train+val with the selected λ (standardised with train+val statistics), score the test split once. sklearn is
``LogisticRegression(C=1/λ, warm_start=True)`` (lbfgs, L2) reused along the path, in float64; ours is float32 on
``--device``. Both use the same ``--max-iter`` and gradient tolerance ``--tol`` (sklearn's lbfgs ``gtol`` applies
to the gradient of its objective divided by N, as ours does). Datasets: synthetic Gaussian class clusters
(``--n`` samples split 3:1:1 into train/val/test) and scikit-learn's digits (raw 64-d pixels, 700/550/547).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from byol_pkg.eval.logreg import LAMBDAS, sweep_logreg

Split = tuple[np.ndarray, np.ndarray]


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * float((scores.argmax(1) == labels).mean())


def synthetic(n: int, d: int, classes: int, seed: int) -> tuple[Split, Split, Split]:
    """Overlapping Gaussian clusters with an anisotropic (feature-like) covariance, split 3:1:1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    scales = np.exp(rng.normal(0.0, 0.5, d))  # per-dimension spread, as real features have
    means = rng.normal(0.0, 0.12, (classes, d)) * scales
    x = (means[y] + rng.normal(0.0, 1.0, (n, d)) * scales + rng.normal(0.0, 0.3, d)).astype(np.float32)
    a, b = 3 * n // 5, 4 * n // 5
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])


def digits(seed: int) -> tuple[Split, Split, Split]:
    """scikit-learn digits (1797 × 64 raw pixels), shuffled, 700 / 550 / 547."""
    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(seed).permutation(len(x))
    x, y = x[p].astype(np.float32), y[p]
    return (x[:700], y[:700]), (x[700:1250], y[700:1250]), (x[1250:], y[1250:])


def sklearn_sweep(train: Split, val: Split, test: Split, max_iter: int, tol: float) -> dict:
    """The same protocol with sklearn (float64, warm_start=True along the strong → weak path)."""
    t0 = time.perf_counter()
    sc = StandardScaler().fit(train[0])
    xtr, xva = sc.transform(train[0]), sc.transform(val[0])
    clf = LogisticRegression(warm_start=True, max_iter=max_iter, tol=tol)
    val_scores, iters = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lam in sorted(LAMBDAS, reverse=True):
            clf.set_params(C=1.0 / lam).fit(xtr, train[1])
            iters += int(clf.n_iter_.max())
            val_scores[float(lam)] = top1(clf.decision_function(xva), val[1])
        best = max(val_scores.values())
        lam = max(k for k, v in val_scores.items() if v == best)
        xtv, ytv = np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]])
        sc = StandardScaler().fit(xtv)
        ref = LogisticRegression(C=1.0 / lam, max_iter=max_iter, tol=tol).fit(sc.transform(xtv), ytv)
    test = top1(ref.decision_function(sc.transform(test[0])), test[1])
    return dict(best_lambda=lam, test=test, iters=iters, wall_s=time.perf_counter() - t0)


def ours_sweep(train: Split, val: Split, test: Split, device: str, max_iter: int, tol: float) -> dict:
    """``sweep_logreg`` (float32 on ``device``), timed including the host → device copy."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    st: dict = {}
    r = sweep_logreg(train, val, test, top1, int(train[1].max()) + 1, device=device, max_iter=max_iter, tol=tol,
                     stats=st)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return dict(best_lambda=r.best_lambda, test=r.test_score, iters=st["total_iters"], wall_s=r.wall_s)


def grid_steps(a: float, b: float) -> int:
    """Distance between two λ values in grid steps (0 = same λ)."""
    return abs(int(np.argmin(abs(LAMBDAS - a))) - int(np.argmin(abs(LAMBDAS - b))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000, help="synthetic samples (train/val/test 3:1:1)")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="torch / BLAS threads for both sides; 0 = all cores, or 1 if the machine is busy")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--no-sklearn", action="store_true", help="time only ours (large --n)")
    a = p.parse_args(argv)

    cores = len(os.sched_getaffinity(0))
    threads = a.threads or (1 if os.getloadavg()[0] > 0.5 * cores else cores)
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}  device={a.device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if a.device.startswith('cuda') else ''}  threads={threads} "
          f"(cores {cores}, load {os.getloadavg()[0]:.2f})  max_iter={a.max_iter} tol={a.tol:g}  {len(LAMBDAS)} λ")
    # warm-up (kernels, allocator) on a tiny problem so it is not charged to the first dataset
    ours_sweep(*synthetic(200, 8, 3, 1), device=a.device, max_iter=5, tol=a.tol)

    sets = [(f"synthetic n={a.n} d={a.d} C={a.classes}", synthetic(a.n, a.d, a.classes, a.seed))]
    if not a.no_digits:
        sets.append(("digits 700/550/547 d=64 C=10", digits(a.seed)))
    print(f"{'dataset':34s} {'impl':8s} {'wall_s':>8s} {'iters':>6s} {'best λ':>10s} {'test %':>7s}")
    with threadpool_limits(threads):
        for name, (tr, va, te) in sets:
            ours = ours_sweep(tr, va, te, a.device, a.max_iter, a.tol)
            rows = [("ours", ours)]
            if not a.no_sklearn:
                rows.append(("sklearn", sklearn_sweep(tr, va, te, a.max_iter, a.tol)))
            for impl, r in rows:
                print(f"{name:34s} {impl:8s} {r['wall_s']:8.2f} {r['iters']:6d} {r['best_lambda']:10.3g} "
                      f"{r['test']:7.2f}")
            if not a.no_sklearn:
                sk = rows[1][1]
                print(f"{'':34s} sklearn/ours time ratio {sk['wall_s'] / ours['wall_s']:.2f}x; chosen λ differs by "
                      f"{grid_steps(ours['best_lambda'], sk['best_lambda'])} grid step(s); test acc diff "
                      f"{ours['test'] - sk['test']:+.2f} pts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
