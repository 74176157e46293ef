"""Fault injection for pretraining runs (issue 18): bad config values, two writers on one run folder, a finished
run and a different config, divergence, SIGINT/SIGTERM and the resume they print, a full disk, file modes.

Every case runs the real ``byol`` command on scikit-learn's digits (the TINY run of test_pretrain) and checks the
one line, the exit code (the table in ``byol_pkg.errors``) and that nothing finished was lost."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from byol_pkg.cli import main
from byol_pkg.io import atomic_write_json, atomic_write_text, load_yaml
from byol_pkg.train.run_folder import RunLock
from tests.test_pretrain import assert_same_state, load, write_config

REPO = Path(__file__).resolve().parents[1]


def one_error_line(capsys, command: str = "pretrain", label: str = "error") -> str:
    """The last stderr line, checked to be ``byol <command>: <label>: ...`` with no traceback before it."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err and not any("Traceback" in line for line in err), err
    assert err[-1].startswith(f"byol {command}: {label}: "), err[-1]
    return err[-1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- config values (item 6) ---------------------------------------------------------------------------------

BAD_VALUES = [
    ("optim.base_lr=-1", "'optim.base_lr' must be > 0"),
    ("optim.base_lr=0", "'optim.base_lr' must be > 0"),
    ("optim.weight_decay=-1", "'optim.weight_decay' must be >= 0"),
    ("optim.momentum=5", "'optim.momentum' must be in [0, 1)"),
    ("optim.momentum=1", "'optim.momentum' must be in [0, 1)"),
    ("optim.warmup_epochs=-3", "'optim.warmup_epochs' must be >= 0"),
    ("optim.epochs=0", "'optim.epochs' must be > 0"),
    ("optim.global_batch=0", "'optim.global_batch' must be > 0"),
    ("train.max_steps=0", "'train.max_steps' must be > 0"),
    ("train.checkpoint_every_epochs=-1", "'train.checkpoint_every_epochs' must be >= 0"),
    ("data.num_workers=-1", "'data.num_workers' must be >= 0"),
    ("data.max_samples=0", "'data.max_samples' must be > 0"),
    ("target.base_tau=1.5", "'target.base_tau' must be in [0, 1]"),
    ("optim.base_lr=.nan", "'optim.base_lr' must be a finite number"),
    ("optim.epochs=.inf", "'optim.epochs' must be a finite number"),
    ("augment.std=[0,0,0]", "'augment.std' must hold 3 values > 0"),
    ("model.backbone=resnet7", "'model.backbone': unknown backbone 'resnet7'"),
    ("model.backbone=timm:no_such_net", "timm has no model 'no_such_net'"),
    ("train.device=gpu0", "'train.device' must be auto, cpu, cuda or cuda:N"),
    ("optim.base_lr=[1", "the value is not valid YAML"),
    ("=1", "expected key=value with a dotted key"),
]


@pytest.mark.parametrize("override, expected", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_values_are_refused_before_any_work(tmp_path, capsys, override, expected):
    cfg = write_config(tmp_path / "cfg.yaml")
    assert main(["pretrain", "--config", str(cfg), "--set", override, "--out", str(tmp_path / "run")]) == 2
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_limits_themselves_are_allowed(tmp_path, capsys):
    """The edges the paper uses: no weight decay, no warm-up, momentum 0, tau 1 (a frozen target, Table 5a)."""
    cfg = write_config(tmp_path / "cfg.yaml")
    for ok in ("optim.weight_decay=0", "optim.warmup_epochs=0", "optim.momentum=0", "target.base_tau=1",
               "train.checkpoint_every_epochs=0", "data.num_workers=0"):
        assert main(["config", "--config", str(cfg), "--set", ok]) == 0, ok
    capsys.readouterr()


def test_yaml_1_2_numbers_are_numbers(tmp_path, capsys):
    """``1e-6`` is a float in YAML 1.2; PyYAML's YAML 1.1 reads it as a string, which the schema rejected."""
    assert load_yaml("a: 1e-6\nb: -2E+3\nc: 1.5e-6\nd: 10\ne: '1e-6'\nf: 1_000") == {
        "a": 1e-6, "b": -2000.0, "c": 1.5e-6, "d": 10, "e": "1e-6", "f": 1000}
    cfg = write_config(tmp_path / "cfg.yaml")
    cfg.write_text(cfg.read_text().replace("weight_decay: 0.0001", "weight_decay: 1e-6"))
    assert "weight_decay: 1e-6" in cfg.read_text()
    assert main(["config", "--config", str(cfg), "--set", "optim.base_lr=2e-1"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["optim"]["weight_decay"] == 1e-6 and resolved["optim"]["base_lr"] == 0.2


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_cpu_machine_is_one_line(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml")
    assert main(["pretrain", "--config", str(cfg), "--set", "train.device=cuda", "--out", str(tmp_path / "r")]) == 2
    assert "torch sees no GPU here" in one_error_line(capsys)


# --- the output folder (items 1 and 8) ----------------------------------------------------------------------

@pytest.mark.parametrize("out, expected", [("", "--out: empty path"), ("FILE/run", "is a file, so no folder"),
                                           ("FILE", "is a file; expected a folder")])
def test_unusable_out_is_refused_before_computing(tmp_path, capsys, out, expected):
    cfg = write_config(tmp_path / "cfg.yaml")
    (tmp_path / "FILE").write_text("a file")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    assert main(["pretrain", "--config", str(cfg), "--out", out]) == 6
    assert expected in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "cfg.yaml"]  # nothing computed or written


def test_an_out_folder_the_system_refuses_is_one_line(tmp_path, capsys):
    """``/proc`` takes no new folders, not even from root (a read-only folder for everyone)."""
    cfg = write_config(tmp_path / "cfg.yaml")
    rc = main(["pretrain", "--config", str(cfg), "--out", "/proc/byol-bench-run"])
    line = one_error_line(capsys)
    assert rc in (6, 7) and "/proc" in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write to any folder")
def test_a_read_only_out_folder_is_refused_before_computing(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert main(["pretrain", "--config", str(cfg), "--out", str(parent / "run")]) == 6
        assert "is not writable" in one_error_line(capsys)
    finally:
        parent.chmod(0o755)


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, capsys):
    """Two ``byol pretrain`` on one folder (the tester's bug 1): the second exits 6 naming the first's PID and
    host; the first finishes untouched."""
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 150})
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "byol_pkg", "pretrain", "--config", str(cfg), "--set",
                              "optim.base_lr=2.0", "--out", str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / "run.lock").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert (out / "run.lock").exists(), "the first writer never took the lock"
        assert main(["pretrain", "--config", str(cfg), "--set", "optim.base_lr=4.0", "--out", str(out)]) == 6
        line = one_error_line(capsys)
        assert f"PID {first.pid} on host {socket.gethostname()}" in line and "run.lock" in line
    finally:
        first.send_signal(signal.SIGTERM)  # no need to wait for the end: stop it (it saves and releases)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["optim"]["base_lr"] == 2.0 and not (out / "run.lock").exists()  # released at the end


def test_a_stale_lock_is_taken_over(tmp_path, capsys):
    """A lock left by a killed process (its PID is gone) or by a PID now reused by another process (the start
    time differs) does not block the next run."""
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 1})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid, start in ((dead.pid, None), (os.getpid(), "1")):
        out = tmp_path / f"run{pid}"
        out.mkdir()
        (out / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "start": start}))
        assert main(["pretrain", "--config", str(cfg), "--out", str(out)]) == 0
        assert (out / "encoder.pt").is_file() and not (out / "run.lock").exists()
        assert f"removing the stale lock of PID {pid}" in capsys.readouterr().err


