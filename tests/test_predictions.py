"""Test predictions kept beside result files (eval/predictions.py)."""

import numpy as np
import pytest

from byol_pkg.eval.predictions import Predictions, load_predictions, predictions_path, save_predictions


def test_predictions_round_trip_beside_the_result_file(tmp_path):
    out = tmp_path / "eval" / "digits.json"
    assert predictions_path(out) == tmp_path / "eval" / "digits.predictions.npz"
    labels = np.array([[1, -1, 0], [-1, 1, 1]], dtype=np.int64)  # multi-label (VOC's 1/-1/0)
    scores = np.array([[0.5, -1.0, 2.0], [0.25, 3.0, -0.5]], dtype=np.float64)
    save_predictions(predictions_path(out), Predictions(labels=labels, scores=scores))
    back = load_predictions(predictions_path(out))
    assert back.scores.dtype == np.float32 and np.array_equal(back.scores, scores.astype(np.float32))
    assert np.array_equal(back.labels, labels)
    assert [p.name for p in out.parent.iterdir()] == ["digits.predictions.npz"]  # no temporary file left


def test_mismatched_predictions_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        Predictions(labels=np.zeros(3, dtype=np.int64), scores=np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="do not match"):
        Predictions(labels=np.zeros(3, dtype=np.int64), scores=np.zeros(3, dtype=np.float32))


def test_a_pickled_object_array_is_not_loaded(tmp_path):
    path = tmp_path / "x.predictions.npz"
    np.savez(path, labels=np.array([object()], dtype=object), scores=np.zeros((1, 2)))
    with pytest.raises(ValueError):
        load_predictions(path)


def test_one_score_matrix_per_variant(tmp_path):
    """kNN reports k=20 and k=200 from one set of features: one matrix per variant, the same labels."""
    path = tmp_path / "knn.predictions.npz"
    labels = np.array([0, 2, 1])
    by_k = {f"k={k}": Predictions(labels=labels, scores=np.full((3, 3), float(k))) for k in (20, 200)}
    save_predictions(path, by_k)
    assert np.array_equal(load_predictions(path, "k=200").scores, np.full((3, 3), 200.0, np.float32))
    assert np.array_equal(load_predictions(path, "k=20").labels, labels)
    with pytest.raises(KeyError, match=r"variant 'k=5' \(it keeps \['k=20', 'k=200'\]\)"):
        load_predictions(path, "k=5")
    with pytest.raises(ValueError, match="different labels"):
        save_predictions(path, {"a": by_k["k=20"], "b": Predictions(labels=labels[::-1], scores=np.zeros((3, 3)))})
