"""The error contract of every ``byol`` command: a bad dataset name, a bad split, a missing or a malformed file
ends in one line on stderr, ``byol <command>: error: ...`` naming the file or key and what was expected, and a
non-zero exit code, never in a traceback. The commands run in-process on real files (an uncaught exception would
fail the test with its traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byol_pkg.cli import main
from byol_pkg.errors import ByolError
from data_fixtures import make_cifar10, make_fashion_mnist


@pytest.fixture(scope="module")
def files(tmp_path_factory, encoder_path):
    """A Fashion-MNIST root (200 / 20 images), a tiny one (20 / 10), a CIFAR-10 root with a truncated test
    batch, an empty root, a malformed JSON / YAML / checkpoint, and a real encoder."""
    tmp = tmp_path_factory.mktemp("errors")
    make_fashion_mnist(tmp / "data", n_train=200, n_test=20)
    make_fashion_mnist(tmp / "tiny", n_train=20, n_test=10)
    make_cifar10(tmp / "broken")
    batch = tmp / "broken" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:100])
    (tmp / "empty").mkdir()
    (tmp / "bad.json").write_text("{not json")
    (tmp / "list.json").write_text(json.dumps({"a": 1}))
    (tmp / "bad.yaml").write_text("optim: [unclosed\n")
    (tmp / "bad.pt").write_bytes(b"not a checkpoint")
    return {"tmp": tmp, "data": tmp / "data", "tiny": tmp / "tiny", "broken": tmp / "broken",
            "empty": tmp / "empty", "encoder": Path(encoder_path)}


def _eval(command: str, f: dict, *extra: str, dataset: str = "fashion_mnist", root: str = "data") -> list[str]:
    """An evaluation command line; its feature cache (``CACHE``) is the test case's own."""
    return [command, "--encoder", str(f["encoder"]), "--dataset", dataset, "--root", str(f[root]),
            "--cache-root", "CACHE", *extra]