def test_a_live_lock_from_another_host_is_refused(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.lock").write_text(json.dumps({"pid": 1, "host": "node-17", "since": "2026-12-01 08:00:00"}))
    assert main(["pretrain", "--config", str(cfg), "--out", str(out)]) == 6
    assert "PID 1 on host node-17 since 2026-12-01 08:00:00" in one_error_line(capsys)
    with RunLock(tmp_path / "mine") as lock:  # and the lock of this process is released on exit
        assert lock.holder()["pid"] == os.getpid()
    assert not (tmp_path / "mine/run.lock").exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    cfg = write_config(root / "cfg.yaml", optim={"epochs": 1})
    assert main(["pretrain", "--config", str(cfg), "--out", str(root / "run")]) == 0
    return root / "run"


def _copy(run: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(run), str(dest)], check=True)
    return dest


def test_a_finished_run_is_never_replaced_by_another_config(finished_run, tmp_path, capsys):
    """The tester's bug 2: a finished run whose checkpoints are gone, and a different config."""
    run = _copy(finished_run, tmp_path / "r2")
    subprocess.run(["rm", "-r", str(run / "checkpoints")], check=True)
    before = {p.name: digest(p) for p in run.iterdir() if p.is_file()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config_sha256"] == json.loads((run / "encoder.json").read_text())["config_sha256"]
    cfg = run.parent / "cfg.yaml"
    write_config(cfg, optim={"epochs": 1})
    assert main(["pretrain", "--config", str(cfg), "--set", "seed=4", "--out", str(run)]) == 6
    assert "was run with seed=3 and this config says 4" in one_error_line(capsys)
    (run / "config.yaml").unlink()  # the fingerprint in summary.json still guards it
    assert main(["pretrain", "--config", str(cfg), "--set", "seed=4", "--out", str(run)]) == 6
    assert "config_sha256" in one_error_line(capsys)
    after = {p.name: digest(p) for p in run.iterdir() if p.is_file() and p.name != "train.log"}
    assert after == {k: v for k, v in before.items() if k not in ("config.yaml", "train.log")}


def test_the_same_config_on_a_finished_run_does_nothing(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path / "r3")
    subprocess.run(["rm", "-r", str(run / "checkpoints")], check=True)
    encoder = digest(run / "encoder.pt")
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 1})
    assert main(["pretrain", "--config", str(cfg), "--set", "train.log_every_steps=2", "--out", str(run)]) == 0
    assert "already holds this run, finished at step 4: nothing to do" in capsys.readouterr().err
    assert digest(run / "encoder.pt") == encoder and not (run / "checkpoints").exists()


