"""``byol export-encoder``: the online encoder of a kept epoch checkpoint, written exactly as the end of
pretraining writes it; and ``byol knn`` recording the pretraining epoch for the kNN-vs-epoch curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_pretrain import assert_same_state, load, write_config

from byol_pkg.cli import main
from byol_pkg.eval.encoder import load_encoder
from byol_pkg.eval.results import read_results, results_frame


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The 2-epoch digits run of test_pretrain (64 images, batch 16: 4 steps per epoch, epoch checkpoints)."""
    root = tmp_path_factory.mktemp("export")
    cfg = write_config(root / "cfg.yaml")
    assert main(["pretrain", "--config", str(cfg), "--out", str(root / "run")]) == 0
    return root / "run"


def test_final_epoch_export_equals_the_runs_encoder(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ep2" / "encoder.pt"
    assert main(["export-encoder", "--checkpoint", str(run / "checkpoints/epoch_0002.pt"), "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"{out}: online encoder of {run}/checkpoints/epoch_0002.pt (step 8, epoch 2)"
    assert_same_state(load(out), load(run / "encoder.pt"))  # tensor by tensor, bit for bit
    meta, final = json.loads(out.with_suffix(".json").read_text()), json.loads((run / "encoder.json").read_text())
    assert meta.pop("pretrain_epoch") == 2 and meta == final  # same json, plus the epoch (step 8 in both)
    assert not list(out.parent.glob(".*.tmp"))
    # the timm-hub copy beside it: the same tensors as the run's own copy, described by the same json
    hub = json.loads((tmp_path / "ep2/encoder.timm/config.json").read_text())
    assert hub["byol_bench"] == json.loads(out.with_suffix(".json").read_text())
    assert hub["architecture"] == json.loads((run / "encoder.timm/config.json").read_text())["architecture"]
    assert_same_state(load_file(tmp_path / "ep2/encoder.timm/model.safetensors"), load(out))
    assert_same_state(load_file(run / "encoder.timm/model.safetensors"), load(run / "encoder.pt"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["encoder.json", "encoder.pt", "encoder.timm"]

    first = tmp_path / "ep1" / "encoder.pt"
    assert main(["export-encoder", "--checkpoint", str(run / "checkpoints/epoch_0001.pt"), "--out", str(first)]) == 0
    meta1 = json.loads(first.with_suffix(".json").read_text())
    assert (meta1["step"], meta1["pretrain_epoch"]) == (4, 1)
    ckpt = load(run / "checkpoints/epoch_0001.pt")
    online = {k.removeprefix("encoder."): v for k, v in ckpt["online"].items() if k.startswith("encoder.")}
    assert_same_state(load(first), online)
    assert any(not torch.equal(load(first)[k], load(out)[k]) for k in online if online[k].is_floating_point())
    model, m = load_encoder(first)  # evaluation commands load it like any encoder
    assert m["pretrain_epoch"] == 1 and model(torch.zeros(2, 3, 8, 8)).shape[0] == 2

    # last.pt has no epoch in its name: none recorded unless given
    last = tmp_path / "last" / "enc.pt"
    assert main(["export-encoder", "--checkpoint", str(run / "checkpoints/last.pt"), "--out", str(last)]) == 0
    assert "pretrain_epoch" not in json.loads((tmp_path / "last/enc.json").read_text())
    assert main(["export-encoder", "--checkpoint", str(run / "checkpoints/last.pt"), "--out", str(last),
                 "--pretrain-epoch", "2"]) == 0
    assert json.loads((tmp_path / "last/enc.json").read_text())["pretrain_epoch"] == 2


def test_missing_or_corrupt_checkpoint_is_one_line(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x" / "encoder.pt"
    assert main(["export-encoder", "--checkpoint", str(tmp_path / "epoch_0003.pt"), "--out", str(out)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("byol export-encoder: error: checkpoint") and "not found" in err[0]
    bad = tmp_path / "epoch_0001.pt"
    bad.write_bytes((run / "checkpoints/epoch_0001.pt").read_bytes()[:5000])  # truncated
    assert main(["export-encoder", "--checkpoint", str(bad), "--out", str(out)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt or truncated" in err[0]
    torch.save({"step": 1}, bad)  # a torch file, but not a pretraining checkpoint
    assert main(["export-encoder", "--checkpoint", str(bad), "--out", str(out)]) == 4
    assert "not a byol-bench pretraining checkpoint" in capsys.readouterr().err
    assert not out.parent.exists()


def test_knn_records_the_pretraining_epoch(run: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for epoch in (1, 2):
        enc = tmp_path / f"ep{epoch}" / "encoder.pt"
        assert main(["export-encoder", "--checkpoint", str(run / f"checkpoints/epoch_{epoch:04d}.pt"),
                     "--out", str(enc)]) == 0
        assert main(["knn", "--encoder", str(enc), "--dataset", "digits", "--cache-root", str(cache),
                     "--k", "5", "20", "--out", str(tmp_path / f"knn{epoch}.json")]) == 0
    recs = read_results(tmp_path / "knn1.json") + read_results(tmp_path / "knn2.json")
    assert [(r["variant"], r["hyperparameters"]["pretrain_epoch"]) for r in recs] == [
        ("k=5", 1), ("k=20", 1), ("k=5", 2), ("k=20", 2)]
    assert all(0 <= r["value"] <= 100 for r in recs)
    # --pretrain-epoch overrides; the run's own encoder.json has no epoch and a random init takes none from it
    enc = tmp_path / "ep1" / "encoder.pt"
    for extra, expected in ((["--pretrain-epoch", "7"], 7), (["--random-init"], None)):
        assert main(["knn", "--encoder", str(enc), "--dataset", "digits", "--cache-root", str(cache), "--k", "5",
                     *extra, "--out", str(tmp_path / "k.json")]) == 0
        assert read_results(tmp_path / "k.json")[0]["hyperparameters"].get("pretrain_epoch") == expected
    assert main(["knn", "--encoder", str(run / "encoder.pt"), "--dataset", "digits", "--cache-root", str(cache),
                 "--k", "5", "--out", str(tmp_path / "k.json")]) == 0
    assert "pretrain_epoch" not in read_results(tmp_path / "k.json")[0]["hyperparameters"]

    from byol_pkg.report.plots import plot_knn_curve  # the report's kNN-vs-epoch curve reads these records

    frame = results_frame([tmp_path / "knn1.json", tmp_path / "knn2.json"])
    assert [p.suffix for p in plot_knn_curve(frame, tmp_path / "plots")]
