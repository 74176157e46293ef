"""Install metadata: pyproject.toml, environment.yml and the workflow conda envs agree (conda-forge, not the
retired `pytorch` channel); entry points work; the licence, citation and workflow-catalog files say what the
project is."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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
    extras = project["optional-dependencies"]
    pip_specs = project["dependencies"] + extras["workflow"] + extras["tracking"] + extras["test"]
    assert _conda_specs(ROOT / "environment.yml") == _expected(pip_specs)
    pip_section = [d for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
                   if isinstance(d, dict)]
    assert pip_section == [{"pip": ["--no-deps -e ."]}]


def test_workflow_env_matches_runtime_dependencies():
    """The rules' env: the runtime dependencies and the tracking extra (a job must log when the config says so)."""
    project = _pyproject()
    assert _conda_specs(ROOT / "workflow/envs/byol.yaml") == _expected(
        project["dependencies"] + project["optional-dependencies"]["tracking"])


def test_setup_installs_the_extras_the_tests_need():
    setup = (ROOT / "scripts/setup.sh").read_text()
    extras = re.search(r'pip install -q -e "\.\[([\w,]+)\]"', setup).group(1).split(",")
    assert {"workflow", "tracking", "test"} <= set(extras) <= set(_pyproject()["optional-dependencies"])


def test_cuda_env_is_the_cpu_env_plus_pytorch_gpu_at_the_same_pin():
    cpu = _conda_specs(ROOT / "workflow/envs/byol.yaml")
    cuda = _conda_specs(ROOT / "workflow/envs/byol-cuda.yaml")
    assert cuda.pop("pytorch-gpu") == cpu["pytorch"].replace("pytorch", "pytorch-gpu", 1)
    assert cuda == cpu
    python = {path: [d for d in yaml.safe_load((ROOT / path).read_text())["dependencies"]
                     if isinstance(d, str) and _name(d) == "python"]
              for path in ("environment.yml", "workflow/envs/byol.yaml", "workflow/envs/byol-cuda.yaml")}
    assert len(set(map(tuple, python.values()))) == 1, python  # one Python for the user's env and the rules'


@pytest.mark.parametrize("path", ["environment.yml", "workflow/envs/byol.yaml", "workflow/envs/byol-cuda.yaml"])
def test_conda_envs_take_pytorch_from_conda_forge(path):
    """PyTorch's own `pytorch` channel (and `nvidia` beside it) stopped publishing after PyTorch 2.5: every env
    solves from conda-forge first, without the `defaults` channel; only the user's env needs bioconda (Snakemake's
    executor plugins, snakefmt)."""
    env = yaml.safe_load((ROOT / path).read_text())
    channels = env["channels"]
    assert channels[0] == "conda-forge" and "nodefaults" in channels
    assert not {"pytorch", "nvidia", "defaults", "anaconda"} & set(channels)
    assert set(channels) <= ({"conda-forge", "bioconda", "nodefaults"} if path == "environment.yml"
                             else {"conda-forge", "nodefaults"})
    python = next(d for d in env["dependencies"] if isinstance(d, str) and _name(d) == "python")
    minimum = re.search(r">=\s*([\d.]+)", _pyproject()["requires-python"]).group(1)
    version = re.search(r"([\d.]+)", python).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split("."))), (python, minimum)


@pytest.mark.parametrize("env", ["byol", "byol-cuda"])
def test_each_rule_env_installs_the_package_after_it_is_built(env):
    """Snakemake runs `<env>.post-deploy.sh` beside an env file once it is created (and blanks PYTHONPATH in
    conda jobs), so each env has one that pip-installs this repository without touching its dependencies."""
    script = ROOT / f"workflow/envs/{env}.post-deploy.sh"
    assert script.is_file() and script.stat().st_mode & 0o111, f"{script} missing or not executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") and 'pip install --no-deps -e "$(dirname "$0")/../.."' in text
    assert (script.parent / "../..").resolve() == ROOT


def test_license_file_is_the_apache_2_text_pyproject_declares():
    assert _pyproject()["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text and "END OF TERMS AND CONDITIONS" in text


def test_citation_file_cites_the_project_and_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert {"message", "title", "authors"} <= set(cff)
    assert cff["version"] == _pyproject()["version"] and cff["license"] == _pyproject()["license"]
    assert all("name" in a or {"family-names", "given-names"} <= set(a) for a in cff["authors"])
    (paper,) = [r for r in cff["references"] if "Bootstrap Your Own Latent" in r["title"]]
    assert paper["type"] == "conference-paper" and paper["year"] == 2020
    assert "arXiv:2006.07733" in [i["value"] for i in paper["identifiers"]]
    families = [a["family-names"] for a in paper["authors"]]
    assert len(families) == 14 and families[:5] == ["Grill", "Strub", "Altché", "Tallec", "Richemond"]
    assert families[-1] == "Valko"


def test_workflow_catalog_file_describes_the_standardized_usage():
    """The Snakemake workflow catalog lists a workflow under "standardized usage" when it has workflow/Snakefile,
    config/README.md and a .snakemake-workflow-catalog.yml whose flags Snakemake accepts."""
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    stack = usage["software-stack-deployment"]
    assert stack["conda"] is True and isinstance(stack["report"], bool)
    assert set(stack) <= {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda", "report"}
    assert (ROOT / "workflow/Snakefile").is_file() and (ROOT / "config/README.md").is_file()
    flags = usage["mandatory-flags"]["flags"]
    assert usage["mandatory-flags"]["desc"]
    help_text = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--help"], capture_output=True,
                               text=True, check=True).stdout
    for flag in re.findall(r"--[\w-]+", flags):
        assert flag in help_text, flag


def test_readme_shows_both_ways_to_ask_for_conda():
    readme = (ROOT / "README.md").read_text()
    assert "snakemake --cores all --use-conda" in readme
    assert "snakemake --cores all --software-deployment-method conda" in readme


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
                 "dvc.yaml", "environment.yml", ".ci/run", "README.md", "LICENSE", "CITATION.cff",
                 ".snakemake-workflow-catalog.yml"):
        assert (ROOT / path).exists(), path
