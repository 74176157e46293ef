"""The execution profiles (workflow/profiles/{default,slurm,cluster-generic}) ask the scheduler for what the jobs
need: the real snakemake on the real configs, dry-run job listings, the sbatch calls the real SLURM plugin makes
(a stand-in `sbatch` records them), the qsub calls of the cluster-generic submit script, and real jobs run
through a stand-in PBS (qsub runs the job script, qstat reports its state)."""

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "workflow" / "profiles"
GENERIC = PROFILES / "cluster-generic"
EVAL_RULES = {"extract", "knn", "linear", "semisup", "transfer_linear", "transfer_finetune"}
CONFIGS = {name: ROOT / "config" / f"{name}.yaml" for name in ("imagenet", "cifar10", "config")}


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[workflow]')")
    return found


def _env(extra_path: Path | None = None, **values: str) -> dict[str, str]:
    """The test's environment without the caller's scheduler settings (SLURM_*, SBATCH_*, BYOL_PBS_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "BYOL_PBS_")) and k != "SNAKEMAKE_PROFILE"}
    path = [str(extra_path)] if extra_path else []
    env["PATH"] = os.pathsep.join([*path, str(Path(sys.executable).parent), env["PATH"]])
    env["OMP_NUM_THREADS"] = "1"
    return {**env, **values}


def _smk(workdir: Path, profile: str, config: Path, *args: str, env: dict | None = None,
         timeout: int = 120) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    # an external encoder the user downloads (imagenet: Supervised-IN) as an empty stand-in in the workdir
    for method in yaml.safe_load(config.read_text()).get("methods", {}).values():
        if not Path(method.get("weights", "/")).is_absolute():
            weights = workdir / method["weights"]
            weights.parent.mkdir(parents=True, exist_ok=True)
            weights.touch()
    # the default profile is not named: Snakemake must find it next to workflow/Snakefile by itself
    chosen = [] if profile == "default" else ["--workflow-profile", str(PROFILES / profile)]
    cmd = [_tool("snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), *chosen, *args]
    res = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env or _env())
    assert f"workflow specific profile {PROFILES / profile} " in res.stderr, res.stderr[-2000:]
    return res


JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)(?:Shell command: (.*))?", re.M)


def _jobs(text: str) -> list[dict]:
    """The job listing Snakemake prints: rule, wildcards, threads, input, output, resources and shell command."""
    jobs = []
    for rule, body, shell in JOB.findall(text):
        fields = dict(line.strip().split(": ", 1) for line in body.splitlines() if ": " in line)
        resources = {}
        for item in fields.get("resources", "").split(", "):
            key, _, value = item.partition("=")
            if key:
                resources[key] = int(value) if value.lstrip("-").isdigit() else value
        wildcards = dict(item.split("=", 1) for item in fields.get("wildcards", "").split(", ") if "=" in item)
        jobs.append({"rule": rule, "wildcards": wildcards, "threads": int(fields.get("threads", 1)),
                     "input": [f for f in fields.get("input", "").split(", ") if f],
                     "output": [f for f in fields.get("output", "").split(", ") if f],
                     "resources": resources, "shell": shell})
    return jobs


def _profile(name: str) -> dict:
    """A profile as plain YAML (its YTE expressions are strings to yaml)."""
    return yaml.safe_load((PROFILES / name / "config.v8+.yaml").read_text())


# ------------------------------------------------------------------------------------------ dry runs, all profiles

DRY_RUNS = {
    # (profile, config, extra args)
    ("default", "imagenet", "gpu=8"): ("--resources", "gpu=8"),
    ("default", "imagenet", ""): (),
    ("default", "cifar10", ""): (),
    ("default", "config", ""): (),
    ("slurm", "imagenet", ""): (),
    ("slurm", "cifar10", ""): (),
    # docs/cluster.md: a command-line --set-resources replaces the profile's whole set-resources block
    ("slurm", "imagenet", "partial"): ("--set-resources", "transfer_finetune:runtime=4320"),
    ("slurm", "imagenet", "full"): ("--set-resources", "pretrain:cpus_per_gpu=10", "pretrain:mem_mb_per_cpu=4000",
                                    "pretrain:nodes=1", "pretrain:runtime=4320", "transfer_finetune:runtime=4320",
                                    'linear:slurm_partition="gpu-long"'),
    ("cluster-generic", "imagenet", ""): (),
    ("cluster-generic", "cifar10", ""): (),
}


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Every dry run above, two at a time (each is a separate snakemake process)."""
    def run(key):
        profile, config, tag = key
        work = tmp_path_factory.mktemp(f"dry-{profile}-{config}{tag.replace('=', '')}")
        res = _smk(work, profile, CONFIGS[config], "-n", "-p", *DRY_RUNS[key])
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        return res.stdout + res.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(DRY_RUNS, pool.map(run, DRY_RUNS)))


