"""Bootstrap intervals over test examples (report/bootstrap.py, report/intervals.py) and their place in the report.

Checked against direct computations: hand-counted resamples of a tiny test set, an independent loop over the same
resampled indices with the metrics of ``tests/independent_metrics.py``, ``numpy.quantile``'s linear rule written
out, and the paired difference on cases where it clearly does and clearly does not exclude 0. The report end to
end reads result files and predictions written by the real evaluation code.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from byol_pkg.errors import InputFileError
from byol_pkg.eval.predictions import Predictions, load_predictions, predictions_path, save_predictions
from byol_pkg.eval.results import ResultRecord, read_results, results_frame, write_results
from byol_pkg.metrics import METRICS, topk_accuracy, topk_hits
from byol_pkg.report import bootstrap as B
from byol_pkg.report import intervals as I
from byol_pkg.report.build import build_report
from byol_pkg.report.tables import paper_tables
from independent_metrics import INDEPENDENT


def _onehot_scores(predicted: list[int], num_classes: int) -> np.ndarray:
    scores = np.zeros((len(predicted), num_classes), dtype=np.float32)
    scores[np.arange(len(predicted)), predicted] = 1.0
    return scores


def _quantile_by_hand(values: np.ndarray, q: float) -> float:
    """numpy's default (linear) quantile written out: position q (B - 1) between the sorted values."""
    v = sorted(float(x) for x in values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


# ----------------------------------------------------------------------------------------------- hand-made case


def test_top1_resamples_counted_by_hand():
    """Four test images, the model right on images 0, 1 and 3; five resamples chosen by hand."""
    labels = np.array([0, 1, 2, 0])
    pred = Predictions(labels, _onehot_scores([0, 1, 0, 0], 3))  # image 2 (class 2) predicted as 0: wrong
    rows = np.array([[0, 1, 2, 3],  # 3 of 4 right: 75
                     [2, 2, 2, 2],  # 0
                     [0, 0, 1, 1],  # 100
                     [0, 2, 3, 3],  # 75
                     [1, 2, 2, 3]])  # 50
    reps = B.metric_replicates(pred, "top1", rows)
    assert reps.tolist() == [75.0, 0.0, 100.0, 75.0, 50.0]
    # sorted 0, 50, 75, 75, 100; 50 %: positions 1 and 3 -> [50, 75]; 95 %: 0.1 -> 5.0, 3.9 -> 97.5
    assert B.percentile_interval(reps, 0.5) == B.Interval(50.0, 75.0, 0.5, 5)
    ci = B.percentile_interval(reps)
    assert (ci.low, ci.high, ci.level, ci.resamples) == (pytest.approx(5.0), pytest.approx(97.5), 0.95, 5)
    halves = np.array([np.nan, 10.0, np.nan, 20.0])
    ci = B.percentile_interval(halves, min_defined=0.5)  # NaNs out: 10 + 0.025 (20 - 10)
    assert (ci.low, ci.high, ci.resamples) == (pytest.approx(10.25), pytest.approx(19.75), 2)
    assert B.percentile_interval(halves) is None  # fewer than 95 % defined
    assert B.percentile_interval(np.array([np.nan]), min_defined=0.0) is None


def test_mean_per_class_resamples_counted_by_hand():
    """Class 0 has 3 images (2 right), class 1 has 1 image (right): mean per-class 83.33, top-1 75."""
    labels = np.array([0, 0, 0, 1])
    pred = Predictions(labels, _onehot_scores([0, 0, 1, 1], 2))
    rows = np.array([[0, 1, 2, 3], [2, 2, 3, 3], [0, 0, 0, 0], [2, 2, 2, 1]])
    reps = B.metric_replicates(pred, "mean_per_class", rows)
    # (2/3 + 1) / 2; (0 + 1) / 2; class 1 absent, class 0 all right; class 0: 1 of 4 right, class 1 absent
    assert reps == pytest.approx([100 * (2 / 3 + 1) / 2, 50.0, 100.0, 25.0], abs=1e-12)
    assert B.metric_replicates(pred, "top1", rows).tolist() == [75.0, 50.0, 100.0, 25.0]


def test_voc_map_of_a_resample_without_positives_is_left_out():
    """A resample in which a class has no positive leaves its AP undefined: NaN, not in the quantiles."""
    labels = np.array([[1, -1], [-1, 1], [1, -1], [-1, -1]])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.3], [0.1, 0.7]], dtype=np.float32)
    pred = Predictions(labels, scores)
    rows = np.array([[0, 1, 2, 3], [0, 2, 3, 3], [1, 1, 0, 3]])  # the second has no positive of class 1
    reps = B.metric_replicates(pred, "voc07_map", rows)
    assert reps[0] == METRICS["voc07_map"](scores, labels) and math.isnan(reps[1])
    assert reps[2] == pytest.approx(INDEPENDENT["voc07_map"](scores[rows[2]], labels[rows[2]]), abs=1e-9)


