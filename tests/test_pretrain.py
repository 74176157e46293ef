"""``byol pretrain`` end to end on small real data (scikit-learn digits): outputs, schedules as logged,
online-vs-target export, determinism, kill-and-resume, corrupt checkpoints, accumulation, DDP on gloo."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from byol_pkg.cli import main
from byol_pkg.schedules import target_tau, warmup_cosine_lr

pytestmark = pytest.mark.slow

TINY = {
    "seed": 3,
    "data": {"name": "digits", "max_samples": 64, "num_workers": 0},
    "augment": {"image_size": 8, "blur": False},
    "model": {"backbone": "resnet_small", "cifar_stem": True, "projector_hidden": 32, "projector_out": 16,
              "predictor_hidden": 32},
    "optim": {"batch_size": 16, "epochs": 2, "warmup_epochs": 0.5, "base_lr": 2.0, "weight_decay": 1e-4},
    "target": {"base_tau": 0.9},
    "train": {"device": "cpu", "precision": "fp32", "log_every_steps": 1, "checkpoint_every_steps": 2,
              "checkpoint_every_epochs": 1, "progress": "log", "cpu_threads": 1},
}


def write_config(path: Path, **sections) -> Path:
    cfg = json.loads(json.dumps(TINY))
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(cfg))
    return path


def read_metrics(run: Path) -> list[dict[str, float]]:
    """The logged rows; never empty (the row-by-row comparisons below must not pass by comparing nothing)."""
    with (run / "metrics.csv").open() as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    assert rows, f"{run / 'metrics.csv'} has no rows"
    return rows


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_state(a: dict, b: dict, exact: bool = True) -> None:
    assert a.keys() == b.keys()
    assert len(a) == 13 + 13 * 5  # every caller's resnet_small encoder: 13 convolutions, 13 BatchNorms of 5 entries
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=2e-4, atol=2e-5, msg=k)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ref")
    cfg = write_config(root / "cfg.yaml")
    assert main(["pretrain", "--config", str(cfg), "--out", str(root / "run")]) == 0
    return root / "run"


def test_run_folder_contents(reference_run):
    run = reference_run
    for name in ("config.yaml", "metrics.csv", "encoder.pt", "encoder.json", "summary.json", "train.log",
                 "checkpoints/last.pt", "checkpoints/previous.pt", "checkpoints/epoch_0000.pt",
                 "checkpoints/epoch_0001.pt", "checkpoints/epoch_0002.pt"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    # 64 images, batch 16, 2 epochs -> K = 8 optimiser steps; peak LR = 2.0 * 16 / 256
    assert summary["total_steps"] == 8 and summary["step"] == 8 and summary["complete"]
    assert summary["peak_lr"] == pytest.approx(0.125)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["optim"]["momentum"] == 0.9 and resolved["seed"] == 3  # defaults filled in
    assert not list(run.glob("**/*.tmp")) and not list(run.glob("**/*.partial"))


def test_logged_schedules_follow_the_formulas(reference_run):
    rows = read_metrics(reference_run)
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    K, W, peak = 8, 2, 0.125  # warm-up: 0.5 epoch * 64 // 16 = 2 steps
    for r in rows:
        k = int(r["step"]) - 1  # the update made at 0-based optimiser step k
        assert r["tau"] == pytest.approx(target_tau(k, K, 0.9), rel=1e-5)
        assert r["lr"] == pytest.approx(warmup_cosine_lr(k, peak, W, K), rel=1e-5, abs=1e-9)
        assert r["epoch"] == pytest.approx((k + 1) * 16 / 64)
        assert 0 <= r["loss"] <= 8 and r["collapse_std"] >= 0 and r["images_per_s"] > 0


def test_exported_encoder_is_the_online_one(reference_run):
    ckpt = load(reference_run / "checkpoints/last.pt")
    encoder = load(reference_run / "encoder.pt")
    online = {k.removeprefix("encoder."): v for k, v in ckpt["online"].items() if k.startswith("encoder.")}
    target = {k.removeprefix("encoder."): v for k, v in ckpt["target"].items() if k.startswith("encoder.")}
    assert_same_state(encoder, online)
    assert any(not torch.equal(encoder[k], target[k]) for k in encoder if encoder[k].is_floating_point())
    meta = json.loads((reference_run / "encoder.json").read_text())
    assert meta["network"] == "online" and meta["backbone"] == "resnet_small" and meta["cifar_stem"]
    # target = EMA of online, not an independent network: it stays close, but not equal
    assert set(ckpt["target"]) == {k for k in ckpt["online"] if not k.startswith("predictor.")}


def test_same_seed_same_weights(reference_run, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", data={"num_workers": 2})  # worker count must not matter
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    assert_same_state(load(tmp_path / "run/encoder.pt"), load(reference_run / "encoder.pt"))


def test_stop_mid_epoch_then_resume_matches_uninterrupted(reference_run, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=3", "--out", str(out)]) == 0
    assert load(out / "checkpoints/last.pt")["step"] == 3  # step 3 of 4 in epoch 1
    assert main(["pretrain", "--config", str(cfg), "--out", str(out)]) == 0
    assert_same_state(load(out / "encoder.pt"), load(reference_run / "encoder.pt"))
    rows = read_metrics(out)
    assert [int(r["step"]) for r in rows] == list(range(1, 9))  # no duplicated rows
    for r in rows:  # tau after the resume still indexed by the global optimiser step
        assert r["tau"] == pytest.approx(target_tau(int(r["step"]) - 1, 8, 0.9), rel=1e-5)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "byol_pkg", *args]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    """A real kill -9 mid-run; the rerun resumes from the last checkpoint and ends with identical weights."""
    cfg = write_config(tmp_path / "cfg.yaml", data={"max_samples": 96}, optim={"epochs": 6},
                       train={"checkpoint_every_steps": 1, "checkpoint_every_epochs": 0})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every run: same float reductions
    ref = tmp_path / "ref"
    subprocess.run(_cli("pretrain", "--config", str(cfg), "--out", str(ref)), env=env, check=True,
                   capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli("pretrain", "--config", str(cfg), "--out", str(out)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints/last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and load(last)["step"] >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load(last)["step"]
    assert proc.returncode == -signal.SIGKILL and not (out / "encoder.pt").exists()
    assert 3 <= killed_at < 36
    subprocess.run(_cli("pretrain", "--config", str(cfg), "--out", str(out)), env=env, check=True,
                   capture_output=True)
    assert_same_state(load(out / "encoder.pt"), load(ref / "encoder.pt"))
    assert load(out / "checkpoints/last.pt")["step"] == 36


def test_corrupt_checkpoint_falls_back_to_previous(reference_run, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=5", "--out", str(out)]) == 0
    last = out / "checkpoints/last.pt"
    assert load(out / "checkpoints/previous.pt")["step"] == 4
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    assert main(["pretrain", "--config", str(cfg), "--out", str(out)]) == 0
    log_lines = (out / "train.log").read_text().splitlines()
    assert any("ERROR" in line and "last.pt is corrupt or truncated" in line for line in log_lines)
    assert any("resuming from" in line and "previous.pt (step 4)" in line for line in log_lines)
    assert_same_state(load(out / "encoder.pt"), load(reference_run / "encoder.pt"))


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml")
    folder = tmp_path / "run/checkpoints"
    folder.mkdir(parents=True)
    (folder / "last.pt").write_bytes(b"not a checkpoint")
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 4  # CheckpointError
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no readable checkpoint" in err and "last.pt" in err
    assert (folder / "last.pt").read_bytes() == b"not a checkpoint"  # nothing destroyed


def test_resume_with_a_different_config_is_refused(reference_run, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=2", "--out", str(out)]) == 0
    before = (out / "checkpoints/last.pt").read_bytes()
    assert main(["pretrain", "--config", str(cfg), "--set", "optim.base_lr=0.5", "--out", str(out)]) == 6  # OutputError: the run folder holds another config
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "optim.base_lr" in err and "new --out" in err
    assert (out / "checkpoints/last.pt").read_bytes() == before


def test_gradient_accumulation_counts_optimiser_steps(reference_run, tmp_path):
    """batch 8 x 2 accumulation = global batch 16: same K, LR and tau schedule as batch 16."""
    cfg = write_config(tmp_path / "cfg.yaml", optim={"batch_size": 8, "accumulate_steps": 2})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["global_batch"] == 16 and summary["total_steps"] == 8 and summary["accumulate_steps"] == 2
    assert summary["peak_lr"] == pytest.approx(0.125)
    acc, ref = read_metrics(tmp_path / "run"), read_metrics(reference_run)
    assert [r["step"] for r in acc] == [r["step"] for r in ref] == list(range(1, 9))
    for a, b in zip(acc, ref, strict=True):
        assert a["tau"] == pytest.approx(b["tau"]) and a["lr"] == pytest.approx(b["lr"])
    # global_batch as the single knob: accumulation derived from it
    cfg2 = write_config(tmp_path / "cfg2.yaml", optim={"batch_size": 4, "global_batch": 16})
    assert main(["pretrain", "--config", str(cfg2), "--set", "train.max_steps=1", "--out", str(tmp_path / "r2")]) == 0
    assert json.loads((tmp_path / "r2/summary.json").read_text())["accumulate_steps"] == 4


def test_two_process_ddp_with_sync_bn_matches_one_process(reference_run, tmp_path):
    """torchrun, 2 CPU processes on gloo, batch 8 each + synchronised BN == 1 process, batch 16."""
    cfg = write_config(tmp_path / "cfg.yaml", optim={"batch_size": 8}, model={"sync_bn": True})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "byol_pkg", "pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 16 and summary["total_steps"] == 8
    ddp, single = read_metrics(tmp_path / "run"), read_metrics(reference_run)
    assert [r["step"] for r in ddp] == [r["step"] for r in single] == list(range(1, 9))
    for a, b in zip(ddp, single, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3, abs=1e-4)
    assert_same_state(load(tmp_path / "run/encoder.pt"), load(reference_run / "encoder.pt"), exact=False)


@pytest.mark.parametrize("on_device", ["always", "never"])
def test_batched_augmentation_learns_what_the_reference_path_learns(reference_run, tmp_path, on_device):
    """augment.backend batched (views on the training device, images held there or decoded by a worker) sees the
    same images and draws as the reference path: same loss curve and weights up to float rounding."""
    cfg = write_config(tmp_path / "cfg.yaml", augment={"backend": "batched", "on_device": on_device},
                       data={"num_workers": 0 if on_device == "always" else 1})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    fast, ref = read_metrics(tmp_path / "run"), read_metrics(reference_run)
    assert [r["step"] for r in fast] == [r["step"] for r in ref] == list(range(1, 9))
    for a, b in zip(fast, ref, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3, abs=1e-4)
        assert 0.0 <= a["data_wait_frac"] <= 1.0
    assert_same_state(load(tmp_path / "run/encoder.pt"), load(reference_run / "encoder.pt"), exact=False)


def test_batched_augmentation_resumes_mid_epoch_to_the_same_weights(tmp_path):
    """The fast path's views depend only on the stream keys, so a run stopped mid-epoch and resumed ends with the
    weights of an uninterrupted batched run, bit for bit."""
    cfg = write_config(tmp_path / "cfg.yaml", augment={"backend": "batched"}, data={"num_workers": 1})
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["pretrain", "--config", str(cfg), "--out", str(whole)]) == 0
    assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=3", "--out", str(parts)]) == 0
    assert load(parts / "checkpoints/last.pt")["step"] == 3
    assert main(["pretrain", "--config", str(cfg), "--out", str(parts)]) == 0
    assert_same_state(load(parts / "encoder.pt"), load(whole / "encoder.pt"))
    assert [r["loss"] for r in read_metrics(parts)] == [r["loss"] for r in read_metrics(whole)]


def test_batched_augmentation_decodes_image_folders(tmp_path, capsys):
    from tests.data_fixtures import make_image_folder

    make_image_folder(tmp_path / "data", {"train": {"a": 10, "b": 6}}, size=(12, 10))
    cfg = write_config(tmp_path / "cfg.yaml", augment={"backend": "batched"},
                       data={"name": "imagefolder", "root": str(tmp_path / "data"), "max_samples": None})
    for decode in ("workers", "device"):  # JPEGs decoded by the worker, or undecoded to the main process
        assert main(["pretrain", "--config", str(cfg), "--set", "optim.batch_size=8", "--set", "train.max_steps=2",
                     "--set", f"augment.decode={decode}", "--out", str(tmp_path / decode)]) == 0
        assert len(read_metrics(tmp_path / decode)) == 2
    assert main(["pretrain", "--config", str(cfg), "--set", "augment.on_device=always",
                 "--out", str(tmp_path / "run2")]) == 2
    assert "'augment.on_device': 'always' needs images of one fixed size" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs_on_cpu(tmp_path, precision, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", train={"precision": precision, "channels_last": True, "progress": "bar"})
    assert main(["pretrain", "--config", str(cfg), "--set", "train.max_steps=2", "--out", str(tmp_path / "r")]) == 0
    rows = read_metrics(tmp_path / "r")
    assert len(rows) == 2 and all(0 <= r["loss"] <= 8 for r in rows)
    state = load(tmp_path / "r/encoder.pt")
    assert len(state) == 13 + 13 * 5
    assert all(v.dtype == torch.float32 for k, v in state.items() if v.is_floating_point())  # fp32 master weights
    assert "pretrain: 100%" in capsys.readouterr().err  # the tqdm bar (forced: stderr is no terminal here)


def test_too_few_images_for_one_step_is_a_clear_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", optim={"batch_size": 128, "epochs": 1})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "gives no optimiser step" in capsys.readouterr().err


def test_quick_probe_records(reference_run, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["probe", "--encoder", str(reference_run / "encoder.pt"), "--dataset", "digits",
                 "--train-samples", "200", "--test-samples", "100", "--with-random-init", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    rnd = json.loads((tmp_path / "probe_random.json").read_text())
    assert rec["protocol"] == "quick_linear_probe" and rec["init"] == "pretrained" and rnd["init"] == "random"
    assert (rec["train_size"], rec["test_size"]) == (200, 100)
    assert 10.0 < rec["value"] <= 100.0 and 10.0 < rnd["value"] <= 100.0  # 10 classes: chance is 10%
    assert "quick linear probe" in capsys.readouterr().out


def test_fit_probe_on_separable_features():
    from byol_pkg.eval.probe import fit_probe

    rng = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    x = torch.nn.functional.one_hot(y, 4).float() * 5 + 0.1 * torch.randn(200, 4, generator=rng)
    assert fit_probe(x[:100].numpy(), y[:100].numpy(), x[100:].numpy(), y[100:].numpy()) == 100.0
    shuffled = y[torch.randperm(200, generator=rng)]
    assert fit_probe(x[:100].numpy(), shuffled[:100].numpy(), x[100:].numpy(), shuffled[100:].numpy()) < 60.0


def test_last_step_keeps_the_last_epoch_checkpoint(tmp_path):
    """60 images x 2 epochs at batch 16: K = 120 // 16 = 7 steps = 1.87 epochs of images; the last step still
    ends epoch 2, so epoch_0002.pt is kept (the workflow's kNN-against-epoch reads it)."""
    cfg = write_config(tmp_path / "cfg.yaml", data={"name": "digits", "max_samples": 60, "num_workers": 0})
    assert main(["pretrain", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run/summary.json").read_text())["total_steps"] == 7
    kept = sorted(p.name for p in (tmp_path / "run/checkpoints").glob("epoch_*.pt"))
    assert kept == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    assert load(tmp_path / "run/checkpoints/epoch_0002.pt")["step"] == 7


def test_epoch_zero_checkpoint_is_the_initialisation_random_init_evaluates(reference_run, tmp_path):
    """epoch_0000.pt holds the run's starting point, which is exactly the seeded random init that the evaluation
    commands build for --random-init with the run's seed: kNN against epoch starts at the random-init level."""
    from byol_pkg.eval.encoder import load_encoder

    ckpt = load(reference_run / "checkpoints/epoch_0000.pt")
    assert ckpt["step"] == 0
    out = tmp_path / "e0/encoder.pt"
    assert main(["export-encoder", "--checkpoint", str(reference_run / "checkpoints/epoch_0000.pt"),
                 "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["pretrain_epoch"] == 0
    random_init, _ = load_encoder(reference_run / "encoder.pt", random_init=True, seed=TINY["seed"])
    assert_same_state(load(out), random_init.state_dict())
    trained = load(reference_run / "encoder.pt")
    assert any(not torch.equal(trained[k], v) for k, v in load(out).items())  # and training moved it


def test_cpu_threads_count_only_the_workers_that_augment(tmp_path):
    """With the batched backend on images held in memory (or JPEGs decoded by the training process) the workers
    only draw uniforms (and read files), so the training threads get every core; workers that augment or decode
    keep theirs."""
    import numpy as np

    from byol_pkg.config import load_config
    from byol_pkg.data.base import ArrayImageDataset
    from byol_pkg.data.image_folder import ImageFolderDataset
    from byol_pkg.train.pretrain import busy_data_workers

    held = ArrayImageDataset("toy", "train", np.zeros((4, 1, 8, 8), np.uint8), np.zeros(4, np.int64), 2)
    folder = ImageFolderDataset("train", ["a/x.png", "b/y.png"], np.array([0, 1]), ["a", "b"], tmp_path)

    def cfg(*overrides: str):
        return load_config("demo", ["data.num_workers=3", *overrides])

    assert busy_data_workers(cfg("augment.backend=batched"), held) == 0
    assert busy_data_workers(cfg("augment.backend=reference"), held) == 3
    assert busy_data_workers(cfg("augment.backend=batched", "augment.on_device=never"), held) == 3
    assert busy_data_workers(cfg("augment.backend=batched"), folder) == 3  # workers decode
    assert busy_data_workers(cfg("augment.backend=batched", "augment.decode=device"), folder) == 0  # workers read bytes
    assert busy_data_workers(cfg("augment.backend=reference", "augment.decode=device"), folder) == 3


def test_deterministic_switch_sets_torchs_flags(monkeypatch):
    """train.deterministic: deterministic kernels and no cuDNN autotuning; off: autotuning on a GPU only."""
    from byol_pkg.runtime import CUBLAS_DETERMINISTIC_WORKSPACE, configure_determinism

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        configure_determinism(True, torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_DETERMINISTIC_WORKSPACE
        configure_determinism(False, torch.device("cuda"))  # flags only: no GPU needed to set them
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
        configure_determinism(False, torch.device("cpu"))
        assert not torch.backends.cudnn.benchmark
    finally:
        configure_determinism(False, torch.device("cpu"))
