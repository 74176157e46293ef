"""``byol prepare``: check that a dataset is in place and record exactly which images each split holds.

Two forms, both ending in a manifest JSON (written atomically, only after every split was built):

- evaluation data (``--dataset``): every split the protocols use (:func:`evaluation_splits`: the paper's
  train / val / trainval / test for the Table 3 transfer datasets and ImageNet, train / test otherwise), each
  saved as a file list ``<cache_root>/splits/<dataset>_<split>.txt`` (the lists the evaluation commands write);
- pretraining data (``--config``): the dataset a pretrain config trains on, built as ``byol pretrain`` builds
  it, its list saved as ``<cache_root>/splits/pretrain_<dataset>_<split>[_first<N>].txt``.

Manifest fields: ``dataset``, ``root``, ``num_classes`` (the dataset's class count), ``roles`` (protocol role
-> split name), and per split: ``size``, ``num_classes`` (classes with at least one labelled image in the
split), ``list`` (path of its file list), ``list_sha256``, ``labels_sha256`` (of the int64 label array) and
``rule`` (how the split was made), and ``data_dir`` (the folder its files were read from, e.g. a system copy of
Fashion-MNIST when the root has none) where the loader records it. A missing dataset raises the loaders' one-line
:class:`~byol_pkg.errors.DatasetNotFoundError` before anything is written; a list or label file that names
images that are not on disk raises :class:`~byol_pkg.errors.DatasetFormatError` naming that file
(:func:`check_listed_images`: a ``stat`` per image, nothing is decoded), so that a later job does not find out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import DatasetFormatError
from ..io import atomic_write_json
from .base import ImageDataset
from .subsets import split_list_path, write_split_list
from .registry import DatasetInfo, build_dataset, canonical_name, dataset_info


def paper_splits(dataset: str) -> DatasetInfo | None:
    """The record of ``dataset`` when it has the paper's splits (its ``train``, ``val``, ``trainval``,
    ``test``), else None."""
    info = dataset_info(dataset)
    return info if info.has_paper_splits else None


def evaluation_splits(dataset: str) -> dict[str, str]:
    """Protocol role -> split name of every split the evaluation protocols read."""
    return dataset_info(dataset).roles()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def classes_present(targets: np.ndarray) -> int:
    """Classes with at least one labelled image (multi-label ``[N, C]``: columns with a positive entry)."""
    y = np.asarray(targets)
    if y.ndim == 2:
        return int((y > 0).any(axis=0).sum())
    return int(np.unique(y[y >= 0]).size)


def _naming_file(list_files: Sequence[Path], image: str) -> Path:
    """The list file that names ``image`` (a text file mentioning its file stem), else the first one."""
    stem = Path(image).stem
    for path in list_files:
        if path.suffix == ".txt":
            try:
                if stem in path.read_text(encoding="utf-8", errors="replace"):
                    return path
            except OSError:
                continue
    return list_files[0]


def check_listed_images(dataset: ImageDataset) -> None:
    """Raise :class:`DatasetFormatError` naming the list file when images it names are not on disk.

    Applies to datasets whose images come from a creators' list or label file (``list_files`` and ``paths``,
    the transfer datasets); images found by scanning folders exist by construction. Only ``stat`` calls."""
    list_files = list(getattr(dataset, "list_files", None) or ())
    paths = getattr(dataset, "paths", None)
    if not list_files or paths is None:
        return
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        n = len(missing)
        what = "1 image that does not exist" if n == 1 else f"{n} images that do not exist"
        raise DatasetFormatError(_naming_file(list_files, missing[0]),
                                 f"names {what}, first: {missing[0]} (split '{dataset.split}' of "
                                 f"{dataset.name}; restore the images or re-extract the archive)")


def split_entry(dataset: ImageDataset, list_path: Path) -> dict[str, Any]:
    """Write the split's file list and describe it."""
    write_split_list(list_path, dataset)
    entry = {"size": len(dataset), "num_classes": classes_present(dataset.targets), "list": str(list_path),
             "list_sha256": _sha256(list_path.read_bytes()),
             "labels_sha256": _sha256(np.ascontiguousarray(dataset.targets, dtype=np.int64).tobytes()),
             "rule": getattr(dataset, "split_rule", "as shipped")}
    folder = next((f for f in (getattr(dataset, a, None) for a in ("data_dir", "base_dir", "split_dir")) if f), None)
    if folder is not None:
        entry["data_dir"] = str(folder)
    return entry


def _build_checked(name: str, root: str | None, split: str, download: bool,
                   max_samples: int | None = None) -> ImageDataset:
    """``build_dataset`` followed by :func:`check_listed_images`."""
    ds = build_dataset(name, root, split, download=download, max_samples=max_samples)
    check_listed_images(ds)
    return ds


def _manifest(name: str, root: str | None, built: dict[str, ImageDataset], lists: dict[str, Path],
              roles: dict[str, str], **extra: Any) -> dict[str, Any]:
    splits = {split: split_entry(ds, lists[split]) for split, ds in built.items()}
    first = next(iter(built.values()))
    return {"dataset": name, "root": root, "num_classes": int(first.num_classes), "roles": roles,
            "splits": splits, "byol_bench_version": __version__, **extra}


def prepare_dataset(dataset: str, root: str | None, out: str | Path, cache_root: str | Path = "results/features",
                    download: bool = False) -> dict[str, Any]:
    """Build every evaluation split of ``dataset``, save their file lists and write the manifest ``out``."""
    name = canonical_name(dataset)
    roles = evaluation_splits(name)
    built = {split: _build_checked(name, root, split, download) for split in dict.fromkeys(roles.values())}
    lists = {split: split_list_path(cache_root, f"{name}_{split}") for split in built}
    manifest = _manifest(name, None if root is None else str(root), built, lists, roles, purpose="evaluation")
    atomic_write_json(out, manifest)
    return manifest


def prepare_pretrain(cfg, out: str | Path, cache_root: str | Path = "results/features", download: bool = False,
                     config: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Build the pretraining dataset of ``cfg`` as ``byol pretrain`` does, save its file list and write the
    manifest ``out`` (with the config's ``max_samples`` and ``epoch_size``)."""
    data = cfg.data
    name = canonical_name(data.name)
    ds = _build_checked(name, data.root, data.split, download or data.download, data.max_samples)
    stem = f"pretrain_{name}_{data.split}" + (f"_first{data.max_samples}" if data.max_samples else "")
    lists = {data.split: split_list_path(cache_root, stem)}
    manifest = _manifest(name, data.root, {data.split: ds}, lists, {"pretrain": data.split}, purpose="pretrain",
                         config=config, overrides=list(overrides or []), max_samples=data.max_samples,
                         epoch_size=data.epoch_size or len(ds))
    atomic_write_json(out, manifest)
    return manifest