def _job(jobs: list[dict], rule: str, **wildcards: str) -> dict:
    (job,) = [j for j in jobs if j["rule"] == rule and all(j["wildcards"].get(k) == v for k, v in wildcards.items())]
    return job


def _pretrain(jobs: list[dict], run: str | None = None) -> dict:
    """The pretraining job of ``run`` (the only one when None)."""
    return _job(jobs, "pretrain", **({"run": run} if run else {}))


#: The pretraining run each config's tests look at (imagenet also pretrains SimCLR, `imagenet_simclr`, alike).
RUN = {"imagenet": "imagenet", "cifar10": None, "config": None}


PRETRAIN = {  # config -> the pretraining job's gpu resource and command
    "imagenet": (8, "torchrun --standalone --nproc_per_node 8 -m byol_pkg pretrain "),
    "cifar10": (1, "byol pretrain "),
    "config": (0, "byol pretrain "),
}


def _command(shell: str) -> str:
    """The job's command after the cores it was granted (``BYOL_JOB_CORES=<threads> ``, see byol_pkg.runtime)."""
    assert re.match(r"BYOL_JOB_CORES=\d+ ", shell), shell
    return re.sub(r"^BYOL_JOB_CORES=\d+ ", "", shell)


@pytest.mark.parametrize("profile, config", [("default", "imagenet"), ("default", "cifar10"), ("default", "config"),
                                             ("slurm", "imagenet"), ("slurm", "cifar10"),
                                             ("cluster-generic", "imagenet"), ("cluster-generic", "cifar10")])
def test_dry_run_asks_for_the_configured_gpus(dry_runs, profile, config):
    gpus, launcher = PRETRAIN[config]
    tag = "gpu=8" if (profile, config) == ("default", "imagenet") else ""  # locally: --resources gpu=8
    jobs = _jobs(dry_runs[(profile, config, tag)])
    pretrains = [j for j in jobs if j["rule"] == "pretrain"]
    assert len(pretrains) == (2 if config == "imagenet" else 1)  # imagenet: BYOL and SimCLR (repro), alike
    for pretrain in pretrains:
        assert pretrain["resources"]["gpu"] == gpus
        assert _command(pretrain["shell"]).startswith(launcher)
    device = yaml.safe_load(CONFIGS[config].read_text()).get("device", "cpu")
    evals = [j for j in jobs if "--device " in j["shell"]]  # every evaluation job runs on the config's device
    # the default demo has no fine-tuned transfer (config/config.yaml says why)
    assert {j["rule"] for j in evals} >= EVAL_RULES - ({"transfer_finetune"} if config == "config" else set())
    assert all(f"--device {device} " in j["shell"] for j in evals)
    assert {j["resources"]["gpu"] for j in evals} == {1 if device == "cuda" else 0}


def test_the_local_gpu_limit_scales_a_bigger_job_down(dry_runs):
    """The default profile's `resources: gpu: 1` caps every job at 1 GPU (Snakemake scales a job's request down to
    the global limit), hence `--resources gpu=8` for the 8-GPU run and workflow profiles for clusters."""
    assert _profile("default")["resources"]["gpu"] == 1
    pretrain = _pretrain(_jobs(dry_runs[("default", "imagenet", "")]), "imagenet")
    assert pretrain["resources"]["gpu"] == 1
    assert _command(pretrain["shell"]).startswith("torchrun --standalone --nproc_per_node 8 ")


