"""The workflow files are valid: config schema, dry-run DAG, lint and formatting (real snakemake/snakefmt)."""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[workflow]')")
    return found


def test_default_dag_dry_run():
    # whatever results/ holds (--forceall; incomplete outputs are the default profile's rerun-incomplete)
    res = _run(_tool("snakemake"), "-n", "--forceall", "--quiet", "rules")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pretrain" in res.stdout + res.stderr


def test_lint_and_format_clean():
    lint = _run(_tool("snakemake"), "--lint")
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    fmt = _run(_tool("snakefmt"), "--check", "workflow")
    assert fmt.returncode == 0, fmt.stderr[-2000:]


def test_config_schema_rejects_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  other_run:\n    set: {}\nmethods:\n  m: {pretrain: other_run}\n")  # no config key
    res = _run(_tool("snakemake"), "-n", "--configfile", str(bad))
    assert res.returncode != 0
    assert "other_run" in res.stdout + res.stderr and "required" in res.stdout + res.stderr


def _job_counts(stdout: str) -> dict[str, int]:
    """``{rule: jobs, ..., "total": n}`` from the job-stats table Snakemake prints."""
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", stdout, re.M)}


@functools.cache
def _dry_run_counts(config: str) -> dict[str, int]:
    res = _run(_tool("snakemake"), "-n", "--forceall", "--quiet", "rules", "--configfile", f"config/{config}.yaml")
    assert res.returncode == 0, res.stderr[-2000:]
    return _job_counts(res.stdout)


def test_default_config_expands_to_the_demo_dag():
    # 1 run x 1 seed x 2 methods (byol, random-init); datasets fashion_mnist (pretraining) + digits (linear transfer);
    # kNN at epochs 0 (the initialisation) to 4 for byol only (epoch 4, the last, on the final encoder: no export);
    # one report
    assert _dry_run_counts("config") == {
        "prepare_dataset": 2, "prepare_pretrain_data": 1, "pretrain": 1, "export_epoch_encoder": 4, "extract": 4,
        "knn": 2, "knn_epoch": 5, "linear": 4, "semisup": 4, "transfer_linear": 2, "report": 1, "all": 1,
        "total": 31}


def test_demo_seeds_overlay_repeats_the_default_dag_over_three_seeds():
    """config/demo_seeds.yaml given after config/config.yaml: the default demo's jobs, each per-seed job three
    times (the dataset checks and the report once)."""
    res = _run(_tool("snakemake"), "-n", "--forceall", "--quiet", "rules", "--configfile", "config/config.yaml",
               "config/demo_seeds.yaml")
    assert res.returncode == 0, res.stderr[-2000:]
    seeds = _job_counts(res.stdout)
    single = _dry_run_counts("config")
    once = {"prepare_dataset", "prepare_pretrain_data", "report", "all"}
    assert {k: v for k, v in seeds.items() if k != "total"} == {
        k: v if k in once else 3 * v for k, v in single.items() if k != "total"}
    assert yaml.safe_load((ROOT / "config" / "demo_seeds.yaml").read_text()) == {"seeds": [0, 1, 2]}


def test_cifar10_config_expands_to_its_complete_dag():
    # cifar10 + cifar100 (transfer, linear and fine-tuned); kNN at 5 kept epochs (0 = the init) for byol
    assert _dry_run_counts("cifar10") == {
        "prepare_dataset": 2, "prepare_pretrain_data": 1, "pretrain": 1, "export_epoch_encoder": 4, "extract": 4,
        "knn": 2, "knn_epoch": 5, "linear": 4, "semisup": 4, "transfer_linear": 2, "transfer_finetune": 2,
        "report": 1, "all": 1, "total": 33}


def test_imagenet_config_expands_to_the_papers_dag(tmp_path):
    """imagenet + the 12 transfer datasets, each linear and fine-tuned, for the paper's 4 rows: BYOL and SimCLR
    (repro) (2 pretraining runs of 8 GPUs, each with its pretraining-data check), Supervised-IN (torchvision's
    weights: no run, no conversion) and random init. Per method: features of 13 datasets, kNN, linear cached +
    augmented, semi-supervised 1 % + 10 %, transfer linear + fine-tuned on 12: 4 x (13 + 1 + 2 + 2 + 12 + 12) = 168,
    + 13 dataset checks + 2 + 2 + report + all = 187."""
    counts = _imagenet_dry_run_counts(tmp_path)
    assert counts == {
        "prepare_dataset": 13, "prepare_pretrain_data": 2, "pretrain": 2, "extract": 4 * 13, "knn": 4,
        "linear": 4 * 2, "semisup": 4 * 2, "transfer_linear": 4 * 12, "transfer_finetune": 4 * 12, "report": 1,
        "all": 1, "total": 187}
    assert "convert_official" not in counts  # a torchvision state dict is read as it is (--backbone resnet50)


