"""CIFAR-10 / CIFAR-100 from the official python-pickle archives (torchvision's layout).

``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``<root>/cifar-100-python/{train, test, meta}``. Each pickle holds ``data``: uint8
``[N, 3072]`` (R, G, B planes of 32x32, row-major) and ``labels`` / ``fine_labels``.

Splits: ``train`` (all 50,000) and ``test`` (10,000) as the creators ship them, plus the transfer-protocol
splits of the BYOL paper (Table 10, spec §6.5): ``transfer_val`` = a class-stratified hold-out of the train
split with seed 0 (CIFAR-10: 5,000; CIFAR-100: 5,067; per-class counts by largest remainder, see
:func:`byol_pkg.data.holdout.stratified_holdout`; a train file of another size keeps the fraction), and
``transfer_train`` = the rest (45,000 / 44,933). Refit on ``train``, report on ``test``.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import ArrayImageDataset
from ..errors import DatasetFormatError, DatasetNotFoundError
from .holdout import SEED, scaled_count, stratified_holdout
from .registry import DatasetInfo, PaperSizes, register_dataset
from .sources import DownloadSource, RemoteFile

#: Transfer hold-out sizes of the paper (Table 10): validation images held out of the 50,000 train images.
TRANSFER_VAL = {"cifar10": 5000, "cifar100": 5067}
TRAIN_SIZE = 50000
SPLITS = ("train", "test", "transfer_train", "transfer_val")


def _info(name: str, display: str, num_classes: int, sizes: tuple[int, int, int, int], archive: str,
          md5: str, folder: str) -> DatasetInfo:
    """A CIFAR record: pretrainable, a Table 3 dataset with the transfer hold-out as its selection splits; its
    archive (md5 as torchvision records it) unpacks to ``<root>/<folder>/``, the layout read here."""
    download = DownloadSource((RemoteFile(f"https://www.cs.toronto.edu/~kriz/{archive}", f"md5:{md5}"),),
                              layout=f"<root>/{folder}/ ({archive} extracted)")
    return DatasetInfo(name, display, num_classes, SPLITS, train="transfer_train", val="transfer_val",
                       trainval="train", test="test", paper=PaperSizes(*sizes), published="table3",
                       pretraining=True, source=f"https://www.cs.toronto.edu/~kriz/cifar.html ({archive})",
                       download=download)


CIFAR10_INFO = _info("cifar10", "CIFAR10", 10, (50_000, 45_000, 5_000, 10_000), "cifar-10-python.tar.gz",
                     "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py")
CIFAR100_INFO = _info("cifar100", "CIFAR100", 100, (50_000, 44_933, 5_067, 10_000), "cifar-100-python.tar.gz",
                      "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python")


@dataclass(frozen=True)
class CifarSpec:
    name: str
    folder: str
    files: dict[str, tuple[str, ...]]
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    archive: str


CIFAR10 = CifarSpec(
    "cifar10",
    "cifar-10-batches-py",
    {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    "batches.meta",
    "labels",
    "label_names",
    10,
    "cifar-10-python.tar.gz",
)
CIFAR100 = CifarSpec(
    "cifar100",
    "cifar-100-python",
    {"train": ("train",), "test": ("test",)},
    "meta",
    "fine_labels",
    "fine_label_names",
    100,
    "cifar-100-python.tar.gz",
)


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles ``bytes`` under protocol 2 (``encode(text, 'latin1')``); any other
    codec is refused."""
    if not isinstance(text, str) or encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise _RefusedGlobal(f"_codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


#: The only globals a CIFAR batch may name: a numpy array pickles as ``_reconstruct(ndarray, ...)`` plus a
#: ``dtype`` (``numpy.core.multiarray`` from numpy 1.x and the official Python 2 files, ``numpy._core`` from
#: numpy 2), and a Python 3 protocol-2 writer pickles ``bytes`` through ``_codecs.encode(text, 'latin1')``.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle names a global that a CIFAR batch never holds (it could run code)."""


class CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`SAFE_GLOBALS` (no import, no other callable), so a data file cannot
    execute code."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedGlobal(f"persistent id {str(pid)[:40]!r}")


#: What unpickling a file that is not a CIFAR pickle raises (truncated, another format, garbage).
_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
                    OverflowError, RecursionError, MemoryError, struct.error)


