"""Experiment tracking (issue 19, item 2): DVCLive, MLflow and TensorBoard, each read back with its own reader
(DVCLive's .tsv files, ``mlflow.MlflowClient`` on the local store, TensorBoard's ``EventAccumulator``), a real
SIGKILL and resume of ``byol pretrain``, a killed and resumed sweep, and the real ``dvc`` CLI seeing the curves."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from byol_pkg.cli import main
from byol_pkg.config import load_config, to_flat_dict
from byol_pkg.eval.classifier import EpochStats
from byol_pkg.eval.tracked import grid_curve
from byol_pkg.train.run_folder import config_fingerprint
from byol_pkg.train.tracking import flatten, metric_key, nest, param_text, truncate_tsv

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "seed": 3,
    "data": {"name": "digits", "max_samples": 96, "num_workers": 0},
    "augment": {"image_size": 8, "blur": False},
    "model": {"backbone": "resnet_small", "cifar_stem": True, "projector_hidden": 32, "projector_out": 16,
              "predictor_hidden": 32},
    "optim": {"batch_size": 16, "epochs": 6, "warmup_epochs": 0.5, "base_lr": 2.0, "weight_decay": 1e-4},
    "target": {"base_tau": 0.9},
    "train": {"device": "cpu", "precision": "fp32", "log_every_steps": 1, "checkpoint_every_steps": 5,
              "checkpoint_every_epochs": 0, "progress": "log", "cpu_threads": 1},
    "tracking": {"dvclive": True, "mlflow": True, "tensorboard": True},
}


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(REPO),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


# ----------------------------------------------------------------------------------------------------- readers


def dvclive_series(folder: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) rows of DVCLive's ``plots/metrics/<key>.tsv``."""
    with (folder / "plots" / "metrics" / f"{key}.tsv").open(newline="") as f:
        return [(int(r["step"]), float(r[key.split("/")[-1]])) for r in csv.DictReader(f, delimiter="\t")]


