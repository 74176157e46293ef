"""A pretraining job killed mid-run (snakemake and the job, kill -9) resumes from its last checkpoint when the
workflow is run again, and keeps the training curve logged before the kill (metrics.csv is an update() output,
not deleted by Snakemake before the rerun)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CONFIG = """
data_root: data
pretrain:
  tiny:
    config: demo
    set: {data.name: digits, data.num_workers: 0, optim.batch_size: 64, optim.epochs: 8,
          train.checkpoint_every_steps: 5, train.log_every_steps: 2,
          model.projector_hidden: 32, model.projector_out: 16, model.predictor_hidden: 32}
methods:
  byol: {pretrain: tiny}
evaluation:
  dataset: digits
"""
TARGET = "results/pretrain/tiny/seed0/encoder.pt"


def _snakemake(work: Path, config: Path, *args: str) -> list[str]:
    return [str(BIN / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work),
            "--configfile", str(config), "--cores", "2", *args]


def test_killed_pretraining_job_resumes_and_keeps_its_curve(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(CONFIG)
    work = tmp_path / "work"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    metrics = work / "results/pretrain/tiny/seed0/metrics.csv"
    proc = subprocess.Popen(_snakemake(work, config, TARGET), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) > 25:  # past step 50 (logs every 2)
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the byol job with it
    proc.wait()
    before = pd.read_csv(metrics)
    assert not (work / TARGET).exists() and len(before) > 20

    # the same command again, no --unlock, no --rerun-incomplete: the workflow releases the killed run's locks and
    # its default profile (found next to workflow/Snakefile) reruns what was left incomplete
    res = subprocess.run(_snakemake(work, config, TARGET), env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    log = (work / "results/pretrain/tiny/seed0/train.log").read_text()
    assert "resuming from results/pretrain/tiny/seed0/checkpoints/" in log
    after = pd.read_csv(metrics)
    steps = after["step"].tolist()
    logged = [s for s in steps if s % 2 == 0]  # every 2 steps, plus the final step
    assert steps == sorted(set(steps)) and logged == list(range(2, logged[-1] + 1, 2))  # no gap, no repeat
    assert steps[-1] > before["step"].iloc[-1]
    kept = after.set_index("step").loc[before["step"], "loss"]
    assert kept.tolist()[:20] == before["loss"].tolist()[:20]  # the rows logged before the kill are kept
