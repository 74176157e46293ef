"""A quick linear probe: logistic regression on standardised frozen features of a subset.

A sanity check of a pretraining run (does it beat a random-init encoder?), not the paper's linear-evaluation
protocol (no hyper-parameter selection on a validation split): labelled "quick linear probe" wherever shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ..data import build_dataset
from ..io import atomic_write_json
from ..runtime import configure_cpu_threads
from .encoder import encoder_eval_transform, load_encoder
from .features import extract_features


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
              max_iter: int = 1000) -> float:
    """Top-1 accuracy (%) of an L2-regularised (C=1) multinomial logistic regression on standardised features."""
    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=max_iter, C=1.0)
    clf.fit(scaler.transform(train_x), train_y)
    return 100.0 * float((clf.predict(scaler.transform(test_x)) == test_y).mean())


def quick_probe(encoder_path: str | Path, dataset: str, root: str, train_samples: int, test_samples: int,
                random_init: bool = False, seed: int = 0, out: str | Path | None = None) -> dict:
    """Probe the encoder at ``encoder_path`` (or a seeded random init of its architecture)."""
    t0 = time.perf_counter()
    configure_cpu_threads()
    encoder, meta = load_encoder(encoder_path, random_init=random_init, seed=seed)
    transform = encoder_eval_transform(meta)
    train = build_dataset(dataset, root, "train", max_samples=train_samples)
    test = build_dataset(dataset, root, "test", max_samples=test_samples)
    train_x, train_y = extract_features(encoder, train, transform)
    test_x, test_y = extract_features(encoder, test, transform)
    record = {
        "protocol": "quick_linear_probe",
        "encoder": str(encoder_path),
        "init": "random" if random_init else "pretrained",
        "backbone": meta["backbone"],
        "dataset": dataset,
        "metric": "top1",
        "value": fit_probe(train_x, train_y, test_x, test_y),
        "train_size": len(train),
        "test_size": len(test),
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
    }
    if out is not None:
        atomic_write_json(out, record)
    return record