def test_overwrite_replaces_a_run_when_asked(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path / "r4")
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 1})
    assert main(["pretrain", "--config", str(cfg), "--set", "seed=4", "--out", str(run), "--overwrite"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 4
    assert digest(run / "encoder.pt") != digest(finished_run / "encoder.pt")
    assert len(list((run / "checkpoints").glob("epoch_*.pt"))) == 2  # the old run's checkpoints were removed


# --- divergence (item 2) ------------------------------------------------------------------------------------

def test_a_non_finite_loss_stops_the_run_and_exports_nothing(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 4})
    out = tmp_path / "run"
    assert main(["pretrain", "--config", str(cfg), "--set", "optim.base_lr=1e30", "--out", str(out)]) == 5
    line = one_error_line(capsys)
    assert "pretraining diverged: the loss became non-finite at step" in line
    assert "no encoder was exported" in line and str(out / "checkpoints/last.pt") in line
    assert not (out / "encoder.pt").exists() and not (out / "summary.json").exists()
    step = int(line.split("at step ")[1].split()[0])
    last = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert last["step"] < step and f"(step {last['step']})" in line
    assert all(torch.isfinite(v).all() for v in last["online"].values() if v.is_floating_point())


def test_export_refuses_a_checkpoint_with_non_finite_weights(finished_run, tmp_path, capsys):
    state = torch.load(finished_run / "checkpoints/last.pt", weights_only=True)
    name = next(k for k, v in state["online"].items() if k.startswith("encoder.") and v.is_floating_point())
    state["online"][name][0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    assert main(["export-encoder", "--checkpoint", str(tmp_path / "nan.pt"), "--out", str(tmp_path / "e.pt")]) == 4
    line = one_error_line(capsys, "export-encoder")
    assert "non-finite values (first: conv1.weight)" in line or "non-finite values (first:" in line
    assert not (tmp_path / "e.pt").exists()


# --- signals (item 9) ---------------------------------------------------------------------------------------

def _start(cfg: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "byol_pkg", "pretrain", "--config", str(cfg), *extra,
                             "--out", str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(out: Path, proc: subprocess.Popen, rows: int = 2) -> None:
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        metrics = out / "metrics.csv"
        if metrics.exists() and len(metrics.read_text().splitlines()) > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"{out}: the run ended or stalled before logging {rows} rows")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_a_checkpoint_and_the_printed_command_resumes(tmp_path, signum, code):
    """SLURM's SIGTERM (time limit, preemption) or a Ctrl-C: checkpoint at the step reached, one line with the
    command that resumes, exit 128 + signal; resuming gives the encoder of an uninterrupted run bit for bit."""
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 200}, train={"checkpoint_every_steps": 10_000})
    out = tmp_path / "run"
    proc = _start(cfg, out)
    _wait_for_rows(out, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert not any("Traceback" in line for line in lines), err
    name = signal.Signals(signum).name
    assert lines[-1].startswith(f"byol pretrain: stopped: {name} at step "), lines[-1]
    step = int(lines[-1].split("at step ")[1].split()[0])
    assert torch.load(out / "checkpoints/last.pt", weights_only=True)["step"] == step
    command = lines[-1].split("resume with: ")[1]
    assert command == f"byol pretrain --config {cfg} --out {out}"
    assert not (out / "run.lock").exists() and not (out / "encoder.pt").exists()
    if signum != signal.SIGTERM:
        return  # the resume itself is the same for both signals

    stop = step + 3  # resume a little further, and compare with a run that never stopped
    resumed = _start(cfg, out, "--set", f"train.max_steps={stop}")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and f"resuming from {out / 'checkpoints/last.pt'} (step {step})" in err, err
    straight = tmp_path / "straight"
    assert main(["pretrain", "--config", str(cfg), "--set", f"train.max_steps={stop}", "--out", str(straight)]) == 0
    assert_same_state(load(out / "encoder.pt"), load(straight / "encoder.pt"))


def test_the_slurm_profile_requeues_a_signalled_job_and_it_resumes(tmp_path):
    """The SLURM profile's ``retries`` (and ``slurm-requeue``) resubmit a job that SIGTERM stopped. Shown with the
    same ``retries`` on Snakemake's local executor: SIGTERM to the running ``byol pretrain``, the job fails with
    143, Snakemake starts it again, and it resumes from the checkpoint the signal saved."""
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.v8+.yaml").read_text())
    assert profile["retries"] >= 1 and profile["slurm-requeue"] is True
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 200}, train={"checkpoint_every_steps": 10_000})
    (tmp_path / "Snakefile").write_text(
        "rule pretrain:\n"
        "    output: 'run/encoder.pt'\n"
        f"    shell: '{sys.executable} -m byol_pkg pretrain --config {cfg} --set train.max_steps=100 --out run "
        ">> pretrain.log 2>&1'\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    snakemake = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--retries",
                                  str(profile["retries"]), "-d", str(tmp_path), "-s", str(tmp_path / "Snakefile")],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        lock = tmp_path / "run/run.lock"
        while time.time() < deadline and snakemake.poll() is None:
            metrics = tmp_path / "run/metrics.csv"
            if lock.exists() and metrics.exists() and len(metrics.read_text().splitlines()) > 2:
                break
            time.sleep(0.02)
        pid = json.loads(lock.read_text())["pid"]
        os.kill(pid, signal.SIGTERM)
        out, _ = snakemake.communicate(timeout=180)
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
    log = (tmp_path / "pretrain.log").read_text()
    assert snakemake.returncode == 0, out + log
    assert "byol pretrain: stopped: SIGTERM at step" in log and "resuming from" in log
    assert json.loads((tmp_path / "run/summary.json").read_text())["step"] == 100


