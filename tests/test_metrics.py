"""Tests of byol_pkg.metrics against hand-computed values (spec §6.6, pitfalls 10 and 11)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from byol_pkg.metrics import (
    METRICS,
    mean_per_class_accuracy,
    top1_accuracy,
    top5_accuracy,
    topk_accuracy,
    voc07_ap,
    voc07_map,
)
from byol_pkg.data.registry import metric_for_dataset

# ------------------------------------------------------------------------------------------------
# top-k
# ------------------------------------------------------------------------------------------------
# row 0: order 1, 2, 0            label 1 -> rank 0
# row 1: 0.4 > 0.3 = 0.3          order 2, 0, 1 (tie: class 0 before 1); label 0 -> rank 1
# row 2: all tied                 order 0, 1, 2; label 2 -> rank 2
# row 3: 0.9 > 0.05 = 0.05        order 0, 1, 2; label 1 -> rank 1
SCORES = [[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.2, 0.2, 0.2], [0.9, 0.05, 0.05]]
LABELS = [1, 0, 2, 1]


def test_topk_hand_example_with_ties():
    assert top1_accuracy(SCORES, LABELS) == pytest.approx(25.0)
    assert topk_accuracy(SCORES, LABELS, 1) == pytest.approx(25.0)
    assert topk_accuracy(SCORES, LABELS, 2) == pytest.approx(75.0)
    assert topk_accuracy(SCORES, LABELS, 3) == pytest.approx(100.0)  # k == C
    assert topk_accuracy(SCORES, LABELS, 10) == pytest.approx(100.0)  # k > C
    assert top5_accuracy(SCORES, LABELS) == pytest.approx(100.0)  # C = 3 < 5 -> k = C


def test_top5_with_many_classes():
    # label ranks 0, 4, 5, 9 among 10 classes -> top-5 hits 2 of 4
    s = np.tile(np.arange(10, 0, -1, dtype=float), (4, 1))  # class j has score 10 - j
    assert top5_accuracy(s, [0, 4, 5, 9]) == pytest.approx(50.0)
    assert top1_accuracy(s, [0, 4, 5, 9]) == pytest.approx(25.0)


def test_topk_ties_follow_stable_descending_sort():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(200, 7)).astype(float)  # many ties
    y = rng.integers(0, 7, size=200)
    order = np.argsort(-s, axis=1, kind="stable")
    torch_order = torch.argsort(-torch.from_numpy(s), dim=1, stable=True).numpy()
    assert np.array_equal(order, torch_order)
    for k in range(1, 8):
        expected = 100.0 * np.mean([y[i] in order[i, :k] for i in range(200)])
        assert topk_accuracy(s, y, k) == pytest.approx(expected)
    assert top1_accuracy(s, y) == pytest.approx(100.0 * np.mean(np.argmax(s, 1) == y))


def test_topk_input_types_agree():
    ref = topk_accuracy(SCORES, LABELS, 2)
    assert topk_accuracy(np.array(SCORES), np.array(LABELS), 2) == ref
    assert topk_accuracy(torch.tensor(SCORES), torch.tensor(LABELS), 2) == ref
    assert topk_accuracy(torch.tensor(SCORES, dtype=torch.bfloat16), torch.tensor(LABELS), 2) == ref
    assert topk_accuracy(np.array(SCORES), np.array(LABELS, dtype=float), 2) == ref
    assert isinstance(ref, float)


@pytest.mark.parametrize(
    "scores, labels, k, msg",
    [
        (SCORES, [1, 0, 2], 1, "labels must have shape"),
        (SCORES, [1, 0, 3, 1], 1, "only 3 classes"),
        (SCORES, [1, 0, -1, 1], 1, "negative"),
        (SCORES, [1, 0, 2.5, 1], 1, "integers"),
        (SCORES, LABELS, 0, "positive integer"),
        ([0.1, 0.2], [0, 1], 1, "2-D"),
        ([[0.1, float("nan")]], [0], 1, "NaN"),
        (np.zeros((0, 3)), [], 1, "non-empty"),
    ],
)
def test_topk_validation(scores, labels, k, msg):
    with pytest.raises(ValueError, match=msg):
        topk_accuracy(scores, labels, k)


# ------------------------------------------------------------------------------------------------
# mean per-class accuracy
# ------------------------------------------------------------------------------------------------
def test_mean_per_class_differs_from_top1_on_imbalanced_data():
    labels = [0] * 9 + [1]
    preds = [0] * 10  # all class-0 samples right, the one class-1 sample wrong
    scores = np.zeros((10, 2))
    scores[:, 0] = 1.0
    assert top1_accuracy(scores, labels) == pytest.approx(90.0)
    assert mean_per_class_accuracy(preds, labels) == pytest.approx(50.0)
    assert METRICS["mean_per_class"](scores, labels) == pytest.approx(50.0)
    assert METRICS["top1"](scores, labels) == pytest.approx(90.0)


def test_mean_per_class_hand_example():
    labels = [0, 0, 1, 1, 1, 2]
    preds = [0, 1, 1, 1, 0, 2]  # class 0: 1/2, class 1: 2/3, class 2: 1/1
    expected = 100.0 * (1 / 2 + 2 / 3 + 1) / 3  # 72.22
    assert mean_per_class_accuracy(preds, labels) == pytest.approx(expected)
    assert mean_per_class_accuracy(torch.tensor(preds), torch.tensor(labels)) == pytest.approx(expected)
    assert top1_accuracy(np.eye(3)[preds], labels) == pytest.approx(100.0 * 4 / 6)


def test_mean_per_class_ignores_classes_absent_from_labels():
    labels = [0] * 9 + [1]
    preds = [0] * 8 + [3] + [1]  # one class-0 sample predicted as absent class 3
    # classes 2, 3, 4 have no samples: mean over classes 0 and 1 only = (8/9 + 1) / 2
    expected = 100.0 * (8 / 9 + 1) / 2
    assert mean_per_class_accuracy(preds, labels, num_classes=5) == pytest.approx(expected)
    assert mean_per_class_accuracy(preds, labels) == pytest.approx(expected)


def test_mean_per_class_from_scores_uses_argmax_lowest_index_on_ties():
    scores = [[0.5, 0.5], [0.5, 0.5]]  # tie -> argmax = class 0
    assert METRICS["mean_per_class"](scores, [0, 1]) == pytest.approx(50.0)
    assert METRICS["mean_per_class"](scores, [0, 0]) == pytest.approx(100.0)


def test_mean_per_class_validation():
    with pytest.raises(ValueError, match="differ in shape"):
        mean_per_class_accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="not \\[N, C\\] scores"):
        mean_per_class_accuracy([[0.1, 0.9], [0.2, 0.8]], [0, 1])
    with pytest.raises(ValueError, match="only 2 classes"):
        mean_per_class_accuracy([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="no samples"):
        mean_per_class_accuracy([], [])
    with pytest.raises(ValueError, match="num_classes"):
        mean_per_class_accuracy([0], [0], num_classes=0)


# ------------------------------------------------------------------------------------------------
# VOC2007 11-point AP
# ------------------------------------------------------------------------------------------------
# Hand example, P = 3 positives, ranked by descending score:
#   rank  label  TP  precision  recall
#   1      +     1   1/1 = 1    1/3
#   2      -     1   1/2        1/3
#   3      +     2   2/3        2/3
#   4      -     2   2/4        2/3
#   5      -     2   2/5        2/3
#   6      +     3   3/6 = 1/2  1
# 11 interpolated points max{precision : recall >= t}:
#   t = 0, .1, .2, .3  -> 1      (recall 1/3 >= t)
#   t = .4, .5, .6     -> 2/3    (recall >= 2/3)
#   t = .7, .8, .9, 1  -> 1/2    (recall 1 only)
#   AP = (4*1 + 3*2/3 + 4*1/2) / 11 = 8/11 = 72.727 %
# sklearn (area, no interpolation) = (1 + 2/3 + 1/2) / 3 = 13/18 = 72.222 %
HAND_SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
HAND_LABELS = [1, -1, 1, -1, -1, 1]


def test_voc07_ap_hand_example():
    assert voc07_ap(HAND_SCORES, HAND_LABELS) == pytest.approx(100.0 * 8 / 11)
    # the order of the input does not matter, only the scores
    perm = [3, 0, 5, 1, 4, 2]
    assert voc07_ap(np.array(HAND_SCORES)[perm], np.array(HAND_LABELS)[perm]) == pytest.approx(100.0 * 8 / 11)
    assert voc07_ap(torch.tensor(HAND_SCORES), torch.tensor(HAND_LABELS)) == pytest.approx(100.0 * 8 / 11)


def test_voc07_ap_differs_from_sklearn_average_precision():
    ours = voc07_ap(HAND_SCORES, HAND_LABELS)
    sk = 100.0 * average_precision_score(np.array(HAND_LABELS) == 1, HAND_SCORES)
    assert sk == pytest.approx(100.0 * 13 / 18)
    assert ours - sk == pytest.approx(100.0 * (8 / 11 - 13 / 18))  # +0.505 points
    assert abs(ours - sk) > 0.5


def test_voc07_ap_perfect_and_worst_ranking():
    assert voc07_ap([0.9, 0.8, 0.3, 0.2, 0.1], [1, 1, -1, -1, -1]) == pytest.approx(100.0)
    for n in (2, 5, 10):
        scores = np.linspace(1.0, 0.0, n)
        labels = -np.ones(n, dtype=int)
        labels[-1] = 1  # the only positive ranked last: precision 1/n at every recall level
        assert voc07_ap(scores, labels) == pytest.approx(100.0 / n)


def test_voc07_ap_difficult_samples_are_ignored():
    base = voc07_ap(HAND_SCORES, HAND_LABELS)
    with_difficult = voc07_ap([1.0] + HAND_SCORES, [0] + HAND_LABELS)
    assert with_difficult == pytest.approx(base)
    # the same sample counted as a negative (-1) ranked first:
    # precision/recall: 0/1@0, 1/2@1/3, 1/3@1/3, 2/4@2/3, 2/5@2/3, 2/6@2/3, 3/7@1
    # t = 0..0.6 -> 1/2 (7 points), t = 0.7..1 -> 3/7 (4 points)
    as_negative = voc07_ap([1.0] + HAND_SCORES, [-1] + HAND_LABELS)
    assert as_negative == pytest.approx(100.0 * (7 * 0.5 + 4 * 3 / 7) / 11)
    assert as_negative < base
    # a difficult sample anywhere in the list changes nothing, and so does a difficult positive score
    assert voc07_ap(HAND_SCORES + [0.65, 0.0], HAND_LABELS + [0, 0]) == pytest.approx(base)


def test_voc07_ap_tied_scores_form_one_block():
    # one positive tied with one negative at the top: after the block precision 1/2, recall 1
    # -> AP = 50 whichever comes first in the input (a stable sort would give 100 or 50).
    assert voc07_ap([0.9, 0.9, 0.5], [1, -1, -1]) == pytest.approx(50.0)
    assert voc07_ap([0.9, 0.9, 0.5], [-1, 1, -1]) == pytest.approx(50.0)


def test_voc07_ap_recall_thresholds_are_exact():
    # P = 10: three positives first, then ten negatives, then seven positives.
    # recall 3/10 is reached with precision 1, so t = 0.3 counts precision 1 (exact comparison);
    # later precisions k/(10+k), k = 4..10, increase to 10/20 = 1/2 at recall 1.
    # AP = (4 * 1 + 7 * 1/2) / 11 = 7.5/11 = 68.18 %  (float 0.1*3 = 0.30000000000000004 would give 7/11)
    labels = [1] * 3 + [-1] * 10 + [1] * 7
    scores = np.arange(20, 0, -1, dtype=float)
    assert voc07_ap(scores, labels) == pytest.approx(100.0 * 7.5 / 11)


def _reference_voc07_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """Straightforward 11-point AP: loop over score thresholds, predicted positive iff score >= thr."""
    keep = labels != 0
    s, y = scores[keep], labels[keep] == 1
    n_pos = int(y.sum())
    points = []  # (recall, precision) as exact fractions
    for thr in sorted(set(s.tolist()), reverse=True):
        predicted = s >= thr
        tp = int((predicted & y).sum())
        points.append((Fraction(tp, n_pos), Fraction(tp, int(predicted.sum()))))
    ap = Fraction(0)
    for i in range(11):
        t = Fraction(i, 10)
        ap += max((p for r, p in points if r >= t), default=Fraction(0))
    return 100.0 * float(ap / 11)


@pytest.mark.parametrize("seed", range(6))
def test_voc07_ap_matches_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    labels = rng.choice([-1, 0, 1], size=n, p=[0.6, 0.1, 0.3])
    labels[0], labels[1] = 1, -1
    # even seeds: continuous scores; odd seeds: heavy ties
    scores = rng.normal(size=n) if seed % 2 == 0 else rng.integers(0, 4, size=n).astype(float)
    scores = scores + 0.7 * (labels == 1)  # better than chance
    assert voc07_ap(scores, labels) == pytest.approx(_reference_voc07_ap(scores, labels), abs=1e-9)


def test_voc07_map_is_mean_of_class_aps():
    # class 0: hand example (8/11), class 1: perfect (100), class 2: random
    rng = np.random.default_rng(1)
    col2_labels = rng.choice([-1, 1], size=6)
    col2_labels[:2] = [1, -1]
    col2_scores = rng.normal(size=6)
    scores = np.stack([HAND_SCORES, HAND_SCORES, col2_scores], axis=1)
    labels = np.stack([HAND_LABELS, [1, 1, 0, -1, -1, -1], col2_labels], axis=1)
    aps = [voc07_ap(scores[:, c], labels[:, c]) for c in range(3)]
    assert aps[0] == pytest.approx(100.0 * 8 / 11) and aps[1] == pytest.approx(100.0)
    assert voc07_map(scores, labels) == pytest.approx(np.mean(aps))
    assert METRICS["voc07_map"](torch.from_numpy(scores), torch.from_numpy(labels)) == pytest.approx(np.mean(aps))


def test_voc_no_positives_and_bad_labels_raise():
    with pytest.raises(ValueError, match="no positive"):
        voc07_ap([0.1, 0.2, 0.3], [-1, -1, 0])
    scores = np.zeros((3, 2))
    with pytest.raises(ValueError, match="class 1: no positive"):
        voc07_map(scores, [[1, -1], [-1, -1], [-1, 0]])
    with pytest.raises(ValueError, match=r"voc07_map: scores \(4, 3\) and labels \(4, 2\) differ in shape"):
        voc07_map(np.zeros((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="differ in shape"):
        voc07_ap([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="got \\[2\\]"):
        voc07_ap([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="not 0/1"):  # 0/1 labels would silently make every AP 100
        voc07_ap([0.1, 0.2, 0.3], [0, 1, 0])
    with pytest.raises(ValueError, match="NaN"):
        voc07_ap([0.1, float("nan")], [1, -1])


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
def test_metrics_registry():
    assert set(METRICS) == {"top1", "top5", "mean_per_class", "voc07_map"}
    # the hand example above: one of four correct at top-1 (the all-tie row counts as wrong); 3 classes <= 5;
    # per class: class 0 0 of 1, class 1 1 of 2, class 2 0 of 1
    assert METRICS["top1"](SCORES, LABELS) == pytest.approx(25.0)
    assert METRICS["top5"](SCORES, LABELS) == pytest.approx(100.0)
    assert METRICS["mean_per_class"](SCORES, LABELS) == pytest.approx(100 * (0 + 0.5 + 0) / 3)


@pytest.mark.parametrize(
    "name, metric",
    [
        # the 12 transfer datasets of the paper (Table 3) and ImageNet
        ("food101", "top1"), ("cifar10", "top1"), ("cifar100", "top1"), ("birdsnap", "top1"),
        ("sun397", "top1"), ("cars", "top1"), ("aircraft", "mean_per_class"), ("voc2007", "voc07_map"),
        ("dtd", "top1"), ("pets", "mean_per_class"), ("caltech101", "mean_per_class"),
        ("flowers", "mean_per_class"), ("imagenet", "top1"),
        # aliases
        ("fgvc_aircraft", "mean_per_class"), ("FGVC-Aircraft", "mean_per_class"),
        ("oxford_pets", "mean_per_class"), ("oxford_iiit_pets", "mean_per_class"),
        ("Oxford-IIIT-Pet", "mean_per_class"), ("caltech-101", "mean_per_class"),
        ("flowers102", "mean_per_class"), ("oxford_flowers102", "mean_per_class"),
        ("voc07", "voc07_map"), ("VOC2007", "voc07_map"), ("pascal_voc2007", "voc07_map"),
        ("food-101", "top1"), ("stanford_cars", "top1"), ("places365", "top1"), ("caltech256", "top1"),
        ("fashion_mnist", "top1"), ("digits", "top1"), ("stl10", "top1"),
    ],
)
def test_metric_for_dataset(name, metric):
    assert metric_for_dataset(name) == metric
    assert metric in METRICS


def test_metric_for_dataset_rejects_bad_names():
    with pytest.raises(ValueError, match="non-empty"):
        metric_for_dataset("")
    with pytest.raises(ValueError, match="mean IoU"):
        metric_for_dataset("voc2012")


# ------------------------------------------------------------------------------------------------
# against the independent implementations (tests/independent_metrics.py) on random inputs with many ties
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_every_metric_equals_the_independent_implementation_with_ties(seed):
    """Scores drawn from a few levels, so ties fall anywhere in a ranking (not only at the top); labels
    imbalanced, some classes absent; VOC labels with difficult entries."""
    from independent_metrics import INDEPENDENT

    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(12, 40)), int(rng.integers(4, 10))
    scores = rng.integers(0, 4, size=(n, c)).astype(np.float64) / 4
    present = [k for k in range(c - 1) if k != 1]  # classes 1 (a gap) and c-1 never occur
    labels = rng.choice(present, size=n, p=np.r_[0.5, np.full(len(present) - 1, 0.5 / (len(present) - 1))])
    for name in ("top1", "top5", "mean_per_class"):
        assert METRICS[name](scores, labels) == pytest.approx(INDEPENDENT[name](scores, labels), abs=1e-9), name
    voc = rng.choice([1, -1, 0], size=(n, c), p=[0.35, 0.5, 0.15])
    voc[0], voc[1] = 1, -1  # every class has a positive and an absent image
    assert voc07_map(scores, voc) == pytest.approx(INDEPENDENT["voc07_map"](scores, voc), abs=1e-9)


# ------------------------------------------------------------------------------------------------
# validation: each bad input names what was expected
# ------------------------------------------------------------------------------------------------
def test_score_rank_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"topk_accuracy: scores must be 2-D \[N, C\], got shape \(3,\)"):
        top1_accuracy([0.1, 0.2, 0.3], [0])
    with pytest.raises(ValueError, match=r"voc07_ap: scores must be 1-D \[N\], got shape \(1, 2\)"):
        voc07_ap([[0.1, 0.2]], [1])


def test_empty_inputs_are_refused_before_anything_else():
    with pytest.raises(ValueError, match=r"topk_accuracy: scores must be non-empty, got shape \(2, 0\)"):
        top1_accuracy(np.zeros((2, 0)), [0, 0])
    with pytest.raises(ValueError, match=r"mean_per_class: scores must be non-empty, got shape \(0, 3\)"):
        METRICS["mean_per_class"](np.zeros((0, 3)), np.zeros(0, dtype=np.int64))


def test_label_values_and_types():
    s = np.eye(3)
    assert top1_accuracy(s[1:], [1, 2]) == 100.0  # class 0 need not occur
    assert top1_accuracy(s, np.array([0.0, 1.0, 2.0])) == 100.0  # integral floats are class indices
    for bad in (np.array([0.0, 0.6, 2.0]), np.array([0.0, 1.4, 2.0])):  # rounding up or down: not integral
        with pytest.raises(ValueError, match="labels must be integers, got non-integral values"):
            top1_accuracy(s, bad)
    for bad, dtype in ((np.array(["0", "1", "2"]), "<U1"), (np.array([0, 1, 2], dtype=complex), "complex128")):
        with pytest.raises(ValueError, match=f"labels must be integers, got dtype {dtype}"):
            top1_accuracy(s, bad)
    with pytest.raises(ValueError, match=r"labels must have shape \(1,\), got \(\)"):
        top1_accuracy(s[:1], np.int64(0))  # a 0-d label
    with pytest.raises(ValueError, match=r"mean_per_class_accuracy: labels must be 1-D \[N\], got shape \(3, 1\)"):
        mean_per_class_accuracy([[0], [1], [2]], [[0], [1], [2]])


def test_voc_label_errors_list_only_the_wrong_values():
    with pytest.raises(ValueError, match=r"must be 1 \(present\), -1 \(absent\) or 0 \(difficult\), got \[2\]$"):
        voc07_ap([0.1, 0.2, 0.3, 0.4], [1, -1, 0, 2])
    with pytest.raises(ValueError, match=r"got \[-2, 3\]$"):
        voc07_ap([0.1, 0.2, 0.3], [-2, 1, 3])


def test_shape_errors_of_labels_and_predictions():
    s = np.eye(3)
    with pytest.raises(ValueError, match=r"topk_accuracy: scores must be 2-D \[N, C\], got shape \(1, 3, 3\)"):
        top1_accuracy(s[None], [0, 1, 2])
    for bad in ([[0], [1], [2]], [0, 1, 2, 0], [0, 1]):  # [N, 1], longer, shorter
        with pytest.raises(ValueError, match=r"topk_accuracy: labels must have shape \(3,\)"):
            top1_accuracy(s, bad)
    with pytest.raises(ValueError, match=r"mean_per_class_accuracy: labels must be 1-D \[N\], got shape \(\)"):
        mean_per_class_accuracy(np.int64(0), np.int64(0))
    with pytest.raises(ValueError, match=r"predictions \(2,\) and labels \(3,\) differ in shape$"):
        mean_per_class_accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match=r"differ in shape \(pass class indices, not \[N, C\] scores\)$"):
        mean_per_class_accuracy(s, [0, 1, 2])
    with pytest.raises(ValueError, match=r"predictions \(3, 3, 1\) and labels \(3,\) differ in shape$"):
        mean_per_class_accuracy(s[..., None], [0, 1, 2])  # the scores hint is for [N, C] only


def test_one_class_and_one_sample_are_valid():
    assert top1_accuracy([[0.3], [0.1]], [0, 0]) == 100.0
    assert METRICS["mean_per_class"]([[0.3], [0.1]], [0, 0]) == 100.0
    assert METRICS["mean_per_class"]([[0.3, 0.7]], [1]) == 100.0
    assert voc07_map([[0.9], [0.1]], [[1], [-1]]) == 100.0
    assert mean_per_class_accuracy([0, 0], [0, 0], num_classes=1) == 100.0


def test_class_count_checks():
    with pytest.raises(ValueError, match=r"mean_per_class: scores must be non-empty, got shape \(2, 0\)"):
        METRICS["mean_per_class"](np.zeros((2, 0)), [0, 0])
    with pytest.raises(ValueError, match="labels contain class 2 but there are only 2 classes"):
        METRICS["mean_per_class"](np.zeros((5, 2)), [0, 1, 2, 0, 1])  # checked against C, not N
    with pytest.raises(ValueError, match=r"voc07_map: no classes \(scores shape \(2, 0\)\)"):
        voc07_map(np.zeros((2, 0)), np.zeros((2, 0), dtype=np.int64))
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match=f"num_classes must be a positive integer or None, got {bad!r}"):
            mean_per_class_accuracy([0], [0], num_classes=bad)


def test_boolean_tensors_are_not_class_indices():
    with pytest.raises(ValueError, match="labels must be integer class indices, got booleans"):
        top1_accuracy(torch.eye(2), torch.tensor([False, True]))
    assert top1_accuracy(torch.eye(2), torch.tensor([0, 1])) == 100.0  # integer tensors as they are


def test_voc_all_positive_class_and_shape_mismatch():
    assert voc07_ap([0.3, 0.1], [1, 1]) == 100.0  # no absent image: every threshold's precision is 1
    with pytest.raises(ValueError, match=r"voc07_ap: scores \(2,\) and labels \(3,\) differ in shape"):
        voc07_ap([0.1, 0.2], [1, -1, 1])
    with pytest.raises(ValueError, match=r"voc07_map: scores \(2, 2\) and labels \(3, 2\) differ in shape"):
        voc07_map(np.zeros((2, 2)), np.ones((3, 2), dtype=np.int64))


def test_k_and_label_range_checks():
    s = np.eye(2)
    for bad in (2.5, True, 0):
        with pytest.raises(ValueError, match=f"topk_accuracy: k must be a positive integer, got {bad!r}"):
            topk_accuracy(s, [0, 1], bad)
    assert topk_accuracy(s, [0, 1], np.int64(1)) == 100.0
    for label in (2, 3):  # C and beyond
        with pytest.raises(ValueError, match=f"labels contain class {label} but there are only 2 classes"):
            top1_accuracy(s, [0, label])
    with pytest.raises(ValueError, match="labels must be integers, got dtype <U1"):
        top1_accuracy([[1.0]], np.array(["0"]))  # one non-numeric label is enough


def test_top_k_is_the_same_whatever_the_chunk_of_rows(monkeypatch):
    """Rows are counted a chunk at a time: chunk boundaries inside the data change nothing."""
    import byol_pkg.metrics as M
    from independent_metrics import top1, top5

    rng = np.random.default_rng(3)
    scores, labels = rng.integers(0, 3, size=(10, 7)) / 2, rng.integers(0, 7, size=10)
    for rows in (1, 3, 10, 8192):
        monkeypatch.setattr(M, "_CHUNK_ROWS", rows)
        assert top1_accuracy(scores, labels) == pytest.approx(top1(scores, labels), abs=1e-9)
        assert top5_accuracy(scores, labels) == pytest.approx(top5(scores, labels), abs=1e-9)
