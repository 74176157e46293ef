"""The workflow used as a Snakemake module from another directory, as `snakedeploy deploy-workflow` sets it up: a
Snakefile with `module byol: snakefile: <repo>/workflow/Snakefile, config: config` and `use rule * from byol`, next
to a copy of config/. It plans the jobs the repository's own run plans, and every path the workflow gives relative
to its own files resolves from there: the config schema, the conda env, the report's captions (with their titles
from byol_pkg.report.captions) and the default profile. Real snakemake; dry runs, and one report over stand-in
result files."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from byol_pkg.report.captions import TABLE_TITLES

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflow" / "Snakefile"
PROFILE = ROOT / "workflow" / "profiles" / "default"

DEPLOYED = f"""\
configfile: "config/config.yaml"


module byol:
    snakefile:
        "{SNAKEFILE}"
    config:
        config


use rule * from byol
"""


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    if not exe.exists():
        exe = shutil.which("snakemake")
        if exe is None:
            pytest.fail("snakemake is not installed (pip install -e '.[workflow]')")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _deploy(where: Path, config: dict | None = None) -> Path:
    """A deployed workflow: the module Snakefile and config/config.yaml (the repository's, data_root in ``where``)."""
    if config is None:
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        config["data_root"] = str(where / "data")
    (where / "config").mkdir(parents=True)
    (where / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (where / "Snakefile").write_text(DEPLOYED)
    return where


def _jobs(output: str) -> tuple[dict[str, int], list[str]]:
    """The job-stats table and the sorted shell commands of a dry run."""
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", output.rsplit("Job stats:", 1)[-1], re.M)}
    return counts, sorted(re.findall(r"^Shell command: (.*)$", output, re.M))


def test_deployed_workflow_plans_the_repositorys_jobs(tmp_path):
    deployed = _deploy(tmp_path / "deployed")
    # Snakemake looks for a profiles/default/ next to the Snakefile it runs (here the deployment's own), so a
    # deployment names the workflow's profile
    module = _snakemake(deployed, "-n", "--forceall", "--workflow-profile", str(PROFILE))
    assert module.returncode == 0, module.stderr[-3000:]
    # the repository's own run of the same config finds its profile next to workflow/Snakefile by itself
    own = _snakemake(tmp_path, "-s", str(SNAKEFILE), "-d", str(tmp_path / "own"), "--configfile",
                     str(deployed / "config" / "config.yaml"), "-n", "--forceall")
    assert own.returncode == 0, own.stderr[-3000:]
    for res in (module, own):
        assert f"workflow specific profile {PROFILE}" in res.stdout + res.stderr
    module_counts, module_shells = _jobs(module.stdout)
    own_counts, own_shells = _jobs(own.stdout)
    assert module_counts == own_counts and module_counts["total"] == 31 and module_counts["pretrain"] == 1
    # printshellcmds comes from the profile (no -p here): the same command for every job (`all`: None)
    assert module_shells == own_shells and len(module_shells) == module_counts["total"]


def test_the_config_schema_validates_through_the_module(tmp_path):
    deployed = _deploy(tmp_path, {"pretrain": {"demo": {"config": "demo"}}})  # no methods
    res = _snakemake(deployed, "-n")
    assert res.returncode != 0
    assert "'methods' is a required property" in res.stdout + res.stderr


def test_the_conda_env_resolves_through_the_module(tmp_path):
    """Snakemake reads and hashes every rule's env file before it asks conda anything (where conda is missing, as
    on the test machines, `--containerize` fails only after that)."""
    deployed = _deploy(tmp_path)
    res = _snakemake(deployed, "--containerize")
    envs = re.findall(r"^Hashing conda environment (.+)\.$", res.stdout + res.stderr, re.M)
    assert envs, (res.stdout + res.stderr)[-3000:]
    assert {(deployed / env).resolve() for env in envs} == {ROOT / "workflow" / "envs" / "byol.yaml"}


def test_a_cuda_device_puts_every_job_in_the_cuda_env(tmp_path):
    """With `device: cuda` every job's env is workflow/envs/byol-cuda.yaml (conda-forge's pytorch-gpu), never the
    plain one that could solve to a CPU-only PyTorch."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["data_root"], config["device"] = str(tmp_path / "data"), "cuda"
    deployed = _deploy(tmp_path, config)
    res = _snakemake(deployed, "--containerize")
    envs = re.findall(r"^Hashing conda environment (.+)\.$", res.stdout + res.stderr, re.M)
    assert envs, (res.stdout + res.stderr)[-3000:]
    assert {(deployed / env).resolve() for env in envs} == {ROOT / "workflow" / "envs" / "byol-cuda.yaml"}


def test_the_report_captions_resolve_through_the_module(tmp_path):
    """`snakemake --report` of the deployed workflow over stand-in report files: the workflow's report.rst and a
    table's caption (workflow/report/table.rst, its title from byol_pkg.report.captions) are in the report."""
    deployed = _deploy(tmp_path)
    report = deployed / "results" / "report"
    for folder in ("tables", "plots", "curves"):
        (report / folder).mkdir(parents=True)
    for name in ("report.md", "results.md", "results.csv", "metrics.json", "tables/table1.csv"):
        (report / name).write_text("stand-in\n")
    res = _snakemake(deployed, "--report", str(deployed / "report.html"))
    assert res.returncode == 0, res.stderr[-3000:]
    html = (deployed / "report.html").read_text()
    assert "BYOL reproduction report" in html  # workflow/report/report.rst
    assert json.dumps(TABLE_TITLES["table1"])[1:-1] in html and "Also under" in html  # table.rst, rendered
