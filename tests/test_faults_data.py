"""Issue 18, the data side: a bad data file never executes code, never fakes a result and never ends in a
traceback. Each case writes a tiny dataset in its real on-disk format, breaks it the way disks, downloads and
attackers do, and drives the real ``byol`` entry point in-process: the answer must be one line
``byol <command>: error: <file>: <what was expected>`` with exit code 3 (bad input data), and nothing written."""

from __future__ import annotations

import gzip
import json
import logging
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.data.cifar import load_pickle
from byol_pkg.errors import OS_ERROR_EXIT, DatasetFormatError
from data_fixtures import (idx_bytes, make_cifar10, make_cifar10_python2, make_cifar100, make_fashion_mnist,
                           make_stl10, write_idx)
from transfer_fixtures import make_dtd, make_flowers102, make_voc2007

DATA_EXIT = 3


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """``byol <argv>`` in-process: (exit code, stderr lines)."""
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip().splitlines()


def assert_one_line(rc: int, err: list[str], command: str, *fragments: str) -> str:
    """Exit 3, no traceback, and the error is the last stderr line, starting ``byol <command>: error:`` and
    holding every fragment; returns that line."""
    assert not any("Traceback" in line for line in err), err
    assert err, "no error message"
    last = err[-1]
    assert last.startswith(f"byol {command}: error: "), err
    assert [line for line in err if line.startswith("byol ")] == [last], err
    for fragment in fragments:
        assert fragment in last, f"{fragment!r} not in {last!r}"
    assert rc == DATA_EXIT, err
    return last


def prepare(dataset: str, root: Path, tmp: Path) -> list[str]:
    return ["prepare", "--dataset", dataset, "--root", root, "--cache-root", tmp / "cache", "--out", tmp / "m.json"]


def knn(dataset: str, root: Path, tmp: Path, encoder: str) -> list[str]:
    return ["knn", "--encoder", encoder, "--dataset", dataset, "--root", root, "--cache-root", tmp / "kcache"]


def assert_nothing_written(tmp: Path) -> None:
    assert not (tmp / "m.json").exists()
    assert not (tmp / "cache" / "splits").exists() or not any((tmp / "cache" / "splits").iterdir())


# --------------------------------------------------------------------------- 1. no data file can execute code

def _payload(kind: str, marker: Path) -> bytes:
    """A pickle that creates ``marker`` when a bare ``pickle.load`` reads it."""
    if kind == "os.system":  # the classic: GLOBAL os system, REDUCE
        return b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    if kind == "builtins.exec":
        code = f"open({str(marker)!r}, 'w').close()".encode()
        return b"cbuiltins\nexec\n(S'" + code.replace(b"'", b"\\'") + b"'\ntR."
    # hidden inside a real-looking batch dict: {b'data': <exec payload>, b'labels': []}
    inner = _payload("builtins.exec", marker)[:-1]  # without STOP
    return b"(S'data'\n" + inner + b"S'labels'\n(ld."


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "nested"])
def test_malicious_cifar_batch_is_refused(tmp_path, capsys, kind):
    live = tmp_path / "live_marker"
    pickle.loads(_payload(kind, live))  # the payload is real: a bare pickle.load runs it
    assert live.exists()
    make_cifar10(tmp_path / "data")
    marker = tmp_path / "pwned"
    batch = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(_payload(kind, marker))
    rc, err = run(prepare("cifar10", tmp_path / "data", tmp_path), capsys)
    glob = "os.system" if kind == "os.system" else "builtins.exec"
    assert_one_line(rc, err, "prepare", f"{batch}: refused to load global '{glob}'")
    assert not marker.exists()
    assert_nothing_written(tmp_path)


