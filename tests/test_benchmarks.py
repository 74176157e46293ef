"""The benchmark scripts run end to end at toy sizes and write their JSON (no timing is asserted here: speed is
measured by running the benchmarks themselves, see benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def test_augment_throughput_measures_all_three_pipelines(tmp_path):
    out = tmp_path / "aug.json"
    res = run_script("augment_throughput.py", "--configs", "cifar", "--batch", "16", "--batches", "1",
                     "--warmup", "1", "--workers", "1", "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert {r["pipeline"] for r in rows} == {"torchvision-pil", "reference", "batched"}
    assert all(r["images_per_s"] > 0 for r in rows)
    assert "batched vs torchvision-pil" in res.stdout


def test_end_to_end_runs_both_backends(tmp_path):
    out = tmp_path / "e2e.json"
    res = run_script("end_to_end.py", "--config", "demo", "--device", "cpu", "--steps", "2", "--warmup", "1",
                     "--batch-size", "32", "--set", "data.name=digits", "--set", "augment.image_size=8",
                     "--set", "model.cifar_stem=true", "--set", "data.max_samples=256", "--set", "data.num_workers=0",
                     "--set", "model.projector_hidden=64", "--set", "model.predictor_hidden=64", "--json", str(out))
    rows = json.loads(out.read_text())
    assert [r["backend"] for r in rows] == ["reference", "batched"]
    assert all(r["images_per_s"] > 0 and 0 <= r["data_wait_frac"] <= 1 and r["steps"] == 2 for r in rows)
    assert "batched / reference" in res.stdout


def test_peer_step_time_times_byol_pkg(tmp_path):
    out = tmp_path / "peer.json"
    run_script("peer_step_time.py", "--device", "cpu", "--batch-size", "4", "--steps", "1", "--warmup", "1",
               "--precisions", "fp32", "--threads", "1", "--no-peers", "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    ours = [r for r in rows if r["impl"] == "byol_pkg"]
    assert len(ours) == 1 and ours[0]["status"] == "ok" and ours[0]["ms_per_step"] > 0
    assert ours[0]["online_images"] == ours[0]["target_images"] == 2 * 4  # both views through both networks
    assert ours[0]["gflop_per_s"] > 0 and 0 < ours[0]["conv_ms"] < ours[0]["profiled_ms"]  # profiled on a CPU


def test_demo_recipe_scores_candidates_and_random_init_on_validation(tmp_path):
    out = tmp_path / "recipe.jsonl"
    base = ["data.name=digits", "data.max_samples=128", "data.num_workers=0", "optim.batch_size=32", "optim.epochs=1",
            "augment.image_size=16", "model.projector_hidden=32", "model.projector_out=16",
            "model.predictor_hidden=32"]
    run_script("demo_recipe.py", "--work", str(tmp_path / "runs"), "--json", str(out), "--dataset", "digits",
               "--val-size", "200", "--candidates", "chosen", "resnet_small", "stem16_epochs2",
               *[a for s in base for a in ("--set", s)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["candidate"] for r in rows] == ["chosen", "resnet_small", "stem16_epochs2"]
    assert [r["backbone"] for r in rows] == ["resnet_small_nopool_stem16", "resnet_small", "resnet_small_nopool_stem16"]
    assert rows[2]["random_init"] == rows[0]["random_init"]  # one random init per architecture
    assert rows[1]["random_init"] != rows[0]["random_init"]
    for r in rows:
        assert set(r["byol"]) == {"knn_k20", "knn_k200", "linear"} and all(0 <= v <= 100 for v in r["byol"].values())
        assert r["gain"] == {k: round(r["byol"][k] - r["random_init"][k], 2) for k in r["byol"]}
    cfg = (tmp_path / "runs" / "stem16_epochs2" / "config.yaml").read_text()
    assert "epochs: 2" in cfg and "name: digits" in cfg  # the candidate's override on top of the base ones


def test_linear_grid_times_both_paths(tmp_path):
    out = tmp_path / "grid.json"
    res = run_script("linear_grid.py", "--samples", "300", "--epochs", "2", "--json", str(out))
    row = json.loads(out.read_text())
    assert row["separate_s"] > 0 and row["one_pass_s"] > 0 and row["grid"] == [0.4, 0.3, 0.2, 0.1, 0.05]
    assert row["speedup"] == pytest.approx(row["separate_s"] / row["one_pass_s"], rel=0.05)
    assert "one pass" in res.stdout
