"""The protocols are library functions of plain arguments (no argparse), returning their records, the test
predictions and a summary line; ``byol`` is a thin wrapper of them (the same records either way)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from byol_pkg.cli import main
from byol_pkg.eval import protocols
from byol_pkg.eval.feature_cache import EncoderRef
from byol_pkg.eval.predictions import load_predictions, predictions_path
from byol_pkg.eval.results import read_results
from byol_pkg.eval.runner import EvalTarget, resolve_splits
from byol_pkg.metrics import top1_accuracy
from data_fixtures import make_fashion_mnist

SKIP = ("wall_s", "created")


def _strip(records):
    return [{k: v for k, v in r.items() if k not in SKIP} for r in records]


def test_protocols_called_from_python_equal_the_commands(tmp_path: Path, encoder_path):
    make_fashion_mnist(tmp_path / "data", n_train=200, n_test=40)
    target = EvalTarget(EncoderRef(Path(encoder_path)), "fashion_mnist", str(tmp_path / "data"),
                        str(tmp_path / "cache"), seed=3)
    splits = resolve_splits("fashion_mnist")
    assert (splits.train, splits.val, splits.test, splits.paper) == ("train", None, "test", False)

    linear = protocols.linear(target, splits, base_lrs=(0.4, 0.1), epochs=2, batch_size=64)
    top1, top5 = linear.records
    assert (top1.protocol, top1.variant, top1.metric, top1.seed) == ("linear", "cached", "top1", 3)
    assert top1.value == top1_accuracy(linear.predictions.scores, linear.predictions.labels)
    assert top1.split_sizes == {"train": 180, "val": 20, "test": 40} and "top-1" in linear.summary
    assert top1.hyperparameters["optimizer"] == "SGD nesterov momentum 0.9"

    knn = protocols.knn(target, resolve_splits("fashion_mnist", train="train", test="test"), ks=(5,))
    assert [r.variant for r in knn.records] == ["k=5"] and set(knn.predictions) == {"k=5"}

    out = tmp_path / "linear.json"
    linear.write(out)
    assert _strip(read_results(out)) == _strip(json.loads(json.dumps([r.__dict__ for r in linear.records])))
    np.testing.assert_array_equal(load_predictions(predictions_path(out)).scores, linear.predictions.scores)

    cli_out = tmp_path / "cli.json"
    assert main(["linear", "--encoder", str(encoder_path), "--dataset", "fashion_mnist", "--root",
                 str(tmp_path / "data"), "--cache-root", str(tmp_path / "cache"), "--seed", "3", "--base-lrs", "0.4",
                 "0.1", "--epochs", "2", "--batch-size", "64", "--out", str(cli_out)]) == 0
    assert _strip(read_results(cli_out)) == _strip(read_results(out))