def _imagenet_dry_run_counts(tmp_path: Path) -> dict[str, int]:
    """Jobs of config/imagenet.yaml, with an empty stand-in for the user's download of torchvision's weights."""
    weights = tmp_path / "data" / "torchvision" / "resnet50-0676ba61.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"")
    res = _run(_tool("snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(tmp_path), "-n", "--forceall",
               "--quiet", "rules", "--configfile", str(ROOT / "config" / "imagenet.yaml"))
    assert res.returncode == 0, res.stderr[-2000:]
    return _job_counts(res.stdout)


def test_readme_job_counts_are_the_dry_run_totals(tmp_path):
    """The README's table of configs states each one's `snakemake -n` job count: it must be what Snakemake plans."""
    rows = re.findall(r"^\| `config/(\w+)\.yaml`.*\| (\d+) \|$", (ROOT / "README.md").read_text(), re.M)
    assert {name for name, _ in rows} >= {"config", "cifar10", "imagenet", "ablations_demo"}
    for name, stated in rows:
        counts = _imagenet_dry_run_counts(tmp_path) if name == "imagenet" else _dry_run_counts(name)
        assert counts["total"] == int(stated), f"README says {stated} jobs for config/{name}.yaml"


def test_ablations_config_expands_every_variant():
    """3 table runs (byol, simclr, supervised) + ablation variants with overrides: objective 7 (its `byol` variant
    is the run itself), collapse 2 (both longer than the run), tau 5, batch size 2 x 2 methods, augmentation 5 x 2
    methods = 31 pretraining runs."""
    counts = _dry_run_counts("ablations_demo")
    variants = 8 + 2 + 6 + 3 * 2 + 6 * 2  # evaluated per variant (baselines included): 34 methods
    assert counts["pretrain"] == counts["prepare_pretrain_data"] == 3 + 7 + 2 + 5 + 2 * 2 + 5 * 2
    assert counts["extract"] == 4 * 2 + variants  # 4 table methods x 2 datasets, each variant on fashion_mnist
    assert counts["linear"] == 4 + variants and counts["knn"] == 4 + 8 + 2 + 6  # objective, collapse, tau: kNN too
    assert counts["semisup"] == 4 * 2 and counts["transfer_finetune"] == 4 and counts["report"] == 1
    assert counts["total"] == 182


def test_baselines_config_runs_every_cell_over_three_seeds():
    """4 methods (byol, simclr, supervised, random init) x 3 seeds on every protocol, and the backend ablation
    (the batched augmentation path, one more pretraining run per seed)."""
    counts = _dry_run_counts("baselines_demo")
    assert counts["pretrain"] == (3 + 1) * 3 and counts["prepare_pretrain_data"] == 3 + 1
    assert counts["semisup"] == 4 * 3 * 2 and counts["transfer_finetune"] == counts["transfer_linear"] == 4 * 3
    assert counts["extract"] == 4 * 3 * 2 + 2 * 3 and counts["knn"] == counts["linear"] == 4 * 3 + 2 * 3
    assert counts["total"] == 134


def test_ablation_and_external_method_entries_are_validated(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  r: {config: demo}\nmethods:\n  byol: {pretrain: r}\n"
                   "  rand: {pretrain: r, random_init: true}\n"
                   "ablations:\n  tau:\n    methods: [rand]\n    variants: {'0.9': {target.base_tau: 0.9}}\n")
    res = _run(_tool("snakemake"), "-n", "--configfile", str(bad))
    assert res.returncode != 0 and "ablations.tau.methods names 'rand'" in res.stdout + res.stderr
    both = tmp_path / "both.yaml"  # an external method names its weights and backbone, not a run as well
    both.write_text("pretrain:\n  r: {config: demo}\nmethods:\n  ext: {pretrain: r, weights: w.pt, backbone: resnet50}\n")
    res = _run(_tool("snakemake"), "-n", "--configfile", str(both))
    assert res.returncode != 0 and "ext" in res.stdout + res.stderr


def test_external_and_official_encoders_join_the_dag(tmp_path):
    """A torchvision state dict is evaluated with --backbone; the official checkpoint is converted first."""
    (tmp_path / "r50.pt").write_bytes(b"")
    (tmp_path / "pretrain_res50x1.pkl").write_bytes(b"")
    cfg = tmp_path / "ext.yaml"
    cfg.write_text(f"""
pretrain:
  r: {{config: demo}}
methods:
  byol: {{pretrain: r}}
  tv-supervised: {{weights: {tmp_path / 'r50.pt'}, backbone: resnet50}}
  byol-official: {{weights: {tmp_path / 'pretrain_res50x1.pkl'}, backbone: resnet50, official: true}}
evaluation:
  dataset: fashion_mnist
  knn: {{}}
""")
    res = _run(_tool("snakemake"), "-n", "-p", "--forceall", "--configfile", str(cfg))
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert f"byol convert-official --checkpoint {tmp_path / 'pretrain_res50x1.pkl'} --depth 50 " \
           "--out results/external/byol-official/encoder.pt" in out
    assert "byol extract --encoder results/external/byol-official/encoder.pt --method byol-official" in out
    assert re.search(rf"byol extract --encoder {re.escape(str(tmp_path / 'r50.pt'))} --method tv-supervised "
                     r"--seed 0 --backbone resnet50 ", out)
    assert out.count("rule pretrain:") == 1  # external methods train nothing


TINY = """
data_root: data
seeds: [0]
pretrain:
  tiny:
    config: demo
    set: {data.name: digits, data.num_workers: 0, data.max_samples: 192, optim.batch_size: 64, optim.epochs: 1,
          model.projector_hidden: 32, model.projector_out: 16, model.predictor_hidden: 32}
methods:
  byol: {pretrain: tiny}
  random-init: {pretrain: tiny, random_init: true}
evaluation:
  dataset: digits
  knn: {args: {k: [5]}}
  knn_epochs: [1]
  linear:
    cached: {args: {epochs: 2}}
    augmented: {args: {base_lrs: [0.1], epochs: 1, batch_size: 256}}
  semisup:
    10pct: {args: {fraction: 0.1, lrs: [0.05], epochs: [1], batch_size: 64}}
  transfer:
    digits:
      linear: {}
      finetune: {args: {lrs: [0.01], wds: [0], steps: 2, batch_size: 32}}
"""


def _smk(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([_tool("snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir),
                           "--configfile", str(config), "--cores", "2", *args], capture_output=True, text=True,
                          timeout=900, env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"})


def _planned(res: subprocess.CompletedProcess) -> dict[str, int]:
    return {k: v for k, v in _job_counts(res.stdout).items() if k != "total"}


def test_workflow_runs_end_to_end_and_reruns_only_what_changed(tmp_path):
    """The real snakemake on a tiny config: every stage runs, a second run does nothing, a changed transfer
    setting reruns only that dataset's jobs, a changed pretraining setting reruns everything downstream."""
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    work = tmp_path / "work"
    res = _smk(work, config)
    assert res.returncode == 0, res.stderr[-3000:]
    table = (work / "results/report/results.md").read_text()
    for needle in ("byol", "random-init", "knn", "linear", "semisup", "transfer_linear", "finetune", "digits"):
        assert needle in table
    import pandas as pd

    records = pd.read_csv(work / "results/report/results.csv")
    assert set(records["method"]) == {"byol", "random-init"} and len(records) == 2 * 9 + 1  # + kNN at epoch 1
    # epoch 1 is the run's last: evaluated on the final encoder and its cached features (no export, no extraction)
    final = json.loads((work / "results/eval/byol/seed0/knn/digits.json").read_text())[0]
    last = json.loads((work / "results/eval/byol/seed0/knn_epochs/digits_epoch1.json").read_text())[0]
    assert last["value"] == final["value"] and last["encoder_sha256"] == final["encoder_sha256"]
    assert last["hyperparameters"]["pretrain_epoch"] == 1 and "pretrain_epoch" not in final["hyperparameters"]
    assert not (work / "results/pretrain/tiny/seed0/epochs").exists()
    assert "features digits/" not in (work / "results/logs/eval/byol/seed0/knn_digits_epoch1.log").read_text()
    report = (work / "results/report/report.md").read_text()
    for name in ("table1", "table2", "table3", "knn"):  # paper-form tables, in three formats
        for ext in ("md", "tex", "csv"):
            assert (work / f"results/report/tables/{name}.{ext}").stat().st_size > 0
    for plot in ("pretrain_curves", "transfer", "semisup", "knn_vs_epoch"):
        assert (work / f"results/report/plots/{plot}.png").stat().st_size > 0
        assert f"plots/{plot}.png" in report
    assert (work / "results/pretrain/tiny/seed0/encoder.pt").is_file()
    assert (work / "results/logs/pretrain/tiny/seed0.log").is_file()
    assert (work / "results/benchmarks/eval/byol/seed0/knn_digits.tsv").is_file()
    # every protocol keeps its test predictions (kNN one score matrix per k); each reported value recomputes from them
    from independent_metrics import INDEPENDENT

    from byol_pkg.eval.predictions import load_predictions, predictions_path

    recomputed = set()
    results = sorted((work / "results/eval").glob("*/seed0/*/digits*.json"))
    for result in (r for r in results if r.parent.name != "features"):  # features/: the cache's index
        for rec in json.loads(result.read_text()):
            pred = load_predictions(predictions_path(result), rec.get("variant"))
            assert rec["value"] == pytest.approx(INDEPENDENT[rec["metric"]](pred.scores, pred.labels), abs=1e-9)
            recomputed.add((rec["protocol"], rec.get("variant", ""), rec["metric"]))
    assert {p for p, _, _ in recomputed} == {"knn", "linear", "semisup", "transfer_linear", "finetune"}
    assert ("knn", "k=5", "top1") in recomputed

    metrics = json.loads((work / "results/report/metrics.json").read_text())  # DVC's metrics file
    assert metrics["byol"]["knn:k=5"]["digits"]["top1"] > 0
    assert (work / "results/report/curves/loss/tiny_seed0.csv").is_file()  # DVC's plots
    html = _smk(work, config, "--report", str(work / "report.html"))
    assert html.returncode == 0, html.stderr[-3000:]
    page = (work / "report.html").read_text()
    for caption in ("Linear evaluation of the frozen encoder", "Pretraining curves against optimiser step",
                    "Transfer: linear evaluation (L2 logistic regression", "Transfer (Table 3 protocols)"):
        assert caption in page  # tables and plots, captioned from byol_pkg.report.captions

    again = _smk(work, config, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    config.write_text(TINY.replace("steps: 2, batch_size: 32", "steps: 3, batch_size: 32"))
    changed = _smk(work, config, "-n", "--quiet", "rules")
    assert _planned(changed) == {"transfer_finetune": 2, "report": 1, "all": 1}

    config.write_text(TINY.replace("data.max_samples: 192", "data.max_samples: 256"))
    changed = _smk(work, config, "-n", "--quiet", "rules")
    assert _planned(changed) == {"prepare_pretrain_data": 1, "pretrain": 1, "extract": 2,
                                 "knn": 2, "knn_epoch": 1, "linear": 4, "semisup": 2, "transfer_linear": 2,
                                 "transfer_finetune": 2, "report": 1, "all": 1}


ABLATION_TINY = """
data_root: data
seeds: [0, 1]
pretrain:
  tiny:
    config: demo
    set: {data.name: digits, data.num_workers: 0, data.max_samples: 128, optim.batch_size: 64, optim.epochs: 1,
          model.projector_hidden: 32, model.projector_out: 16, model.predictor_hidden: 32, target.base_tau: 0.99}
  tiny_simclr:
    config: demo
    set: {data.name: digits, data.num_workers: 0, data.max_samples: 128, optim.batch_size: 64, optim.epochs: 1,
          model.projector_hidden: 32, model.projector_out: 16, model.predictor_hidden: 32, method.name: simclr}
methods:
  byol: {pretrain: tiny}
  simclr: {pretrain: tiny_simclr}
evaluation:
  dataset: digits
  knn: {args: {k: [5]}}
ablations:
  tau:
    methods: [byol]
    protocols: [knn]
    variants:
      "0.99": {}
      "0": {target.base_tau: 0.0, target.schedule: constant}
"""


def test_baselines_and_an_ablation_run_through_the_workflow(tmp_path):
    """BYOL and SimCLR rows from their own runs, and a tau ablation (its 0.99 variant is BYOL's run itself, tau 0
    a new run) over 2 seeds, end to end with the real snakemake; the report renders the ablation table."""
    import pandas as pd

    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(ABLATION_TINY)
    res = _smk(work, config)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / "results/pretrain/tiny/tau/0/seed1/encoder.pt").is_file()
    assert not (work / "results/pretrain/tiny/tau/0.99").exists()  # the empty variant reuses the run
    simclr_cfg = (work / "results/pretrain/tiny_simclr/seed0/config.yaml").read_text()
    assert "name: simclr" in simclr_cfg and "target: online" in simclr_cfg
    records = pd.read_csv(work / "results/report/results.csv")
    assert set(records["method"]) == {"byol", "simclr", "byol/tau/0.99", "byol/tau/0"}
    table1 = pd.read_csv(work / "results/report/tables/knn.csv")
    assert not table1.astype(str).apply(lambda c: c.str.contains("tau")).any().any()  # no ablation rows there
    ablation = (work / "results/report/tables/ablation_tau.md").read_text()
    assert "(n=2)" in ablation and "72.5" in ablation  # two seeds; the paper's tau_base 0.99 value beside ours
    assert (work / "results/report/plots/ablation_tau.png").stat().st_size > 0
    assert "Ablations" in (work / "results/report/report.md").read_text()
