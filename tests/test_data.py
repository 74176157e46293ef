"""Dataset loaders against tiny fixtures written in each dataset's real on-disk layout."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import (
    make_cifar10,
    make_cifar100,
    make_fashion_mnist,
    make_image_folder,
    make_stl10,
    write_idx,
)

from byol_pkg.data import (
    DATASETS,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageDataset,
    build_dataset,
    read_idx,
    register_dataset,
)
from byol_pkg.data.fashion_mnist import DEFAULT_SYSTEM_DIRS, SYSTEM_DIRS_ENV
from byol_pkg.data.registry import DatasetInfo, dataset_info

REAL_FASHION = DEFAULT_SYSTEM_DIRS[0]


@pytest.fixture(autouse=True)
def no_system_fashion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixture tests must not silently fall back to the system-wide Fashion-MNIST."""
    monkeypatch.setenv(SYSTEM_DIRS_ENV, "")


def check_contract(ds: ImageDataset, images: np.ndarray, labels: np.ndarray) -> None:
    """``ds`` matches the arrays exactly and honours the item contract."""
    assert isinstance(ds, ImageDataset)
    assert len(ds) == len(images) == len(labels) > 0  # every caller's arrays hold images: none compared would pass
    assert isinstance(ds.targets, np.ndarray) and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.targets, labels)
    assert ds.channels == images.shape[1]
    for i in range(len(ds)):
        img, label = ds[i]
        assert isinstance(img, torch.Tensor) and img.dtype == torch.uint8
        assert tuple(img.shape) == images.shape[1:]
        assert type(label) is int and label == labels[i]
        np.testing.assert_array_equal(img.numpy(), images[i])


def assert_one_line_not_found(exc: pytest.ExceptionInfo, *paths: Path) -> str:
    msg = str(exc.value)
    assert isinstance(exc.value, FileNotFoundError)
    assert "\n" not in msg
    assert paths  # at least one path to look for
    for p in paths:
        assert str(p) in msg, f"{p} missing from: {msg}"
    return msg


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
def test_idx_roundtrip(tmp_path: Path, suffix: str, dtype: str) -> None:
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    out = read_idx(path)
    assert out.shape == (2, 3, 5) and out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, arr)


def test_idx_header_is_big_endian(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels-idx1-ubyte", (np.arange(300) % 256).astype(np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x01" and raw[4:8] == (300).to_bytes(4, "big")
    path = write_idx(tmp_path / "short-idx2", np.array([[1, 256]], dtype=">i2"))
    assert path.read_bytes()[12:] == b"\x00\x01\x01\x00"
    np.testing.assert_array_equal(read_idx(path), [[1, 256]])


def test_idx_bad_magic_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x08\x03\x00\x00" + bytes(16))
    with pytest.raises(DatasetFormatError, match="magic") as exc:
        read_idx(bad)
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
    bad.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")  # unknown type code 0x07
    with pytest.raises(DatasetFormatError, match="magic"):
        read_idx(bad)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_names_file(tmp_path: Path, suffix: str) -> None:
    path = write_idx(tmp_path / f"t-idx3-ubyte{suffix}", np.zeros((4, 28, 28), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match="truncated") as exc:
        read_idx(path)
    assert str(path) in str(exc.value)
    raw = tmp_path / "header-only"
    raw.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetFormatError, match="truncated"):
        read_idx(raw)


# ---------------------------------------------------------------- Fashion-MNIST


@pytest.mark.parametrize("subdir", ["FashionMNIST/raw", "fashion_mnist", "fashion-mnist", ""])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_layouts(tmp_path: Path, subdir: str, gz: bool) -> None:
    arrays = make_fashion_mnist(tmp_path, n_train=12, n_test=7, subdir=subdir, gz=gz)
    for split in ("train", "test"):
        ds = build_dataset("fashion_mnist", tmp_path, split)
        assert (ds.name, ds.split, ds.num_classes, ds.channels) == ("fashion_mnist", split, 10, 1)
        check_contract(ds, *arrays[split])


def test_fashion_mnist_known_pixel_and_max_samples(tmp_path: Path) -> None:
    folder = tmp_path / "fashion_mnist"
    images = np.zeros((3, 28, 28), np.uint8)
    images[2, 5, 20] = 200  # row 5, column 20 of the third image
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([4, 0, 9], np.uint8))
    ds = build_dataset("fashion-mnist", tmp_path, "test")
    img, label = ds[2]
    assert label == 9 and img[0, 5, 20] == 200 and int(img.sum()) == 200
    small = build_dataset("fashion_mnist", tmp_path, "test", max_samples=2)
    assert len(small) == 2 and small.targets.tolist() == [4, 0]