@pytest.mark.parametrize("profile", ["slurm", "cluster-generic"])
@pytest.mark.parametrize("config", ["imagenet", "cifar10"])
def test_cluster_profiles_size_pretraining_per_gpu(dry_runs, profile, config):
    pretrain = _pretrain(_jobs(dry_runs[(profile, config, "")]), RUN[config])
    wanted = _profile(profile)["set-resources"]["pretrain"]
    for key in ("cpus_per_gpu", "mem_mb_per_cpu", "runtime"):
        assert pretrain["resources"][key] == wanted[key]
    if profile == "slurm":
        assert pretrain["resources"]["nodes"] == 1
    # a task count on a GPU job becomes --ntasks-per-gpu in the SLURM plugin: N tasks, torchrun started N times
    assert not {"tasks", "tasks_per_gpu", "tasks_per_node", "mpi"} & set(pretrain["resources"])


def test_command_line_set_resources_replace_the_profile_block(dry_runs):
    partial = _pretrain(_jobs(dry_runs[("slurm", "imagenet", "partial")]), "imagenet")["resources"]
    assert not {"cpus_per_gpu", "mem_mb_per_cpu"} & set(partial)  # hence: repeat pretrain's entries
    assert partial["nodes"] == 1  # declared by the rule itself: torchrun --standalone needs one node
    jobs = _jobs(dry_runs[("slurm", "imagenet", "full")])
    full = _pretrain(jobs, "imagenet")["resources"]
    assert (full["gpu"], full["cpus_per_gpu"], full["nodes"], full["runtime"]) == (8, 10, 1, 4320)
    assert {j["resources"]["runtime"] for j in jobs if j["rule"] == "transfer_finetune"} == {4320}
    assert {j["resources"].get("slurm_partition") for j in jobs if j["rule"] == "linear"} == {"gpu-long"}


def test_slurm_profile_takes_partition_and_account_only_when_given(dry_runs):
    jobs = _jobs(dry_runs[("slurm", "imagenet", "")])  # run without SBATCH_PARTITION / SBATCH_ACCOUNT
    assert not any({"slurm_partition", "slurm_account"} & set(j["resources"]) for j in jobs)


def test_every_job_has_the_resources_the_generic_submit_command_uses(dry_runs):
    command = _profile("cluster-generic")["cluster-generic-submit-cmd"]
    used = set(re.findall(r"\{resources\.(\w+)\}", command))
    assert {"gpu", "mem_mb", "runtime"} <= used
    jobs = [j for j in _jobs(dry_runs[("cluster-generic", "imagenet", "")]) if j["rule"] != "all"]
    assert {j["rule"] for j in jobs} >= {"pretrain", "report"} | EVAL_RULES
    for job in jobs:
        assert used <= set(job["resources"]), job["rule"]


# --------------------------------------------------------------------- SLURM: the sbatch calls of the real plugin

def _write_script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


