"""``scripts/gpu_check.sh``: the smoke run (every section at toy size on the CPU) writes every output the GPU run
writes, and the runner caps, records and survives failing or overrunning sections (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

SECTIONS = ["environment", "cuda_tests", "step", "end_to_end", "learning", "workflow", "peers"]


def test_sections_fit_six_minutes_on_the_gpu():
    assert [s.name for s in gpu_check.SECTIONS] == SECTIONS
    assert sum(s.cap_s for s in gpu_check.SECTIONS) <= 360


@pytest.mark.slow
def test_smoke_run_writes_every_output(tmp_path):
    out = tmp_path / "check"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--smoke", str(out)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["smoke"] is True and list(report["sections"]) == SECTIONS
    # the checks a smoke run records, unjudged (step's MFU and memory checks are made on the GPU only)
    assert {name: len(s["checks"]) for name, s in report["sections"].items()} == {
        "environment": 1, "cuda_tests": 1, "step": 0, "end_to_end": 6, "learning": 3, "workflow": 1, "peers": 1}
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section["commands"])
        assert (out / section["log"]).stat().st_size > 0
        assert all(c["passed"] is None for c in section["checks"]), name  # smoke figures are not judged
    sections = report["sections"]
    env_figures = report["environment"]
    assert env_figures["torch"] and env_figures["matmul_tflops"] > 0 and env_figures["packages"]["torch"]
    assert sections["cuda_tests"]["figures"]["counts"]["passed"] >= 8  # run on the CPU, none skipped
    assert sections["cuda_tests"]["figures"]["counts"]["skipped"] == 0
    assert sections["step"]["figures"]["rows"]["demo_eager"]["images_per_s"] > 0
    assert sections["end_to_end"]["figures"]["cifar"]["images_per_s"] > 0
    assert sections["end_to_end"]["figures"]["imagenet"]["backend"] == "batched"
    learning = sections["learning"]["figures"]
    assert learning["epochs"] == 1 and 0 <= learning["byol"]["linear"] <= 100
    assert 0 <= learning["random_init"]["knn_k20"] <= 100
    assert sections["workflow"]["figures"]["report"] is True and sections["workflow"]["figures"]["records"] > 0
    assert any(k.startswith("byol_pkg") for k in sections["peers"]["figures"]["ms_per_step"])
    summary = (out / "summary.md").read_text()
    assert "| section | status |" in summary and "| check | value | target | result |" in summary
    assert summary in res.stdout


def _section(name: str, *commands: list[str], cap: float = 30) -> gpu_check.Section:
    return gpu_check.Section(name, cap, cap, lambda ctx: list(commands), lambda ctx: ({"seen": True}, []))


def test_a_failing_or_overrunning_section_is_recorded_and_the_next_one_runs(tmp_path):
    ctx = gpu_check.Context(tmp_path, smoke=True, python=sys.executable, device="cpu")
    (tmp_path / "logs").mkdir()
    sleepy = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"]
    slow = gpu_check.run_section(_section("slow", sleepy, ["true"], cap=2), ctx)
    assert slow.status == "timeout" and slow.wall_s < 15
    assert [c["status"] for c in slow.commands] == ["timeout", "not started (time cap)"]
    log = (tmp_path / slow.log).read_text()
    assert "started" in log and "stopped at the section's time cap" in log
    failing = gpu_check.run_section(_section("failing", ["false"], ["true"]), ctx)
    assert failing.status == "failed" and [c["status"] for c in failing.commands] == ["failed", "ok"]
    assert failing.figures == {"seen": True}  # summarised all the same
    missing = gpu_check.run_section(_section("missing", ["/nonexistent/tool"]), ctx)
    assert missing.status == "error"


def test_checks_are_judged_on_the_gpu_only(tmp_path):
    gpu = gpu_check.Context(tmp_path, smoke=False, python=sys.executable, device="cuda")
    smoke = gpu_check.Context(tmp_path, smoke=True, python=sys.executable, device="cpu")
    assert gpu.judge("x", 9_000, ">= 10,000", lambda v: v >= 10_000).passed is False
    assert gpu.judge("x", 12_000, ">= 10,000", lambda v: v >= 10_000).passed is True
    assert gpu.judge("x", None, ">= 10,000", lambda v: v >= 10_000).passed is None  # not measured
    assert smoke.judge("x", 9_000, ">= 10,000", lambda v: v >= 10_000).passed is None


def test_end_to_end_is_compared_with_the_step_at_the_same_batch_and_precision(tmp_path):
    ctx = gpu_check.Context(tmp_path, smoke=False, python=sys.executable, device="cuda")
    ctx.data.mkdir(parents=True)
    step = {"rows": [{"config": "r18cifar", "batch": 512, "precision": "bf16", "status": "ok", "ms_per_step": 40.0,
                      "images_per_s": 12_800.0, "mfu_bf16_peak": 0.1}]}
    (ctx.data / "step_r18cifar_eager.json").write_text(json.dumps(step))
    e2e = [{"batch": 512, "precision": "bf16", "images_per_s": 9_600.0, "data_wait_frac": 0.2, "backend": "batched"}]
    (ctx.data / "e2e_cifar.json").write_text(json.dumps(e2e))
    figures, checks = gpu_check.e2e_summary(ctx)
    assert figures["cifar"]["e2e_over_step"] == pytest.approx(0.75)
    by_name = {c.name: c for c in checks}
    assert by_name["ResNet-18 CIFAR b512 end to end, images/s"].passed is False  # 9,600 < 10,000
    assert by_name["ResNet-18 CIFAR b512 end to end / step only"].passed is False  # 0.75 < 0.80
    assert by_name["ResNet-50 224px JPEG b256 end to end, images/s"].passed is None  # not measured
    e2e[0]["batch"] = 256  # another batch: no ratio
    (ctx.data / "e2e_cifar.json").write_text(json.dumps(e2e))
    assert gpu_check.e2e_summary(ctx)[0]["cifar"]["e2e_over_step"] is None


def test_step_section_judges_the_preset_batch_memory(tmp_path):
    ctx = gpu_check.Context(tmp_path, smoke=False, python=sys.executable, device="cuda")
    ctx.data.mkdir(parents=True)
    row = {"config": "r50", "batch": 512, "precision": "bf16", "status": "ok", "images_per_s": 1500.0,
           "mfu_bf16_peak": 0.1, "peak_mem_gib": 45.6}
    (ctx.data / "step_r50_b512_eager.json").write_text(json.dumps({"rows": [row]}))
    figures, checks = gpu_check.step_summary(ctx)
    memory = next(c for c in checks if "peak memory" in c.name)
    assert figures["rows"]["r50_b512_eager"]["peak_mem_gib"] == 45.6 and memory.passed is True
    row["peak_mem_gib"] = 85.0
    (ctx.data / "step_r50_b512_eager.json").write_text(json.dumps({"rows": [row]}))
    assert next(c for c in gpu_check.step_summary(ctx)[1] if "peak memory" in c.name).passed is False
    commands = gpu_check.step_commands(ctx)
    assert any("512" in cmd and "r50" in cmd for cmd in commands) and len(commands) == 5