def tensorboard_series(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def tensorboard_hparams(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    acc = EventAccumulator(str(folder))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hp = HParamsPluginData.FromString(content).session_start_info.hparams
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in hp.items()}


def mlflow_runs(uri: str, experiment: str = "byol-bench") -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def mlflow_series(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def read_metrics_csv(run: Path) -> list[dict[str, float]]:
    with (run / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def strictly_increasing(steps: list[int]) -> bool:
    return all(a < b for a, b in zip(steps, steps[1:]))


# -------------------------------------------------------------------------------------------------- the pieces


def test_keys_params_and_grid_curves():
    assert metric_key("test/top1/k=20") == "test/top1/k_20" and metric_key("train/loss") == "train/loss"
    flat = {"optim.base_lr": 0.2, "augment.mean": [0.5, 0.5, 0.5], "train.max_steps": None, "seed": 0}
    assert flatten(nest(flat)) == flat and nest(flat)["optim"] == {"base_lr": 0.2}
    assert [param_text(v) for v in flat.values()] == [0.2, "[0.5, 0.5, 0.5]", "null", 0]
    assert grid_curve({"0.4": 10.0, "0.1": 30.0}) == [(1, {"val/score": 10.0, "val/grid_value": 0.4}),
                                                      (2, {"val/score": 30.0, "val/grid_value": 0.1})]
    assert grid_curve([5.0, 7.5]) == [(1, {"val/score": 5.0}), (2, {"val/score": 7.5})]


def test_epoch_stats_are_the_windows_mean_loss_and_accuracy():
    stats = EpochStats(steps_per_epoch=2, multilabel=False)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    stats.add(1.0, logits, torch.tensor([0, 0, 0]))  # 2 of 3 right
    assert not stats.due(1, 10) and stats.due(2, 10) and stats.due(10, 10)
    stats.add(0.5, logits[:1], torch.tensor([1]))  # 0 of 1
    assert stats.result(2) == {"loss": 0.75, "epoch": 1.0, "top1": 50.0}
    stats.reset()
    multi = EpochStats(4, multilabel=True)
    multi.add(2.0, logits, torch.ones(3, 2))
    assert multi.result(2) == {"loss": 2.0, "epoch": 0.5}


def test_dvclive_rows_after_the_resumed_step_are_dropped(tmp_path):
    from dvclive import Live

    live = Live(str(tmp_path / "dvclive"), dvcyaml=None, save_dvc_exp=False)
    for step in range(1, 6):
        live.step = step
        live.log_metric("train/loss", 1.0 / step)
        live.log_metric("lr", 0.1 * step)
    live.make_summary()
    assert truncate_tsv(tmp_path / "dvclive" / "plots", 3) == 4  # steps 4, 5 of both metrics
    assert dvclive_series(tmp_path / "dvclive", "train/loss") == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    assert [s for s, _ in dvclive_series(tmp_path / "dvclive", "lr")] == [1, 2, 3]
    assert truncate_tsv(tmp_path / "dvclive" / "plots", 3) == 0


def test_a_summary_a_kill_cut_short_does_not_stop_the_resume(tmp_path):
    """DVCLive rewrites metrics.json in place: after a kill in the middle it is empty, and the run resumes."""
    from byol_pkg.config import TrackingConfig
    from byol_pkg.train.tracking import TrackedRun, open_tracking

    run = TrackedRun(tmp_path, "r", "same")
    with open_tracking(TrackingConfig(dvclive=True), run) as tracking:
        tracking.log_metrics({"loss": 2.0}, 1)
        tracking.log_metrics({"loss": 1.0}, 2)
    (tmp_path / "dvclive" / "metrics.json").write_text("")
    with open_tracking(TrackingConfig(dvclive=True), run, resume_step=1) as tracking:
        assert not tracking.backends["dvclive"].new
        tracking.log_metrics({"loss": 0.5, "tau": float("nan")}, 2)
    assert dvclive_series(tmp_path / "dvclive", "loss") == [(1, 2.0), (2, 0.5)]
    assert not (tmp_path / "dvclive" / "plots" / "metrics" / "tau.tsv").exists()  # non-finite: not logged
    assert json.loads((tmp_path / "dvclive" / "metrics.json").read_text()) == {"loss": 0.5, "step": 2}


def test_tracking_is_off_by_default_and_not_part_of_what_a_run_is(tmp_path, capsys):
    cfg = load_config(None)
    assert (cfg.tracking.dvclive, cfg.tracking.mlflow, cfg.tracking.tensorboard) == (False, False, False)
    on = load_config(None, ["tracking.dvclive=true", "tracking.mlflow_uri=sqlite:///x.db"])
    assert config_fingerprint(on) == config_fingerprint(cfg)  # a run resumes with tracking switched on or off
    assert main(["pretrain", "--config", "demo", "--set", "tracking.mlflow_experiment=''", "--out",
                 str(tmp_path / "r")]) == 2
    assert "'tracking.mlflow_experiment' must be a non-empty string" in capsys.readouterr().err


def test_a_missing_package_is_one_line_naming_the_key_and_the_extra(tmp_path, capsys, monkeypatch, encoder_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if MLflow were not installed: its import fails
    assert main(["pretrain", "--config", "demo", "--set", "tracking.mlflow=true", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "config key 'tracking.mlflow'" in err and "byol-bench[tracking]" in err
    assert not (tmp_path / "r").exists()  # refused before any work
    assert main(["knn", "--encoder", str(encoder_path), "--dataset", "digits", "--cache-root", str(tmp_path / "c"),
                 "--track", "mlflow", "--out", str(tmp_path / "knn.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("byol knn: error: --track mlflow: mlflow is enabled but the package")


# ------------------------------------------------------------------------------------------ kill and resume


def _pretrain(cfg: Path, out: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "byol_pkg", "pretrain", "--config", str(cfg), "--out", str(out)],
                            cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_continues_one_tracked_run_in_every_store(tmp_path):
    """A real kill -9 after a checkpoint, with rows logged after it; the resumed run continues the same DVCLive
    folder, MLflow run and TensorBoard log dir, and every store ends with the rows of metrics.csv, each step once,
    and the resolved config as params."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    proc = _pretrain(cfg, out, tmp_path)  # cwd: the default MLflow store is ./mlruns
    last, tsv = out / "checkpoints" / "last.pt", out / "dvclive" / "plots" / "metrics" / "loss.tsv"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and tsv.exists():
            saved = torch.load(last, weights_only=True)["step"]
            if saved >= 5 and len(tsv.read_text().splitlines()) - 1 >= saved + 2:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL and not (out / "encoder.pt").exists()
    killed_at = torch.load(last, weights_only=True)["step"]
    logged = [s for s, _ in dvclive_series(out / "dvclive", "loss")]
    assert max(logged) > killed_at, "the kill came before any row after the checkpoint: nothing to overwrite"
    state = json.loads((out / "tracking.json").read_text())
    assert state["finished"] is False and state["mlflow"]["uri"] == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"

    resumed = _pretrain(cfg, out, tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and f"(step {killed_at})" in err, err
    assert "continuing dvclive, mlflow, tensorboard from step" in err

    rows = read_metrics_csv(out)
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, 37))
    loss = [r["loss"] for r in rows]
    flat = to_flat_dict(load_config(cfg))

    live = dvclive_series(out / "dvclive", "loss")
    assert [s for s, _ in live] == steps and [v for _, v in live] == pytest.approx(loss, rel=1e-5)
    assert flatten(yaml.safe_load((out / "dvclive" / "params.yaml").read_text())) == flat
    assert json.loads((out / "dvclive" / "metrics.json").read_text())["step"] == 36

    board = tensorboard_series(out / "tensorboard", "loss")
    assert [s for s, _ in board] == steps and [v for _, v in board] == pytest.approx(loss, rel=1e-5)
    assert tensorboard_hparams(out / "tensorboard") == {k: param_text(v) for k, v in flat.items()}

    client, runs = mlflow_runs(state["mlflow"]["uri"])
    assert len(runs) == 1 and runs[0].info.run_id == state["mlflow"]["run_id"]
    assert runs[0].info.status == "FINISHED"
    history = mlflow_series(client, runs[0].info.run_id, "loss")
    assert [s for s, _ in history] == steps and [v for _, v in history] == pytest.approx(loss, rel=1e-5)
    assert runs[0].data.params == {k: str(param_text(v)) for k, v in flat.items()}
    assert runs[0].data.metrics["summary/step"] == 36
    for name in ("lr", "tau", "collapse_std"):
        for series in (dvclive_series(out / "dvclive", name), tensorboard_series(out / "tensorboard", name),
                       mlflow_series(client, runs[0].info.run_id, name)):
            assert strictly_increasing([s for s, _ in series]) and len(series) == 36, name
    assert json.loads((out / "tracking.json").read_text())["finished"] is True


def test_a_killed_sweep_resumes_its_tracked_run(encoder_path, tmp_path):
    """Fine-tuning (2 grid points + the refit) killed inside the second point after a checkpoint; the rerun
    continues the same tracked run: epoch curves on the sweep's step axis, each step once, the same in the three
    stores, one validation score per point, the test score and the selection as the summary."""
    out = tmp_path / "ft.json"
    argv = ["finetune", "--encoder", str(encoder_path), "--dataset", "digits", "--cache-root",
            str(tmp_path / "cache"), "--lrs", "0.001", "0.05", "--wds", "0", "--steps", "200", "--batch-size", "32",
            "--checkpoint-every", "20", "--track", "dvclive", "mlflow", "tensorboard", "--mlflow-uri",
            f"sqlite:///{tmp_path / 'ml.db'}", "--out", str(out)]
    track = tmp_path / "ft.tracking"
    tsv = track / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv"
    proc = subprocess.Popen([sys.executable, "-m", "byol_pkg", *argv], cwd=REPO, env=_env(),  # as main() below
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if tsv.exists() and any(s > 200 for s, _ in dvclive_series(track / "dvclive", "train/loss")):
            break  # the second point's first epoch (41 steps of 32 images) is logged: 159 steps to go
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    (ckpt,) = (tmp_path / "ft.work" / "grid").glob("*.ckpt")
    resumed_at = 200 + torch.load(ckpt, weights_only=True)["step"]
    assert any(s > resumed_at for s, _ in dvclive_series(track / "dvclive", "train/loss"))
    assert main(argv) == 0
    (rec,) = json.loads(out.read_text())

    live = dvclive_series(track / "dvclive", "train/loss")
    epoch_ends = [41, 82, 123, 164, 200]  # ceil(1293 / 32) = 41 steps per epoch, and the last step
    refit_ends = [45, 90, 135, 180, 200]  # the refit on train+val: ceil(1437 / 32) = 45
    assert [s for s, _ in live] == epoch_ends + [200 + s for s in epoch_ends] + [400 + s for s in refit_ends]
    state = json.loads((track / "tracking.json").read_text())
    client, runs = mlflow_runs(state["mlflow"]["uri"])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run_id = runs[0].info.run_id
    for series in (tensorboard_series(track / "tensorboard", "train/loss"), mlflow_series(client, run_id, "train/loss")):
        assert [s for s, _ in series] == [s for s, _ in live]
        assert [v for _, v in series] == pytest.approx([v for _, v in live], rel=1e-5)
    val = dvclive_series(track / "dvclive", "val/top1")
    assert val == [(200, pytest.approx(rec["hyperparameters"]["val_scores"]["lr0.001_wd0"], rel=1e-6)),
                   (400, pytest.approx(rec["hyperparameters"]["val_scores"]["lr0.05_wd0"], rel=1e-6))]
    metrics = runs[0].data.metrics
    assert metrics["summary/test/top1"] == pytest.approx(rec["value"])
    assert metrics["summary/selected/lr"] == rec["hyperparameters"]["lr"]
    assert runs[0].data.params["lrs"] == "[0.001, 0.05]" and "track" not in runs[0].data.params
    # finished: the same command again logs nothing more
    assert main(argv) == 0
    assert len(dvclive_series(track / "dvclive", "train/loss")) == len(live)
    assert len(mlflow_series(client, run_id, "train/loss")) == len(live)


def test_cached_feature_protocols_log_their_grid_and_scores(encoder_path, tmp_path):
    out = tmp_path / "lin.json"
    assert main(["linear", "--encoder", str(encoder_path), "--dataset", "digits", "--cache-root",
                 str(tmp_path / "cache"), "--epochs", "2", "--base-lrs", "0.4", "0.1", "--track", "dvclive",
                 "--out", str(out)]) == 0
    (top1, _top5) = json.loads(out.read_text())
    live = tmp_path / "lin.tracking" / "dvclive"
    val = dvclive_series(live, "val/score")
    assert val == [(1, pytest.approx(top1["hyperparameters"]["val_top1"]["0.4"])),
                   (2, pytest.approx(top1["hyperparameters"]["val_top1"]["0.1"]))]
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["test"]["top1"] == pytest.approx(top1["value"])
    assert summary["selected"]["base_lr"] == top1["hyperparameters"]["base_lr"]


# -------------------------------------------------------------------------------------------------------- DVC


def _sh(repo: Path, *cmd: str) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def test_dvc_exp_show_and_plots_show_see_the_pretraining_curves(tmp_path):
    """In a git + DVC repository holding this repository's dvc.yaml, a tracked pretraining whose DVCLive folder
    is where the workflow puts it (tracking/: DVC looks for dvc.yaml files neither inside a stage's output folder
    nor in folders git ignores, such as results/*) shows in `dvc exp show` (metrics, params) and `dvc plots
    show`; the same folder inside the run folder (results/pretrain, an output) is not seen."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy2(REPO / name, repo / name)
    _sh(repo, "git", "init", "-q")
    _sh(repo, "dvc", "init", "-q")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "init")
    cfg = dict(TINY, optim={**TINY["optim"], "epochs": 1}, tracking={
        "dvclive": True, "dvclive_dir": "tracking/pretrain/demo/seed0/dvclive"})
    (repo / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    _sh(repo, sys.executable, "-m", "byol_pkg", "pretrain", "--config", "cfg.yaml", "--out",
        "results/pretrain/demo/seed0")
    folder = "tracking/pretrain/demo/seed0/dvclive"
    shown = json.loads(_sh(repo, "dvc", "exp", "show", "--json").stdout)
    workspace = next(row for row in shown if row["rev"] == "workspace")["data"]
    metrics = workspace["metrics"][f"{folder}/metrics.json"]["data"]
    assert metrics["step"] == 6 and metrics["loss"] == pytest.approx(read_metrics_csv(
        repo / "results/pretrain/demo/seed0")[-1]["loss"], rel=1e-5)
    assert flatten(workspace["params"][f"{folder}/params.yaml"]["data"]) == to_flat_dict(load_config(repo / "cfg.yaml"))
    plots = json.loads(_sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    for name in ("loss", "lr", "tau", "collapse_std"):
        (plot,) = plots[f"{folder}/plots/metrics/{name}.tsv"]
        values = plot["content"]["data"]["values"]
        assert [int(v["step"]) for v in values] == list(range(1, 7)), name
    shutil.copytree(repo / "tracking/pretrain/demo/seed0/dvclive", repo / "results/pretrain/demo/seed0/dvclive")
    shown = json.loads(_sh(repo, "dvc", "exp", "show", "--json").stdout)
    workspace = next(row for row in shown if row["rev"] == "workspace")["data"]
    assert not any(key.startswith("results/pretrain") for key in workspace["metrics"])
