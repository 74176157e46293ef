"""Writers for tiny datasets in each loader's real on-disk layout (reusable by any test).

Every ``make_*`` function returns the arrays it wrote, in the loaders' convention:
``{split: (images uint8 [N, C, H, W], labels int64 [N])}``.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}
Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX: 0x00 0x00 <type> <ndim>, big-endian u32 dims, big-endian data."""
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    header = bytes([0, 0, IDX_TYPE_CODES[np.dtype(big)], arr.ndim])
    header += b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(big).tobytes(order="C")


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends with ``.gz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def make_fashion_mnist(
    root: str | os.PathLike[str],
    n_train: int = 12,
    n_test: int = 6,
    subdir: str = "FashionMNIST/raw",
    gz: bool = True,
    seed: int = 0,
) -> Arrays:
    """The four Fashion-MNIST IDX files in ``<root>/<subdir>`` (``subdir=""``: root itself)."""
    folder = Path(root) / subdir if subdir else Path(root)
    rng = _rng(seed)
    out: Arrays = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[split] = (images[:, None], labels.astype(np.int64))
    return out


def _cifar_batch(rng: np.random.Generator, n: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=n).astype(np.int64)
    return images, labels


def _dump(path: Path, obj: dict) -> None:
    # The official files are Python 2 pickles whose keys load as bytes.
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar10(
    root: str | os.PathLike[str], n_per_batch: int = 4, n_test: int = 5, seed: int = 0
) -> Arrays:
    """``<root>/cifar-10-batches-py`` with 5 train batches, a test batch and batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = _rng(seed)
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = _cifar_batch(rng, n_per_batch, 10)
        _dump(
            folder / f"data_batch_{i}",
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": [int(v) for v in y],
                b"data": x.reshape(len(x), -1),
                b"filenames": [f"img_{i}_{j}.png".encode() for j in range(len(x))],
            },
        )
        train_x.append(x)
        train_y.append(y)
    test_x, test_y = _cifar_batch(rng, n_test, 10)
    _dump(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(v) for v in test_y],
            b"data": test_x.reshape(len(test_x), -1),
            b"filenames": [f"test_{j}.png".encode() for j in range(len(test_x))],
        },
    )
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    _dump(
        folder / "batches.meta",
        {b"num_cases_per_batch": n_per_batch, b"label_names": names, b"num_vis": 3072},
    )
    return {"train": (np.concatenate(train_x), np.concatenate(train_y)), "test": (test_x, test_y)}


def make_cifar100(root: str | os.PathLike[str], n_train: int = 10, n_test: int = 5, seed: int = 0) -> Arrays:
    """``<root>/cifar-100-python`` with train, test and meta pickles (fine and coarse labels)."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = _rng(seed)
    out: Arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = _cifar_batch(rng, n, 100)
        _dump(
            folder / split,
            {
                b"filenames": [f"{split}_{j}.png".encode() for j in range(n)],
                b"batch_label": f"{split} batch".encode(),
                b"fine_labels": [int(v) for v in y],
                b"coarse_labels": [int(v) // 5 for v in y],
                b"data": x.reshape(n, -1),
            },
        )
        out[split] = (x, y)
    _dump(
        folder / "meta",
        {
            b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)],
        },
    )
    return out


def stl10_bytes(images: np.ndarray) -> bytes:
    """STL-10 storage of ``[N, 3, H, W]`` images: each channel column-major."""
    return np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes()


def make_stl10(
    root: str | os.PathLike[str],
    n_train: int = 6,
    n_test: int = 4,
    n_unlabeled: int = 5,
    seed: int = 0,
) -> Arrays:
    """``<root>/stl10_binary`` with {train,test}_{X,y}.bin, unlabeled_X.bin and class_names.txt."""
    folder = Path(root) / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    rng = _rng(seed)
    out: Arrays = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        x = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
        (folder / f"{split}_X.bin").write_bytes(stl10_bytes(x))
        if split == "unlabeled":
            y = np.full(n, -1, dtype=np.int64)
        else:
            y = (np.arange(n) % 10).astype(np.int64)
            (folder / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())
        out[split] = (x, y)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (folder / "class_names.txt").write_text("\n".join(names) + "\n")
    return out


def make_image_folder(
    root: str | os.PathLike[str],
    splits: dict[str, dict[str, int]] | None = None,
    size: tuple[int, int] = (10, 12),
    seed: int = 0,
) -> dict[str, list[tuple[str, int, np.ndarray]]]:
    """``<root>/<split>/<class>/<file>`` with PNG, JPEG, BMP and WEBP files of mixed-case names.

    Returns ``{split: [(path, label, rgb uint8 [3, H, W]), ...]}`` in the loader's sorted
    order. PNG/BMP round-trip exactly; JPEG/WEBP images are flat colours (lossy codecs).
    A ``notes.txt`` per class folder must be ignored by the loader.
    """
    from PIL import Image

    splits = splits or {"train": {"n01440764": 3, "n01443537": 2}, "val": {"n01440764": 1, "n01443537": 1}}
    rng = _rng(seed)
    h, w = size
    kinds = [
        ("png", "PNG", True),
        ("JPEG", "JPEG", False),
        ("Png", "PNG", True),
        ("bmp", "BMP", True),
        ("webp", "WEBP", False),
    ]
    out: dict[str, list[tuple[str, int, np.ndarray]]] = {}
    for split, counts in splits.items():
        entries = []
        for label, cls in enumerate(sorted(counts)):
            folder = Path(root) / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "notes.txt").write_text("not an image")
            for j in range(counts[cls]):
                ext, fmt, exact = kinds[j % len(kinds)]
                if exact:
                    hwc = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                else:
                    hwc = np.empty((h, w, 3), dtype=np.uint8)
                    hwc[:] = rng.integers(0, 256, size=3, dtype=np.uint8)
                path = folder / f"img_{j:03d}.{ext}"
                save_kw = {"quality": 100} if fmt in ("JPEG", "WEBP") else {}
                Image.fromarray(hwc).save(path, format=fmt, **save_kw)
                entries.append((str(path), label, hwc.transpose(2, 0, 1).copy()))
        entries.sort(key=lambda e: (e[1], e[0]))
        out[split] = entries
    return out


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote the official CIFAR files: ``str`` and ``bytes`` as 8-bit strings
    (``SHORT_BINSTRING`` / ``BINSTRING``), so that ``encoding="bytes"`` loads them as bytes."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def python2_pickle_bytes(obj: object) -> bytes:
    """``obj`` pickled as the official CIFAR python batches are: Python 2 protocol 2 with numpy 1.x's
    ``numpy.core.multiarray._reconstruct``."""
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")


def make_cifar10_python2(root: str | os.PathLike[str], n_per_batch: int = 4, n_test: int = 5, seed: int = 0) -> Arrays:
    """:func:`make_cifar10`, then every file rewritten in the official Python 2 pickle format."""
    out = make_cifar10(root, n_per_batch, n_test, seed)
    folder = Path(root) / "cifar-10-batches-py"
    for path in folder.iterdir():
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="bytes")
        path.write_bytes(python2_pickle_bytes(obj))
    return out
