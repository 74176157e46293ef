"""Labelled subsets for semi-supervised evaluation (paper Table 2): the SimCLR ImageNet lists, or
deterministic class-balanced subsets of any dataset, saved as plain file lists so that every method and seed
of a comparison fine-tunes on exactly the same images.

File format (text): ``#`` comment lines (dataset, split, fraction, seed, count), then one entry per line:
the image's path relative to the split folder for ImageFolder datasets (``n01440764/n01440764_10026.JPEG``),
or the image's index in the split for in-memory datasets. SimCLR's ``1percent.txt`` / ``10percent.txt`` (one
ImageNet file name per line, e.g. ``n01440764_10026.JPEG``) are read by file name; ``byol download
imagenet-subsets`` fetches them (:data:`SIMCLR_SUBSETS`) into ``<data root>/imagenet/``, where the ImageNet
config (``config/imagenet.yaml``) names them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError, SplitError
from ..io import atomic_write_text
from .sources import DownloadSource, RemoteFile

#: The name ``byol download`` knows SimCLR's two ImageNet subset lists by.
SIMCLR_SUBSETS_NAME = "imagenet_subsets"
#: google-research/simclr at the commit that added the lists (unchanged since); sha256 of the files' bytes there.
_SIMCLR_RAW = "https://raw.githubusercontent.com/google-research/simclr/be133b38fb21abb77403391dc6db3412edfe92f2"
SIMCLR_SUBSETS = DownloadSource(
    files=(
        RemoteFile(f"{_SIMCLR_RAW}/imagenet_subsets/1percent.txt",
                   "sha256:71e82a48ba78252683ae334c4d019ebd5c6e855b9599c1389fbe83eb9549cf17", dest="imagenet",
                   unpack=False, checksum_by="sha256 of the file in google-research/simclr"),
        RemoteFile(f"{_SIMCLR_RAW}/imagenet_subsets/10percent.txt",
                   "sha256:6d09de11e7bdaf5b1f3b1f249b6183695f97310cdd20f0c03e7235b6b9392091", dest="imagenet",
                   unpack=False, checksum_by="sha256 of the file in google-research/simclr"),
    ),
    layout="<root>/imagenet/{1percent.txt, 10percent.txt} (12,811 and 128,116 ImageNet train file names)",
)


def balanced_subset(labels: np.ndarray, fraction: float, seed: int = 0,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of ``round(fraction x n_c)`` images (at least 1) of every class c, drawn per class from a
    generator seeded by (seed, c). ``exclude`` (e.g. the validation hold-out) are never drawn; ``n_c`` still
    counts the whole split, so a 1 % subset has 1 % of the split's size."""
    if not 0.0 < fraction <= 1.0:
        raise SplitError(f"--fraction: a subset fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    allowed = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=np.int64)] = False
    chosen = []
    for c in np.unique(labels):
        k = max(1, int(round(fraction * int((labels == c).sum()))))
        members = np.flatnonzero((labels == c) & allowed)
        if len(members) < k:
            raise SplitError(f"class {c}: {k} images wanted for a {fraction} subset, only {len(members)} available")
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(c)]))
        chosen.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(chosen))


def _entries(dataset) -> list[str] | None:
    """File paths relative to the split folder (ImageFolder) or the dataset folder (transfer datasets); None
    for in-memory datasets, whose entries are indices."""
    folder = getattr(dataset, "split_dir", None) or getattr(dataset, "base_dir", None)
    if folder is None or not hasattr(dataset, "paths"):
        return None
    return [os.path.relpath(p, folder) for p in dataset.paths]


def write_subset(path: str | Path, dataset, indices: np.ndarray, **header) -> Path:
    """Save a subset of ``dataset`` as a file list (see the module docstring)."""
    names = _entries(dataset)
    lines = [f"# {k}: {v}" for k, v in {"dataset": dataset.name, "split": dataset.split, **header,
                                          "count": len(indices)}.items()]
    lines += [names[i] if names is not None else str(int(i)) for i in indices]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def split_list_path(cache_root: str | Path, stem: str) -> Path:
    """Where the file list of a split is kept: ``<cache_root>/splits/<stem>.txt`` (``stem``: ``<dataset>_<split>``
    for evaluation data, ``pretrain_<dataset>_<split>[_first<N>]`` for pretraining data)."""
    return Path(cache_root) / "splits" / f"{stem}.txt"


def save_missing_split_lists(cache_root: str | Path, name: str, root, splits) -> None:
    """The file list of each of ``splits`` of dataset ``name`` that ``byol prepare`` has not written yet (an
    evaluation command run on its own); lists already there are left as they are."""
    from .registry import build_dataset

    for split in splits:
        path = split_list_path(cache_root, f"{name}_{split}")
        if split and not path.is_file():
            write_split_list(path, build_dataset(name, root, split))


def write_split_list(path: str | Path, dataset) -> Path:
    """Save which images make up a split (a held-out validation split, say) as a file list: relative paths, or
    for in-memory data the indices into the split it was drawn from (``source_indices``) or into itself."""
    source = getattr(dataset, "source_indices", None)
    header = {"rule": getattr(dataset, "split_rule", "as shipped")}
    if source is not None and _entries(dataset) is None:
        header["entries"] = f"indices into the '{getattr(dataset, 'source_split', 'train')}' split"
        lines = [f"# {k}: {v}" for k, v in {"dataset": dataset.name, "split": dataset.split, **header,
                                              "count": len(source)}.items()]
        return atomic_write_text(path, "\n".join(lines + [str(int(i)) for i in source]) + "\n")
    return write_subset(path, dataset, np.arange(len(dataset)), **header)


def read_subset(path: str | Path, dataset) -> np.ndarray:
    """Indices into ``dataset`` of a saved subset or of a SimCLR list (entries matched by relative path or by
    file name); a missing entry is a one-line error naming the file and the first missing names."""
    if not Path(path).is_file():
        raise InputFileError(f"{path}: subset file not found (expected a list written by byol subset, or SimCLR's "
                             "1percent.txt / 10percent.txt)")
    entries = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    names = _entries(dataset)
    if names is None:
        idx = np.asarray([int(e) for e in entries], dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(dataset)):
            raise InputFileError(f"{path}: indices outside the {len(dataset)} images of {dataset.name}/{dataset.split}")
        return np.sort(idx)
    lookup = {n: i for i, n in enumerate(names)}
    lookup.update({os.path.basename(n): i for i, n in enumerate(names)})
    missing = [e for e in entries if e not in lookup]
    if missing:
        raise InputFileError(f"{path}: {len(missing)} of {len(entries)} listed images are not in "
                         f"{dataset.name}/{dataset.split} (first: {', '.join(missing[:3])})")
    return np.sort(np.asarray([lookup[e] for e in entries], dtype=np.int64))
