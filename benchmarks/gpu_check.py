"""Every GPU question of the project in one run: ``scripts/gpu_check.sh OUTDIR`` calls this (after installing the
staged wheels). Each section is a list of commands with a time cap; a section that fails or runs out of time is
recorded and the next one starts. Everything measured goes to ``OUTDIR/gpu_check.json`` (figures, checks against
the targets, versions, device), each section's output to ``OUTDIR/logs/<section>.log``, raw figures to
``OUTDIR/data/``; a summary table is printed at the end and written to ``OUTDIR/summary.md``.

Sections (caps sum to 6 minutes on a GPU):

=============  ===========================================================================================
environment    GPU, driver, versions; the datasheet bf16 peak used for MFU and a measured bf16 matmul rate
cuda_tests     ``pytest -m cuda tests/test_cuda.py``: views, nvJPEG decode, bf16 step, resumed runs
step           step-only throughput and MFU: ResNet-18 CIFAR (batch 512), ResNet-50 224 px (batch 256),
               bf16, eager and ``torch.compile``
end_to_end     data + augmentation + step: CIFAR uint8 held on the GPU; ImageNet-size JPEGs decoded on the
               GPU; images/s, data wait, and the ratio to the step-only rate
learning       Fashion-MNIST BYOL for about a minute, kNN and linear against random init
workflow       the default Snakemake DAG with pretraining and evaluation on the GPU, report rendered
peers          lightly and byol-pytorch step time beside ours at equal work
=============  ===========================================================================================

``--smoke`` runs every section at toy size on the CPU (what CI runs, so the check cannot rot); its figures mean
nothing and its targets are not judged.

    python benchmarks/gpu_check.py OUTDIR [--smoke] [--only step,peers]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

#: Targets of the GPU check (issue 14): end-to-end images/s and the end-to-end / step-only ratio.
TARGET_R18_CIFAR_IPS = 10_000
TARGET_R50_IPS = 2_000
TARGET_E2E_OVER_STEP = 0.80
TARGET_LINEAR_TOP1 = 88.0
RANDOM_INIT_CPU_TOL = 2.0  # points: the GPU's random init evaluated like the CPU's lands within this


@dataclass
class Check:
    """One figure against its target; ``passed`` is None where it cannot be judged (smoke, or not measured)."""

    name: str
    value: float | str | None
    target: str
    passed: bool | None


@dataclass
class Context:
    out: Path
    smoke: bool
    python: str
    device: str

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def work(self) -> Path:
        return self.out / "work"

    def read(self, name: str) -> Any:
        """A section's JSON output, or None when the command did not write it."""
        path = self.data / name
        return json.loads(path.read_text()) if path.is_file() else None

    def judge(self, name: str, value: float | None, target: str, ok: Callable[[float], bool]) -> Check:
        passed = None if self.smoke or value is None else bool(ok(value))
        return Check(name, None if value is None else round(float(value), 3), target, passed)


@dataclass(frozen=True)
class Section:
    name: str
    cap_s: float
    smoke_cap_s: float
    commands: Callable[[Context], list[list[str]]]
    summarize: Callable[[Context], tuple[dict[str, Any], list[Check]]]
    env: Callable[[Context], dict[str, str]] = lambda ctx: {}


@dataclass
class SectionResult:
    name: str
    status: str = "ok"  # ok | failed | timeout | error
    wall_s: float = 0.0
    cap_s: float = 0.0
    commands: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    log: str = ""


# ------------------------------------------------------------------------------------------------ sections


def _py(ctx: Context, script: str, *args: str) -> list[str]:
    return [ctx.python, str(BENCH / script), *args]


def env_commands(ctx: Context) -> list[list[str]]:
    extra = ["--device", "cpu", "--matmul", "256"] if ctx.smoke else ["--device", "cuda"]
    return [_py(ctx, "gpu_env.py", *extra, "--json", str(ctx.data / "environment.json"))]