@pytest.fixture
def fake_slurm(tmp_path):
    """A `sbatch` that records its arguments and refuses the job (so snakemake stops right after submitting), and
    a `sacctmgr` that knows the test account (the plugin validates it)."""
    bin_dir = tmp_path / "fake-slurm"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.jsonl"
    _write_script(bin_dir / "sbatch", "import json, os, sys\n"
                  "with open(os.environ['FAKE_SBATCH_LOG'], 'a') as f:\n"
                  "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                  "sys.exit('sbatch: error: test stand-in, nothing submitted')\n")
    _write_script(bin_dir / "sacctmgr", "print('  lab-test')\n")
    env = _env(bin_dir, FAKE_SBATCH_LOG=str(log), SBATCH_PARTITION="gpu-test", SBATCH_ACCOUNT="lab-test")

    def submit(config: str, jobs: list[dict]) -> list[list[str]]:
        """Submit exactly `jobs` (from a dry-run listing): their inputs exist, their outputs are the targets."""
        work = tmp_path / "work"
        for path in {f for job in jobs for f in job["input"]}:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text("")
        targets = [job["output"][0] for job in jobs]
        res = _smk(work, "slurm", CONFIGS[config], "--retries", "0", "--slurm-init-seconds-before-status-checks",
                   "1", *targets, env=env)
        assert res.returncode != 0 and "test stand-in, nothing submitted" in res.stdout + res.stderr, \
            (res.stdout + res.stderr)[-3000:]
        return [json.loads(line) for line in log.read_text().splitlines()]

    return submit


def _option(call: list[str], name: str) -> str | None:
    """The value of `--name=value`, `--name value` or `-n value` in an sbatch argument list."""
    for i, arg in enumerate(call):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name:
            return call[i + 1]
    return None


def test_sbatch_for_the_8_gpu_imagenet_pretraining(fake_slurm, dry_runs):
    (call,) = fake_slurm("imagenet", [_pretrain(_jobs(dry_runs[("slurm", "imagenet", "")]), "imagenet")])
    wanted = _profile("slurm")["set-resources"]["pretrain"]
    assert _option(call, "--gpus") == "8"
    assert _option(call, "--nodes") == "1"
    assert _option(call, "--cpus-per-gpu") == str(wanted["cpus_per_gpu"])
    assert _option(call, "--mem-per-cpu") == str(wanted["mem_mb_per_cpu"])
    assert _option(call, "-t") == str(wanted["runtime"])
    assert _option(call, "-p") == "gpu-test" and _option(call, "-A") == "lab-test"
    # one task holding the 8 GPUs: no task count at all, no second CPU or memory flag, no gres
    assert not any(arg.startswith(("--ntasks", "-n")) for arg in call)
    assert not {"--mem", "--cpus-per-task", "--gres"} & {a.split("=")[0] for a in call}
    wrap = _option(call, "--wrap")
    assert "--target-jobs 'pretrain:run=imagenet,seed=0'" in wrap and "--executor slurm-jobstep" in wrap
    assert "--requeue" in call  # slurm-requeue: a preempted job goes back to the queue and resumes


def test_sbatch_for_the_1_gpu_cifar10_pretraining(fake_slurm, dry_runs):
    (call,) = fake_slurm("cifar10", [_pretrain(_jobs(dry_runs[("slurm", "cifar10", "")]))])
    assert _option(call, "--gpus") == "1" and _option(call, "--nodes") == "1"
    assert _option(call, "--cpus-per-gpu") == str(_profile("slurm")["set-resources"]["pretrain"]["cpus_per_gpu"])
    assert _option(call, "--ntasks") is None


@pytest.mark.parametrize("dry_run, gpus", [(("slurm", "imagenet", ""), "1"), (("default", "config", ""), None)])
def test_sbatch_for_evaluation_jobs(fake_slurm, dry_runs, dry_run, gpus):
    listing = _jobs(dry_runs[dry_run])
    config = yaml.safe_load(CONFIGS[dry_run[1]].read_text())
    dataset = config["evaluation"]["dataset"]
    threads = str(1 + config.get("num_workers", 0))  # the job's process plus its data-loading workers
    jobs = [_job(listing, "extract", method="byol", dataset=dataset),
            _job(listing, "semisup", method="byol", subset="10pct")]
    calls = fake_slurm(dry_run[1], jobs)
    assert sorted(_option(c, "--comment").split("_wildcards_")[0] for c in calls) == ["rule_extract", "rule_semisup"]
    for call in calls:
        assert _option(call, "--gpus") == gpus  # 1 GPU with device cuda, none on the CPU config
        assert _option(call, "--cpus-per-task") == threads and _option(call, "--mem") is not None
        assert _option(call, "--ntasks") == (None if gpus else "1")  # a CPU job: --ntasks=1; a GPU job: none


# ---------------------------------------------------------------- cluster-generic: submit.sh, status.sh, a real run

FAKE_QSUB = """import json, os, subprocess, sys
d = os.environ['FAKE_PBS_DIR']
args = sys.argv[1:]
with open(os.path.join(d, 'qsub.jsonl'), 'a') as f:
    f.write(json.dumps(args) + '\\n')
if os.environ.get('FAKE_PBS_RUN') != '1':
    sys.exit('qsub: test stand-in refuses the job')
jobid = '%d.fakepbs' % len(open(os.path.join(d, 'qsub.jsonl')).readlines())
out = args[args.index('-o') + 1]
subprocess.Popen(['bash', '-c', 'bash "$1" > "$2" 2>&1; echo $? > "$3.tmp" && mv "$3.tmp" "$3"', 'job', args[-1],
                  out, os.path.join(d, jobid + '.exit')], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
print(jobid)
"""
FAKE_QSTAT = """import os, sys
d = os.environ['FAKE_PBS_DIR']
jobid = sys.argv[-1]
with open(os.path.join(d, 'qstat.log'), 'a') as f:
    f.write(' '.join(sys.argv[1:]) + '\\n')
if jobid == 'gone.fakepbs':
    sys.exit('qstat: Unknown Job Id ' + jobid)
print('Job Id: ' + jobid)
exit_file = os.path.join(d, jobid + '.exit')
if os.path.exists(exit_file):
    print('    job_state = F')
    print('    Exit_status = ' + open(exit_file).read().strip())
else:
    print('    job_state = R')
"""


@pytest.fixture
def fake_pbs(tmp_path):
    bin_dir = tmp_path / "fake-pbs"
    bin_dir.mkdir()
    _write_script(bin_dir / "qsub", FAKE_QSUB)
    _write_script(bin_dir / "qstat", FAKE_QSTAT)
    state = tmp_path / "pbs"
    state.mkdir()
    return bin_dir, state


def _qsub_calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "qsub.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("args, select, walltime", [
    (["--threads", "8", "--gpus", "8", "--cpus-per-gpu", "10", "--mem-mb", "8000", "--mem-mb-per-cpu", "4000",
      "--runtime", "2880"], "select=1:ncpus=80:mem=320000mb:ngpus=8", "walltime=48:00:00"),
    (["--threads", "1", "--gpus", "1", "--cpus-per-gpu", "0", "--mem-mb", "8000", "--mem-mb-per-cpu", "0",
      "--runtime", "90"], "select=1:ncpus=1:mem=8000mb:ngpus=1", "walltime=1:30:00"),
    (["--threads", "2", "--gpus", "0", "--cpus-per-gpu", "10", "--mem-mb", "2000", "--mem-mb-per-cpu", "0",
      "--runtime", "10"], "select=1:ncpus=2:mem=2000mb", "walltime=0:10:00"),
])
def test_submit_script_builds_one_pbs_chunk(fake_pbs, tmp_path, args, select, walltime):
    bin_dir, state = fake_pbs
    env = _env(bin_dir, FAKE_PBS_DIR=str(state), BYOL_PBS_QUEUE="gpu-test")
    res = subprocess.run([str(GENERIC / "submit.sh"), "--name", "byol.x", *args, "--log", "logs/x.log", "job.sh"],
                         cwd=tmp_path, capture_output=True, text=True, env=env)
    assert res.returncode != 0 and "refuses" in res.stderr  # the stand-in qsub refuses; its arguments are kept
    (call,) = _qsub_calls(state)
    assert call == ["-N", "byol.x", "-l", select, "-l", walltime, "-V", "-j", "oe", "-o", str(tmp_path / "logs/x.log"),
                    "-q", "gpu-test", "job.sh"]
    assert (tmp_path / "logs").is_dir()


