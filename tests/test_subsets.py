"""Label-fraction subsets for semi-supervised runs: balanced, deterministic, saved; SimCLR lists by name."""

import os

import numpy as np
import pytest
from PIL import Image

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.data.subsets import balanced_subset, read_subset, write_subset


def test_balanced_counts_and_determinism():
    labels = np.repeat(np.arange(3), [100, 50, 7])
    idx = balanced_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [10, 5, 1]  # round(0.7) = 1, and at least one per class
    assert np.array_equal(idx, balanced_subset(labels, 0.1, seed=0)) and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, balanced_subset(labels, 0.1))  # seed 0 by default
    assert not np.array_equal(idx, balanced_subset(labels, 0.1, seed=1))
    # per-class draws: adding a class does not change the images chosen in the others
    more = np.concatenate([labels, np.full(20, 3)])
    assert np.array_equal(balanced_subset(more, 0.1, 0)[:16], idx)
    with pytest.raises(ValueError, match="fraction"):
        balanced_subset(labels, 0.0)
    assert np.bincount(labels[balanced_subset(labels, 0.05)]).tolist() == [5, 2, 1]  # round(0.35) = 0 -> 1


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
    simclr.write_text("".join(f"n0999999{i}_1.JPEG\n" for i in range(5)))  # the first three named, no more
    with pytest.raises(ValueError, match=r"5 of 5 listed .* \(first: n09999990_1.JPEG, n09999991_1.JPEG, "
                                         r"n09999992_1.JPEG\)$"):
        read_subset(simclr, ds)


def test_subset_command(tmp_path, capsys):
    out = tmp_path / "digits_10pct.txt"
    assert main(["subset", "--dataset", "digits", "--fraction", "0.1", "--seed", "0", "--out", str(out)]) == 0
    assert "142 of 1437 images, 10 classes" in capsys.readouterr().out
    ds = build_dataset("digits", None, "train")
    assert np.array_equal(read_subset(out, ds), balanced_subset(ds.targets, 0.1, 0))


def test_excluded_images_are_never_drawn_and_the_count_follows_the_whole_split():
    labels = np.repeat(np.arange(2), [40, 20])
    exclude = np.r_[0:30, 40:45]  # 30 of class 0, 5 of class 1 held out for validation
    idx = balanced_subset(labels, 0.25, seed=0, exclude=exclude)
    assert np.bincount(labels[idx]).tolist() == [10, 5]  # 25 % of 40 and of 20, not of what is left
    assert not set(idx.tolist()) & set(exclude.tolist())
    with pytest.raises(ValueError, match=r"class 0: 11 images wanted for a 0.275 subset, only 10 available"):
        balanced_subset(labels, 0.275, seed=0, exclude=exclude)


def test_fraction_bounds():
    labels = np.repeat(np.arange(2), 5)
    assert balanced_subset(labels, 1.0).tolist() == list(range(10))  # the whole split
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError, match=f"subset fraction must be in \\(0, 1\\], got {bad}"):
            balanced_subset(labels, bad)


def test_index_lists_skip_comments_and_refuse_indices_outside_the_split(tmp_path):
    ds = build_dataset("digits", None, "test")
    path = tmp_path / "s.txt"
    path.write_text("# dataset: digits\n\n7\n3\n# a note\n359\n0\n")
    assert read_subset(path, ds).tolist() == [0, 3, 7, 359]  # the first and the last image are inside
    for bad in ("-1", "360", "1000"):
        path.write_text(f"0\n{bad}\n")
        with pytest.raises(ValueError, match="indices outside the 360 images of digits/test"):
            read_subset(path, ds)
    path.write_text("")
    assert read_subset(path, ds).tolist() == []


def test_split_lists_name_the_images_of_a_split(tmp_path):
    """In-memory data: indices into the split the images were drawn from (CIFAR's transfer hold-out) or into
    itself; image files: paths relative to the split folder."""
    from data_fixtures import make_cifar10

    from byol_pkg.data.subsets import write_split_list

    make_cifar10(tmp_path / "data")
    val = build_dataset("cifar10", tmp_path / "data", "transfer_val")
    lines = write_split_list(tmp_path / "val.txt", val).read_text().splitlines()
    header, entries = [ln for ln in lines if ln.startswith("#")], [ln for ln in lines if not ln.startswith("#")]
    assert header[:2] == ["# dataset: cifar10", "# split: transfer_val"] and "# entries: indices into the 'train' split" in header
    assert f"# count: {len(val)}" in header and [int(e) for e in entries] == val.source_indices.tolist()
    assert header[2] == f"# rule: {val.split_rule}"
    digits = build_dataset("digits", None, "test")
    lines = write_split_list(tmp_path / "d.txt", digits).read_text().splitlines()
    assert "# rule: as shipped" in lines and lines[-360:] == [str(i) for i in range(360)]
    ds = _imagenet_like(tmp_path / "in")
    lines = write_split_list(tmp_path / "in.txt", ds).read_text().splitlines()
    assert lines[-5:] == [os.path.relpath(p, ds.split_dir) for p in ds.paths] and len(ds.paths) == 5


def test_training_holdout_count_or_fraction(tmp_path):
    """val_size >= 1 is a count, below 1 a fraction; each gets its own saved file, shared by later calls."""
    from byol_pkg.data.validation import training_holdout

    labels = np.repeat(np.arange(4), 25)
    tr, val, note = training_holdout(tmp_path, "toy", "train", labels, 20.0, seed=0)
    assert len(val) == 20 and len(tr) == 80 and (tmp_path / "splits/toy_train_val20_seed0.json").is_file()
    assert note == f"stratified hold-out of 'train' ({tmp_path / 'splits/toy_train_val20_seed0.json'})"
    tr, val, _ = training_holdout(tmp_path, "toy", "train", labels, 0.1, seed=0)
    assert len(val) == 10 and (tmp_path / "splits/toy_train_val0.1_seed0.json").is_file()
    tr, val, _ = training_holdout(tmp_path, "one", "train", np.zeros(10, dtype=np.int64), 1.0, seed=0)
    assert len(val) == 1 and (tmp_path / "splits/one_train_val1_seed0.json").is_file()  # 1 is a count
    tr2, val2, _ = training_holdout(tmp_path, "toy", "train", labels, 20, seed=0)
    assert len(val2) == 20 and len(tr2) == 80


def test_saved_holdout_records_how_it_was_made_and_fits_only_its_split(tmp_path):
    import json

    from byol_pkg.data.validation import DEFAULT_VAL_FRACTION, heldout_indices, load_or_make_heldout

    labels = np.repeat(np.arange(4), 50)
    path = tmp_path / "h.json"
    tr, val = load_or_make_heldout(path, labels, 0.1)
    saved = json.loads(path.read_text())
    assert {k: saved[k] for k in ("num_images", "seed", "val_size", "stratified")} == {
        "num_images": 200, "seed": 0, "val_size": 0.1, "stratified": True}
    assert np.array_equal(val, heldout_indices(labels, 0.1, seed=0)[1])  # seed 0 by default, both functions
    assert np.array_equal(heldout_indices(labels, 0.1)[1], val)
    for other in (labels[:150], np.repeat(np.arange(4), 60)):  # a smaller or a larger split
        with pytest.raises(ValueError, match=f"hold-out made for 200 images, the split has {len(other)}"):
            load_or_make_heldout(path, other, 0.1)
    from byol_pkg.cli import build_parser

    args = build_parser().parse_args(["linear", "--encoder", "e", "--dataset", "d", "--out", "o"])
    assert args.val_size == DEFAULT_VAL_FRACTION == 0.1  # the commands' hold-out: 10 % of train