def test_malicious_cifar_batch_is_refused_by_knn(tmp_path, capsys, encoder_path):
    make_cifar10(tmp_path / "data")
    marker = tmp_path / "pwned"
    batch = tmp_path / "data" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(_payload("os.system", marker))
    rc, err = run(knn("cifar10", tmp_path / "data", tmp_path, encoder_path), capsys)
    assert_one_line(rc, err, "knn", f"{batch}: refused to load global 'os.system'")
    assert not marker.exists()


@pytest.mark.parametrize("payload, refused", [
    (b"cnumpy\nload\n(S'x.npy'\ntR.", "numpy.load"),
    (b"cnumpy.core.multiarray\nscalar\n(tR.", "numpy.core.multiarray.scalar"),
    (b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x0a\x00\x00\x00zlib_codectR.", "_codecs.encode(str, 'zlib_codec')"),
    (b"\x80\x02cposix\nsystem\nq\x00.", "posix.system"),
    (b"(cos\nsystem\nS'true'\no.", "os.system"),  # protocol 0 OBJ opcode
    (b"(ios\nsystem\nS'true'\n.", "os.system"),  # protocol 0 INST opcode
    (b"P123\n.", "persistent id '123'"),
])
def test_only_cifar_globals_are_admitted(tmp_path, payload, refused):
    path = tmp_path / "batch"
    path.write_bytes(payload)
    with pytest.raises(DatasetFormatError) as exc:
        load_pickle(path)
    assert str(exc.value).startswith(f"{path}: refused to load global '{refused}'"), str(exc.value)


def test_real_cifar_batches_still_load(tmp_path):
    """The restricted unpickler reads CIFAR in the official Python 2 format and as Python 3 writes it."""
    for maker, name, folder in ((make_cifar10_python2, "cifar10", "py2"), (make_cifar10, "cifar10", "py3"),
                                (make_cifar100, "cifar100", "py3_100")):
        arrays = maker(tmp_path / folder)
        for split in ("train", "test"):
            ds = build_dataset(name, tmp_path / folder, split)
            np.testing.assert_array_equal(ds.images, arrays[split][0])
            np.testing.assert_array_equal(ds.targets, arrays[split][1])
        assert ds.classes is not None and len(ds.classes) == ds.num_classes
    assert build_dataset("cifar10", tmp_path / "py2", "test").classes[:2] == ["airplane", "automobile"]


# --------------------------------------------------------------------------- 2. corrupt or truncated files

def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(1, 256, 600, dtype=np.uint8).tobytes())


def _gzip_magic_then_garbage(path: Path) -> None:
    path.write_bytes(b"\x1f\x8b\x08\x00" + np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8).tobytes())


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _wrong_magic(path: Path) -> None:
    path.write_bytes(gzip.compress(b"\x00\x00\x0a\x03" + idx_bytes(np.zeros((12, 28, 28), np.uint8))[4:]))


def _header_promises_more(path: Path) -> None:
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8))[: 16 + 12 * 784]))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _one_label_short(path: Path) -> None:
    write_idx(path.parent / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))


IMAGES = "train-images-idx3-ubyte.gz"
LABELS = "train-labels-idx1-ubyte.gz"
#: (case, how the images file is broken, the file the error names, what the error says was expected)
IDX_CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("random-bytes", _random_bytes, IMAGES,
     "neither a gzip file (expected the gzip magic 0x1f8b) nor a raw IDX file (magic number 0x5f82c2d9, "
     "expected 0x0000TTDD"),
    ("gzip-garbage", _gzip_magic_then_garbage, IMAGES, "corrupt or truncated gzip stream"),
    ("truncated-gzip", _truncate, IMAGES,
     "corrupt or truncated gzip stream (Compressed file ended before the end-of-stream marker was reached); "
     "expected a complete gzip file"),
    ("wrong-magic", _wrong_magic, IMAGES, "bad IDX magic number 0x00000a03 inside the gzip stream (expected "
                                          "0x0000TTDD with type TT in ['0x8', '0x9', '0xb', '0xc', '0xd', '0xe'])"),
    ("header-promises-more", _header_promises_more, IMAGES,
     "IDX file truncated: 9424 bytes, header promises dims (50, 28, 28) which need 39216"),
    ("empty", _empty, IMAGES, "empty file; expected an IDX file"),
    ("count-mismatch", _one_label_short, LABELS,
     f"expected 12 labels (one per image in {IMAGES}), got shape (11,)"),
]


