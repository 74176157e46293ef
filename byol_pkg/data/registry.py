"""One record per dataset, registered with its builder (in the style of timm's model registry).

Every fact the project holds about a dataset lives in its :class:`DatasetInfo`, declared next to its loader:
the display name, class count, the metric the paper reports, the paper's split names and Table 10 sizes, the
multi-label flag, where the published tables list it, whether it may be a pretraining set, and where its files come
from (``download``: a :class:`~byol_pkg.data.sources.DownloadSource`, the URLs and checksums or the manual steps that
``byol download`` reads). Everything else
(``byol prepare``, the evaluation commands, the report's tables and published rows, the config's choices) reads
the record. Adding a dataset is one module (its builder decorated with ``@register_dataset(DatasetInfo(...))``)
plus its fixture in ``tests/``.

A builder is ``fn(root: Path | None, split: str, download: bool, max_samples: int | None)`` returning an
:class:`ImageDataset`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import UnknownDatasetError
from .base import ImageDataset
from .sources import DownloadSource

#: What the published tables call a dataset (``DatasetInfo.published``): the paper's ImageNet (Tables 1, 2),
#: or a column of Table 3 (its cells keyed by the registry name).
PUBLISHED_KEYS = ("imagenet", "table3")
#: The protocol roles of the paper's splits (App. D: fit on train, select on val, refit on trainval, report
#: on test).
ROLES = ("train", "val", "trainval", "test")


@dataclass(frozen=True)
class PaperSizes:
    """Table 10: creators' training split, selection train / val, and test."""

    orig_train: int
    train: int
    val: int
    test: int


@dataclass(frozen=True)
class DatasetInfo:
    """Everything about one dataset. ``train`` / ``val`` / ``trainval`` / ``test`` are the split names the
    paper's protocols use (None: the dataset has no paper splits; the protocols then use ``train``, a saved
    hold-out of it and ``test``)."""

    name: str  # registry name (build_dataset)
    display: str  # as the tables print it (Table 3's column title for the transfer datasets)
    num_classes: int | None  # classes the loader yields (None: any, e.g. an image folder)
    splits: tuple[str, ...] | None  # the split names the loader accepts (None: any sub-folder)
    metric: str = "top1"  # the metric the paper reports (a key of byol_pkg.metrics.METRICS)
    train: str | None = None
    val: str | None = None
    trainval: str | None = None
    test: str | None = None
    paper: PaperSizes | None = None  # Table 10
    multilabel: bool = False  # labels [N, C] in {1, -1, 0} (VOC2007)
    published: str | None = None  # one of PUBLISHED_KEYS, or None when no published table has it
    pretraining: bool = False  # accepted as a pretraining dataset (config data.name)
    aliases: tuple[str, ...] = ()  # other names of it (metric_for_dataset, reports)
    source: str = ""  # where to get the data (a line for people; the machine-readable source is ``download``)
    note: str = ""
    download: DownloadSource | None = None  # its public files and checksums, or the manual steps (byol download)

    @property
    def has_paper_splits(self) -> bool:
        return self.train is not None

    def roles(self) -> dict[str, str]:
        """Protocol role -> split name of every split the evaluation protocols read."""
        if not self.has_paper_splits:
            return {"train": "train", "test": "test"}
        return {role: getattr(self, role) for role in ROLES}


class DatasetBuilder(Protocol):
    info: DatasetInfo
    splits: tuple[str, ...] | None

    def __call__(
        self, root: Path | None, split: str, download: bool, max_samples: int | None
    ) -> ImageDataset: ...


DATASETS: dict[str, DatasetBuilder] = {}


def register_dataset(info: DatasetInfo) -> Callable[[Callable[..., ImageDataset]], Callable[..., ImageDataset]]:
    """Decorator registering a builder under ``info.name`` with its record (``fn.info``, ``fn.splits``)."""

    def deco(fn: Callable[..., ImageDataset]) -> Callable[..., ImageDataset]:
        if info.name in DATASETS:
            raise ValueError(f"dataset '{info.name}' is already registered")
        if info.published is not None and info.published not in PUBLISHED_KEYS:
            raise ValueError(f"dataset '{info.name}': published must be one of {PUBLISHED_KEYS}")
        fn.info = info  # type: ignore[attr-defined]
        fn.splits = info.splits  # type: ignore[attr-defined]
        DATASETS[info.name] = fn  # type: ignore[assignment]
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


def dataset_info(name: str) -> DatasetInfo:
    """The record of a registered dataset (or :class:`~byol_pkg.errors.UnknownDatasetError`)."""
    return DATASETS[check_split(name)].info


def find_dataset_info(name: str) -> DatasetInfo | None:
    """The record whose name, display name or alias is ``name`` (ignoring case and every non-alphanumeric
    character), or None."""
    key = _loose(name)
    for builder in DATASETS.values():
        info = builder.info
        if key in {_loose(n) for n in (info.name, info.display, *info.aliases)}:
            return info
    return None


def _loose(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


#: VOC2012 segmentation (mean IoU) is no classification metric (Table 4; not registered yet).
_VOC12_SEG_NAMES = {"voc2012", "voc12", "pascalvoc2012", "pascalvoc12", "voc2012seg", "voc2012segmentation"}


def metric_for_dataset(name: str) -> str:
    """The metric the paper reports for dataset ``name`` (Table 3 / Table 10, spec §6.6), a key of
    ``byol_pkg.metrics.METRICS``: the record's when ``name`` is a registered dataset's name, display name or
    alias (case, ``-``, ``_`` and spaces ignored), else ``"top1"``: ``"mean_per_class"`` for Aircraft, Pets,
    Caltech-101 and Flowers, ``"voc07_map"`` for VOC2007. VOC2012 (segmentation) raises ``ValueError``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"metric_for_dataset: dataset name must be a non-empty string, got {name!r}")
    if _loose(name) in _VOC12_SEG_NAMES:
        raise ValueError(f"metric_for_dataset: '{name}' is VOC2012 segmentation (mean IoU), not provided here")
    info = find_dataset_info(name)
    return info.metric if info is not None else "top1"


def registered(**flags: object) -> dict[str, DatasetInfo]:
    """Records of the registered datasets whose fields equal ``flags`` (e.g. ``published="table3"``), in
    registration order."""
    return {n: b.info for n, b in DATASETS.items() if all(getattr(b.info, k) == v for k, v in flags.items())}


def build_dataset(
    name: str,
    root: str | os.PathLike[str] | None,
    split: str,
    download: bool = False,
    max_samples: int | None = None,
) -> ImageDataset:
    """Build dataset ``name`` (case and ``-``/``_`` insensitive) for ``split`` from ``root``.

    Raises :class:`~byol_pkg.errors.UnknownDatasetError` (a ``ValueError``) for an unknown name/split,
    ``ValueError`` for a bad ``max_samples`` and :class:`~byol_pkg.errors.DatasetNotFoundError` when the files
    are missing. Nothing is downloaded unless ``download=True``.
    """
    key = check_split(name, split)
    builder = DATASETS[key]
    if max_samples is not None:
        if isinstance(max_samples, bool) or int(max_samples) != max_samples or max_samples < 1:
            raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
        max_samples = int(max_samples)
    path = Path(root).expanduser() if root is not None else None
    return builder(path, split, bool(download), max_samples)
