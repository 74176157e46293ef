"""Install metadata: pyproject.toml, environment.yml and the workflow conda env agree; entry points work."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# pip name -> conda name where they differ
CONDA_NAMES = {"torch": "pytorch"}
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-cluster-generic",
                 "pygments", "snakefmt", "dvc"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].strip().lower()


def _spec(spec: str) -> str:
    return spec.replace(" ", "").lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_specs(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return {_name(d): _spec(d) for d in deps if isinstance(d, str) and _name(d) not in ("python", "pip")}


def _expected(pip_specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in pip_specs:
        name = _name(spec)
        conda = CONDA_NAMES.get(name, name)
        out[conda] = _spec(spec).replace(name, conda, 1)
    return out


def test_environment_yml_matches_pyproject():
    project = _pyproject()
    pip_specs = project["dependencies"] + project["optional-dependencies"]["workflow"] + \
        project["optional-dependencies"]["test"]
    assert _conda_specs(ROOT / "environment.yml") == _expected(pip_specs)
    pip_section = [d for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
                   if isinstance(d, dict)]
    assert pip_section == [{"pip": ["--no-deps -e ."]}]


def test_workflow_env_matches_runtime_dependencies():
    assert _conda_specs(ROOT / "workflow/envs/byol.yaml") == _expected(_pyproject()["dependencies"])


def test_console_script_and_module_entry():
    assert _pyproject()["scripts"]["byol"] == "byol_pkg.cli:main"
    out = subprocess.run([sys.executable, "-m", "byol_pkg", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("byol-bench ")
    exe = Path(sys.executable).with_name("byol")
    assert exe.exists(), "the byol console script is not installed (pip install -e .)"
    help_text = subprocess.run([str(exe), "pretrain", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--config" in help_text and "--set" in help_text and "--out" in help_text


def test_top_level_layout():
    for path in ("workflow/Snakefile", "workflow/rules", "workflow/envs", "byol_pkg", "config/config.yaml", "tests",
                 "dvc.yaml", "environment.yml", ".ci/run", "README.md"):
        assert (ROOT / path).exists(), path
