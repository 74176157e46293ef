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

The data a split was read from is part of the entry too: ``meta.json`` records its ``source`` (the resolved data
root, and the size and modification time of every file the dataset names: its image files, its memory-mapped file,
its list files, the files of its data folder; see :func:`data_source`). A cached split is used only while that
source is unchanged (a stat per recorded file, the images are not read), else it is extracted again: two roots
holding different copies of one dataset never share features, and neither do a dataset and its edited copy.
Features that are not all finite are never cached nor returned (:class:`~byol_pkg.errors.EncoderLoadError`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..data import build_dataset
from ..errors import EncoderLoadError
from ..io import atomic_write, atomic_write_json
from .encoder import encoder_eval_transform, eval_resize, load_encoder, read_encoder_meta
from .features import extract_features
from .results import file_sha256


log = logging.getLogger(__name__)

#: The ``encoder.json`` keys that decide what a given weights file computes (part of the cache key).
FORWARD_KEYS = ("backbone", "cifar_stem", "mean", "std")
#: At most this many files of a dataset are recorded (and stat'ed on a cache hit) one by one; a larger image
#: folder (ImageNet) is recorded by its root, its folders and a digest of its sorted file list.
MAX_SOURCE_FILES = 20_000


def _stat(path: str) -> list:
    """``[path, size, mtime_ns]`` of a file or folder (size -1 when it is gone)."""
    try:
        st = os.stat(path)
    except OSError:
        return [path, -1, 0]
    return [path, int(st.st_size), int(st.st_mtime_ns)]


def _dataset_files(dataset) -> tuple[list[str], list[str]]:
    """``(files, folders)`` a dataset names: image ``paths``, a memory-mapped ``path``, ``list_files``, and
    ``data_dir`` / ``base_dir`` / ``split_dir`` folders (their plain files count as files), over concatenated
    ``parts`` too."""
    files: list[str] = []
    folders: list[str] = []
    for part in getattr(dataset, "parts", None) or [dataset]:
        if part is not dataset:
            sub_files, sub_folders = _dataset_files(part)
            files += sub_files
            folders += sub_folders
            continue
        files += [os.fspath(p) for p in (getattr(part, "paths", None) or ())]
        if isinstance(getattr(part, "path", None), (str, os.PathLike)):
            files.append(os.fspath(part.path))
        files += [os.fspath(p) for p in (getattr(part, "list_files", None) or ())]
        for attr in ("data_dir", "base_dir", "split_dir"):
            folder = getattr(part, attr, None)
            if folder and os.path.isdir(folder):
                folders.append(os.fspath(folder))
                with os.scandir(folder) as entries:
                    files += sorted(e.path for e in entries if e.is_file())
    return list(dict.fromkeys(os.path.abspath(f) for f in files)), list(dict.fromkeys(folders))


def resolved_root(root: str | os.PathLike | None) -> str | None:
    """The data root as an absolute path with symlinks resolved (None: the dataset needs none)."""
    return None if root is None else os.path.realpath(os.path.expanduser(os.fspath(root)))


def data_source(dataset, root: str | os.PathLike | None) -> dict:
    """Where a split's images came from, as recorded in ``meta.json``: the resolved ``root``, and
    ``[path, size, mtime_ns]`` of each file the dataset names (``files``; over :data:`MAX_SOURCE_FILES` files only
    their count and ``files_sha256``, a digest of the sorted names, with the folders' stats)."""
    files, folders = _dataset_files(dataset)
    source: dict = {"root": resolved_root(root), "num_files": len(files)}
    if len(files) <= MAX_SOURCE_FILES:
        source["files"] = [_stat(f) for f in files]
    else:
        source["files_sha256"] = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()
        source["folders"] = [_stat(os.path.abspath(f)) for f in folders]
    return source


def source_changed(recorded: object, root: str | os.PathLike | None) -> str | None:
    """Why a cached split's recorded ``source`` is not the data at ``root`` now (None: unchanged): another root,
    or a recorded file or folder whose size or modification time changed. A cache without a record (written by
    an older version) counts as changed."""
    if not isinstance(recorded, dict):
        return "no record of the data it was extracted from"
    if recorded.get("root") != resolved_root(root):
        return f"extracted from the data root {recorded.get('root')}, not {resolved_root(root)}"
    for entry in [*(recorded.get("files") or []), *(recorded.get("folders") or [])]:
        if not isinstance(entry, list) or len(entry) != 3 or _stat(str(entry[0])) != entry:
            return f"{entry[0] if isinstance(entry, list) and entry else entry} changed since it was extracted"
    return None


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


def _cached_meta(folder: Path) -> dict | None:
    """The ``meta.json`` of a cached split (None: absent or unreadable)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _cached_resize(meta: dict) -> int | None:
    try:
        return int(meta["preprocessing"]["resize_shorter_side"])
    except (ValueError, KeyError, TypeError):
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
    """Features of one split, from the cache or extracted now (then cached atomically). The cache is used only
    when it was extracted from the same data (:func:`source_changed`) with the same resize, and holds finite
    features; features that are not all finite raise :class:`EncoderLoadError` and are not cached."""
    meta = encoder.meta
    size = int(image_size or meta["image_size"])
    resize = eval_resize(size, preprocessing)
    folder = split_dir(cache_root, encoder, dataset, split, size, preprocessing)
    cached = _cached_meta(folder)
    if cached is not None and _cached_resize(cached) == resize:
        why = source_changed(cached.get("source"), root)
        if why is None:
            feats, labels = load_features(folder)
            if np.isfinite(feats).all():
                return feats, labels, folder
            why = "its features are not all finite"
        log.info("%s: cached features not used (%s); extracting again", folder, why)
    t0 = time.perf_counter()
    model, _ = encoder.load()
    data = build_dataset(dataset, root, split)
    source = data_source(data, root)
    feats, labels = extract_features(model, data, encoder_eval_transform(meta, size, preprocessing),
                                     batch_size=batch_size, device=device,
                                     num_workers=num_workers)
    if not np.isfinite(feats).all():
        rows = int((~np.isfinite(feats)).any(axis=1).sum())
        raise EncoderLoadError(f"{encoder.label}: its features of {dataset}/{split} are not finite for {rows} of "
                               f"{len(feats)} images (weights too large or diverged); nothing was cached")
    _save_npy(folder / "features.npy", feats.astype(np.float32))
    _save_npy(folder / "labels.npy", labels)
    atomic_write_json(folder / "meta.json", {
        "encoder": encoder.label, "encoder_sha256": encoder.sha256, "random_init": encoder.random_init,
        "seed": encoder.seed, "backbone": meta["backbone"], "dataset": dataset, "split": split,
        "num_images": int(len(labels)), "feature_dim": int(feats.shape[1]),
        "preprocessing": {"protocol": preprocessing, "resize_shorter_side": resize, "interpolation": "bicubic",
                          "center_crop": size,
                          "mean": meta["mean"], "std": meta["std"]},
        "source": source, "torch": torch.__version__, "extract_s": time.perf_counter() - t0,
    })
    return feats, labels, folder