def test_fashion_mnist_search_order(tmp_path: Path) -> None:
    first = make_fashion_mnist(tmp_path, 3, 2, subdir="FashionMNIST/raw", seed=1)
    make_fashion_mnist(tmp_path, 5, 2, subdir="", seed=2)
    ds = build_dataset("fashion_mnist", tmp_path, "train")
    check_contract(ds, *first["train"])


def test_fashion_mnist_fixture_matches_torchvision(tmp_path: Path) -> None:
    """torchvision's own MNIST reader accepts our raw IDX fixture and agrees with ours."""
    from torchvision.datasets import FashionMNIST

    arrays = make_fashion_mnist(tmp_path, 8, 4, gz=False)
    tv = FashionMNIST(str(tmp_path), train=True, download=False)
    np.testing.assert_array_equal(tv.data.numpy(), arrays["train"][0][:, 0])
    np.testing.assert_array_equal(tv.targets.numpy(), arrays["train"][1])
    ours = build_dataset("fashion_mnist", tmp_path, "train")
    np.testing.assert_array_equal(ours.images[:, 0], tv.data.numpy())


def test_fashion_mnist_label_file_mismatch(tmp_path: Path) -> None:
    folder = tmp_path / "fashion_mnist"
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DatasetFormatError, match="labels"):
        build_dataset("fashion_mnist", tmp_path, "train")


def test_fashion_mnist_missing(tmp_path: Path) -> None:
    root = tmp_path / "nothing"
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("fashion_mnist", root, "test")
    msg = assert_one_line_not_found(
        exc, root / "FashionMNIST" / "raw", root / "fashion_mnist", root / "fashion-mnist", root
    )
    assert "fashion_mnist" in msg and "t10k-images-idx3-ubyte" in msg and "data.download: true" in msg


def test_fashion_mnist_missing_lists_system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYSTEM_DIRS_ENV, str(tmp_path / "sys"))
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("fashion_mnist", tmp_path, "train")
    assert_one_line_not_found(exc, tmp_path / "sys")


@pytest.mark.skipif(
    not (REAL_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"real Fashion-MNIST not installed at {REAL_FASHION} (apt-get install dataset-fashion-mnist)",
)
def test_real_debian_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SYSTEM_DIRS_ENV)
    train = build_dataset("fashion_mnist", tmp_path, "train")  # empty root: falls back to Debian's
    test = build_dataset("fashion_mnist", tmp_path, "test")
    assert (len(train), len(test)) == (60_000, 10_000)
    for ds in (train, test):
        assert ds.targets.min() == 0 and ds.targets.max() == 9
        assert np.bincount(ds.targets).tolist() == [len(ds) // 10] * 10
        img, _ = ds[0]
        assert img.shape == (1, 28, 28) and img.dtype == torch.uint8


# ---------------------------------------------------------------- digits


def test_digits_real_sizes_and_stratification() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train = build_dataset("digits", None, "train")
    test = build_dataset("digits", "/does/not/matter", "test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert (train.num_classes, train.channels) == (10, 1)
    per_class = np.bincount(bunch.target, minlength=10)
    test_counts = np.bincount(test.targets, minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * per_class) <= 1)
    np.testing.assert_array_equal(np.bincount(train.targets, minlength=10) + test_counts, per_class)
    # Every real image appears exactly once across the two splits, scaled to 0..255.
    expected = np.rint(bunch.images * 255 / 16).astype(np.uint8)
    both = np.concatenate([train.images[:, 0], test.images[:, 0]]).reshape(1797, -1)
    assert sorted(r.tobytes() for r in both) == sorted(r.tobytes() for r in expected.reshape(1797, -1))
    assert both.max() == 255 and both.min() == 0
    img, label = test[0]
    assert img.shape == (1, 8, 8) and type(label) is int
    again = build_dataset("digits", None, "test", max_samples=5)
    np.testing.assert_array_equal(again.images, test.images[:5])


# ---------------------------------------------------------------- CIFAR


def test_cifar10_roundtrip_and_plane_order(tmp_path: Path) -> None:
    arrays = make_cifar10(tmp_path, n_per_batch=4, n_test=5)
    train = build_dataset("cifar10", tmp_path, "train")
    test = build_dataset("cifar10", tmp_path, "test")
    check_contract(train, *arrays["train"])
    check_contract(test, *arrays["test"])
    assert train.num_classes == 10 and train.classes[0] == "airplane" and len(train) == 20
    # Row layout straight from the pickle: 1024 R, then 1024 G, then 1024 B, each row-major.
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][3]
    img, _ = test[3]
    for c, h, w in [(0, 0, 1), (1, 7, 30), (2, 31, 0)]:
        assert img[c, h, w] == row[c * 1024 + h * 32 + w]