#: (case id, argv built from the files, text the one line must contain, exit code): the exit code of the class
#: raised (byol_pkg/errors.py): 2 config / arguments (ConfigError, UnknownDatasetError, UnknownMetricError,
#: SplitError), 3 input data (DatasetNotFoundError, DatasetFormatError, InputFileError), 4 checkpoint / encoder
#: (CheckpointError, EncoderLoadError, OfficialCheckpointError)
CASES = [
    # a bad dataset name
    ("knn-dataset", lambda f: _eval("knn", f, dataset="fashon_mnist"), "unknown dataset 'fashon_mnist'", 2),
    ("extract-dataset", lambda f: _eval("extract", f, dataset="nope"), "unknown dataset 'nope'", 2),
    ("download-dataset", lambda f: ["download", "nope", "--root", str(f["tmp"] / "data")], "unknown dataset 'nope'", 2),
    ("download-manual", lambda f: ["download", "stanford_cars", "--root", str(f["tmp"] / "data")], "manual", 3),
    ("linear-dataset", lambda f: _eval("linear", f, dataset="nope"), "unknown dataset 'nope'", 2),
    ("transfer-dataset", lambda f: _eval("transfer-linear", f, dataset="nope"), "unknown dataset 'nope'", 2),
    ("finetune-dataset", lambda f: _eval("finetune", f, dataset="nope"), "unknown dataset 'nope'", 2),
    ("semisup-dataset", lambda f: _eval("semisup", f, dataset="nope"), "unknown dataset 'nope'", 2),
    ("prepare-dataset", lambda f: ["prepare", "--dataset", "nope", "--out", str(f["tmp"] / "m.json")],
     "unknown dataset 'nope'", 2),
    ("subset-dataset", lambda f: ["subset", "--dataset", "nope", "--out", str(f["tmp"] / "s.txt")],
     "unknown dataset 'nope'", 2),
    ("probe-dataset", lambda f: ["probe", "--encoder", str(f["encoder"]), "--dataset", "nope"],
     "unknown dataset 'nope'", 2),
    ("pretrain-dataset", lambda f: ["pretrain", "--config", "demo", "--set", "data.name=nope",
                                    "--out", str(f["tmp"] / "run")], "data.name", 2),
    # a bad metric name
    ("transfer-metric", lambda f: _eval("transfer-linear", f, "--metric", "top-1"), "unknown metric 'top-1'", 2),
    ("finetune-metric", lambda f: _eval("finetune", f, "--metric", "acc"), "unknown metric 'acc'", 2),
    # a bad split
    ("knn-split", lambda f: _eval("knn", f, "--test-split", "tset"), "unknown split 'tset'", 2),
    ("linear-split", lambda f: _eval("linear", f, "--test-split", "tset"), "unknown split 'tset'", 2),
    ("extract-split", lambda f: _eval("extract", f, "--splits", "tset"), "unknown split 'tset'", 2),
    ("subset-split", lambda f: ["subset", "--dataset", "fashion_mnist", "--root", str(f["data"]), "--split",
                                "tset", "--out", str(f["tmp"] / "s.txt")], "unknown split 'tset'", 2),
    ("semisup-split", lambda f: _eval("semisup", f, "--train-split", "tset"), "unknown split 'tset'", 2),
    ("pretrain-split", lambda f: ["pretrain", "--config", "demo", "--set", "data.split=tset", "--set",
                                  f"data.root={f['data']}", "--out", str(f["tmp"] / "run")], "unknown split 'tset'", 2),
    ("transfer-split", lambda f: _eval("transfer-linear", f, "--val-split", "vall"), "unknown split 'vall'", 2),
    ("finetune-split", lambda f: _eval("finetune", f, "--train-split", "tset"), "unknown split 'tset'", 2),
    ("prepare-config-split", lambda f: ["prepare", "--config", "demo", "--set", "data.split=tset",
                                        "--out", str(f["tmp"] / "m.json")], "unknown split 'tset'", 2),
    # a missing file
    ("knn-no-data", lambda f: _eval("knn", f, dataset="cifar10", root="empty"),
     "dataset 'cifar10' (split 'train') not found", 3),
    ("linear-too-small", lambda f: _eval("linear", f, root="tiny"), "pass --val-split or another --val-size", 2),
    ("knn-no-encoder", lambda f: ["knn", "--encoder", str(f["tmp"] / "absent.pt"), "--dataset", "fashion_mnist",
                                  "--root", str(f["data"])], "absent", 4),
    ("pretrain-no-config", lambda f: ["pretrain", "--config", str(f["tmp"] / "absent.yaml"),
                                      "--out", str(f["tmp"] / "run")], "absent.yaml", 2),
    ("config-no-file", lambda f: ["config", "--config", str(f["tmp"] / "absent.yaml")], "absent.yaml", 2),
    ("export-no-checkpoint", lambda f: ["export-encoder", "--checkpoint", str(f["tmp"] / "absent.pt"),
                                        "--out", str(f["tmp"] / "e.pt")], "absent.pt", 4),
    ("results-no-file", lambda f: ["results", str(f["tmp"] / "absent.json")], "absent.json", 3),
    ("report-no-file", lambda f: ["report", "--results", str(f["tmp"] / "absent.json"),
                                  "--out", str(f["tmp"] / "report")], "absent.json", 3),
    ("semisup-no-subset", lambda f: _eval("semisup", f, "--subset", str(f["tmp"] / "absent.txt")), "absent.txt", 3),
    ("convert-no-file", lambda f: ["convert-official", "--checkpoint", str(f["tmp"] / "absent.pkl"),
                                   "--out", str(f["tmp"] / "c.pt")], "absent.pkl", 4),
    # a malformed file
    ("knn-bad-batch", lambda f: _eval("knn", f, dataset="cifar10", root="broken"), "test_batch", 3),
    ("prepare-bad-batch", lambda f: ["prepare", "--dataset", "cifar10", "--root", str(f["broken"]),
                                     "--out", str(f["tmp"] / "m.json")], "test_batch", 3),
    ("knn-bad-encoder", lambda f: ["knn", "--encoder", str(f["tmp"] / "bad.pt"), "--dataset", "fashion_mnist",
                                   "--root", str(f["data"])], "bad", 4),
    ("config-bad-yaml", lambda f: ["config", "--config", str(f["tmp"] / "bad.yaml")], "bad.yaml", 2),
    ("pretrain-bad-yaml", lambda f: ["pretrain", "--config", str(f["tmp"] / "bad.yaml"),
                                     "--out", str(f["tmp"] / "run")], "bad.yaml", 2),
    ("probe-bad-encoder", lambda f: ["probe", "--encoder", str(f["tmp"] / "bad.pt"), "--dataset", "fashion_mnist",
                                     "--root", str(f["data"])], "bad", 4),
    ("export-bad-checkpoint", lambda f: ["export-encoder", "--checkpoint", str(f["tmp"] / "bad.pt"),
                                         "--out", str(f["tmp"] / "e.pt")], "bad.pt", 4),
    ("results-bad-json", lambda f: ["results", str(f["tmp"] / "bad.json")], "bad.json", 3),
    ("results-not-records", lambda f: ["results", str(f["tmp"] / "list.json")], "list.json", 3),
    ("report-bad-json", lambda f: ["report", "--results", str(f["tmp"] / "bad.json"),
                                   "--out", str(f["tmp"] / "report")], "bad.json", 3),
    ("convert-bad-file", lambda f: ["convert-official", "--checkpoint", str(f["tmp"] / "bad.pt"),
                                    "--out", str(f["tmp"] / "c.pt")], "bad.pt", 4),
]


@pytest.mark.parametrize("case, build, expected, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(files, capsys, case, build, expected, code):
    argv = [str(files["tmp"] / "cache" / case) if a == "CACHE" else a for a in build(files)]
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code, err
    assert err, "no error message"
    last = err[-1]
    assert last.startswith(f"byol {argv[0]}: error: "), err
    assert expected in last, last
    assert not any("Traceback" in line for line in err), err


def test_every_command_has_an_error_case():
    """A new command gets its bad-input cases here."""
    from byol_pkg.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    commands = set(sub.choices)
    tested = {case[0].split("-")[0] for case in CASES}
    names = {"transfer": "transfer-linear", "export": "export-encoder", "convert": "convert-official"}
    tested = {names.get(t, t) for t in tested}
    assert commands - tested == set()


def test_domain_errors_share_one_base():
    """Every domain error derives from ByolError (and keeps the built-in type callers may already catch)."""
    from byol_pkg import errors

    domain = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)]
    assert len(domain) >= 8
    assert all(issubclass(cls, ByolError) for cls in domain)
    assert issubclass(errors.DatasetNotFoundError, FileNotFoundError)
    assert issubclass(errors.UnknownDatasetError, ValueError)
    assert str(errors.DatasetFormatError("a/b.gz", "bad\n  magic")) == "a/b.gz: bad magic"
