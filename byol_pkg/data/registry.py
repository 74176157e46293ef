"""Name -> builder registry and the ``build_dataset`` entry point.

A builder is ``fn(root: Path | None, split: str, download: bool, max_samples: int | None)``
returning an :class:`ImageDataset`; ``register_dataset(name, splits=...)`` records it in
``DATASETS`` and stores the allowed splits on ``fn.splits`` (``None`` = any folder name).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ..errors import UnknownDatasetError
from .base import ImageDataset


class DatasetBuilder(Protocol):
    splits: tuple[str, ...] | None

    def __call__(
        self, root: Path | None, split: str, download: bool, max_samples: int | None
    ) -> ImageDataset: ...


DATASETS: dict[str, DatasetBuilder] = {}


def register_dataset(
    name: str, splits: Sequence[str] | None
) -> Callable[[Callable[..., ImageDataset]], Callable[..., ImageDataset]]:
    """Decorator registering ``fn`` under ``name`` with its allowed ``splits``."""

    def deco(fn: Callable[..., ImageDataset]) -> Callable[..., ImageDataset]:
        if name in DATASETS:
            raise ValueError(f"dataset '{name}' is already registered")
        fn.splits = tuple(splits) if splits is not None else None  # type: ignore[attr-defined]
        DATASETS[name] = fn  # type: ignore[assignment]
        return fn

    return deco


def canonical_name(name: str) -> str:
    """The registry key of a dataset name: case and ``-``/``_`` insensitive."""
    return str(name).strip().lower().replace("-", "_")


def check_split(name: str, split: str | None = None) -> str:
    """The registry key of dataset ``name``, after checking that it and ``split`` (if given) are registered;
    else :class:`~byol_pkg.errors.UnknownDatasetError` listing the allowed names or splits."""
    key = canonical_name(name)
    if key not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset '{name}'; allowed: {', '.join(sorted(DATASETS))}")
    allowed = DATASETS[key].splits
    if split is not None and allowed is not None and split not in allowed:
        raise UnknownDatasetError(f"unknown split '{split}' for dataset '{key}'; allowed: {', '.join(allowed)}")
    return key


def build_dataset(
    name: str,
    root: str | os.PathLike[str] | None,
    split: str,
    download: bool = False,
    max_samples: int | None = None,
) -> ImageDataset:
    """Build dataset ``name`` (case and ``-``/``_`` insensitive) for ``split`` from ``root``.

    Raises :class:`~byol_pkg.errors.UnknownDatasetError` (a ``ValueError``) for an unknown name/split, ``ValueError`` or a bad ``max_samples`` and
    :class:`~byol_pkg.errors.DatasetNotFoundError` when the files are missing.
    Nothing is downloaded unless ``download=True``.
    """
    key = check_split(name, split)
    builder = DATASETS[key]
    if max_samples is not None:
        if isinstance(max_samples, bool) or int(max_samples) != max_samples or max_samples < 1:
            raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
        max_samples = int(max_samples)
    path = Path(root).expanduser() if root is not None else None
    return builder(path, split, bool(download), max_samples)
