"""The evaluation sweeps that train networks (fine-tuning, semi-supervised, augmented linear) are killed for
real (SIGKILL) mid-sweep, inside a grid point after another has finished, and rerun: the rerun resumes, and
its result, test predictions and the weights of the model scored on test (the selected point's, or its refit
on train+val) equal an uninterrupted run's, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from byol_pkg.eval.predictions import load_predictions, predictions_path

SWEEPS = {
    "finetune": ["finetune", "--lrs", "0.01", "0.05", "--wds", "0", "--steps", "16", "--batch-size", "16"],
    "semisup": ["semisup", "--fraction", "0.5", "--lrs", "0.05", "0.1", "--epochs", "3", "--batch-size", "16"],
    "linear_augmented": ["linear", "--mode", "augmented", "--base-lrs", "0.1", "0.4", "--epochs", "2",
                         "--batch-size", "32"],
}


def _command(args: list[str], encoder: Path, tmp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "byol_pkg", *args, "--encoder", str(encoder), "--dataset", "digits",
            "--cache-root", str(tmp / "cache"), "--checkpoint-every", "1", "--out", str(out)]


@pytest.mark.parametrize("sweep", list(SWEEPS))
def test_sigkill_mid_sweep_then_rerun_matches_uninterrupted(sweep: str, encoder_path: Path, tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every run: the same float reductions
    ref = tmp_path / "ref.json"
    subprocess.run(_command(SWEEPS[sweep], encoder_path, tmp_path, ref), env=env, check=True, capture_output=True)

    out = tmp_path / "killed.json"
    work = out.with_name(out.stem + ".work")
    proc = subprocess.Popen(_command(SWEEPS[sweep], encoder_path, tmp_path, out), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        # one grid point finished and the next one's mid-run checkpoint written: kill inside the second point
        if list((work / "grid").glob("*.json")) and list((work / "grid").glob("*.ckpt")):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    assert not out.exists() and len(list((work / "grid").glob("*.json"))) == 1

    rerun = subprocess.run(_command(SWEEPS[sweep], encoder_path, tmp_path, out), env=env, capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already done" in rerun.stderr  # the finished point was not trained again
    got, want = json.loads(out.read_text()), json.loads(ref.read_text())
    assert [(r["metric"], r["value"], r["hyperparameters"]["selected"]) for r in got] == \
        [(r["metric"], r["value"], r["hyperparameters"]["selected"]) for r in want]
    a, b = load_predictions(predictions_path(out)), load_predictions(predictions_path(ref))
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.scores, b.scores)
    final = "refit.pt" if sweep == "finetune" else "best.pt"  # fine-tuning refits on train+val (App. D.3)
    mine, theirs = (torch.load(w / final, map_location="cpu", weights_only=True)
                    for w in (work, ref.with_name(ref.stem + ".work")))
    assert mine["tag"] == theirs["tag"] == got[0]["hyperparameters"]["selected"]
    assert mine["model"].keys() == theirs["model"].keys() and len(mine["model"]) > 0
    for key, value in mine["model"].items():
        assert torch.equal(value, theirs["model"][key]), key  # the same model, bit for bit