# ----------------------------------------------------------------------------------------------- vs a loop


def _random_case(seed: int, n: int = 40, c: int = 7, multilabel: bool = False) -> Predictions:
    rng = np.random.default_rng(seed)
    if multilabel:
        labels = rng.choice([1, -1, -1, 0], size=(n, c))
        labels[:c, :] = np.where(np.eye(c, dtype=bool), 1, labels[:c, :])  # every class has a positive
        labels[labels == 0] = np.where(rng.random((labels == 0).sum()) < 0.5, -1, 0)
        return Predictions(labels, rng.normal(size=(n, c)).astype(np.float32))
    labels = rng.integers(0, c, n)
    scores = rng.integers(0, 4, size=(n, c)).astype(np.float32)  # many ties: the lower class index ranks first
    scores[np.arange(n), labels] += rng.integers(0, 3, n)
    return Predictions(labels, scores)


@pytest.mark.parametrize("metric", ["top1", "top5", "mean_per_class", "voc07_map"])
def test_replicates_equal_an_independent_loop_over_the_same_indices(metric):
    pred = _random_case(3, multilabel=metric == "voc07_map")
    idx = B.resample_indices(len(pred.labels), 60, seed=5)
    reps = B.metric_replicates(pred, metric, idx)
    direct = []
    for rows in idx:
        try:
            direct.append(INDEPENDENT[metric](pred.scores[rows], pred.labels[rows]))
        except ZeroDivisionError:  # a class without positives in this resample
            direct.append(math.nan)
    np.testing.assert_allclose(reps, direct, rtol=0, atol=1e-9)
    assert np.isfinite(reps).sum() >= 30
    interval = B.percentile_interval(reps, min_defined=0.0)
    low, high = interval.low, interval.high
    finite = np.asarray(direct)[np.isfinite(direct)]
    assert (low, high) == pytest.approx((_quantile_by_hand(finite, 0.025), _quantile_by_hand(finite, 0.975)),
                                        abs=1e-9)


@pytest.mark.parametrize("metric", ["top1", "top5", "mean_per_class", "voc07_map"])
def test_the_full_index_set_reproduces_the_metric_exactly(metric):
    pred = _random_case(11, n=300, multilabel=metric == "voc07_map")
    full = np.arange(len(pred.labels))[None, :]
    assert B.metric_replicates(pred, metric, full)[0] == METRICS[metric](pred.scores, pred.labels)
    value, _ = B.bootstrap_interval(pred, metric, resamples=20)
    assert value == METRICS[metric](pred.scores, pred.labels)


def test_topk_hits_is_topk_accuracy_per_example():
    pred = _random_case(4, n=500)
    for k in (1, 2, 5, 7, 9):
        hits = topk_hits(pred.scores, pred.labels, k)
        assert hits.dtype == bool and 100.0 * int(hits.sum()) / len(hits) == topk_accuracy(pred.scores, pred.labels, k)
    # ties: a label tied with a lower class index is pushed down by it
    assert topk_hits(np.array([[1.0, 1.0, 0.0]]), np.array([1]), 1).tolist() == [False]
    assert topk_hits(np.array([[1.0, 1.0, 0.0]]), np.array([0]), 1).tolist() == [True]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        topk_hits(pred.scores, pred.labels, 0)


def test_resamples_are_deterministic_and_uniform():
    a, b = B.resample_indices(50, 200, seed=0), B.resample_indices(50, 200, seed=0)
    assert a.shape == (200, 50) and np.array_equal(a, b) and not np.array_equal(a, B.resample_indices(50, 200, 1))
    assert a.min() == 0 and a.max() == 49
    counts = np.bincount(a.ravel(), minlength=50)
    assert counts.min() > 120 and counts.max() < 280  # 200 expected per example
    with pytest.raises(ValueError, match="n must be a positive integer"):
        B.resample_indices(0)