def test_cifar10_max_samples_spans_batches(tmp_path: Path) -> None:
    arrays = make_cifar10(tmp_path, n_per_batch=4, n_test=2)
    ds = build_dataset("cifar10", tmp_path, "train", max_samples=6)
    check_contract(ds, arrays["train"][0][:6], arrays["train"][1][:6])


def test_cifar100(tmp_path: Path) -> None:
    arrays = make_cifar100(tmp_path, n_train=9, n_test=4)
    for split in ("train", "test"):
        ds = build_dataset("cifar100", tmp_path, split)
        assert ds.num_classes == 100 and ds.classes[99] == "fine_99"
        check_contract(ds, *arrays[split])
    assert len(build_dataset("cifar100", tmp_path, "test", max_samples=3)) == 3


def test_cifar_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("cifar100", tmp_path, "train")
    msg = assert_one_line_not_found(exc, tmp_path / "cifar-100-python")
    assert "cifar100" in msg and "data.root" in msg and "data.download: true" in msg
    make_cifar10(tmp_path, 2, 2)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="test_batch"):
        build_dataset("cifar10", tmp_path, "test")


# ---------------------------------------------------------------- STL-10


def test_stl10_labelled_roundtrip_column_major(tmp_path: Path) -> None:
    arrays = make_stl10(tmp_path, n_train=6, n_test=4, n_unlabeled=2)
    train = build_dataset("stl10", tmp_path, "train")
    check_contract(train, *arrays["train"])
    check_contract(build_dataset("stl10", tmp_path, "test"), *arrays["test"])
    assert train.num_classes == 10 and train.classes[2] == "car"
    # On disk, pixel (c, h, w) of image n lives at n*27648 + c*9216 + w*96 + h.
    raw = (tmp_path / "stl10_binary" / "train_X.bin").read_bytes()
    img, _ = train[4]
    for c, h, w in [(0, 1, 90), (2, 95, 3), (1, 40, 41)]:
        assert img[c, h, w] == raw[4 * 27648 + c * 9216 + w * 96 + h]
    labels = np.frombuffer((tmp_path / "stl10_binary" / "train_y.bin").read_bytes(), np.uint8)
    np.testing.assert_array_equal(train.targets, labels.astype(np.int64) - 1)


def test_stl10_unlabeled_memmap(tmp_path: Path) -> None:
    arrays = make_stl10(tmp_path, n_train=3, n_test=1, n_unlabeled=5)
    ds = build_dataset("stl10", tmp_path, "unlabeled")
    check_contract(ds, *arrays["unlabeled"])
    assert ds.targets.tolist() == [-1] * 5
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 10_000  # only the path travels to workers, not the pixels
    np.testing.assert_array_equal(clone[4][0].numpy(), arrays["unlabeled"][0][4])
    small = build_dataset("stl10", tmp_path, "unlabeled", max_samples=2)
    check_contract(small, arrays["unlabeled"][0][:2], arrays["unlabeled"][1][:2])


@pytest.mark.parametrize("max_samples", [None, 2, 5])
def test_stl10_train_plus_unlabeled(tmp_path: Path, max_samples: int | None) -> None:
    arrays = make_stl10(tmp_path, n_train=3, n_test=1, n_unlabeled=4)
    ds = build_dataset("stl10", tmp_path, "train+unlabeled", max_samples=max_samples)
    images = np.concatenate([arrays["train"][0], arrays["unlabeled"][0]])
    labels = np.concatenate([arrays["train"][1], arrays["unlabeled"][1]])
    n = max_samples or 7
    check_contract(ds, images[:n], labels[:n])
    assert ds.split == "train+unlabeled" and ds.num_classes == 10


def test_stl10_dataloader_workers(tmp_path: Path) -> None:
    arrays = make_stl10(tmp_path, n_train=2, n_test=1, n_unlabeled=4)
    ds = build_dataset("stl10", tmp_path, "train+unlabeled")
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=1)
    batches = list(loader)
    imgs = torch.cat([b[0] for b in batches]).numpy()
    np.testing.assert_array_equal(imgs, np.concatenate([arrays["train"][0], arrays["unlabeled"][0]]))
    assert torch.cat([b[1] for b in batches]).tolist() == [0, 1, -1, -1, -1, -1]


def test_stl10_truncated_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("stl10", tmp_path, "train+unlabeled")
    msg = assert_one_line_not_found(exc, tmp_path / "stl10_binary")
    assert "unlabeled_X.bin" in msg and "train_y.bin" in msg
    make_stl10(tmp_path, 2, 1, 1)
    x = tmp_path / "stl10_binary" / "test_X.bin"
    x.write_bytes(x.read_bytes()[:-10])
    with pytest.raises(DatasetFormatError, match="test_X.bin"):
        build_dataset("stl10", tmp_path, "test")