def load_pickle(path: Path) -> dict[str, Any]:
    """Load a CIFAR pickle with :class:`CifarUnpickler`, normalising byte-string keys to str."""
    try:
        with open(path, "rb") as f:
            obj = CifarUnpickler(f, encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise DatasetFormatError(
            path, f"refused to load global '{exc}': a CIFAR batch holds only numpy arrays, lists and bytes "
                  "(the file may be tampered with; re-extract the official archive)") from None
    except _UNPICKLE_ERRORS as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DatasetFormatError(path, f"not a readable CIFAR pickle ({msg}); truncated or corrupt? "
                                       "expected a python pickle of a dict (cifar-*-python.tar.gz extracted)") from None
    if not isinstance(obj, dict):
        raise DatasetFormatError(path, f"expected a dict pickle, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def candidate_dirs(spec: CifarSpec, root: Path | None) -> list[Path]:
    """``<root>/<folder>``, or ``<root>`` itself when it is that folder."""
    if root is None:
        return []
    return [root / spec.folder] + ([root] if root.name == spec.folder else [])


def find_dir(spec: CifarSpec, root: Path | None, split: str) -> Path | None:
    for folder in candidate_dirs(spec, root):
        if all((folder / f).is_file() for f in spec.files[split]):
            return folder
    return None


def _class_names(spec: CifarSpec, folder: Path) -> list[str] | None:
    meta = folder / spec.meta_file
    if not meta.is_file():
        return None
    names = load_pickle(meta).get(spec.names_key)
    if not isinstance(names, (list, tuple)) or len(names) != spec.num_classes:
        return None
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _download(spec: CifarSpec, root: Path) -> None:
    from .download import download

    download(spec.name, root)


def _batch_arrays(spec: CifarSpec, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 [N, 3072], labels int64 [N])`` of one batch file, or a one-line :class:`DatasetFormatError`."""
    batch = load_pickle(path)
    if "data" not in batch or spec.label_key not in batch:
        raise DatasetFormatError(path, f"missing keys 'data'/'{spec.label_key}' in pickle "
                                       f"(has {sorted(map(str, batch))[:6]})")
    data, raw = batch["data"], batch[spec.label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFormatError(path, f"expected 'data' as a uint8 array [N, 3072], got {what}")
    try:
        labels = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = None
    if labels is None or labels.shape != (len(data),):
        got = f"shape {labels.shape}" if labels is not None else type(raw).__name__
        raise DatasetFormatError(path, f"expected {len(data)} integer '{spec.label_key}' (one per image), got {got}")
    if not len(data):
        raise DatasetFormatError(path, "holds no images (expected 'data' [N, 3072] with N > 0)")
    if labels.min() < 0 or labels.max() >= spec.num_classes:
        raise DatasetFormatError(path, f"'{spec.label_key}' outside 0..{spec.num_classes - 1} "
                                       f"(got {labels.min()}..{labels.max()})")
    return data, labels


def load_cifar(
    spec: CifarSpec, root: Path | None, split: str, download: bool, max_samples: int | None
) -> ArrayImageDataset:
    """Read ``split`` of ``spec`` into an in-memory uint8 ``[N, 3, 32, 32]`` dataset."""
    folder = find_dir(spec, root, split)
    if folder is None and download and root is not None:
        _download(spec, root)
        folder = find_dir(spec, root, split)
    if folder is None:
        raise DatasetNotFoundError.build(
            spec.name,
            split,
            candidate_dirs(spec, root) or ["<no root given>"],
            f"<root>/{spec.folder}/{{{', '.join(spec.files[split])}}} (python pickles, "
            f"i.e. {spec.archive} extracted)",
            f"set data.root to a folder holding {spec.folder}/ "
            f"(extract {spec.archive} there), set data.download: true, or run: byol download {spec.name} --root <root>",
        )
    chunks, labels = [], []
    for fname in spec.files[split]:
        path = folder / fname
        data, batch_labels = _batch_arrays(spec, path)
        chunks.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels)
        if max_samples is not None and sum(map(len, chunks)) >= max_samples:
            break
    images = np.concatenate(chunks)
    targets = np.concatenate(labels)
    ds = ArrayImageDataset(spec.name, split, images, targets, spec.num_classes, _class_names(spec, folder),
                           max_samples)
    ds.data_dir = str(folder)  # recorded in the prepare manifest
    return ds


def transfer_holdout(spec: CifarSpec, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(transfer_train, transfer_val)`` indices into the train split (stratified, seed 0)."""
    return stratified_holdout(labels, scaled_count(len(labels), TRANSFER_VAL[spec.name], TRAIN_SIZE), SEED)


def load_split(
    spec: CifarSpec, root: Path | None, split: str, download: bool, max_samples: int | None
) -> ArrayImageDataset:
    """``train`` / ``test`` as shipped, or a transfer split held out of ``train``."""
    if split not in ("transfer_train", "transfer_val"):
        return load_cifar(spec, root, split, download, max_samples)
    full = load_cifar(spec, root, "train", download, None)
    train_idx, val_idx = transfer_holdout(spec, full.targets)
    idx = train_idx if split == "transfer_train" else val_idx
    ds = ArrayImageDataset(spec.name, split, full.images[idx], full.targets[idx], spec.num_classes,
                           full.classes, max_samples)
    ds.source_indices, ds.source_split = idx[: len(ds)], "train"  # saved as the split's index file
    ds.split_rule = f"class-stratified hold-out of {len(val_idx)} train images, seed {SEED}"
    ds.data_dir = full.data_dir
    return ds


@register_dataset(CIFAR10_INFO)
def build_cifar10(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ArrayImageDataset:
    """CIFAR-10, 3x32x32, 10 classes (50,000 train / 10,000 test; transfer 45,000 / 5,000 of train)."""
    return load_split(CIFAR10, root, split, download, max_samples)


@register_dataset(CIFAR100_INFO)
def build_cifar100(
    root: Path | None, split: str, download: bool = False, max_samples: int | None = None
) -> ArrayImageDataset:
    """CIFAR-100 with its 100 fine labels, 3x32x32 (50,000 train / 10,000 test; transfer 44,933 / 5,067)."""
    return load_split(CIFAR100, root, split, download, max_samples)