def env_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    env = ctx.read("environment.json") or {}
    keys = ("gpu", "gpu_capability", "gpu_memory_gib", "driver", "cuda", "cudnn", "python", "torch", "torchvision",
            "timm", "packages", "cpu", "cpu_count", "mfu_peak_tflops", "matmul_tflops", "matmul_dtype",
            "matmul_fraction_of_peak")
    figures = {k: env.get(k) for k in keys}
    return figures, [ctx.judge("a GPU is visible", 1.0 if env.get("gpu") else 0.0, "yes", lambda v: v == 1.0)]


def tests_commands(ctx: Context) -> list[list[str]]:
    return [[ctx.python, "-m", "pytest", "-m", "cuda", str(ROOT / "tests" / "test_cuda.py"), "-v", "-rA",
             "-p", "no:cacheprovider", "--junitxml", str(ctx.data / "cuda_tests.xml")]]


def tests_env(ctx: Context) -> dict[str, str]:
    env = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # before cuBLAS starts: train.deterministic needs it
    if ctx.smoke:
        env["BYOL_CUDA_TESTS_ON_CPU"] = "1"
    return env


def tests_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    path = ctx.data / "cuda_tests.xml"
    if not path.is_file():
        return {}, [ctx.judge("CUDA tests pass, none skipped", None, "all", bool)]
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name", "?")] = kinds[0] if kinds else "passed"
    counts = {k: sum(v == k for v in outcomes.values()) for k in ("passed", "failure", "error", "skipped")}
    ok = 1.0 if outcomes and counts["passed"] == len(outcomes) else 0.0
    check = Check("CUDA tests pass, none skipped", f"{counts['passed']}/{len(outcomes)}", "all",
                  None if ctx.smoke else ok == 1.0)
    if ctx.smoke:  # on the CPU they must pass too (they compare the CPU with itself there)
        check.passed = None if ok == 1.0 else False
    return {"counts": counts, "tests": outcomes}, [check]


#: (benchmark config, batch on the GPU) of the step and end-to-end sections.
STEP_POINTS = (("r18cifar", 512), ("r50", 256))
#: The imagenet preset's batch per GPU (docs/speed.md: about 46 GiB in bf16, computed from batch 256).
PRESET_R50_BATCH = 512
PRESET_MEMORY_GIB = 80.0


def step_commands(ctx: Context) -> list[list[str]]:
    if ctx.smoke:
        return [_py(ctx, "pretrain_throughput.py", "--device", "cpu", "--configs", "demo", "--batch-sizes", "8",
                    "--precisions", "fp32", "--steps", "1", "--warmup", "1", "--threads", "1",
                    "--json", str(ctx.data / "step_demo_eager.json"))]
    cmds = []
    for compiled in (False, True):  # eager first: a slow compile must not cost the eager figures
        for cfg, batch in STEP_POINTS:
            tag = "compile" if compiled else "eager"
            cmds.append(_py(ctx, "pretrain_throughput.py", "--device", "cuda", "--configs", cfg, "--batch-sizes",
                            str(batch), "--precisions", "bf16", "--steps", "10", "--warmup", "3",
                            "--json", str(ctx.data / f"step_{cfg}_{tag}.json"), *(["--compile"] if compiled else [])))
        if not compiled:  # the imagenet preset's micro-batch (8 x 512, BN over 4,096): its memory, computed so far
            cmds.append(_py(ctx, "pretrain_throughput.py", "--device", "cuda", "--configs", "r50", "--batch-sizes",
                            str(PRESET_R50_BATCH), "--precisions", "bf16", "--steps", "3", "--warmup", "2",
                            "--json", str(ctx.data / f"step_r50_b{PRESET_R50_BATCH}_eager.json")))
    return cmds


def step_rows(ctx: Context) -> dict[str, dict[str, Any]]:
    rows = {}
    for path in sorted(ctx.data.glob("step_*.json")):
        tag = path.stem.removeprefix("step_")
        for row in json.loads(path.read_text())["rows"]:
            rows[tag] = {k: row.get(k) for k in ("config", "batch", "precision", "status", "ms_per_step",
                                                 "images_per_s", "achieved_tflops", "mfu_bf16_peak", "peak_mem_gib")}
    return rows