# --- the file system (items 7 and 8) ------------------------------------------------------------------------

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_artifacts_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "r.json", {"a": 1})
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == mode


def test_a_run_folder_is_readable_by_others_under_umask_022(finished_run):
    files = [p for p in finished_run.rglob("*") if p.is_file() and p.name != "train.log"]
    assert {"encoder.pt", "encoder.json", "summary.json", "last.pt", "config.yaml"} <= {p.name for p in files}
    if os.umask(0o022) == 0o022:
        for path in files:
            assert path.stat().st_mode & 0o044 == 0o044, f"{path} is not readable by group and others"
    os.umask(0o022)


def _limit_file_size() -> None:
    """A 'full disk' for one process: files may not grow past 200 kB (the write fails with EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path / "r5")
    before = digest(run / "checkpoints/last.pt")
    cfg = write_config(tmp_path / "cfg.yaml", optim={"epochs": 1})
    proc = subprocess.run([sys.executable, "-m", "byol_pkg", "pretrain", "--config", str(cfg), "--set",
                           "model.projector_hidden=4096", "--out", str(tmp_path / "big")], cwd=REPO,
                          stderr=subprocess.PIPE, text=True, preexec_fn=_limit_file_size, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 7, proc.stderr
    assert not any("Traceback" in line for line in lines), proc.stderr
    assert lines[-1].startswith("byol pretrain: error: ") and "File too large" in lines[-1]
    assert not list((tmp_path / "big").rglob("*.tmp")) and not list((tmp_path / "big").rglob(".*.tmp"))
    assert digest(run / "checkpoints/last.pt") == before


def test_a_signal_mid_sweep_saves_the_grid_points_checkpoint(finished_run, tmp_path):
    """SIGTERM during a fine-tuning sweep: the step finishes, its checkpoint is saved in the work folder, one
    line gives the command that resumes, exit 143 (the resume itself is tested in test_sweep_kill)."""
    out = tmp_path / "ft.json"
    argv = ["finetune", "--encoder", str(finished_run / "encoder.pt"), "--dataset", "digits", "--lrs", "0.01",
            "--wds", "0", "--steps", "100000", "--batch-size", "8", "--checkpoint-every", "100000",
            "--cache-root", str(tmp_path / "cache"), "--out", str(out)]
    log = tmp_path / "ft.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "byol_pkg", *argv], cwd=REPO, stderr=stderr, text=True)
        deadline = time.time() + 90
        while proc.poll() is None and time.time() < deadline and " loss " not in log.read_text():
            time.sleep(0.05)  # until the first progress line of the SGD steps
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    err = log.read_text()
    work = tmp_path / "ft.work"
    lines = err.strip().splitlines()
    assert proc.returncode == 143 and not any("Traceback" in line for line in lines), err
    assert lines[-1].startswith("byol finetune: stopped: SIGTERM at step "), lines[-1]
    assert lines[-1].endswith(f"resume with: byol {' '.join(argv)}"), lines[-1]
    step = int(lines[-1].split("at step ")[1].split()[0])
    (checkpoint,) = [p for p in work.rglob("*.ckpt")]
    assert f"checkpoint {checkpoint} holds step {step}" in lines[-1]
    assert torch.load(checkpoint, weights_only=True)["step"] == step and 0 < step < 100000
    assert not out.exists()