@pytest.mark.parametrize("jobid, exit_code, status", [("1.fakepbs", None, "running"), ("1.fakepbs", "0", "success"),
                                                      ("1.fakepbs", "1", "failed"), ("gone.fakepbs", None, "failed")])
def test_status_script_maps_pbs_states(fake_pbs, jobid, exit_code, status):
    bin_dir, state = fake_pbs
    if exit_code is not None:
        (state / f"{jobid}.exit").write_text(exit_code + "\n")
    res = subprocess.run([str(GENERIC / "status.sh"), jobid], capture_output=True, text=True,
                         env=_env(bin_dir, FAKE_PBS_DIR=str(state)))
    assert res.returncode == 0 and res.stdout == status + "\n"


def test_qsub_for_the_8_gpu_imagenet_pretraining(fake_pbs, dry_runs, tmp_path):
    bin_dir, state = fake_pbs
    pretrain = _pretrain(_jobs(dry_runs[("cluster-generic", "imagenet", "")]), "imagenet")
    work = tmp_path / "work"
    for path in pretrain["input"]:  # only the pretraining job is submitted
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text("")
    res = _smk(work, "cluster-generic", CONFIGS["imagenet"], "--retries", "0", "--seconds-between-status-checks", "1",
               pretrain["output"][0], env=_env(bin_dir, FAKE_PBS_DIR=str(state)))
    assert res.returncode != 0 and "refuses the job" in res.stdout + res.stderr
    (call,) = _qsub_calls(state)
    wanted = _profile("cluster-generic")["set-resources"]["pretrain"]  # 10 CPUs per GPU, 4000 MB per CPU, 48 h
    cpus = 8 * wanted["cpus_per_gpu"]
    select = f"select=1:ncpus={cpus}:mem={cpus * wanted['mem_mb_per_cpu']}mb:ngpus=8"
    hours, minutes = divmod(wanted["runtime"], 60)
    walltime = f"walltime={hours}:{minutes:02d}:00"
    assert call[:9] == ["-N", "byol.pretrain", "-l", select, "-l", walltime, "-V", "-j", "oe"]
    assert re.fullmatch(re.escape(str(tmp_path / "work/results/logs/cluster/pretrain.")) + r"\d+\.log", call[10])
    assert call[-1].endswith(".sh") and len(call) == 12  # no queue / account: the server's defaults


