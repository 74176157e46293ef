"""Issue 18, evaluation side: a bad encoder, device, split, result file or output path ends in one line on stderr
with the exit code of its kind (``byol_pkg/errors.py``) before any computation, never in a traceback or a number;
and the feature cache never hands one data root's features to another. Commands run in-process on small real
files (the loaders' on-disk formats, ``torch.save`` state dicts)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from byol_pkg.cli import main
from byol_pkg.data import build_dataset
from byol_pkg.errors import EncoderLoadError
from byol_pkg.eval.encoder import encoder_eval_transform, load_encoder
from byol_pkg.eval.feature_cache import EncoderRef, cached_features
from byol_pkg.eval.features import extract_features
from data_fixtures import make_fashion_mnist

#: Every evaluation command taking --encoder / --device / --cache-root (probe: --encoder only).
EVAL_COMMANDS = ("extract", "knn", "transfer-linear", "linear", "finetune", "semisup")
#: Tiny grids, so that a command that wrongly gets past its checks still ends quickly.
FAST = {"knn": ["--k", "3"], "linear": ["--epochs", "1", "--base-lrs", "0.1", "--batch-size", "16"],
        "finetune": ["--lrs", "0.1", "--wds", "0", "--steps", "1", "--batch-size", "8"],
        "semisup": ["--lrs", "0.1", "--epochs", "1", "--batch-size", "8", "--fraction", "0.2"],
        "probe": ["--train-samples", "40", "--test-samples", "20"]}


@pytest.fixture(scope="module")
def f(tmp_path_factory, encoder_path) -> dict[str, Path]:
    """A Fashion-MNIST root, the real test encoder, and broken encoders next to a valid encoder.json: random
    bytes (with and without the json), a resnet18 state dict under a resnet_small json, one NaN weight, weights
    whose features overflow to infinity, and a bare torchvision resnet18 state dict."""
    import torchvision

    tmp = tmp_path_factory.mktemp("faults")
    make_fashion_mnist(tmp / "data", n_train=60, n_test=20)
    enc = Path(encoder_path)
    meta = enc.with_suffix(".json").read_text()
    state = torch.load(enc, weights_only=True)
    rng = np.random.default_rng(0)

    def encoder(name: str, content: object, with_json: bool = True) -> Path:
        path = tmp / name / "encoder.pt"
        path.parent.mkdir()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        if with_json:
            path.with_suffix(".json").write_text(meta)
        return path

    nan = {k: v.clone() for k, v in state.items()}
    nan["layer2.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    huge = {k: v.clone() for k, v in state.items()}
    for key in ("layer4.0.bn2.bias", "layer4.0.downsample.1.bias"):
        huge[key].fill_(3e38)  # finite weights, their sum is not
    tv18 = torchvision.models.resnet18().state_dict()
    files = {"tmp": tmp, "data": tmp / "data", "encoder": enc,
             "random": encoder("random", rng.bytes(4096), with_json=False),
             "random_json": encoder("random_json", rng.bytes(4096)),
             "r18_json": encoder("r18_json", tv18),
             "nan": encoder("nan", nan), "huge": encoder("huge", huge),
             "r18": tmp / "r18.pth", "a_file": tmp / "a_file"}
    torch.save(tv18, files["r18"])
    files["a_file"].write_text("a file, not a folder")
    return files


def _run(argv: list[str], capsys) -> tuple[int, str]:
    """``main(argv)`` and its stderr, which must be free of tracebacks."""
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    return rc, err


def _one_line(err: str, command: str) -> str:
    """The last stderr line, after checking it is ``byol <command>: error: ...`` (INFO log lines may come first)."""
    lines = [line for line in err.splitlines() if " INFO " not in line and " WARNING " not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"byol {command}: error: "), err
    return lines[0]


def _eval_argv(command: str, f: dict, encoder: Path, cache: Path, *extra: str) -> list[str]:
    if command == "probe":
        return ["probe", "--encoder", str(encoder), "--dataset", "fashion_mnist", "--root", str(f["data"]),
                *FAST["probe"], *extra]
    return [command, "--encoder", str(encoder), "--dataset", "fashion_mnist", "--root", str(f["data"]),
            "--cache-root", str(cache), *FAST.get(command, []), *extra]


def _nothing_computed(cache: Path) -> None:
    assert not list(cache.rglob("features.npy")) if cache.exists() else True, list(cache.rglob("*"))


# ------------------------------------------------------------------------------------------- bad encoders

#: (case, encoder file key, extra arguments, exit code, texts the line must contain)
ENCODER_CASES = [
    ("random-bytes", "random", [], 4, ["encoder.json: missing", "--backbone"]),
    ("random-bytes-json", "random_json", [], 4, ["not a PyTorch state dict", "random_json/encoder.pt"]),
    ("arch-json", "r18_json", [], 4, ["does not fit the architecture", "holds a resnet18-like state dict",
                                      "encoder.json says resnet_small", "resnet_small-like state dict"]),
    ("arch-backbone", "r18", ["--backbone", "resnet50"], 4,
     ["r18.pth: does not fit the architecture", "holds a resnet18-like state dict", "--backbone says resnet50",
      "resnet50-like state dict"]),
    ("nan", "nan", [], 4, ["nan/encoder.pt", "layer2.0.conv1.weight", "non-finite"]),
    ("unknown-backbone", "r18", ["--backbone", "resnet51"], 2,
     ["--backbone: unknown backbone 'resnet51'", "resnet50", "timm:<model>"]),
    ("unknown-timm", "r18", ["--backbone", "timm:nope"], 2, ["timm has no model 'nope'"]),
    ("folder", "tmp", [], 4, ["is a folder"]),
    ("absent", "tmp", [], 4, ["absent.pt: not found"]),
]


@pytest.mark.parametrize("command", [*EVAL_COMMANDS, "probe"])
@pytest.mark.parametrize("case, key, extra, code, texts", ENCODER_CASES, ids=[c[0] for c in ENCODER_CASES])
def test_bad_encoder_is_one_line_and_computes_nothing(f, capsys, command, case, key, extra, code, texts):
    if command == "probe" and extra:
        pytest.skip("probe takes no --backbone")
    encoder = f[key] if case != "absent" else f["tmp"] / "absent.pt"
    cache = f["tmp"] / "cache" / f"{command}-{case}"
    rc, err = _run(_eval_argv(command, f, encoder, cache, *extra), capsys)
    line = _one_line(err, command)
    assert rc == code, line
    for text in texts:
        assert text in line, line
    _nothing_computed(cache)


def test_nan_encoder_is_refused_by_the_library(f):
    """The library refuses it too (not only the command line): no model, no features, no number."""
    with pytest.raises(EncoderLoadError, match=r"tensor 'layer2\.0\.conv1\.weight' holds 1 non-finite"):
        load_encoder(f["nan"])
    with pytest.raises(EncoderLoadError, match="non-finite"):
        cached_features(EncoderRef(f["nan"]), "fashion_mnist", str(f["data"]), "test", f["tmp"] / "lib-cache")
    assert not (f["tmp"] / "lib-cache").exists()


def test_non_finite_features_are_never_cached(f, capsys):
    """Finite weights whose features overflow: extract refuses (exit 4) and caches nothing."""
    cache = f["tmp"] / "cache" / "huge"
    rc, err = _run(_eval_argv("extract", f, f["huge"], cache, "--splits", "test"), capsys)
    line = _one_line(err, "extract")
    assert rc == 4 and "features of fashion_mnist/test are not finite" in line, line
    _nothing_computed(cache)


# ------------------------------------------------------------------------------------------- device, split

DEVICE_CASES = [("gpu0", "not a device; use cpu, cuda"), ("cuda:x", "not a device"), ("tpu", "not a device"),
                ("cuda", "CUDA is not available on this machine")]


@pytest.mark.parametrize("command", EVAL_COMMANDS)
@pytest.mark.parametrize("device, text", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_bad_device_is_one_line(f, capsys, command, device, text):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cache = f["tmp"] / "cache" / f"{command}-dev-{device}"
    rc, err = _run(_eval_argv(command, f, f["encoder"], cache, "--device", device), capsys)
    line = _one_line(err, command)
    assert rc == 2 and f"--device '{device}'" in line and text in line, line
    _nothing_computed(cache)


@pytest.mark.parametrize("command", EVAL_COMMANDS)
def test_bad_split_is_one_line(f, capsys, command):
    cache = f["tmp"] / "cache" / f"{command}-split"
    extra = ["--splits", "tset"] if command == "extract" else ["--test-split", "tset"]
    rc, err = _run(_eval_argv(command, f, f["encoder"], cache, *extra), capsys)
    line = _one_line(err, command)
    assert rc == 2 and "unknown split 'tset' for dataset 'fashion_mnist'; allowed: train, test" in line, line
    _nothing_computed(cache)


# ------------------------------------------------------------------------------------------- result files

RECORD = {"protocol": "knn", "metric": "top1", "value": 50.0, "dataset": "fashion_mnist", "encoder": "e.pt",
          "encoder_sha256": "", "method": "byol", "variant": "k=20"}
BROKEN_RESULTS = [
    ("truncated", json.dumps([RECORD])[:60], "not valid JSON"),
    ("object", json.dumps(RECORD), "expected a JSON list of result records, got a dict"),
    ("scalars", "[1, 2]", "record 0 is a int, not an object"),
    ("no-dataset", json.dumps([RECORD, {k: v for k, v in RECORD.items() if k not in ("dataset", "metric")}]),
     "record 1 lacks 'metric', 'dataset'"),
    ("text-value", json.dumps([{**RECORD, "value": "high"}]), "field 'value' is 'high', expected a finite number"),
    ("nan-value", json.dumps([{**RECORD, "value": float("nan")}]), "expected a finite number"),
    ("string-seed", json.dumps([{**RECORD, "seed": "one"}]), "field 'seed' is 'one', expected a int"),
    ("folder", None, "cannot be read"),
]


@pytest.mark.parametrize("command", ["results", "report"])
@pytest.mark.parametrize("case, text, expected", BROKEN_RESULTS, ids=[c[0] for c in BROKEN_RESULTS])
def test_broken_result_file_is_one_line(f, capsys, command, case, text, expected):
    path = f["tmp"] / "results" / f"{case}.json"
    path.parent.mkdir(exist_ok=True)
    if text is None:
        path.mkdir(exist_ok=True)
    else:
        path.write_text(text)
    out = f["tmp"] / "reports" / f"{command}-{case}"
    argv = ["results", str(path)] if command == "results" else ["report", "--results", str(path), "--out", str(out)]
    rc, err = _run(argv, capsys)
    line = _one_line(err, command)
    assert rc == 3 and str(path) in line and expected in line, line
    assert not out.exists()  # no report of a partial input


def test_results_by_unknown_field_is_one_line(f, capsys):
    path = f["tmp"] / "good.json"
    path.write_text(json.dumps([RECORD]))
    rc, err = _run(["results", str(path), "--by", "methd"], capsys)
    line = _one_line(err, "results")
    assert rc == 2 and "--by methd: no record has that field" in line and "method" in line, line
    path.write_text(json.dumps([RECORD, {**RECORD, "method": "simclr", "seed": 1}]))
    rc, _ = _run(["results", str(path), "--by", "seed"], capsys)  # a field only some records have: a column
    out = capsys.readouterr().out if rc else ""
    assert rc == 0, out


# ------------------------------------------------------------------------------------------- output paths


def _outputs(f: dict) -> list[tuple[str, list[str], str, str]]:
    """(case, argv, option named, text): every output option of every writing command, empty or under a file."""
    enc, data, under = str(f["encoder"]), str(f["data"]), str(f["a_file"] / "sub")
    good = str(f["tmp"] / "good.json")
    cases = []
    for command in (*EVAL_COMMANDS, "probe"):
        cache = str(f["tmp"] / "cache" / f"{command}-out")
        base = _eval_argv(command, f, Path(enc), Path(cache))
        cases += [(f"{command}-out-empty", [*base, "--out", ""], "--out", "empty path"),
                  (f"{command}-out-under-file", [*base, "--out", f"{under}/r.json"], "--out", "is a file")]
        if command != "probe":
            base = [a if a != cache else "CACHE" for a in base]
            cases += [(f"{command}-cache-empty", [a if a != "CACHE" else "" for a in base], "--cache-root",
                       "empty path"),
                      (f"{command}-cache-under-file", [a if a != "CACHE" else under for a in base], "--cache-root",
                       "is a file")]
        if command in ("linear", "finetune", "semisup"):
            mode = ["--mode", "augmented"] if command == "linear" else []
            cases += [(f"{command}-work-under-file", [*_eval_argv(command, f, Path(enc), Path(cache)), *mode,
                                                      "--work-dir", under], "--work-dir", "is a file"),
                      (f"{command}-work-empty", [*_eval_argv(command, f, Path(enc), Path(cache)), *mode,
                                                 "--work-dir", ""], "--work-dir", "empty path")]
    prep = ["prepare", "--dataset", "fashion_mnist", "--root", data]
    subset = ["subset", "--dataset", "fashion_mnist", "--root", data]
    cases += [("prepare-out-empty", [*prep, "--out", ""], "--out", "empty path"),
              ("prepare-out-under-file", [*prep, "--out", f"{under}/m.json"], "--out", "is a file"),
              ("prepare-cache-under-file", [*prep, "--out", str(f["tmp"] / "m.json"), "--cache-root", under],
               "--cache-root", "is a file"),
              ("subset-out-empty", [*subset, "--out", ""], "--out", "empty path"),
              ("subset-out-under-file", [*subset, "--out", f"{under}/s.txt"], "--out", "is a file"),
              ("results-csv-empty", ["results", good, "--csv", ""], "--csv", "empty path"),
              ("results-csv-under-file", ["results", good, "--csv", f"{under}/t.csv"], "--csv", "is a file"),
              ("report-out-empty", ["report", "--results", good, "--out", ""], "--out", "empty path"),
              ("report-out-file", ["report", "--results", good, "--out", str(f["a_file"])], "--out", "is a file")]
    return cases


def _output_case_ids() -> list[str]:
    fake = {k: Path("/x") for k in ("encoder", "data", "a_file", "tmp")}
    return [c[0] for c in _outputs(fake)]


@pytest.mark.parametrize("case", _output_case_ids())
def test_unwritable_output_is_refused_before_any_work(f, capsys, case):
    (f["tmp"] / "good.json").write_text(json.dumps([RECORD]))
    _, argv, option, text = next(c for c in _outputs(f) if c[0] == case)
    before = sorted(p.name for p in Path.cwd().iterdir())
    rc, err = _run(argv, capsys)
    line = _one_line(err, argv[0])
    assert rc == 6 and f": error: {option}" in line and text in line, line
    _nothing_computed(f["tmp"] / "cache")
    assert sorted(p.name for p in Path.cwd().iterdir()) == before  # an empty path never means "here"


def _read_only_folder() -> Path | None:
    """A folder even root cannot write to (a read-only mount, e.g. /proc/sys in a container), or None."""
    for folder in ("/proc/sys", "/sys/kernel", "/proc/sys/kernel", "/usr/share"):
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            return Path(folder)
    return None


def test_output_in_a_read_only_mount_is_refused(f, capsys):
    folder = _read_only_folder()
    if folder is None:
        pytest.skip("no folder here is read-only to this user")
    cache = f["tmp"] / "cache" / "ro"
    for argv in (_eval_argv("knn", f, f["encoder"], cache, "--out", str(folder / "byol-x" / "knn.json")),
                 ["report", "--results", str(f["tmp"] / "good.json"), "--out", str(folder / "byol-report")]):
        (f["tmp"] / "good.json").write_text(json.dumps([RECORD]))
        rc, err = _run(argv, capsys)
        line = _one_line(err, argv[0])
        assert rc == 6 and f"folder {folder} is not writable" in line, line
    _nothing_computed(cache)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder (os.access says so)")
def test_output_in_a_chmod_read_only_folder_is_refused(f, capsys, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        cache = tmp_path / "cache"
        rc, err = _run(_eval_argv("linear", f, f["encoder"], cache, "--out", str(folder / "lin.json")), capsys)
        line = _one_line(err, "linear")
        assert rc == 6 and "is not writable" in line, line
        rc, err = _run(_eval_argv("knn", f, f["encoder"], folder / "cache"), capsys)
        assert rc == 6 and "--cache-root" in _one_line(err, "knn")
        _nothing_computed(cache)
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------------------------------------- feature cache


def test_two_roots_of_one_dataset_never_share_cached_features(f, tmp_path, capsys):
    """Two roots holding different Fashion-MNIST images, one cache: each root gets its own images' features
    (through the cache and through ``byol extract``); a root whose files change is extracted again."""
    a, b = tmp_path / "a", tmp_path / "b"
    make_fashion_mnist(a, n_train=12, n_test=8, seed=1)
    make_fashion_mnist(b, n_train=12, n_test=8, seed=2)
    ref, cache = EncoderRef(f["encoder"]), tmp_path / "cache"
    model, meta = load_encoder(f["encoder"])
    transform = encoder_eval_transform(meta)

    def direct(root: Path) -> np.ndarray:
        return extract_features(model, build_dataset("fashion_mnist", root, "test"), transform)[0]

    x_a, _, folder = cached_features(ref, "fashion_mnist", str(a), "test", cache)
    x_b, _, folder_b = cached_features(ref, "fashion_mnist", str(b), "test", cache)
    assert not np.allclose(x_a, x_b)
    np.testing.assert_allclose(x_b, direct(b), rtol=1e-5, atol=1e-6)
    recorded = json.loads((folder_b / "meta.json").read_text())["source"]
    assert recorded["root"] == os.path.realpath(b) and any("t10k-images" in e[0] for e in recorded["files"])
    # back to root a: its own features again, not b's
    again_a, _, _ = cached_features(ref, "fashion_mnist", str(a), "test", cache)
    np.testing.assert_allclose(again_a, direct(a), rtol=1e-5, atol=1e-6)
    # unchanged: read from the cache (files untouched)
    stamp = (folder / "features.npy").stat().st_mtime_ns
    cached_features(ref, "fashion_mnist", str(a), "test", cache)
    assert (folder / "features.npy").stat().st_mtime_ns == stamp
    # the same root with other images (same names): extracted again
    shutil.rmtree(a)
    make_fashion_mnist(a, n_train=12, n_test=9, seed=3)
    x_new, _, _ = cached_features(ref, "fashion_mnist", str(a), "test", cache)
    assert x_new.shape[0] == 9
    np.testing.assert_allclose(x_new, direct(a), rtol=1e-5, atol=1e-6)
    # through the command line: the index of each root names the features of that root
    for root, expected in ((b, direct(b)), (a, direct(a))):
        out = tmp_path / f"index-{root.name}.json"
        assert main(["extract", "--encoder", str(f["encoder"]), "--dataset", "fashion_mnist", "--root", str(root),
                     "--splits", "test", "--cache-root", str(cache), "--out", str(out)]) == 0
        index = json.loads(out.read_text())["splits"]["test"]
        np.testing.assert_allclose(np.load(Path(index["folder"]) / "features.npy"), expected, rtol=1e-5, atol=1e-6)
    capsys.readouterr()


def test_cached_non_finite_features_are_extracted_again(f, tmp_path):
    """A cache entry holding NaN features (an older version's) is never returned."""
    ref, root = EncoderRef(f["encoder"]), str(f["data"])
    x, _, folder = cached_features(ref, "fashion_mnist", root, "test", tmp_path)
    bad = x.copy()
    bad[0, 0] = np.nan
    np.save(folder / "features.npy", bad)
    again, _, _ = cached_features(ref, "fashion_mnist", root, "test", tmp_path)
    assert np.isfinite(again).all()
    np.testing.assert_allclose(again, x, rtol=1e-6)