def test_bootstrap_interval_is_the_percentile_interval_of_the_seeded_resamples():
    pred = _random_case(8, n=120, c=4)
    value, interval = B.bootstrap_interval(pred, "top1", resamples=300, seed=7)
    idx = B.resample_indices(120, 300, seed=7)
    direct = [INDEPENDENT["top1"](pred.scores[r], pred.labels[r]) for r in idx]
    assert value == METRICS["top1"](pred.scores, pred.labels)
    assert (interval.low, interval.high) == pytest.approx(
        (_quantile_by_hand(np.array(direct), 0.025), _quantile_by_hand(np.array(direct), 0.975)), abs=1e-9)
    assert interval.resamples == 300 and interval.low <= value <= interval.high


def test_several_seeds_resample_the_mean_over_seeds():
    """With one predictions file per seed (the same test images): on each resample the mean over seeds of the
    metric, the same indices for every seed."""
    base = _random_case(1, n=80, c=3)
    seeds = [base, Predictions(base.labels, np.roll(base.scores, 1, axis=1))]
    value, interval = B.bootstrap_interval([[s] for s in seeds], "top1", resamples=200, seed=0)
    idx = B.resample_indices(80, 200, seed=0)
    direct = [np.mean([INDEPENDENT["top1"](s.scores[r], s.labels[r]) for s in seeds]) for r in idx]
    assert value == pytest.approx(np.mean([METRICS["top1"](s.scores, s.labels) for s in seeds]), abs=1e-12)
    assert (interval.low, interval.high) == pytest.approx(
        (_quantile_by_hand(np.array(direct), 0.025), _quantile_by_hand(np.array(direct), 0.975)), abs=1e-9)


# ----------------------------------------------------------------------------------------------- paired


def _correct_on(right: np.ndarray, num_classes: int = 2) -> Predictions:
    """Predictions right exactly on the images where ``right`` is True (labels all 0)."""
    labels = np.zeros(len(right), dtype=np.int64)
    return Predictions(labels, _onehot_scores([0 if r else 1 for r in right], num_classes))


def test_paired_difference_uses_the_same_indices_for_both():
    rng = np.random.default_rng(0)
    a, b = _correct_on(rng.random(60) < 0.7), _correct_on(rng.random(60) < 0.6)
    diff, interval = B.paired_interval(a, b, "top1", resamples=250, seed=3)
    idx = B.resample_indices(60, 250, seed=3)
    direct = [INDEPENDENT["top1"](a.scores[r], a.labels[r]) - INDEPENDENT["top1"](b.scores[r], b.labels[r])
              for r in idx]
    assert diff == METRICS["top1"](a.scores, a.labels) - METRICS["top1"](b.scores, b.labels)
    assert (interval.low, interval.high) == pytest.approx(
        (_quantile_by_hand(np.array(direct), 0.025), _quantile_by_hand(np.array(direct), 0.975)), abs=1e-9)


def test_paired_interval_excludes_zero_when_one_method_is_clearly_better():
    """B equals A except on 10 of 1000 images where A is right and B wrong: Δ = 1 point, and every resample
    that draws any of the 10 shows A ahead, so the paired interval excludes 0 although each method's own interval
    (about ± 2.5 points) covers the other's value."""
    right = np.arange(1000) % 4 != 0  # A: 75 %
    worse = right.copy()
    worse[np.flatnonzero(right)[:10]] = False  # B: 74 %
    a, b = _correct_on(right), _correct_on(worse)
    diff, paired = B.paired_interval(a, b, "top1")
    assert diff == pytest.approx(1.0) and paired.excludes_zero and 0.0 < paired.low < 1.0 < paired.high < 2.0
    _, own_a = B.bootstrap_interval(a, "top1")
    _, own_b = B.bootstrap_interval(b, "top1")
    assert own_a.low < 74.0 < own_a.high and own_b.low < 75.0 < own_b.high  # unpaired: overlapping


def test_paired_interval_covers_zero_when_the_methods_differ_only_by_chance():
    """Same accuracy (50 %), right on different images: Δ = 0 and the interval straddles 0 widely; identical
    predictions give the degenerate interval [0, 0], which does not exclude 0."""
    a, b = _correct_on(np.arange(400) % 2 == 0), _correct_on(np.arange(400) % 2 == 1)
    diff, interval = B.paired_interval(a, b, "top1")
    assert diff == 0.0 and interval.low < -5.0 and interval.high > 5.0 and not interval.excludes_zero
    same = B.paired_interval(a, a, "top1")
    assert same == (0.0, B.Interval(0.0, 0.0, 0.95, 1000)) and not same[1].excludes_zero
    assert B.Interval(-2.0, -0.1).excludes_zero and not B.Interval(-0.1, 2.0).excludes_zero