TINY = """
data_root: data
seeds: [0]
pretrain:
  tiny:
    config: demo
    set: {data.name: digits, data.num_workers: 0, optim.batch_size: 16, optim.epochs: 1, train.max_steps: 1,
          model.projector_hidden: 16, model.projector_out: 8, model.predictor_hidden: 16}
methods:
  byol: {pretrain: tiny}
evaluation:
  dataset: digits
  knn: {args: {k: [5]}}
  linear: {}
  semisup: {}
  transfer: {}
"""


def test_real_jobs_run_through_the_generic_profile(fake_pbs, tmp_path):
    """A real (CPU, one-step) pretraining and the jobs it needs: submit.sh -> qsub -> the job script's snakemake ->
    byol, each polled with status.sh -> qstat until it reports success, in dependency order."""
    bin_dir, state = fake_pbs
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    work = tmp_path / "work"
    res = _smk(work, "cluster-generic", config, "--seconds-between-status-checks", "1",
               "results/pretrain/tiny/seed0/encoder.pt", env=_env(bin_dir, FAKE_PBS_DIR=str(state), FAKE_PBS_RUN="1"))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert (work / "results/pretrain/tiny/seed0/encoder.pt").stat().st_size > 0
    jobs = _jobs(res.stdout + res.stderr)
    calls = _qsub_calls(state)
    assert [call[1] for call in calls] == [f"byol.{job['rule']}" for job in jobs if job["rule"] != "all"]
    assert calls[-1][1] == "byol.pretrain"  # submitted once its inputs were made by the jobs before it
    threads = _pretrain(jobs)["threads"]  # no GPU: CPUs = the rule's threads
    per_cpu = _profile("cluster-generic")["set-resources"]["pretrain"]["mem_mb_per_cpu"]
    assert calls[-1][3] == f"select=1:ncpus={threads}:mem={threads * per_cpu}mb"
    assert all(Path(call[10]).is_file() for call in calls)  # the scheduler's job logs (the job scripts' output)
    polled = (state / "qstat.log").read_text()
    assert all(f"{i}.fakepbs" in polled for i in range(1, len(calls) + 1))