def step_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    rows = step_rows(ctx)
    checks = [ctx.judge(f"step {tag}: MFU (bf16 peak)", row.get("mfu_bf16_peak"), "reported", lambda v: True)
              for tag, row in rows.items() if not ctx.smoke]
    if not ctx.smoke:
        preset = rows.get(f"r50_b{PRESET_R50_BATCH}_eager", {})
        checks.append(ctx.judge(f"ResNet-50 batch {PRESET_R50_BATCH} bf16 peak memory, GiB (computed: 46)",
                                preset.get("peak_mem_gib"), f"< {PRESET_MEMORY_GIB:.0f}",
                                lambda v: v < PRESET_MEMORY_GIB))
    return {"rows": rows}, checks


def e2e_commands(ctx: Context) -> list[list[str]]:
    if ctx.smoke:
        tiny = ["--set", "model.projector_hidden=64", "--set", "model.predictor_hidden=64", "--set",
                "data.num_workers=0"]
        return [
            _py(ctx, "end_to_end.py", "--config", "demo", "--device", "cpu", "--backends", "batched", "--steps", "2",
                "--warmup", "1", "--batch-size", "32", "--set", "data.name=digits", "--set", "augment.image_size=8",
                "--set", "model.cifar_stem=true", "--set", "data.max_samples=256", *tiny,
                "--json", str(ctx.data / "e2e_cifar.json")),
            _py(ctx, "end_to_end.py", "--config", "imagenet", "--device", "cpu", "--backends", "batched",
                "--batch-size", "4", "--images", "12", "--steps", "1", "--warmup", "1", "--set", "augment.decode=device",
                "--set", "optim.global_batch=null", "--set", "model.backbone=resnet_small", "--set",
                "augment.image_size=32", "--set", "train.precision=fp32", *tiny,
                "--json", str(ctx.data / "e2e_imagenet.json")),
        ]
    return [
        # 20,480 CIFAR-size images held on the GPU as uint8; 5 warm-up + 30 timed steps of 512
        _py(ctx, "end_to_end.py", "--config", "cifar10", "--device", "cuda", "--backends", "batched", "--steps", "30",
            "--warmup", "5", "--images", "20480", "--json", str(ctx.data / "e2e_cifar.json")),
        # 3,584 ImageNet-size (375x500) JPEGs read by the workers, decoded by nvJPEG; 3 + 10 steps of 256
        _py(ctx, "end_to_end.py", "--config", "imagenet", "--device", "cuda", "--backends", "batched",
            "--batch-size", "256", "--images", "3584", "--steps", "10", "--warmup", "3", "--set", "augment.decode=device",
            "--set", "optim.global_batch=null", "--json", str(ctx.data / "e2e_imagenet.json")),
    ]


def e2e_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    steps = step_rows(ctx)
    figures: dict[str, Any] = {}
    checks = []
    for tag, step_tag, target, label in (("cifar", "r18cifar_eager", TARGET_R18_CIFAR_IPS, "ResNet-18 CIFAR b512"),
                                         ("imagenet", "r50_eager", TARGET_R50_IPS, "ResNet-50 224px JPEG b256")):
        rows = ctx.read(f"e2e_{tag}.json")
        row = rows[0] if rows else None
        step = steps.get(step_tag)
        ratio = None
        if row and step and step.get("images_per_s") and (step["batch"], step["precision"]) == (row["batch"],
                                                                                              row["precision"]):
            ratio = row["images_per_s"] / step["images_per_s"]
        figures[tag] = None if row is None else {**row, "step_only_images_per_s": step and step.get("images_per_s"),
                                                 "e2e_over_step": ratio}
        checks.append(ctx.judge(f"{label} end to end, images/s", row and row["images_per_s"], f">= {target:,}",
                                lambda v, t=target: v >= t))
        checks.append(ctx.judge(f"{label} data wait", row and row["data_wait_frac"], "reported", lambda v: True))
        checks.append(ctx.judge(f"{label} end to end / step only", ratio, f">= {TARGET_E2E_OVER_STEP:.2f}",
                                lambda v: v >= TARGET_E2E_OVER_STEP))
    return figures, checks


def learning_commands(ctx: Context) -> list[list[str]]:
    args = ["--smoke", "--device", "cpu", "--workers", "0"] if ctx.smoke else ["--device", "cuda", "--budget-s",
                                                                              "45", "--workers", "8"]
    return [_py(ctx, "learning_check.py", *args, "--work", str(ctx.work / "learning"),
                "--json", str(ctx.data / "learning.json"))]


