"""Frozen-encoder features cached on disk, keyed by encoder and dataset, reused by every linear protocol.

Layout (readable without this package; ``numpy.load`` is enough)::

    <cache_root>/<encoder_key>/<dataset>/<split>/features.npy   float32 [N, D]
    <cache_root>/<encoder_key>/<dataset>/<split>/labels.npy     int64 [N] (or [N, C] for multi-label)
    <cache_root>/<encoder_key>/<dataset>/<split>/meta.json      encoder, sha256, preprocessing, sizes

``encoder_key`` is the first 16 hex digits of the SHA-256 of the encoder file's SHA-256 followed by its
forward-pass description (``backbone``, ``cifar_stem``, ``mean``, ``std`` of ``encoder.json``, as sorted JSON), so
the same weights run through another architecture variant or normalisation (e.g. ``resnet50`` vs
``tf_resnet50``) are a different entry; ``random-<backbone>-seed<S>-<8 hex digits of that description>`` for a
random-init encoder. The image size is part of the folder name when it differs from the encoder's, and the
preprocessing when it is the transfer protocol's (``<dataset>+transfer``): ``test`` (the default; linear evaluation
and kNN) resizes the shorter side to ``image_size x 256/224`` and centre-crops ``image_size`` (paper App. C.1),
``transfer`` resizes it to ``image_size`` and centre-crops (App. D.2); bicubic, the encoder's statistics. A cached
split whose ``meta.json`` records another resize (a cache from an older version) is extracted again.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..data import build_dataset
from ..io import atomic_write, atomic_write_json
from .encoder import encoder_eval_transform, eval_resize, load_encoder, read_encoder_meta
from .features import extract_features
from .results import file_sha256


#: The ``encoder.json`` keys that decide what a given weights file computes (part of the cache key).
FORWARD_KEYS = ("backbone", "cifar_stem", "mean", "std")


def forward_digest(meta: dict) -> str:
    """SHA-256 hex digest of the forward-pass description of an encoder (:data:`FORWARD_KEYS` of its meta)."""
    blob = json.dumps({k: meta.get(k) for k in FORWARD_KEYS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class EncoderRef:
    """Which encoder: a saved ``encoder.pt`` (with its ``encoder.json``), or a seeded random init of it."""

    path: Path
    random_init: bool = False
    seed: int = 0
    backbone: str | None = None  # set for an external torchvision/timm state dict (no encoder.json)

    @cached_property
    def meta(self) -> dict:
        return read_encoder_meta(self.path, self.backbone)

    def load(self):
        """``(model, meta)``: the encoder in eval mode, and its description incl. ``feature_dim``."""
        return load_encoder(self.path, random_init=self.random_init, seed=self.seed, backbone=self.backbone)

    @cached_property
    def sha256(self) -> str:
        return "" if self.random_init else file_sha256(self.path)

    @property
    def key(self) -> str:
        digest = forward_digest(self.meta)
        if self.random_init:
            return f"random-{self.meta['backbone'].replace(':', '_')}-seed{self.seed}-{digest[:8]}"
        return hashlib.sha256((self.sha256 + digest).encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return "random-init" if self.random_init else str(self.path)


def split_dir(cache_root: str | Path, encoder: EncoderRef, dataset: str, split: str, image_size: int,
              preprocessing: str = "test") -> Path:
    tag = dataset if image_size == int(encoder.meta["image_size"]) else f"{dataset}@{image_size}px"
    if preprocessing != "test":
        tag += f"+{preprocessing}"
    return Path(cache_root) / encoder.key / tag / split


def _cached_resize(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / "meta.json").read_text())["preprocessing"]["resize_shorter_side"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(f) -> None:
        buf = io.BytesIO()
        np.save(buf, array)
        f.write(buf.getvalue())

    atomic_write(path, write)


def load_features(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(features, labels)`` of one cached split."""
    folder = Path(folder)
    return np.load(folder / "features.npy"), np.load(folder / "labels.npy")


def cached_features(encoder: EncoderRef, dataset: str, root: str, split: str, cache_root: str | Path,
                    image_size: int | None = None, batch_size: int = 256, device: str = "cpu",
                    num_workers: int = 0, preprocessing: str = "test") -> tuple[np.ndarray, np.ndarray, Path]:
    """Features of one split, from the cache or extracted now (then cached atomically)."""
    meta = encoder.meta
    size = int(image_size or meta["image_size"])
    resize = eval_resize(size, preprocessing)
    folder = split_dir(cache_root, encoder, dataset, split, size, preprocessing)
    if (folder / "meta.json").is_file() and _cached_resize(folder) == resize:
        feats, labels = load_features(folder)
        return feats, labels, folder
    t0 = time.perf_counter()
    model, _ = encoder.load()
    data = build_dataset(dataset, root, split)
    feats, labels = extract_features(model, data, encoder_eval_transform(meta, size, preprocessing),
                                     batch_size=batch_size, device=device,
                                     num_workers=num_workers)
    _save_npy(folder / "features.npy", feats.astype(np.float32))
    _save_npy(folder / "labels.npy", labels)
    atomic_write_json(folder / "meta.json", {
        "encoder": encoder.label, "encoder_sha256": encoder.sha256, "random_init": encoder.random_init,
        "seed": encoder.seed, "backbone": meta["backbone"], "dataset": dataset, "split": split,
        "num_images": int(len(labels)), "feature_dim": int(feats.shape[1]),
        "preprocessing": {"protocol": preprocessing, "resize_shorter_side": resize, "interpolation": "bicubic",
                          "center_crop": size,
                          "mean": meta["mean"], "std": meta["std"]},
        "torch": torch.__version__, "extract_s": time.perf_counter() - t0,
    })
    return feats, labels, folder
