"""Label-fraction subsets for semi-supervised runs: balanced, deterministic, saved; SimCLR lists by name."""

import numpy as np
import pytest
from PIL import Image

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.eval.subsets import balanced_subset, read_subset, write_subset


def test_balanced_counts_and_determinism():
    labels = np.repeat(np.arange(3), [100, 50, 7])
    idx = balanced_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [10, 5, 1]  # round(0.7) = 1, and at least one per class
    assert np.array_equal(idx, balanced_subset(labels, 0.1, seed=0)) and np.all(np.diff(idx) > 0)
    assert not np.array_equal(idx, balanced_subset(labels, 0.1, seed=1))
    # per-class draws: adding a class does not change the images chosen in the others
    more = np.concatenate([labels, np.full(20, 3)])
    assert np.array_equal(balanced_subset(more, 0.1, 0)[:16], idx)
    with pytest.raises(ValueError, match="fraction"):
        balanced_subset(labels, 0.0)


def test_in_memory_dataset_round_trip(tmp_path):
    ds = build_dataset("digits", None, "train")
    idx = balanced_subset(ds.targets, 0.1, seed=3)
    path = write_subset(tmp_path / "d.txt", ds, idx, fraction=0.1, seed=3)
    assert path.read_text().startswith("# dataset: digits\n# split: train\n# fraction: 0.1\n# seed: 3\n")
    assert np.array_equal(read_subset(path, ds), idx)


def _imagenet_like(root):
    for wnid, ids in {"n01440764": [10026, 10027, 2], "n01443537": [7, 8]}.items():
        folder = root / "train" / wnid
        folder.mkdir(parents=True)
        for i in ids:
            Image.new("RGB", (6, 5), (i % 255, 0, 0)).save(folder / f"{wnid}_{i}.JPEG")
    return build_dataset("imagefolder", root, "train")


def test_image_folder_lists_and_simclr_format(tmp_path):
    ds = _imagenet_like(tmp_path / "in")
    path = write_subset(tmp_path / "s.txt", ds, np.array([0, 3]))
    assert path.read_text().splitlines()[-2:] == ["n01440764/n01440764_10026.JPEG", "n01443537/n01443537_7.JPEG"]
    assert read_subset(path, ds).tolist() == [0, 3]
    simclr = tmp_path / "1percent.txt"  # SimCLR's format: one ImageNet file name per line
    simclr.write_text("n01443537_8.JPEG\nn01440764_2.JPEG\n")
    picked = read_subset(simclr, ds)
    assert [ds.paths[i].rsplit("/", 1)[1] for i in picked] == ["n01440764_2.JPEG", "n01443537_8.JPEG"]
    simclr.write_text("n01443537_8.JPEG\nn09999999_1.JPEG\n")
    with pytest.raises(ValueError, match="1 of 2 listed images are not in imagefolder/train") as err:
        read_subset(simclr, ds)
    assert "n09999999_1.JPEG" in str(err.value) and "\n" not in str(err.value)


def test_subset_command(tmp_path, capsys):
    out = tmp_path / "digits_10pct.txt"
    assert main(["subset", "--dataset", "digits", "--fraction", "0.1", "--seed", "0", "--out", str(out)]) == 0
    assert "142 of 1437 images, 10 classes" in capsys.readouterr().out
    ds = build_dataset("digits", None, "train")
    assert np.array_equal(read_subset(out, ds), balanced_subset(ds.targets, 0.1, 0))