def learning_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    res = ctx.read("learning.json") or {}
    byol, rand = res.get("byol") or {}, res.get("random_init") or {}
    checks = [
        ctx.judge("Fashion-MNIST linear top-1, BYOL", byol.get("linear"), f">= {TARGET_LINEAR_TOP1}",
                  lambda v: v >= TARGET_LINEAR_TOP1),
        ctx.judge("linear top-1, BYOL - random init", res.get("linear_gain"), "> 0", lambda v: v > 0),
        ctx.judge("random init linear, GPU - CPU demo", res.get("random_init_linear_vs_cpu"),
                  f"within +-{RANDOM_INIT_CPU_TOL}", lambda v: abs(v) <= RANDOM_INIT_CPU_TOL),
    ]
    return res, checks


#: The smoke run's workflow config (whole, not an overlay): digits, kNN only, BYOL and random
#: init (the default demo DAG takes 16 minutes on a CPU).
SMOKE_WORKFLOW = """\
pretrain:
  demo:
    config: demo
    set: {data.name: digits, data.num_workers: 0, data.max_samples: 128, optim.batch_size: 64, optim.epochs: 1,
          model.cifar_stem: true, augment.image_size: 8, model.projector_hidden: 32, model.projector_out: 16,
          model.predictor_hidden: 32}
methods:
  byol: {pretrain: demo}
  random-init: {pretrain: demo, random_init: true}
evaluation:
  dataset: digits
  knn: {args: {k: [5]}}
"""
WORKFLOW_JOBS_PER_GPU = 8
#: The GPU run's overlay on config/config.yaml: pretraining and every evaluation on the GPU.
GPU_WORKFLOW = """\
device: cuda
num_workers: 2
pretrain:
  demo:
    config: demo
    set: {train.device: cuda}
"""


def workflow_commands(ctx: Context) -> list[list[str]]:
    overlay = ctx.work / "workflow_overlay.yaml"
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.write_text(SMOKE_WORKFLOW if ctx.smoke else GPU_WORKFLOW)
    snakemake = shutil.which("snakemake") or str(Path(ctx.python).with_name("snakemake"))
    cores = "2" if ctx.smoke else str(os.cpu_count() or 1)
    # the evaluation jobs are small: up to WORKFLOW_JOBS_PER_GPU of them share the one GPU (gpu is a countable
    # resource of the rules; --resources gpu=1 would run them one at a time)
    resources = [] if ctx.smoke else ["--resources", f"gpu={WORKFLOW_JOBS_PER_GPU}"]
    configs = [str(overlay)] if ctx.smoke else [str(ROOT / "config" / "config.yaml"), str(overlay)]
    return [[snakemake, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(ctx.work / "workflow"),
             "--cores", cores, *resources, "--configfile", *configs,
             "--config", f"data_root={ROOT / 'data'}", "--rerun-incomplete", "--printshellcmds"]]


def workflow_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    report = ctx.work / "workflow" / "results" / "report"
    figures: dict[str, Any] = {"report": (report / "report.md").is_file()}
    results = report / "results.csv"
    if results.is_file():
        import csv

        with results.open() as f:
            rows = list(csv.DictReader(f))
        figures["records"] = len(rows)
        figures["results"] = {f"{r['method']} {r['protocol']} {r.get('variant', '')} {r['dataset']} {r['metric']}"
                              .replace("  ", " "): round(float(r["value"]), 2) for r in rows
                              if r.get("metric") == "top1"}
    benchmarks = ctx.work / "workflow" / "results" / "benchmarks"
    figures["jobs_benchmarked"] = len(list(benchmarks.rglob("*.tsv"))) if benchmarks.is_dir() else 0
    check = Check("workflow report rendered", "yes" if figures["report"] else "no", "yes",
                  None if ctx.smoke and figures["report"] else figures["report"])
    return figures, [check]