def test_predictions_of_other_test_images_are_refused_naming_both_files():
    a = _random_case(0, n=30, c=3)
    shuffled = Predictions(a.labels[::-1].copy(), a.scores)
    with pytest.raises(InputFileError, match=r"^runs/a\.npz and runs/b\.npz: predictions scored against different "
                                             r"test labels \(the same number of test examples but different labels\)"):
        B.paired_interval(a, shuffled, "top1", ["runs/a.npz"], ["runs/b.npz"])
    shorter = Predictions(a.labels[:20], a.scores[:20])
    with pytest.raises(InputFileError, match=r"runs/a\.npz and runs/c\.npz: .*\(30 and 20 test examples\)"):
        B.paired_interval(a, shorter, "top1", ["runs/a.npz"], ["runs/c.npz"])
    message = ""
    try:
        B.bootstrap_interval([[a], [shuffled]], "top1", ["s0.npz", "s1.npz"])
    except InputFileError as err:
        message = str(err)
    assert message.startswith("s0.npz and s1.npz:") and "\n" not in message


# ----------------------------------------------------------------------------------------------- the report


def _second_encoder(tmp_path: Path) -> Path:
    """An encoder of the same architecture as conftest's, other weights (another method)."""
    from byol_pkg.config import load_config
    from byol_pkg.models import build_byol
    from byol_pkg.train.pretrain import export_encoder

    cfg = load_config(None, ["model.backbone=resnet_small", "model.cifar_stem=true", "augment.image_size=8"])
    torch.manual_seed(7)
    online, _ = build_byol("resnet_small", cifar_stem=True, proj_hidden=16, proj_out=8, pred_hidden=16)
    return export_encoder(tmp_path, online, cfg, step=0)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, encoder_path):
    """Result files and predictions written by the real protocols: kNN (k=5, k=10: one matrix per k) and linear
    evaluation on cached features for BYOL (seeds 0 and 1) and SimCLR (seed 0), Fashion-MNIST in its IDX layout
    (200 train / 60 test images)."""
    from byol_pkg.eval import protocols
    from byol_pkg.eval.feature_cache import EncoderRef
    from byol_pkg.eval.runner import EvalTarget, resolve_splits
    from data_fixtures import make_fashion_mnist

    root = tmp_path_factory.mktemp("boot")
    make_fashion_mnist(root / "data", n_train=200, n_test=60)
    encoders = {"byol": Path(encoder_path), "simclr": _second_encoder(root / "enc2")}
    files = []
    for method, seed in (("byol", 0), ("byol", 1), ("simclr", 0)):
        target = EvalTarget(EncoderRef(encoders[method]), "fashion_mnist", str(root / "data"), str(root / "cache"),
                            method=method, seed=seed)
        splits = resolve_splits("fashion_mnist")
        out = root / "eval" / method / f"seed{seed}"
        protocols.knn(target, splits, ks=(5, 10)).write(out / "knn.json")
        protocols.linear(target, splits, base_lrs=(0.4,), epochs=2, batch_size=64).write(out / "linear.json")
        files += [out / "knn.json", out / "linear.json"]
    return root, files


def _pred(files, method, seed, protocol, variant=None):
    path = next(f for f in files if f.parts[-3:-1] == (method, f"seed{seed}") and f.stem == protocol)
    return load_predictions(predictions_path(path), variant)


def _fmt(interval, decimals=1) -> str:
    return f"[{interval.low:.{decimals}f}, {interval.high:.{decimals}f}]"


