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