def peers_commands(ctx: Context) -> list[list[str]]:
    if ctx.smoke:
        return [_py(ctx, "peer_step_time.py", "--device", "cpu", "--batch-size", "4", "--steps", "1", "--warmup", "1",
                    "--precisions", "fp32", "--threads", "1", "--no-profile", "--json", str(ctx.data / "peers.json"))]
    return [_py(ctx, "peer_step_time.py", "--device", "cuda", "--compile", "--precisions", "bf16", "--steps", "10",
                "--warmup", "3", "--json", str(ctx.data / "peers.json"))]


def peers_summary(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    res = ctx.read("peers.json") or {}
    rows = {f"{r['impl']} {r['precision']}": r.get("ms_per_step") if r.get("status") == "ok" else r.get("status")
            for r in res.get("rows", [])}
    ratios = res.get("ratios", [])
    best = max((r["vs_faster_peer"] for r in ratios if r.get("vs_faster_peer")), default=None)
    return {"ms_per_step": rows, "ratios": ratios}, [
        ctx.judge("step vs the faster peer (x, >1: ours faster)", best, "reported", lambda v: True)]


SECTIONS: tuple[Section, ...] = (
    Section("environment", 15, 120, env_commands, env_summary),
    Section("cuda_tests", 40, 240, tests_commands, tests_summary, tests_env),
    Section("step", 60, 120, step_commands, step_summary),
    Section("end_to_end", 45, 180, e2e_commands, e2e_summary),
    Section("learning", 85, 240, learning_commands, learning_summary),
    Section("workflow", 80, 240, workflow_commands, workflow_summary),
    Section("peers", 35, 120, peers_commands, peers_summary),
)


# ------------------------------------------------------------------------------------------------ running


def run_command(cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> tuple[str, float, int | None]:
    """Run one command in its own process group, output appended to ``log``; on timeout kill the whole group
    (snakemake's jobs, DataLoader workers). Returns (status, seconds, return code)."""
    t0 = time.perf_counter()
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                    start_new_session=True)
        except OSError as err:
            f.write(f"gpu_check: cannot start: {err}\n")
            return "error", 0.0, None
        try:
            rc = proc.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
                proc.wait()
            f.write(f"gpu_check: stopped at the section's time cap ({timeout:.0f} s left for this command)\n")
            return "timeout", time.perf_counter() - t0, None
    return ("ok" if rc == 0 else "failed"), time.perf_counter() - t0, rc


def with_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def run_section(section: Section, ctx: Context) -> SectionResult:
    cap = section.smoke_cap_s if ctx.smoke else section.cap_s
    res = SectionResult(section.name, cap_s=cap, log=f"logs/{section.name}.log")
    log = ctx.out / res.log
    t0 = time.perf_counter()
    try:
        commands = section.commands(ctx)
        env = section.env(ctx)
        for cmd in commands:
            left = cap - (time.perf_counter() - t0)
            if left <= 0:
                res.status = "timeout"
                res.commands.append({"command": cmd, "status": "not started (time cap)"})
                continue
            status, seconds, rc = run_command(cmd, log, left, env)
            res.commands.append({"command": cmd, "status": status, "seconds": round(seconds, 1), "returncode": rc})
            if status != "ok" and res.status == "ok":
                res.status = status
    except Exception as err:  # noqa: BLE001 - a broken section must not stop the others
        res.status = "error"
        with log.open("a") as f:
            f.write(f"gpu_check: {type(err).__name__}: {err}\n")
    res.wall_s = round(time.perf_counter() - t0, 1)
    try:
        res.figures, res.checks = section.summarize(ctx)
    except Exception as err:  # noqa: BLE001
        res.figures = {"summary_error": f"{type(err).__name__}: {err}"}
    return res


# ------------------------------------------------------------------------------------------------ reporting


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def headline(res: SectionResult) -> str:
    """One line of the most telling figures of a section."""
    f = res.figures
    if res.name == "environment":
        return (f"{f.get('gpu') or 'no GPU'} (driver {f.get('driver')}), torch {f.get('torch')}, "
                f"tv {f.get('torchvision')}, timm {f.get('timm')}, py {f.get('python')}; {f.get('matmul_dtype')} "
                f"matmul {_fmt(f.get('matmul_tflops'))} TFLOP/s, MFU peak {f.get('mfu_peak_tflops')}")
    if res.name == "cuda_tests":
        return ", ".join(f"{k} {v}" for k, v in (f.get("counts") or {}).items())
    if res.name == "step":
        return "; ".join(f"{tag} {_fmt(r.get('images_per_s'))} img/s"
                         + (f" MFU {100 * r['mfu_bf16_peak']:.1f}%" if r.get("mfu_bf16_peak") else "")
                         for tag, r in (f.get("rows") or {}).items())
    if res.name == "end_to_end":
        return "; ".join(f"{tag} {_fmt(r['images_per_s'])} img/s, wait {100 * r['data_wait_frac']:.1f}%"
                         for tag, r in f.items() if r)
    if res.name == "learning" and f.get("byol"):
        return (f"{f['epochs']} epochs; linear BYOL {f['byol']['linear']:.1f} vs random {f['random_init']['linear']:.1f}"
                f"; kNN k=20 {f['byol']['knn_k20']:.1f} vs {f['random_init']['knn_k20']:.1f}")
    if res.name == "workflow":
        return f"report {'rendered' if f.get('report') else 'missing'}, {f.get('jobs_benchmarked')} jobs"
    if res.name == "peers":
        return "; ".join(f"{k} {_fmt(v)} ms" for k, v in (f.get("ms_per_step") or {}).items())
    return ""


def summary_markdown(results: list[SectionResult], meta: dict[str, Any]) -> str:
    lines = [f"GPU check {meta['date']} on {meta['device_name']} ({'smoke, CPU' if meta['smoke'] else 'full'}), "
             f"{meta['wall_s']:.0f} s", "",
             "| section | status | s / cap | figures |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.status} | {r.wall_s:.0f} / {r.cap_s:.0f} | {headline(r)} |")
    lines += ["", "| check | value | target | result |", "|---|---|---|---|"]
    for r in results:
        for c in r.checks:
            verdict = "-" if c.passed is None else ("PASS" if c.passed else "FAIL")
            lines.append(f"| {c.name} | {_fmt(c.value)} | {c.target} | {verdict} |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--smoke", action="store_true", help="every section at toy size on the CPU (about a minute)")
    ap.add_argument("--only", default=None, help=f"comma-separated sections, of {[s.name for s in SECTIONS]}")
    args = ap.parse_args(argv)
    chosen = SECTIONS
    if args.only:
        names = args.only.split(",")
        unknown = [n for n in names if n not in {s.name for s in SECTIONS}]
        if unknown:
            ap.error(f"--only: unknown section(s) {unknown}; use some of {[s.name for s in SECTIONS]}")
        chosen = tuple(s for s in SECTIONS if s.name in names)
    ctx = Context(args.outdir.resolve(), args.smoke, sys.executable, "cpu" if args.smoke else "cuda")
    for folder in (ctx.out / "logs", ctx.data, ctx.work):
        folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                            "smoke": args.smoke, "sections": [s.name for s in chosen],
                            "cap_s": sum(s.smoke_cap_s if args.smoke else s.cap_s for s in chosen)}
    results: list[SectionResult] = []
    t0 = time.perf_counter()
    for section in chosen:
        print(f"[gpu_check] {section.name} (cap {section.smoke_cap_s if args.smoke else section.cap_s:.0f} s) ...",
              flush=True)
        res = run_section(section, ctx)
        results.append(res)
        print(f"[gpu_check] {section.name}: {res.status} in {res.wall_s:.0f} s -- {headline(res)}", flush=True)
        meta["wall_s"] = time.perf_counter() - t0
        env = next((r.figures for r in results if r.name == "environment"), {})
        meta["device_name"] = env.get("gpu") or ("CPU" if args.smoke else "unknown device")
        write_json(ctx.out / "gpu_check.json", {**meta, "environment": env,
                                                "sections": {r.name: asdict(r) for r in results}})
    text = summary_markdown(results, meta)
    (ctx.out / "summary.md").write_text(text)
    print()
    print(text)
    failed = [r.name for r in results if r.status != "ok"]
    judged = [c for r in results for c in r.checks if c.passed is False]
    print(f"[gpu_check] wrote {ctx.out / 'gpu_check.json'}; sections not ok: {failed or 'none'}; "
          f"checks failed: {len(judged)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
