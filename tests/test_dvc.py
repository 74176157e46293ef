"""DVC drives the Snakemake workflow (one DAG): `dvc repro`, `dvc metrics show`, `dvc plots show`, `dvc exp run -S`
and the documented `snakemake --touch` after `dvc checkout`, in a temporary git + DVC repository with the real
dvc, git and snakemake executables on a tiny config."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from test_workflow import TINY

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _sh(repo: Path, *cmd: str) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900, env=_env())
    assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _jobs(output: str) -> dict[str, int]:
    """Snakemake's job stats table of the (last) run in a command's output."""
    block = output.rsplit("Job stats:", 1)[-1]
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", block, re.M) if k != "total"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git + DVC repository holding the workflow, with the tiny config as config/config.yaml."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed")
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("workflow", "byol_pkg"):
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy2(ROOT / name, repo / name)
    (repo / "config").mkdir()
    (repo / "config/config.yaml").write_text(TINY)
    _sh(repo, "git", "init", "-q")
    _sh(repo, "dvc", "init", "-q")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "workflow")
    return repo


@pytest.fixture(scope="module")
def reproduced(repo) -> subprocess.CompletedProcess:
    res = _sh(repo, "dvc", "repro")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "dvc repro")
    return res


def test_dvc_repro_runs_the_snakemake_workflow(repo, reproduced):
    out = reproduced.stdout + reproduced.stderr
    assert _jobs(out)["pretrain"] == 1 and _jobs(out)["report"] == 1
    records = pd.read_csv(repo / "results/report/results.csv")
    assert set(records["method"]) == {"byol", "random-init"} and len(records) == 2 * 9 + 1
    lock = (repo / "dvc.lock").read_text()
    assert "results/pretrain" in lock and "evaluation" in lock  # outputs cached, params recorded
    again = _sh(repo, "dvc", "repro")
    assert "didn't change" in again.stdout + again.stderr or "up to date" in again.stdout + again.stderr
    status = _sh(repo, "dvc", "status")
    assert "up to date" in status.stdout


def test_dvc_metrics_show_lists_the_headline_results(repo, reproduced):
    shown = json.loads(_sh(repo, "dvc", "metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]["results/report/metrics.json"]["data"]
    records = pd.read_csv(repo / "results/report/results.csv")
    knn = records[(records["protocol"] == "knn") & (records["method"] == "byol")]["value"].iloc[0]
    assert metrics["byol"]["knn:k=5"]["digits"]["top1"] == pytest.approx(knn, abs=0.01)
    assert metrics["byol"]["transfer_linear"]["digits"]["top1"] > 0
    assert metrics["random-init"]["n_seeds"] == 1


def test_dvc_plots_show_renders_the_training_curves(repo, reproduced, tmp_path):
    shown = json.loads(_sh(repo, "dvc", "plots", "show", "--json").stdout)
    data = {key: value for key, value in shown["data"].items() if "curves/loss" in key}
    assert list(data) == ["results/report/curves/loss/tiny_seed0.csv"], list(shown["data"])
    logged = pd.read_csv(repo / "results/pretrain/tiny/seed0/metrics.csv")
    plotted = [float(p["loss"]) for entry in data.values() for item in entry for p in item["content"]["data"]["values"]]
    assert plotted == pytest.approx(list(logged["loss"]), rel=1e-6)
    html = _sh(repo, "dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    assert (tmp_path / "plots/index.html").stat().st_size > 1000, html.stdout


def test_dvc_exp_run_sweeps_a_param_and_reruns_only_what_it_touches(repo, reproduced):
    res = _sh(repo, "dvc", "exp", "run", "-S",
              "config/config.yaml:evaluation.transfer.digits.finetune.args.steps=3")
    assert _jobs(res.stdout + res.stderr) == {"transfer_finetune": 2, "report": 1, "all": 1}
    shown = _sh(repo, "dvc", "exp", "show", "--json").stdout
    assert '"steps": 3' in shown.replace(" ", "").replace('"steps":3', '"steps": 3')
    finetune = json.loads((repo / "results/eval/byol/seed0/transfer_finetune/digits.json").read_text())
    assert finetune[0]["hyperparameters"]["steps"] == 3


def test_after_dvc_checkout_snakemake_touch_avoids_reruns(repo, reproduced):
    """The README's recipe: restore the committed results with git + dvc checkout, then `snakemake --touch`."""
    _sh(repo, "git", "checkout", "-q", "--", "config/config.yaml", "dvc.lock")
    _sh(repo, "dvc", "checkout", "--force")
    finetune = json.loads((repo / "results/eval/byol/seed0/transfer_finetune/digits.json").read_text())
    assert finetune[0]["hyperparameters"]["steps"] == 2  # the committed result is back
    _sh(repo, "snakemake", "--touch", "--cores", "1")
    dry = _sh(repo, "snakemake", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def _tracked_files(root: Path) -> dict[str, bytes]:
    """Every file of the stage's cached outputs, by path relative to ``root``."""
    return {str(p.relative_to(root)): p.read_bytes()
            for d in ("results/data", "results/pretrain", "results/eval") for p in sorted((root / d).rglob("*"))
            if p.is_file()}


def test_dvc_push_then_pull_in_a_fresh_clone_restores_every_result(repo, reproduced, tmp_path):
    """The README's way to share results: a DVC remote (here a local folder, as `dvc remote add -d`), `dvc push`,
    then a collaborator's `git clone` + `dvc pull` gets the same bytes, DVC says everything is up to date and,
    after the documented `snakemake --touch`, Snakemake has nothing to rerun."""
    _sh(repo, "dvc", "repro")  # whatever earlier tests left in the workspace is reproduced and committed
    remote = tmp_path / "dvc-remote"
    _sh(repo, "dvc", "remote", "add", "--force", "-d", "storage", str(remote))
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "results and remote", "--allow-empty")
    pushed = _sh(repo, "dvc", "push")
    assert remote.is_dir() and any(p.is_file() for p in remote.rglob("*")), pushed.stdout
    expected = _tracked_files(repo)
    assert any(k.startswith("results/pretrain/") and k.endswith("encoder.pt") for k in expected)

    clone = tmp_path / "clone"
    _sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "results/pretrain").exists()  # git holds only the pointers (dvc.lock)
    _sh(clone, "dvc", "pull")
    assert _tracked_files(clone) == expected
    status = _sh(clone, "dvc", "status")
    assert "up to date" in status.stdout
    _sh(clone, "snakemake", "--touch", "--cores", "1")
    dry = _sh(clone, "snakemake", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