def test_report_intervals_equal_a_direct_computation(evaluated):
    root, files = evaluated
    result = build_report(files, [], root / "report")
    out = root / "report" / "tables"

    # SimCLR has one seed: its cells carry the interval of its own predictions
    recorded = {r["metric"]: r["value"] for r in read_results(files[5])}
    pred = _pred(files, "simclr", 0, "linear")
    top1, top5 = B.bootstrap_interval(pred, "top1"), B.bootstrap_interval(pred, "top5")
    assert (top1[0], top5[0]) == (recorded["top1"], recorded["top5"])  # the full test set reproduces them
    table1 = (out / "table1.md").read_text().splitlines()
    assert table1[0] == "| Method | Fashion-MNIST (cached) top-1 | Fashion-MNIST (cached) top-5 |"
    assert table1[3] == f"| SimCLR | {top1[0]:.1f} {_fmt(top1[1])} (n=1) | {top5[0]:.1f} {_fmt(top5[1])} (n=1) |"
    knn = (out / "knn.md").read_text().splitlines()
    k5 = B.bootstrap_interval(_pred(files, "simclr", 0, "knn", "k=5"), "top1")
    k10 = B.bootstrap_interval(_pred(files, "simclr", 0, "knn", "k=10"), "top1")
    assert knn[0] == "| Method | Fashion-MNIST (k=5) | Fashion-MNIST (k=10) |"
    assert knn[3] == f"| SimCLR | {k5[0]:.1f} {_fmt(k5[1])} (n=1) | {k10[0]:.1f} {_fmt(k10[1])} (n=1) |"
    # BYOL has two seeds: mean ± std in the table, the interval of the seed mean in the CSV
    assert "[" not in knn[2] and "(n=2)" in knn[2]
    byol = [[_pred(files, "byol", s, "knn", "k=5")] for s in (0, 1)]
    mean, seed_interval = B.bootstrap_interval(byol, "top1")
    csv = pd.read_csv(out / "knn.csv")
    row = csv[(csv["Method"] == "BYOL") & (csv["variant"] == "k=5")].iloc[0]
    assert row["mean"] == pytest.approx(mean, abs=1e-9) and row["n"] == 2
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((seed_interval.low, seed_interval.high), abs=1e-9)
    simclr_row = csv[(csv["Method"] == "SimCLR") & (csv["variant"] == "k=5")].iloc[0]
    assert (simclr_row["ci_low"], simclr_row["ci_high"]) == pytest.approx((k5[1].low, k5[1].high), abs=1e-9)
    # LaTeX: the brackets braced, so that a cell's "[" never reads as the optional argument of "\\"
    assert f"{{[}}{k5[1].low:.1f}, {k5[1].high:.1f}{{]}}" in (out / "knn.tex").read_text()

    # the comparisons: the paired interval of BYOL (mean of 2 seeds) - SimCLR on the same resampled images
    diff, paired = B.paired_interval(byol, _pred(files, "simclr", 0, "knn", "k=5"), "top1")
    lines = (out / "comparisons.md").read_text().splitlines()
    (k5_line,) = [line for line in lines if "| knn | Fashion-MNIST | k=5 |" in line]
    cells = [c.strip() for c in k5_line.split("|")[1:-1]]
    assert cells[8] == f"{diff:.2f}" and cells[11] == _fmt(paired, 2)
    assert cells[12] == ("yes" if paired.excludes_zero else "no")
    comp = pd.read_csv(out / "comparisons.csv")
    ci_row = comp[(comp["Variant"] == "k=5") & (comp["column"] == "Paired 95 % CI of Δ")].iloc[0]
    assert (ci_row["ci_low"], ci_row["ci_high"]) == pytest.approx((paired.low, paired.high), abs=1e-9)
    assert "percentile bootstrap" in result["report"].read_text()
    assert "No interval where" not in (out / "knn.md").read_text()  # every cell has one


def test_report_without_some_predictions_leaves_their_intervals_empty(evaluated, tmp_path):
    """An older result (no predictions file): its cells carry no interval, the caption says why, the report
    still builds; the comparison with it has no paired interval."""
    root, files = evaluated
    copies = []
    for f in files:
        dest = tmp_path / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
        if f.parts[-3:-1] != ("simclr", "seed0") or f.stem != "knn":
            (dest.parent / predictions_path(f).name).write_bytes(predictions_path(f).read_bytes())
        copies.append(dest)
    result = build_report(copies, [], tmp_path / "report")
    out = tmp_path / "report" / "tables"
    knn = (out / "knn.md").read_text().splitlines()
    (rec,) = [r for r in read_results(copies[4]) if r["variant"] == "k=5"]
    assert knn[3].startswith(f"| SimCLR | {rec['value']:.1f} (n=1) |")
    assert "[" in (out / "table1.md").read_text().splitlines()[3]  # SimCLR's linear result has its predictions
    comparisons = (out / "comparisons.md").read_text().splitlines()
    (k5_line,) = [line for line in comparisons if "| knn | Fashion-MNIST | k=5 |" in line]
    assert k5_line.endswith("| – | n/a (no CI) |")
    tables = {t.name: t for t in paper_tables(results_frame(copies))}
    assert f"No interval where {I.NO_FILE}." in tables["knn"].caption
    assert f"No interval where {I.NO_FILE}." in tables["comparisons"].caption
    assert I.NO_FILE not in tables["table1"].caption
    assert "3 of 6 result files keep theirs" not in result["report"].read_text()
    assert "5 of 6 result files keep theirs" in result["report"].read_text()


