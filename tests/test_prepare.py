"""``byol prepare``: every split the protocols use, saved as file lists, and a manifest; the pretraining
dataset of a config; a missing dataset is a one-line error that writes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from data_fixtures import make_cifar10
from test_imagenet import make_imagenet
from transfer_fixtures import make_dtd

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.data.prepare import evaluation_splits
from byol_pkg.data.subsets import read_subset


def entries(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]


def check_manifest(manifest: dict, dataset: str, root: Path | None) -> None:
    """Every split entry describes the dataset ``build_dataset`` gives and the list file next to it."""
    for split, entry in manifest["splits"].items():
        ds = build_dataset(dataset, root, split)
        lst = Path(entry["list"])
        assert entry["size"] == len(ds) == len(entries(lst)) and f"# count: {len(ds)}" in lst.read_text()
        assert entry["list_sha256"] == hashlib.sha256(lst.read_bytes()).hexdigest()
        assert entry["labels_sha256"] == hashlib.sha256(ds.targets.astype(np.int64).tobytes()).hexdigest()
        assert entry["num_classes"] == len(np.unique(ds.targets))
        if getattr(ds, "source_indices", None) is not None:  # CIFAR hold-outs: indices into the 'train' split
            assert entries(lst) == [str(int(i)) for i in ds.source_indices]
        else:  # the list is the split, in order
            np.testing.assert_array_equal(read_subset(lst, ds), np.arange(len(ds)))


def test_imagenet_manifest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, cache, out = tmp_path / "data", tmp_path / "features", tmp_path / "results/data/imagenet.json"
    make_imagenet(root)
    assert main(["prepare", "--dataset", "imagenet", "--root", str(root), "--cache-root", str(cache),
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (f"{out}: imagenet (3 classes): train 446, val 4, trainval 450, "
                                               "test 9")
    m = json.loads(out.read_text())
    assert m["dataset"] == "imagenet" and m["root"] == str(root) and m["num_classes"] == 3
    assert m["purpose"] == "evaluation"
    assert m["roles"] == {"train": "train", "val": "val", "trainval": "trainval", "test": "test"}
    assert {s: e["size"] for s, e in m["splits"].items()} == {"train": 446, "val": 4, "trainval": 450, "test": 9}
    assert {s: e["num_classes"] for s, e in m["splits"].items()} == {"train": 3, "val": 3, "trainval": 3, "test": 3}
    assert m["splits"]["val"]["list"] == str(cache / "splits" / "imagenet_val.txt")
    check_manifest(m, "imagenet", root)
    assert entries(cache / "splits/imagenet_val.txt")[0].startswith("n0") and "seed 0" in m["splits"]["val"]["rule"]
    assert not list(out.parent.glob(".*.tmp"))
    # a rerun gives the same bytes (no timestamps): safe as a DVC / Snakemake output
    before = out.read_bytes()
    assert main(["prepare", "--dataset", "imagenet", "--root", str(root), "--cache-root", str(cache),
                 "--out", str(out)]) == 0
    assert out.read_bytes() == before


@pytest.mark.parametrize("name", ["dtd", "cifar10", "digits"])
def test_transfer_and_other_datasets(name: str, tmp_path: Path) -> None:
    root, cache, out = tmp_path / "data", tmp_path / "features", tmp_path / f"{name}.json"
    {"dtd": make_dtd, "cifar10": lambda r: make_cifar10(r, 10, 5), "digits": lambda r: None}[name](root)
    assert main(["prepare", "--dataset", name, "--root", str(root), "--cache-root", str(cache),
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    roles = {"dtd": {"train": "train", "val": "val", "trainval": "trainval", "test": "test"},
             "cifar10": {"train": "transfer_train", "val": "transfer_val", "trainval": "train", "test": "test"},
             "digits": {"train": "train", "test": "test"}}[name]
    assert m["roles"] == roles == evaluation_splits(name)
    assert sorted(m["splits"]) == sorted(roles.values())
    assert sorted(p.name for p in (cache / "splits").iterdir()) == sorted(f"{name}_{s}.txt" for s in roles.values())
    check_manifest(m, name, root)
    sizes = {s: e["size"] for s, e in m["splits"].items()}
    if name == "cifar10":  # 50 train images: 5 held out (5,000 of 50,000)
        assert sizes == {"transfer_train": 45, "transfer_val": 5, "train": 50, "test": 5}
    if name == "dtd":
        assert sizes == {"train": 9, "val": 9, "trainval": 18, "test": 9} and m["num_classes"] == 3


def test_lists_match_what_the_eval_commands_write(tmp_path: Path, encoder_path: Path) -> None:
    root, cache = tmp_path / "data", tmp_path / "features"
    make_dtd(root)
    assert main(["prepare", "--dataset", "dtd", "--root", str(root), "--cache-root", str(cache),
                 "--out", str(tmp_path / "m.json")]) == 0
    prepared = {p.name: p.read_bytes() for p in (cache / "splits").iterdir()}
    other = tmp_path / "eval_cache"
    assert main(["extract", "--encoder", str(encoder_path), "--dataset", "dtd", "--root", str(root),
                 "--cache-root", str(other)]) == 0
    written = {p.name: p.read_bytes() for p in (other / "splits").iterdir()}
    assert {k: v for k, v in prepared.items() if k in written} == written and len(written) == 3


def test_missing_or_unknown_dataset_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, cache = tmp_path / "out/m.json", tmp_path / "cache"
    for name in ("imagenet", "food101", "cifar10"):
        assert main(["prepare", "--dataset", name, "--root", str(tmp_path / "nothing"), "--cache-root", str(cache),
                     "--out", str(out)]) == 3  # DatasetNotFoundError
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"byol prepare: error: dataset '{name}'") and "layout" in err[0]
    assert main(["prepare", "--dataset", "imagenet21k", "--out", str(out)]) == 2
    assert "unknown dataset 'imagenet21k'" in capsys.readouterr().err
    # a dataset with one split present and another missing: nothing written either
    make_imagenet(tmp_path / "half", (2, 2, 2), (0, 0, 0))
    (tmp_path / "half/imagenet/val/n01440764").mkdir(parents=True)  # val/ present but without images
    assert main(["prepare", "--dataset", "imagenet", "--root", str(tmp_path / "half"), "--cache-root", str(cache),
                 "--out", str(out)]) == 3
    assert "split 'test'" in capsys.readouterr().err
    assert not out.parent.exists() and not cache.exists()
    # --download reaches the loader (no downloader for Stanford Cars: it says how to get the data)
    assert main(["prepare", "--dataset", "stanford_cars", "--root", str(tmp_path), "--download",
                 "--out", str(out)]) == 3
    assert "automatic download is not available" in capsys.readouterr().err


def write_config(path: Path, **data) -> Path:
    path.write_text(yaml.safe_dump({"data": data, "model": {"backbone": "resnet_small"}}))
    return path


def test_pretrain_config_manifest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", name="digits", max_samples=64)
    out, cache = tmp_path / "results/data/pretrain_tiny.json", tmp_path / "features"
    assert main(["prepare", "--config", str(cfg), "--set", "data.epoch_size=100", "--cache-root", str(cache),
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["purpose"] == "pretrain" and m["dataset"] == "digits" and m["roles"] == {"pretrain": "train"}
    assert m["config"] == str(cfg) and m["overrides"] == ["data.epoch_size=100"]
    assert (m["max_samples"], m["epoch_size"], m["num_classes"]) == (64, 100, 10)
    entry = m["splits"]["train"]
    lst = cache / "splits" / "pretrain_digits_train_first64.txt"
    assert entry["list"] == str(lst) and entry["size"] == 64 and entries(lst) == [str(i) for i in range(64)]
    assert entry["list_sha256"] == hashlib.sha256(lst.read_bytes()).hexdigest()
    assert "digits (10 classes): train 64" in capsys.readouterr().out

    # an imagefolder pretraining set (the ImageNet preset's form), and a missing one
    make_imagenet(tmp_path / "data", (3, 4, 5), (1, 1, 1))
    folder = write_config(tmp_path / "f.yaml", name="imagefolder", root=str(tmp_path / "data/imagenet"))
    assert main(["prepare", "--config", str(folder), "--cache-root", str(cache), "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["splits"]["train"]["size"] == 12 and m["epoch_size"] == 12 and m["max_samples"] is None
    assert entries(cache / "splits/pretrain_imagefolder_train.txt")[0].startswith("n01440764/n01440764_")
    before = out.read_bytes()
    gone = write_config(tmp_path / "g.yaml", name="imagefolder", root=str(tmp_path / "absent"))
    assert main(["prepare", "--config", str(gone), "--cache-root", str(cache), "--out", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset 'imagefolder' (split 'train') not found" in err[0]
    assert out.read_bytes() == before
    assert main(["prepare", "--dataset", "digits", "--set", "data.root=x", "--out", str(out)]) == 2
