"""Pieces shared by the transfer-dataset adapters: the dataset class, folder lookup, list files, splits."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..base import ImageDataset, limit
from ...errors import DatasetFormatError, DatasetNotFoundError
from ..holdout import SEED
from ..registry import DatasetInfo, PaperSizes
from ..image_folder import decode_rgb

log = logging.getLogger(__name__)

#: Splits every transfer adapter registers (spec §6.5): selection train / val, refit trainval, test.
SPLITS = ("train", "val", "trainval", "test")

#: ``(absolute image paths, labels)`` of one list, labels int64 ``[N]`` (or ``[N, C]`` for VOC).
Listing = tuple[list[str], np.ndarray]


class TransferDataset(ImageDataset):
    """Lazily decoded image files (RGB uint8 ``[3, H, W]``) with labels; ``split_rule`` says how the
    split was made (official list, or hold-out rule and seed)."""

    def __init__(
        self,
        name: str,
        split: str,
        paths: Sequence[str],
        targets: np.ndarray,
        classes: Sequence[str],
        split_rule: str,
        base_dir: Path | None = None,
        list_files: Sequence[Path] = (),
    ) -> None:
        self.paths = list(paths)
        self.split_rule = split_rule
        self.base_dir = base_dir  # the dataset folder the paths live under
        self.list_files = [Path(p) for p in list_files]  # the creators' files that list the split's images
        super().__init__(name, split, targets, len(classes), 3, classes)

    def load_image(self, index: int) -> torch.Tensor:
        return decode_rgb(self.paths[index])


def find_base(candidates: Sequence[Path], required: Sequence[str]) -> Path | None:
    """First candidate folder holding every ``required`` relative path (file or folder)."""
    for folder in candidates:
        if folder.is_dir() and all((folder / rel).exists() for rel in required):
            return folder
    return None


def not_found(name: str, split: str, looked_in: Iterable[Path | str], layout: str, hint: str) -> DatasetNotFoundError:
    looked = list(looked_in) or ["<no root given>"]
    return DatasetNotFoundError.build(name, split, looked, layout, hint)


def locate(
    name: str,
    split: str,
    root: Path | None,
    candidates: Callable[[Path], Sequence[Path]],
    required: Sequence[str],
    layout: str,
    download: bool,
    downloader: Callable[[Path], None] | None,
    how_to_get: str,
) -> Path:
    """The dataset folder under ``root`` (downloading first when asked and possible), or a one-line
    :class:`DatasetNotFoundError` naming the folders looked in and the expected layout."""
    cands = list(candidates(root)) if root is not None else []
    base = find_base(cands, required)
    if base is None and download and root is not None:
        if downloader is None:
            raise not_found(name, split, cands, layout,
                            f"automatic download is not available for '{name}'; {how_to_get}")
        downloader(root)
        base = find_base(cands, required)
    if base is not None:
        check_kinds(base, required)
    if base is None:
        missing = ""
        if cands and cands[0].is_dir():
            absent = [r for r in required if not (cands[0] / r).exists()]
            missing = f" (missing in {cands[0]}: {', '.join(absent)})"
        hint = f"set --root / data.root to the folder holding it{missing}; {how_to_get}"
        if downloader is not None:
            hint += f"; or run: byol download {name} --root <root>"
        raise not_found(name, split, cands, layout, hint)
    return base


#: Suffixes of the required paths that are files; every other required path is a folder.
FILE_SUFFIXES = (".txt", ".mat")


def check_kinds(base: Path, required: Sequence[str]) -> None:
    """Raise :class:`DatasetFormatError` when a required folder is a file or a required list file a folder."""
    for rel in required:
        path = base / rel
        want_file = path.suffix in FILE_SUFFIXES
        if want_file and not path.is_file():
            raise DatasetFormatError(path, "not a regular file; expected a list / label file")
        if not want_file and not path.is_dir():
            raise DatasetFormatError(path, "not a folder; expected a folder of the dataset's layout")


def read_lines(path: Path, skip_comments: bool = True) -> list[str]:
    """Stripped non-empty lines of a text list file (``#`` comment lines dropped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except PermissionError:
        raise  # the system refused the read: exit 7 with the file and reason, like every other data file
    except OSError as exc:
        raise DatasetFormatError(path, f"cannot read list file ({exc.strerror or exc}); expected a text file "
                                       "with one entry per line") from exc
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not (skip_comments and ln.startswith("#"))]