@pytest.mark.parametrize("command", ["prepare", "knn"])
@pytest.mark.parametrize("case, breaker, named, expected", IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_corrupt_fashion_mnist_file(tmp_path, capsys, encoder_path, command, case, breaker, named, expected):
    make_fashion_mnist(tmp_path / "data")
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    breaker(raw / IMAGES)
    argv = (prepare if command == "prepare" else lambda *a: knn(*a, encoder_path))(
        "fashion_mnist", tmp_path / "data", tmp_path)
    rc, err = run(argv, capsys)
    assert_one_line(rc, err, command, f"{raw / named}: {expected}")
    assert_nothing_written(tmp_path)


def _stl_truncated(folder: Path) -> None:
    _truncate_by(folder / "train_X.bin", 100)


def _truncate_by(path: Path, n: int) -> None:
    path.write_bytes(path.read_bytes()[:-n])


def _stl_empty(folder: Path) -> None:
    (folder / "train_X.bin").write_bytes(b"")
    (folder / "train_y.bin").write_bytes(b"")


def _stl_labels_short(folder: Path) -> None:
    _truncate_by(folder / "train_y.bin", 1)


def _cifar_truncated(folder: Path) -> None:
    _truncate_by(folder / "data_batch_3", 500)


def _cifar_empty(folder: Path) -> None:
    (folder / "data_batch_3").write_bytes(b"")


def _cifar_html(folder: Path) -> None:
    (folder / "data_batch_3").write_bytes(b"<html>404 Not Found</html>")


def _cifar_labels_not_a_list(folder: Path) -> None:
    (folder / "data_batch_3").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": 5}, protocol=2))


def _cifar_data_not_an_array(folder: Path) -> None:
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": [b"x"], b"labels": [1]}, protocol=2))


def _cifar_label_out_of_range(folder: Path) -> None:
    (folder / "data_batch_3").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, protocol=2))


#: (case, dataset, fixture writer, folder under the root, breaker, file named, expected text)
BINARY_CASES = [
    ("stl10-truncated", "stl10", make_stl10, "stl10_binary", _stl_truncated, "train_X.bin",
     "size 165788 is not a multiple of 27648 (3x96x96); truncated?"),
    ("stl10-empty", "stl10", make_stl10, "stl10_binary", _stl_empty, "train_X.bin",
     "empty file; expected N x 27648 bytes of 3x96x96 images"),
    ("stl10-labels-short", "stl10", make_stl10, "stl10_binary", _stl_labels_short, "train_y.bin",
     "5 labels for 6 images in train_X.bin"),
    ("cifar-truncated", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_truncated, "data_batch_3",
     "not a readable CIFAR pickle (pickle data was truncated); truncated or corrupt?"),
    ("cifar-empty", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_empty, "data_batch_3",
     "not a readable CIFAR pickle (Ran out of input)"),
    ("cifar-html", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_html, "data_batch_3",
     "not a readable CIFAR pickle (invalid load key, '<'.)"),
    ("cifar-labels-int", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_labels_not_a_list, "data_batch_3",
     "expected 2 integer 'labels' (one per image), got shape ()"),
    ("cifar-data-list", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_data_not_an_array, "data_batch_3",
     "expected 'data' as a uint8 array [N, 3072], got list"),
    ("cifar-label-range", "cifar10", make_cifar10, "cifar-10-batches-py", _cifar_label_out_of_range, "data_batch_3",
     "'labels' outside 0..9 (got 1..10)"),
]