def test_report_refuses_a_comparison_on_other_test_images(evaluated, tmp_path):
    root, files = evaluated
    copies = []
    for f in files:
        dest = tmp_path / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
        pred = load_predictions(predictions_path(f), None) if f.stem == "linear" else None
        if pred is not None and f.parts[-3] == "simclr":  # other test images: labels in another order
            perm = np.random.default_rng(0).permutation(len(pred.labels))
            save_predictions(predictions_path(dest), Predictions(pred.labels[perm], pred.scores[perm]))
        else:
            (dest.parent / predictions_path(f).name).write_bytes(predictions_path(f).read_bytes())
        copies.append(dest)
    with pytest.raises(InputFileError, match=r"byol/seed0/linear\.predictions\.npz and .*simclr/seed0/linear\."
                                             r"predictions\.npz: predictions scored against different test labels"):
        build_report(copies, [], tmp_path / "report")


def test_a_stale_predictions_file_gives_no_interval(tmp_path):
    """Predictions that do not reproduce the recorded value (the record rewritten since) give no interval."""
    labels = np.arange(20) % 4
    scores = _onehot_scores([int(y) if i % 2 else (int(y) + 1) % 4 for i, y in enumerate(labels)], 4)
    out = tmp_path / "r.json"
    save_predictions(predictions_path(out), Predictions(labels, scores))
    rec = ResultRecord(protocol="linear", metric="top1", value=50.0, dataset="fashion_mnist", encoder="e.pt",
                       encoder_sha256="0" * 64, variant="cached")
    write_results(out, [rec])
    boot = I.Bootstrapper(resamples=100)
    frame = results_frame([out])
    assert boot.cell(frame).interval is not None
    rec.value = 55.0
    write_results(out, [rec])
    fresh = I.Bootstrapper(resamples=100)
    cell = fresh.cell(results_frame([out]))
    assert cell.interval is None and cell.reason == I.STALE and fresh.reasons == {I.STALE}
    off = I.Bootstrapper(resamples=0).cell(frame)
    assert off.interval is None and off.reason == I.OFF


@pytest.mark.parametrize("name", ["fgvc_aircraft", "voc2007"])
def test_recorded_transfer_values_are_reproduced_by_the_full_index_set(name, encoder_path, tmp_path):
    """Mean per-class accuracy (Aircraft) and 11-point mAP (VOC2007, multi-label 1/-1/0) as transfer-linear
    records them: the full index set of the saved predictions gives the recorded value exactly, so the report
    gives those cells an interval."""
    from byol_pkg.eval import protocols
    from byol_pkg.eval.feature_cache import EncoderRef
    from byol_pkg.eval.runner import EvalTarget, resolve_splits
    from transfer_fixtures import make_fgvc_aircraft, make_voc2007

    if name == "fgvc_aircraft":
        make_fgvc_aircraft(tmp_path / "data", {"train": 3, "val": 2, "test": (1, 2, 4)})
    else:
        make_voc2007(tmp_path / "data", {"train": 5, "val": 5, "test": 12})
    target = EvalTarget(EncoderRef(Path(encoder_path)), name, str(tmp_path / "data"), str(tmp_path / "cache"))
    out = tmp_path / "transfer.json"
    protocols.transfer_linear(target, resolve_splits(name)).write(out)
    (rec,) = read_results(out)
    pred = load_predictions(predictions_path(out))
    assert rec["metric"] == {"fgvc_aircraft": "mean_per_class", "voc2007": "voc07_map"}[name]
    full = np.arange(len(pred.labels))[None, :]
    assert B.metric_replicates(pred, rec["metric"], full)[0] == rec["value"]
    cell = I.Bootstrapper(resamples=200).cell(results_frame([out]))
    if name == "fgvc_aircraft":
        assert cell.interval is not None and cell.interval.low <= rec["value"] <= cell.interval.high
        assert cell.interval.resamples == 200  # mean per-class skips a class absent from a resample
    else:  # 12 test images, most classes with one positive: most resamples miss one, no interval
        assert cell.interval is None and cell.reason == I.UNDEFINED
