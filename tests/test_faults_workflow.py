"""Issue 18, workflow part: never lose or fake a result.

* Everything checkable is checked when Snakemake reads the workflow: `snakemake -n` fails, with one line naming
  the config key and what it expects, on each config the real run would fail on, and the real run then fails
  before any job runs, so the finished result of a job it would rerun is never deleted.
* The README's command alone, `snakemake --cores all` in a checkout, loads the default profile and resumes after
  Snakemake itself was killed (SIGKILL) while a job ran: the stale locks are released and the job it left
  unfinished is rerun (the profile's rerun-incomplete), without `--unlock` or `--rerun-incomplete` by hand.

Real Snakemake in temporary directories, on tiny configs (digits, scikit-learn's bundled images).
"""

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")

BASE = yaml.safe_load("""
data_root: data
seeds: [0]
pretrain:
  tiny:
    config: demo
    set: {data.name: digits, data.num_workers: 0, data.max_samples: 64, optim.batch_size: 32, optim.epochs: 2,
          model.projector_hidden: 16, model.projector_out: 8, model.predictor_hidden: 16}
methods:
  byol: {pretrain: tiny}
  random-init: {pretrain: tiny, random_init: true}
evaluation:
  dataset: digits
  knn: {args: {k: [5], train_split: train}}
  knn_epochs: [0, 1, 2]
  linear: {cached: {args: {epochs: 2}}}
  semisup: {10pct: {args: {fraction: 0.1, lrs: [0.05], epochs: [1]}}}
  transfer:
    digits: {linear: {args: {metric: top1}}, finetune: {args: {lrs: [0.01], steps: 2}}}
ablations:
  tau:
    methods: [byol]
    protocols: [knn]
    variants: {"0.99": {}, "0": {target.base_tau: 0.0}}
""")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _snakemake(work: Path, config: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """The real snakemake on the repository's workflow, in ``work`` with ``config``."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [SNAKEMAKE, "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(work), "--configfile", str(config), *args]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=_env())


#: Every check, by a fault it catches: name -> (group, changes to BASE as "path", value pairs (a path "a|b.c" is
#: config["a"]["b.c"]), the config key its error line names, what that line says is expected). Faults of one group
#: touch different keys, so one `snakemake -n` of BASE with all of them shows that each is found, and that every
#: problem is reported at once, one line each.
FAULTS = {
    "protocol option": ("A", ("evaluation|knn|args", {"kk": 3}), "evaluation.knn.args.kk",
                        "`byol knn` has no option --kk; allowed args: image_size, k, temperature, test_split, "
                        "train_split"),
    "protocol value": ("A", ("evaluation|linear|cached|args", {"epochs": "two"}),
                       "evaluation.linear.cached.args.epochs", "invalid int value: 'two'"),
    "option the rule sets": ("A", ("evaluation|semisup|10pct|args", {"fraction": 0.1, "seed": 3}),
                             "evaluation.semisup.10pct.args.seed", "is set by the workflow (from seeds)"),
    "transfer option": ("A", ("evaluation|transfer|digits|finetune|args", {"lr": 0.1}),
                        "evaluation.transfer.digits.finetune.args.lr", "`byol finetune` has no option --lr"),
    "metric": ("A", ("evaluation|transfer|digits|linear|args", {"metric": "accuracy"}),
               "evaluation.transfer.digits.linear.args.metric", "allowed: top1, top5, mean_per_class, voc07_map"),
    "transfer dataset": ("A", ("evaluation|transfer|food-101", {"linear": {}}), "evaluation.transfer.food-101",
                         "unknown dataset 'food-101'; allowed: birdsnap"),
    "evaluation dataset": ("A", ("evaluation|dataset", "fashionmnist"), "evaluation.dataset",
                           "unknown dataset 'fashionmnist'; allowed: "),
    "epoch not kept": ("A", ("pretrain|tiny|set|train.checkpoint_every_epochs", 2, "evaluation|knn_epochs", [0, 1, 2, 3]),
                       "evaluation.knn_epochs", "epoch 1 of run 'tiny' has no kept checkpoint"),
    "epoch past the end": ("A", (), "evaluation.knn_epochs", "epoch 3 of run 'tiny' is past its end (optim.epochs 2)"),
    "run range": ("A", ("pretrain|r_range", {"config": "demo", "set": {"optim.base_lr": -0.5}}), "pretrain.r_range",
                  "config key 'optim.base_lr' must be > 0"),
    "run key": ("A", ("pretrain|r_key", {"config": "demo", "set": {"optim.lr": 0.5}}), "pretrain.r_key",
                "unknown config key 'optim.lr'"),
    "run preset": ("A", ("pretrain|r_preset", {"config": "dmeo"}), "pretrain.r_preset", "not a preset"),
    "run dataset": ("A", ("pretrain|r_data", {"config": "demo", "set": {"data.name": "food101"}}), "pretrain.r_data",
                    "config key 'data.name' must be one of"),
    "run seed": ("A", ("pretrain|r_seed", {"config": "demo", "set": {"seed": 1}}), "pretrain.r_seed.set.seed",
                 "the seed of a run comes from `seeds`"),
    "ablation variant": ("A", ("ablations|tau|variants|0", {"target.tau": 0.0}), "ablations.tau.variants.0",
                         "unknown config key 'target.tau'"),
    "method run": ("A", ("methods|other", {"pretrain": "tiny2"}), "methods.other.pretrain",
                   "no pretraining run 'tiny2'; configured runs: tiny"),
    "official backbone": ("A", ("methods|official", {"weights": "w.pkl", "backbone": "resnet18", "official": True}),
                          "methods.official.backbone", "the official checkpoint is one of resnet50, resnet101"),
    "external backbone": ("A", ("methods|external", {"weights": "w.pt", "backbone": "resnet5O"}),
                          "methods.external.backbone", "unknown backbone 'resnet5O'"),
    "device": ("A", ("device", "gpu"), "device", "'gpu' is no torch device; use cpu, cuda or cuda:<N>"),
    "exclusive options": ("B", ("evaluation|semisup|10pct|args", {"fraction": 0.1, "subset": "s.txt"}),
                          "evaluation.semisup.10pct.args", "argument --subset: not allowed with argument --fraction"),
    "split": ("B", ("evaluation|knn|args", {"train_split": "training"}), "evaluation.knn.args.train_split",
              "unknown split 'training' for dataset 'digits'"),
    "no epoch checkpoints": ("B", ("pretrain|tiny|set|train.checkpoint_every_epochs", 0, "evaluation|knn_epochs", [0, 2]),
                             "evaluation.knn_epochs", "epoch 0 of run 'tiny' has no kept checkpoint"),
}


def _group_config(group: str) -> dict:
    """BASE with every fault of ``group`` (none: BASE itself)."""
    config = copy.deepcopy(BASE)
    for fault_group, changes, _, _ in FAULTS.values():
        if fault_group != group:
            continue
        for path, value in zip(changes[::2], changes[1::2]):
            *parents, last = path.split("|")
            node = config
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
    return config


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """`snakemake -n` of BASE and of each group of faults, two at a time: group -> stdout + stderr, exit code."""
    def run(group):
        tmp = tmp_path_factory.mktemp(f"faults{group}")
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump(_group_config(group), sort_keys=False))
        res = _snakemake(tmp / "work", config, "-n", "--forceall", "--quiet", "rules")
        return res.stdout + res.stderr, res.returncode

    groups = ["valid", "A", "B"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(groups, pool.map(run, groups)))


def _error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("config: ")]


def test_the_valid_base_config_passes_every_check(dry_runs):
    out, code = dry_runs["valid"]
    assert code == 0, out[-3000:]
    assert not _error_lines(out) and "knn_epoch" in out and "transfer_finetune" in out


@pytest.mark.parametrize("group", ["A", "B"])
def test_every_problem_is_reported_at_once_one_line_each(dry_runs, group):
    out, code = dry_runs[group]
    assert code != 0
    assert "rule " not in out and "Job stats" not in out  # nothing planned, let alone run
    assert len(_error_lines(out)) == sum(g == group for g, *_ in FAULTS.values()), out[-5000:]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_dry_run_names_the_faulty_key(dry_runs, fault):
    """Each fault fails `snakemake -n` with one line naming its key and what is expected."""
    group, _, key, expected = FAULTS[fault]
    lines = [line for line in _error_lines(dry_runs[group][0])
             if line.startswith((f"config: {key}: ", f"config: {key} ("))]
    assert any(expected in line for line in lines), (key, expected, lines)


# ------------------------------------------------------------------------------- a finished result is never lost

KNN = {
    "data_root": "data",
    "pretrain": {"tiny": BASE["pretrain"]["tiny"]},
    "methods": {"byol": {"pretrain": "tiny"}},
    "evaluation": {"dataset": "digits", "knn": {"args": {"k": [5]}}},
}
KNN_RESULT = "results/eval/byol/seed0/knn/digits.json"
KNN_DAG = ["results/data/pretrain_tiny.json", "results/data/digits.json", "results/pretrain/tiny/seed0/encoder.pt",
           "results/pretrain/tiny/seed0/encoder.json", "results/pretrain/tiny/seed0/metrics.csv",
           "results/pretrain/tiny/seed0/summary.json", "results/eval/byol/seed0/features/digits.json", KNN_RESULT]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (relative to its parent): its bytes and modification time."""
    return {str(f.relative_to(folder.parent)): (f.read_bytes(), f.stat().st_mtime_ns)
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_a_bad_protocol_option_fails_before_the_finished_result_is_deleted(tmp_path):
    """The tester's case: a finished kNN result, then `evaluation.knn.args: {kk: 3}`. Snakemake's params trigger
    reruns the knn job for the changed args, and the real run used to delete the result before `byol knn`
    rejected --kk. Now the run fails before any job: the result keeps its bytes and its time stamp."""
    work, config = tmp_path / "work", tmp_path / "knn.yaml"
    config.write_text(yaml.safe_dump(KNN))
    for name in KNN_DAG:  # the finished outputs of every job up to the result, recorded by Snakemake (--touch)
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(f"finished {name}\n")
    touched = _snakemake(work, config, "--touch", "--forceall", "--cores", "1", KNN_RESULT)
    assert touched.returncode == 0, touched.stderr[-3000:]
    result = work / KNN_RESULT
    before = _snapshot(work / "results")
    assert before[KNN_RESULT] == (b"finished " + KNN_RESULT.encode() + b"\n", result.stat().st_mtime_ns)

    changed = copy.deepcopy(KNN)
    changed["evaluation"]["knn"]["args"] = {"k": [5, 7]}  # a valid change: the knn job is planned again
    config.write_text(yaml.safe_dump(changed))
    plan = _snakemake(work, config, "-n", KNN_RESULT)
    assert plan.returncode == 0 and re.search(r"^knn\s+1$", plan.stdout, re.M), plan.stdout + plan.stderr[-2000:]

    changed["evaluation"]["knn"]["args"] = {"kk": 3}
    config.write_text(yaml.safe_dump(changed))
    res = _snakemake(work, config, "--cores", "1", KNN_RESULT)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "config: evaluation.knn.args.kk: `byol knn` has no option --kk" in out
    assert not re.search(r"^(local)?rule \w+:", out, re.M)  # no job started
    assert _snapshot(work / "results") == before  # every file as it was: the result, its bytes and time stamp


# ------------------------------------------------------------------- the README's command alone, after a kill

#: The smallest real workflow: the two dataset checks run first, in parallel (about 10 s each on 2 cores).
KILL = {
    "data_root": "data",
    "pretrain": {"tiny": BASE["pretrain"]["tiny"]},
    "methods": {"byol": {"pretrain": "tiny"}},
    "evaluation": {"dataset": "digits", "knn": {"args": {"k": [5]}}},
}
PREPARED = ["results/data/digits.json", "results/data/pretrain_tiny.json"]


def _checkout(path: Path) -> Path:
    """A checkout of the workflow whose config/config.yaml is KILL: the README's commands run in it as they are."""
    shutil.copytree(ROOT / "workflow", path / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    (path / "config").mkdir()
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(KILL))
    return path


def _group_running(pgid: int) -> bool:
    """Whether a process of process group ``pgid`` still runs (zombies left aside)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _plain(checkout: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, "--cores", "all", *args], cwd=checkout, capture_output=True, text=True,
                          timeout=timeout, env=_env())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_plain_command_resumes_after_snakemake_was_killed(tmp_path):
    """`snakemake --cores all` in a checkout, SIGKILL to Snakemake while its jobs run: the jobs finish on their
    own, leaving Snakemake's locks and its incomplete-output marks. The same command then runs again as it is.
    The same state without the default profile fails on the incomplete files: the profile is what reruns them."""
    checkout = _checkout(tmp_path / "checkout")
    proc = subprocess.Popen([SNAKEMAKE, "--cores", "all"], cwd=checkout, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marks = checkout / ".snakemake" / "incomplete"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not any(marks.glob("*")):
        time.sleep(0.05)
    time.sleep(0.5)  # the other dataset check starts beside the first (2 cores)
    os.kill(proc.pid, signal.SIGKILL)  # Snakemake only: its jobs run on
    proc.wait()
    while time.time() < deadline and _group_running(proc.pid):
        time.sleep(0.2)
    assert not _group_running(proc.pid)
    marked = len(list(marks.glob("*")))  # what Snakemake left behind: its marks of unfinished jobs, its locks
    assert marked >= 1 and list((checkout / ".snakemake" / "locks").glob("*.lock"))
    assert sum((checkout / name).is_file() for name in PREPARED) >= marked  # the jobs finished on their own

    control = shutil.copytree(checkout, tmp_path / "control", symlinks=True)
    without = _plain(control, "--workflow-profile", "none", *PREPARED)
    assert without.returncode != 0 and "Incomplete files" in without.stderr, without.stderr[-2000:]

    res = _plain(checkout, *PREPARED)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "Using workflow specific profile workflow/profiles/default" in out
    assert f"Released the locks of snakemake process(es) {proc.pid}" in out
    assert "byol prepare --dataset digits" in out  # the profile's printshellcmds
    assert out.count("Finished jobid") == len(PREPARED)  # both jobs rerun
    assert not list(marks.glob("*")) and not list((checkout / ".snakemake" / "locks").glob("*.lock"))
    assert not list((checkout / ".snakemake" / "lock_owners").glob("*"))