@pytest.mark.parametrize("case, dataset, maker, folder, breaker, named, expected", BINARY_CASES,
                         ids=[c[0] for c in BINARY_CASES])
def test_corrupt_binary_dataset_file(tmp_path, capsys, case, dataset, maker, folder, breaker, named, expected):
    maker(tmp_path / "data")
    breaker(tmp_path / "data" / folder)
    rc, err = run(prepare(dataset, tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{tmp_path / 'data' / folder / named}: {expected}")
    assert_nothing_written(tmp_path)


def test_truncated_stl10_from_knn(tmp_path, capsys, encoder_path):
    make_stl10(tmp_path / "data")
    _stl_truncated(tmp_path / "data" / "stl10_binary")
    rc, err = run(knn("stl10", tmp_path / "data", tmp_path, encoder_path), capsys)
    assert_one_line(rc, err, "knn", f"{tmp_path / 'data' / 'stl10_binary' / 'train_X.bin'}: size 165788")


# --------------------------------------------------------------------------- 3. lists naming missing files

def test_voc2007_missing_class_list(tmp_path, capsys):
    fx = make_voc2007(tmp_path / "data")
    missing = fx.base / "ImageSets" / "Main" / "dog_train.txt"
    missing.unlink()
    rc, err = run(prepare("voc2007", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{missing}: class list missing (every one of the 20 <class>_train.txt "
                                        "is needed)")
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_voc2007_list_names_a_missing_jpeg(tmp_path, capsys, split):
    fx = make_voc2007(tmp_path / "data")
    gone = sorted(fx.lists[split])[1]
    Path(gone).unlink()
    rc, err = run(prepare("voc2007", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'ImageSets' / 'Main' / f'{split}.txt'}: names 1 image that does "
                                        f"not exist, first: {gone} (split '{split}' of voc2007")
    assert_nothing_written(tmp_path)


def test_dtd_list_names_missing_images(tmp_path, capsys):
    """trainval reads train1.txt + val1.txt: the error names the file listing the missing images."""
    fx = make_dtd(tmp_path / "data")
    gone = sorted(fx.lists["val"])[:2]
    for path in gone:
        Path(path).unlink()
    rc, err = run(prepare("dtd", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'labels' / 'val1.txt'}: names 2 images that do not exist, "
                                        f"first: {gone[0]}")
    assert_nothing_written(tmp_path)


def test_flowers_setid_names_a_missing_image(tmp_path, capsys):
    fx = make_flowers102(tmp_path / "data")
    gone = sorted(fx.lists["test"])[0]
    Path(gone).unlink()
    rc, err = run(prepare("flowers102", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'setid.mat'}: names 1 image that does not exist, first: {gone}")
    assert_nothing_written(tmp_path)


def test_prepare_records_the_list_files_as_checked(tmp_path, capsys):
    """The complete dataset passes the check and its manifest says which folder was read."""
    fx = make_voc2007(tmp_path / "data")
    rc, _ = run(prepare("voc2007", tmp_path / "data", tmp_path), capsys)
    assert rc == 0
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert {e["data_dir"] for e in manifest["splits"].values()} == {str(fx.base)}


# --------------------------------------------------------------------------- 4. which copy was read

SYSTEM_COPY = Path("/usr/share/datasets/fashion-mnist")


NO_SYSTEM_COPY = pytest.mark.skipif(not (SYSTEM_COPY / "t10k-labels-idx1-ubyte.gz").is_file(),
                                    reason="no system copy of Fashion-MNIST (apt-get install dataset-fashion-mnist)")


def _system_line(root: Path) -> str:
    return f"fashion_mnist: {root} has no copy; using the system copy in {SYSTEM_COPY}"


@NO_SYSTEM_COPY
def test_fashion_mnist_system_copy_is_logged(tmp_path, caplog, monkeypatch):
    """A root without Fashion-MNIST falls back to the system copy, and one log line says which copy."""
    from byol_pkg.data.fashion_mnist import SYSTEM_DIRS_ENV

    monkeypatch.delenv(SYSTEM_DIRS_ENV, raising=False)
    (tmp_path / "data").mkdir()
    with caplog.at_level(logging.INFO, logger="byol_pkg"):
        ds = build_dataset("fashion_mnist", tmp_path / "data", "test")
    assert len(ds) == 10000 and ds.data_dir == str(SYSTEM_COPY)
    records = [r for r in caplog.records if "system copy" in r.getMessage()]
    assert [r.getMessage() for r in records] == [_system_line(tmp_path / "data")]
    assert records[0].levelno >= logging.INFO


@NO_SYSTEM_COPY
def test_prepare_records_the_system_copy(tmp_path, capsys, monkeypatch):
    """``byol prepare`` logs the fallback on stderr (per split) and its manifest records the folder read."""
    from byol_pkg.data.fashion_mnist import SYSTEM_DIRS_ENV

    monkeypatch.delenv(SYSTEM_DIRS_ENV, raising=False)
    (tmp_path / "data").mkdir()
    rc, err = run(prepare("fashion_mnist", tmp_path / "data", tmp_path), capsys)
    assert rc == 0, err
    assert [line.split(": ", 1)[1] for line in err if "system copy" in line] == [_system_line(tmp_path / "data")] * 2
    splits = json.loads((tmp_path / "m.json").read_text())["splits"]
    assert {s: (e["size"], e["data_dir"]) for s, e in splits.items()} == {
        "train": (60000, str(SYSTEM_COPY)), "test": (10000, str(SYSTEM_COPY))}


def test_fashion_mnist_own_copy_is_not_reported_as_system(tmp_path, capsys):
    make_fashion_mnist(tmp_path / "data")
    rc, err = run(prepare("fashion_mnist", tmp_path / "data", tmp_path), capsys)
    assert rc == 0
    assert not [line for line in err if "system copy" in line], err
    splits = json.loads((tmp_path / "m.json").read_text())["splits"]
    assert {e["data_dir"] for e in splits.values()} == {str(tmp_path / "data" / "FashionMNIST" / "raw")}


# --------------------------------------------------------------------------- 5. other bad input

def test_dataset_folder_that_is_a_file(tmp_path, capsys):
    fx = make_dtd(tmp_path / "data")
    shutil.rmtree(fx.base / "images")
    (fx.base / "images").write_text("not a folder")
    rc, err = run(prepare("dtd", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'images'}: not a folder; expected a folder")


def test_list_file_that_is_a_folder(tmp_path, capsys):
    fx = make_dtd(tmp_path / "data")
    (fx.base / "labels" / "test1.txt").unlink()
    (fx.base / "labels" / "test1.txt").mkdir()
    rc, err = run(prepare("dtd", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'labels' / 'test1.txt'}: not a regular file; expected a list")


def test_truncated_mat_file(tmp_path, capsys):
    fx = make_flowers102(tmp_path / "data")
    _truncate_by(fx.base / "setid.mat", 60)
    rc, err = run(prepare("flowers102", tmp_path / "data", tmp_path), capsys)
    assert_one_line(rc, err, "prepare", f"{fx.base / 'setid.mat'}: not a readable .mat file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_idx_file(tmp_path, capsys):
    """A data file without read permission: one line naming it and the system's reason, exit 7."""
    make_fashion_mnist(tmp_path / "data")
    path = tmp_path / "data" / "FashionMNIST" / "raw" / IMAGES
    path.chmod(0)
    try:
        rc, err = run(prepare("fashion_mnist", tmp_path / "data", tmp_path), capsys)
    finally:
        path.chmod(0o644)
    assert not any("Traceback" in line for line in err), err
    assert err[-1] == f"byol prepare: error: {path}: Permission denied", err
    assert rc == OS_ERROR_EXIT  # the system refused the read (errors.py's table)
