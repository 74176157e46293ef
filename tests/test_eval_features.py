"""Feature cache (``byol extract``), kNN (``byol knn``) and the tidy result records, on real digits data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from independent_metrics import top1 as independent_top1

from byol_pkg.augment import EvalTransform
from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.eval.encoder import load_encoder
from byol_pkg.eval.feature_cache import EncoderRef, cached_features, load_features
from byol_pkg.eval.features import extract_features
from byol_pkg.eval.knn import knn_accuracy, knn_predict
from byol_pkg.eval.predictions import load_predictions, predictions_path
from byol_pkg.eval.results import read_results




def test_cache_layout_is_plain_numpy_and_reused(encoder_path, tmp_path):
    ref = EncoderRef(encoder_path)
    feats, labels, folder = cached_features(ref, "digits", "data", "test", tmp_path)
    assert folder == tmp_path / ref.key / "digits" / "test" and len(ref.key) == 16
    x, y = np.load(folder / "features.npy"), np.load(folder / "labels.npy")  # readable without the package
    assert x.dtype == np.float32 and x.shape == (360, 128) and np.array_equal(y, build_dataset("digits", None, "test").targets)
    meta = json.loads((folder / "meta.json").read_text())
    # the paper's test transform at 8 px: resize 9 (8 x 256/224), centre crop 8
    assert meta["preprocessing"]["resize_shorter_side"] == 9 and meta["preprocessing"]["center_crop"] == 8
    assert meta["preprocessing"]["protocol"] == "test" and meta["encoder_sha256"] == ref.sha256
    # the cached features are the frozen encoder's (eval mode) on the eval preprocessing
    model, _ = load_encoder(encoder_path)
    direct, _ = extract_features(model, build_dataset("digits", None, "test"), EvalTransform(8, resize=9))
    np.testing.assert_allclose(x, direct, rtol=1e-5, atol=1e-6)
    # second call reads the cache: same arrays, files untouched
    stamp = (folder / "features.npy").stat().st_mtime_ns
    again, _, _ = cached_features(ref, "digits", "data", "test", tmp_path)
    assert np.array_equal(again, feats) and (folder / "features.npy").stat().st_mtime_ns == stamp
    # a different image size or a random init is a different cache entry
    _, _, other = cached_features(ref, "digits", "data", "test", tmp_path, image_size=16)
    assert other.parent.name == "digits@16px"
    rnd = EncoderRef(encoder_path, random_init=True, seed=2)
    x_rnd, _, rnd_folder = cached_features(rnd, "digits", "data", "test", tmp_path)
    assert rnd_folder.parts[-3].startswith("random-resnet_small-seed2-") and not np.allclose(x_rnd, x)


def _assert_batched_path_equals_image_by_image(model, data, transform: EvalTransform, batch_size: int) -> None:
    """Features and labels of ``EvalTransform.batch`` batches equal those of the per-image DataLoader path (taken
    by a transform without ``batch``)."""
    fast = extract_features(model, data, transform, batch_size=batch_size)
    slow = extract_features(model, data, lambda img: transform(img), batch_size=batch_size)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5, atol=1e-6)
    assert np.array_equal(fast[1], slow[1]) and fast[1].dtype == np.int64 and len(fast[1]) == len(data)


def test_fixed_size_datasets_are_transformed_a_batch_at_a_time(encoder_path):
    """Fashion-MNIST-like in-memory arrays go through ``EvalTransform.batch``: the same features as image by image
    (a transform without ``batch`` takes the per-image DataLoader path)."""
    model, _ = load_encoder(encoder_path)
    _assert_batched_path_equals_image_by_image(model, build_dataset("digits", None, "test"), EvalTransform(8), 64)


def test_stored_parts_are_transformed_part_by_part(encoder_path, tmp_path):
    """STL-10's train+unlabeled (two memory-mapped parts, one concatenated dataset) through the batched path,
    batches crossing no part boundary: the features and labels of the image-by-image path."""
    from tests.data_fixtures import make_stl10

    make_stl10(tmp_path)
    model, _ = load_encoder(encoder_path)
    data = build_dataset("stl10", tmp_path, "train+unlabeled")
    _assert_batched_path_equals_image_by_image(model, data, EvalTransform(16), 4)


def test_transfer_preprocessing_is_its_own_entry_and_stale_caches_are_redone(encoder_path, tmp_path):
    """transfer-linear's features (App. D.2: resize to the crop size) are cached apart from the test crop's
    (App. C.1); a cached split written with another resize (an older version's) is extracted again."""
    ref = EncoderRef(encoder_path)
    model, _ = load_encoder(encoder_path)
    data = build_dataset("digits", None, "test")
    x_test, _, test_dir = cached_features(ref, "digits", "data", "test", tmp_path)
    x_tr, _, tr_dir = cached_features(ref, "digits", "data", "test", tmp_path, preprocessing="transfer")
    assert tr_dir.parent.name == "digits+transfer" and test_dir.parent.name == "digits"
    assert json.loads((tr_dir / "meta.json").read_text())["preprocessing"]["resize_shorter_side"] == 8
    np.testing.assert_allclose(x_tr, extract_features(model, data, EvalTransform(8, resize=8))[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(x_tr, x_test)
    meta = json.loads((test_dir / "meta.json").read_text())  # as an older version wrote it: resize 8
    meta["preprocessing"]["resize_shorter_side"] = 8
    (test_dir / "meta.json").write_text(json.dumps(meta))
    np.save(test_dir / "features.npy", x_tr)
    again, _, _ = cached_features(ref, "digits", "data", "test", tmp_path)
    np.testing.assert_allclose(again, x_test, rtol=1e-5, atol=1e-6)
    assert json.loads((test_dir / "meta.json").read_text())["preprocessing"]["resize_shorter_side"] == 9


def test_same_weights_other_forward_pass_is_another_cache_entry(encoder_path, tmp_path):
    """The key covers the forward pass (backbone variant, stem, normalisation), not only the weights' bytes."""
    other = tmp_path / "other/encoder.pt"
    other.parent.mkdir()
    shutil.copy(encoder_path, other)
    meta = json.loads(encoder_path.with_suffix(".json").read_text())
    other.with_suffix(".json").write_text(json.dumps({**meta, "mean": [0.0, 0.0, 0.0]}))
    a, b = EncoderRef(encoder_path), EncoderRef(other)
    assert a.sha256 == b.sha256 and a.key != b.key
    x_a, _, folder_a = cached_features(a, "digits", "data", "test", tmp_path / "cache")
    x_b, _, folder_b = cached_features(b, "digits", "data", "test", tmp_path / "cache")
    assert folder_a != folder_b and not np.allclose(x_a, x_b)
    copy = tmp_path / "copy/encoder.pt"  # same weights, same description: the same entry
    copy.parent.mkdir()
    shutil.copy(encoder_path, copy)
    shutil.copy(encoder_path.with_suffix(".json"), copy.with_suffix(".json"))
    assert EncoderRef(copy).key == a.key


def test_knn_hand_example():
    bank = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
    labels = np.array([0, 0, 1, 1, 2])
    query = np.array([[1.0, 0.05], [0.05, 1.0]])
    scores = knn_predict(bank, labels, query, k=2, temperature=0.5, num_classes=3)
    assert scores.argmax(1).tolist() == [0, 1]
    # weights exp(cos/T): the query (1, 0.05) votes for class 0 with both neighbours
    qn = query[0] / np.linalg.norm(query[0])
    expected = sum(np.exp((qn @ (b / np.linalg.norm(b))) / 0.5) for b in bank[:2])
    assert scores[0, 0].item() == pytest.approx(expected, rel=1e-5) and scores[0, 1].item() == 0.0
    # a large k lets a weighted majority win; the kNN is temperature-weighted, not a plain vote
    assert knn_accuracy(bank, labels, query, [0, 1], k=100) == 100.0


def test_knn_command_writes_tidy_records(encoder_path, tmp_path, capsys):
    out = tmp_path / "knn.json"
    assert main(["knn", "--encoder", str(encoder_path), "--dataset", "digits", "--cache-root", str(tmp_path / "c"),
                 "--out", str(out)]) == 0
    records = read_results(out)
    assert [r["hyperparameters"]["k"] for r in records] == [20, 200]
    for r in records:
        assert r["protocol"] == "knn" and r["metric"] == "top1" and r["dataset"] == "digits"
        assert r["split_sizes"] == {"train": 1437, "test": 360} and 10 < r["value"] <= 100
        assert r["encoder"] == str(encoder_path) and len(r["encoder_sha256"]) == 64 and r["wall_s"] > 0
    assert "kNN (T=0.07)" in (line := capsys.readouterr().out) and "k=20 top-1" in line and "k=200 top-1" in line
    train_x, train_y = load_features(next((tmp_path / "c").glob("*/digits/train")))
    assert train_x.shape == (1437, 128) and train_y.shape == (1437,)
    # each k's value recomputes from its kept votes, and the votes of a few queries from their definition
    test_x, test_y = load_features(next((tmp_path / "c").glob("*/digits/test")))
    bank = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    for r in records:
        k = r["hyperparameters"]["k"]
        pred = load_predictions(predictions_path(out), f"k={k}")
        assert np.array_equal(pred.labels, test_y) and pred.scores.shape == (360, 10)
        assert r["value"] == pytest.approx(independent_top1(pred.scores, pred.labels), abs=1e-9)
        for i in (0, 123, 359):
            cos = bank @ (test_x[i] / np.linalg.norm(test_x[i]))
            nearest = np.argsort(-cos, kind="stable")[:k]
            votes = np.bincount(train_y[nearest], weights=np.exp(cos[nearest] / 0.07), minlength=10)
            assert np.allclose(pred.scores[i], votes, rtol=1e-4)


def test_heldout_is_stratified_deterministic_and_saved(tmp_path):
    from byol_pkg.data.validation import heldout_indices, load_or_make_heldout

    labels = np.repeat(np.arange(4), [50, 30, 20, 100])
    tr, val = heldout_indices(labels, 0.1, seed=0)
    assert len(val) == 20 and set(tr).isdisjoint(val) and len(tr) + len(val) == 200
    assert np.bincount(labels[val], minlength=4).tolist() == [5, 3, 2, 10]  # stratified
    assert np.array_equal(heldout_indices(labels, 0.1, seed=0)[1], val)
    assert not np.array_equal(heldout_indices(labels, 0.1, seed=1)[1], val)
    path = tmp_path / "split.json"
    tr2, val2 = load_or_make_heldout(path, labels, 0.1, seed=0)
    assert np.array_equal(val2, val) and json.loads(path.read_text())["val"] == val.tolist()
    assert np.array_equal(load_or_make_heldout(path, labels, 0.1, seed=0)[1], val)  # read back
    with pytest.raises(ValueError, match="hold-out made for 200 images"):
        load_or_make_heldout(path, labels[:150], 0.1)


def test_transfer_linear_command(encoder_path, tmp_path):
    out = tmp_path / "tl.json"
    assert main(["transfer-linear", "--encoder", str(encoder_path), "--dataset", "digits",
                 "--cache-root", str(tmp_path / "c"), "--out", str(out)]) == 0
    (rec,) = read_results(out)
    assert rec["protocol"] == "transfer_linear" and rec["metric"] == "top1"
    assert rec["split_sizes"] == {"train": 1293, "val": 144, "test": 360}  # 10 % stratified hold-out of 1,437
    hp = rec["hyperparameters"]
    assert len(hp["val_scores"]) == 45 and hp["refit"] == "train+val"
    best = [i for i, v in enumerate(hp["val_scores"]) if v == max(hp["val_scores"])]
    assert hp["lambda"] == pytest.approx(np.logspace(-6, 5, 45)[max(best)])  # best on validation; ties -> larger
    assert 50 < rec["value"] <= 100
    assert (tmp_path / "c/splits/digits_train_val0.1_seed0.json").is_file()
    assert hp["features"] == "as extracted, not standardised (paper App. D.2)"
    assert list((tmp_path / "c").glob("*/digits+transfer/train"))  # App. D.2 features, resized to the crop size
    # --standardize: the same sweep on standardised features, recorded as such; a different fit
    std_out = tmp_path / "tl_std.json"
    assert main(["transfer-linear", "--encoder", str(encoder_path), "--dataset", "digits", "--standardize",
                 "--cache-root", str(tmp_path / "c"), "--out", str(std_out)]) == 0
    (std,) = read_results(std_out)
    assert std["hyperparameters"]["features"].startswith("standardised") and std["split_sizes"] == rec["split_sizes"]
    assert std["hyperparameters"]["val_scores"] != hp["val_scores"]


def test_transfer_datasets_default_to_the_papers_splits():
    from byol_pkg.cli import build_parser
    from byol_pkg.cli.common import eval_splits

    def resolved(*argv):
        splits = eval_splits(build_parser().parse_args(["transfer-linear", "--encoder", "e.pt", *argv]))
        return splits.train, splits.val, splits.test

    assert resolved("--dataset", "cifar100") == ("transfer_train", "transfer_val", "test")
    assert resolved("--dataset", "fgvc-aircraft") == ("train", "val", "test")
    assert resolved("--dataset", "cifar100", "--val-split", "transfer_val") == ("train", "transfer_val", "test")  # explicit wins
    assert resolved("--dataset", "digits") == ("train", None, "test")  # not a transfer dataset: hold-out


def test_results_command_collects_records_into_one_table(encoder_path, tmp_path, capsys):
    outs = []
    for flags, name in (([], "a.json"), (["--random-init", "--method", "random-init"], "b.json")):
        outs.append(tmp_path / name)
        assert main(["knn", "--encoder", str(encoder_path), "--dataset", "digits", "--k", "5",
                     "--cache-root", str(tmp_path / "c"), "--out", str(outs[-1]), *flags]) == 0
    capsys.readouterr()
    assert main(["results", *map(str, outs), "--csv", str(tmp_path / "all.csv"), "--markdown"]) == 0
    table = capsys.readouterr().out
    header = table.splitlines()[0]
    assert "byol" in header and "random-init" in header and "knn" in table
    import pandas as pd

    frame = pd.read_csv(tmp_path / "all.csv")
    assert len(frame) == 2 and set(frame["method"]) == {"byol", "random-init"}
    by_method = dict(zip(frame["method"], frame["value"]))
    assert f"{by_method['byol']:.2f}" in table and f"{by_method['random-init']:.2f}" in table


def test_external_torchvision_and_timm_state_dicts(tmp_path, capsys):
    """A torchvision checkpoint (with its fc head, wrapped, DataParallel prefixes) and a timm state dict are
    evaluated as encoders: features equal the architecture's own forward without the head."""
    import timm
    import torchvision

    from byol_pkg.augment import IMAGENET_MEAN, IMAGENET_STD

    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=7)
    ckpt = tmp_path / "tv.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in tv.state_dict().items()}}, ckpt)
    tm = timm.create_model("resnet10t", num_classes=5)
    tm_ckpt = tmp_path / "timm.pth"
    torch.save(tm.state_dict(), tm_ckpt)

    data = build_dataset("digits", None, "test")
    transform = EvalTransform(32, resize=37, mean=IMAGENET_MEAN, std=IMAGENET_STD)  # the test crop: 32 x 256/224
    for path, backbone, net in ((ckpt, "resnet18", tv), (tm_ckpt, "timm:resnet10t", tm)):
        cache = tmp_path / f"c-{path.stem}"
        assert main(["extract", "--encoder", str(path), "--backbone", backbone, "--image-size", "32",
                     "--dataset", "digits", "--splits", "test", "--cache-root", str(cache)]) == 0
        (folder,) = [p.parent for p in cache.rglob("meta.json")]
        feats, _ = load_features(folder)
        net.reset_classifier(0) if hasattr(net, "reset_classifier") else setattr(net, "fc", torch.nn.Identity())
        expected, _ = extract_features(net, torch.utils.data.Subset(data, range(len(data))), transform)
        np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)

    # wrong architecture, or no encoder.json without --backbone: one line naming the file
    capsys.readouterr()
    assert main(["extract", "--encoder", str(ckpt), "--backbone", "resnet50", "--dataset", "digits",
                 "--splits", "test", "--cache-root", str(tmp_path / "x")]) == 4  # EncoderLoadError
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(ckpt) in err and "does not fit the architecture" in err
    assert main(["extract", "--encoder", str(ckpt), "--dataset", "digits", "--cache-root", str(tmp_path / "x")]) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tv.json: missing" in err and "--backbone" in err