# ---------------------------------------------------------------- ImageFolder


def test_image_folder_roundtrip(tmp_path: Path) -> None:
    written = make_image_folder(
        tmp_path, {"train": {"n02": 5, "n01": 2}, "val": {"n01": 1, "n02": 1}}, size=(10, 12)
    )
    ds = build_dataset("imagefolder", tmp_path, "train")
    assert ds.classes == ["n01", "n02"] and ds.num_classes == 2 and ds.channels == 3
    assert len(ds) == 7 and ds.targets.tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert [Path(p).name for p in ds.paths[2:]] == [
        "img_000.png",
        "img_001.JPEG",
        "img_002.Png",
        "img_003.bmp",
        "img_004.webp",
    ]
    assert len(written["train"]) == len(ds) == 7
    for i, (path, label, expected) in enumerate(written["train"]):
        img, got_label = ds[i]
        assert ds.paths[i] == path and got_label == label
        assert img.dtype == torch.uint8 and tuple(img.shape) == (3, 10, 12)
        if path.lower().endswith((".png", ".bmp")):
            np.testing.assert_array_equal(img.numpy(), expected)
        else:  # lossy codecs on a flat colour
            assert np.abs(img.numpy().astype(int) - expected.astype(int)).max() <= 4
    assert len(build_dataset("imagefolder", tmp_path, "val")) == 2
    small = build_dataset("imagefolder", tmp_path, "train", max_samples=3)
    assert small.paths == ds.paths[:3] and small.num_classes == 2


def test_image_folder_grayscale_becomes_rgb(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "train" / "a"
    folder.mkdir(parents=True)
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(gray, mode="L").save(folder / "g.png")
    img, label = build_dataset("imagefolder", tmp_path, "train")[0]
    assert label == 0 and img.shape == (3, 4, 5)
    for c in range(3):
        np.testing.assert_array_equal(img[c].numpy(), gray)


def test_image_folder_errors(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"x": 1}})
    with pytest.raises(DatasetNotFoundError) as exc:
        build_dataset("imagefolder", tmp_path, "val")
    msg = assert_one_line_not_found(exc, tmp_path / "val")
    assert "train" in msg and "<class_name>" in msg
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no image files"):
        build_dataset("imagefolder", tmp_path, "empty")
    with pytest.raises(ValueError, match="single folder name"):
        build_dataset("imagefolder", tmp_path, "../train")


# ---------------------------------------------------------------- registry


def test_registry_names_and_errors(tmp_path: Path) -> None:
    assert {"fashion_mnist", "digits", "cifar10", "cifar100", "stl10", "imagefolder"} <= set(DATASETS)
    with pytest.raises(ValueError) as exc:
        build_dataset("mnist9", tmp_path, "train")
    assert "\n" not in str(exc.value) and "cifar10" in str(exc.value) and "stl10" in str(exc.value)
    with pytest.raises(ValueError) as exc:
        build_dataset("stl10", tmp_path, "validation")
    assert "train+unlabeled" in str(exc.value) and "\n" not in str(exc.value)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_samples"):
            build_dataset("digits", None, "train", max_samples=bad)


def test_register_dataset_decorator(tmp_path: Path) -> None:
    info = DatasetInfo("tiny_test_only", "Tiny", 4, ("train",))

    @register_dataset(info)
    def build_tiny(root, split, download, max_samples):
        from byol_pkg.data import ArrayImageDataset

        return ArrayImageDataset(
            "tiny_test_only",
            split,
            np.zeros((4, 3, 2, 2), np.uint8),
            np.arange(4),
            4,
            max_samples=max_samples,
        )

    try:
        ds = build_dataset("Tiny-Test-Only", tmp_path, "train", max_samples=3)
        assert len(ds) == 3 and DATASETS["tiny_test_only"] is build_tiny and build_tiny.info is info
        assert dataset_info("tiny-test-only") is info and info.roles() == {"train": "train", "test": "test"}
        with pytest.raises(ValueError, match="already registered"):
            register_dataset(info)(build_tiny)
    finally:
        DATASETS.pop("tiny_test_only")


def test_no_download_by_default(tmp_path: Path) -> None:
    """Missing data raises immediately and leaves the root untouched."""
    for name in ("cifar10", "cifar100", "stl10"):
        with pytest.raises(DatasetNotFoundError):
            build_dataset(name, tmp_path, "train")
    assert list(tmp_path.iterdir()) == []


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    """A gzipped file without the .gz suffix still reads (torchvision leaves both kinds around)."""
    data = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "x.gz", data)
    plain_name = tmp_path / "x-idx1-ubyte"
    plain_name.write_bytes(path.read_bytes())
    assert gzip.decompress(plain_name.read_bytes())[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx(plain_name), data)