def sort_listing(paths: Sequence[str], labels: np.ndarray) -> Listing:
    """The listing in sorted path order (the order every hold-out is drawn from)."""
    order = sorted(range(len(paths)), key=lambda i: paths[i])
    return [paths[i] for i in order], np.asarray(labels)[order]


def take(listing: Listing, idx: np.ndarray) -> Listing:
    paths, labels = listing
    return [paths[int(i)] for i in idx], np.asarray(labels)[np.asarray(idx, dtype=np.int64)]


def holdout_split(split: str, trainval: Listing, test: Callable[[], Listing],
                  holdout: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Listing:
    """``split`` of a dataset whose val is held out of its (sorted) creators' training list ``trainval``.

    ``holdout(labels) -> (train_idx, val_idx)``; ``test`` is called only for the test split.
    """
    if split == "test":
        return test()
    if split == "trainval":
        return trainval
    train_idx, val_idx = holdout(trainval[1])
    return take(trainval, train_idx if split == "train" else val_idx)


def rule_text(rule: str, split: str) -> str:
    return f"{split}: {rule} (seed {SEED})" if split in ("train", "val") else f"{split}: {rule}"


def make_dataset(name: str, split: str, listing: Listing, classes: Sequence[str], rule: str,
                 max_samples: int | None, base_dir: Path | None = None,
                 list_files: Sequence[Path] = ()) -> TransferDataset:
    """The dataset of ``listing``, cut to its first ``max_samples`` items; ``list_files`` are the files that
    named its images (``byol prepare`` checks that every named image exists)."""
    paths, labels = listing
    n = limit(len(paths), max_samples)
    return TransferDataset(name, split, paths[:n], np.asarray(labels, dtype=np.int64)[:n], classes, rule, base_dir,
                           list_files)


def keep_existing(name: str, paths: Sequence[str], labels: np.ndarray) -> Listing:
    """Drop listed images that are not on disk (failed downloads), logging how many."""
    ok = [i for i, p in enumerate(paths) if os.path.isfile(p)]
    if len(ok) < len(paths):
        log.warning("%s: %d of %d listed images are missing on disk and skipped", name, len(paths) - len(ok),
                    len(paths))
    return [paths[i] for i in ok], np.asarray(labels)[ok]


def downloader(name: str) -> Callable[[Path], None]:
    """The loader's ``download=True``: ``byol download <name>`` into the root (the record's source)."""

    def fetch(root: Path) -> None:
        from ..download import download

        download(name, root)

    return fetch


def folder_candidates(folder: str) -> Callable[[Path], list[Path]]:
    """``<root>/<folder>``, or ``<root>`` itself when it is that folder."""

    def candidates(root: Path) -> list[Path]:
        return [root / folder] + ([root] if root.name == folder else [])

    return candidates


def label_of(name_to_label: dict[str, int], key: str, path: Path, line: str) -> int:
    """The label of class ``key`` listed in ``path``, or :class:`DatasetFormatError`."""
    try:
        return name_to_label[key]
    except KeyError:
        raise DatasetFormatError(path, f"unknown class {key!r} in line {line!r}") from None


def load_mat(path: Path) -> dict:
    """A MATLAB .mat file (``scipy.io.loadmat(squeeze_me=True)``), or :class:`DatasetFormatError`."""
    import struct
    import zlib

    import scipy.io
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise DatasetFormatError(path, "missing or not a file; expected a MATLAB .mat file")
    try:
        return scipy.io.loadmat(str(path), squeeze_me=True)  # MATLAB v4/v5 data only: nothing is unpickled
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError, KeyError, IndexError, AttributeError,
            EOFError, struct.error, zlib.error, MemoryError, OverflowError) as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DatasetFormatError(path, f"not a readable .mat file ({msg}); truncated or corrupt? "
                                       "expected a MATLAB v5 .mat file as the creators ship it") from None


def table3_info(name: str, display: str, num_classes: int, metric: str, sizes: tuple[int, int, int, int],
                **extra) -> DatasetInfo:
    """The record of a Table 3 dataset read by an adapter here: the splits :data:`SPLITS` in their protocol
    roles, Table 10's ``sizes`` (creators' train, selection train, val, test), published in Table 3."""
    return DatasetInfo(name, display, num_classes, SPLITS, metric=metric, train="train", val="val",
                       trainval="trainval", test="test", paper=PaperSizes(*sizes), published="table3", **extra)
