"""The ``imagenet`` dataset (paper splits: 10,009 held out of train as val, official val as test) read from a
tiny ImageNet in torchvision's on-disk layout, and the evaluation commands using its splits by default."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from byol_pkg.cli import main
from byol_pkg.data import DatasetFormatError, DatasetNotFoundError, build_dataset
from byol_pkg.data.holdout import stratified_holdout
from byol_pkg.data.imagenet import PAPER_TRAIN, PAPER_TRAINVAL, PAPER_VAL, val_count
from byol_pkg.eval.results import read_results
from byol_pkg.eval.runner import resolve_splits
from transfer_fixtures import write_jpeg

WNIDS = ("n01440764", "n01443537", "n15075141")
TRAIN_PER_CLASS = (150, 140, 160)  # 450 train images -> round(450 x 10009 / 1281167) = 4 held out
VAL_PER_CLASS = (3, 2, 4)  # the official validation images: our test split


def make_imagenet(root: Path, train_per_class=TRAIN_PER_CLASS, val_per_class=VAL_PER_CLASS, seed: int = 0) -> Path:
    """``<root>/imagenet/{train,val}/<wnid>/*.JPEG`` with ImageNet's file names (ids not contiguous)."""
    rng = np.random.default_rng(seed)
    base = root / "imagenet"
    val_id = 0
    for wnid, n_train, n_val in zip(WNIDS, train_per_class, val_per_class):
        for i in sorted(rng.choice(20000, n_train, replace=False)):
            write_jpeg(base / "train" / wnid / f"{wnid}_{i}.JPEG", rng)
        for _ in range(n_val):
            val_id += int(rng.integers(1, 40))
            write_jpeg(base / "val" / wnid / f"ILSVRC2012_val_{val_id:08d}.JPEG", rng)
    return base


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_imagenet(root)
    return root


def rel(ds) -> list[str]:
    return [os.path.relpath(p, ds.split_dir) for p in ds.paths]


def test_holdout_size_rule() -> None:
    assert val_count(PAPER_TRAINVAL) == PAPER_VAL and PAPER_TRAINVAL - PAPER_VAL == PAPER_TRAIN == 1_271_158
    assert [val_count(n) for n in (450, 200, 64, 63, 2, 1)] == [4, 2, 1, 1, 1, 0]  # round(n/128), at least 1


def test_splits_sizes_labels_and_determinism(imagenet_root: Path) -> None:
    ds = {s: build_dataset("imagenet", imagenet_root, s) for s in ("train", "val", "trainval", "test")}
    assert {s: len(d) for s, d in ds.items()} == {"train": 446, "val": 4, "trainval": 450, "test": 9}
    assert all(d.classes == list(WNIDS) and d.num_classes == 3 and d.name == "imagenet" for d in ds.values())
    # trainval: every train image, sorted by relative path, labelled by its wnid folder
    names = rel(ds["trainval"])
    assert names == sorted(names) and len(set(names)) == 450
    assert [WNIDS[y] for y in ds["trainval"].targets] == [n.split("/")[0] for n in names]
    assert all(n.split("/")[1].startswith(n.split("/")[0] + "_") for n in names)
    # val: class-stratified hold-out (largest remainder: 1, 1, 2 of 150, 140, 160), seed 0; train = the rest
    assert np.bincount(ds["val"].targets).tolist() == [1, 1, 2]
    rest, held = stratified_holdout(ds["trainval"].targets, 4, 0)
    assert ds["val"].paths == [ds["trainval"].paths[i] for i in held]
    assert ds["train"].paths == [ds["trainval"].paths[i] for i in rest]
    assert not set(ds["train"].paths) & set(ds["val"].paths)
    # test: the official validation images, labels from the train wnids
    assert np.bincount(ds["test"].targets).tolist() == list(VAL_PER_CLASS)
    assert all(p.split(os.sep)[-2] == WNIDS[y] for p, y in zip(ds["test"].paths, ds["test"].targets))
    assert ds["test"].split_dir.name == "val" and ds["val"].split_dir.name == "train"
    again = build_dataset("imagenet", imagenet_root, "val")
    assert again.paths == ds["val"].paths and np.array_equal(again.targets, ds["val"].targets)
    img, label = ds["val"][0]
    assert tuple(img.shape) == (3, 8, 10) and label == int(ds["val"].targets[0])
    assert "seed 0" in ds["val"].split_rule
    assert len(build_dataset("imagenet", imagenet_root, "train", max_samples=5)) == 5


def test_root_may_be_the_imagenet_folder(imagenet_root: Path) -> None:
    a = build_dataset("imagenet", imagenet_root, "val")
    b = build_dataset("imagenet", imagenet_root / "imagenet", "val")
    assert a.paths == b.paths


def test_missing_dataset_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("imagenet", tmp_path, "train")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "imagenet") in msg and "<root>/imagenet/{train,val}/<wnid>" in msg
    (tmp_path / "imagenet" / "train" / WNIDS[0]).mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="missing in .*imagenet: val"):
        build_dataset("imagenet", tmp_path, "test")
    assert list(tmp_path.rglob("*.JPEG")) == []


def test_val_class_unknown_to_train_is_a_format_error(tmp_path: Path) -> None:
    make_imagenet(tmp_path, (2, 2, 2), (1, 1, 1))
    write_jpeg(tmp_path / "imagenet" / "val" / "n99999999" / "ILSVRC2012_val_00000999.JPEG",
               np.random.default_rng(0))
    with pytest.raises(DatasetFormatError, match="n99999999"):
        build_dataset("imagenet", tmp_path, "test")


def test_eval_commands_default_to_the_paper_splits(imagenet_root: Path, encoder_path: Path, tmp_path: Path) -> None:
    splits = resolve_splits("ImageNet")
    assert (splits.train, splits.val, splits.test, splits.paper) == ("train", "val", "test", True)

    cache, out = tmp_path / "cache", tmp_path / "lin.json"
    assert main(["linear", "--encoder", str(encoder_path), "--dataset", "imagenet", "--root", str(imagenet_root),
                 "--cache-root", str(cache), "--epochs", "2", "--batch-size", "64", "--out", str(out)]) == 0
    top1, _ = read_results(out)
    assert top1["split_sizes"] == {"train": 446, "val": 4, "test": 9}
    assert top1["hyperparameters"]["validation"] == "official split 'val'"
    for split, n in (("train", 446), ("val", 4), ("test", 9)):
        lines = (cache / "splits" / f"imagenet_{split}.txt").read_text().splitlines()
        entries = [ln for ln in lines if not ln.startswith("#")]
        assert len(entries) == n and f"# count: {n}" in lines
        assert entries == rel(build_dataset("imagenet", imagenet_root, split))

    assert main(["knn", "--encoder", str(encoder_path), "--dataset", "imagenet", "--root", str(imagenet_root),
                 "--cache-root", str(cache), "--k", "5", "--out", str(tmp_path / "knn.json")]) == 0
    (rec,) = read_results(tmp_path / "knn.json")
    assert rec["split_sizes"] == {"train": 446, "test": 9} and "pretrain_epoch" not in rec["hyperparameters"]


def test_semisup_resolves_a_simclr_list(imagenet_root: Path, encoder_path: Path, tmp_path: Path,
                                        capfd: pytest.CaptureFixture) -> None:
    train = build_dataset("imagenet", imagenet_root, "train")
    val = build_dataset("imagenet", imagenet_root, "val")
    picked = [os.path.basename(train.paths[i]) for i in (0, 7, 200, 445)]
    in_val = os.path.basename(val.paths[2])  # SimCLR's lists were drawn from all train images
    simclr = tmp_path / "1percent.txt"
    simclr.write_text("".join(f"{n}\n" for n in [*picked, in_val]))
    out = tmp_path / "semi.json"
    argv = ["semisup", "--encoder", str(encoder_path), "--dataset", "imagenet", "--root", str(imagenet_root),
            "--cache-root", str(tmp_path / "cache"), "--subset", str(simclr), "--lrs", "0.05", "--epochs", "1",
            "--batch-size", "4", "--out", str(out)]
    assert main(argv) == 0
    assert f"1 images of {simclr} are in the validation split 'val' and were dropped" in capfd.readouterr().err
    top1, top5 = read_results(out)
    hp = top1["hyperparameters"]
    assert hp["labelled_images"] == 4 and hp["subset"] == str(simclr) and top1["variant"] == "1percent"
    assert top1["split_sizes"] == {"train": 4, "val": 4, "test": 9} and 0 <= top1["value"] <= top5["value"] <= 100

    simclr.write_text(f"{picked[0]}\nn01440764_99999.JPEG\n")
    assert main(argv) == 3  # InputFileError; the error contract: one line naming the file, not a traceback
    assert "1percent.txt: 1 of 2 listed images are not in imagenet/trainval" in capfd.readouterr().err.splitlines()[-1]
