"""The workflow files are valid: config schema, dry-run DAG, lint and formatting (real snakemake/snakefmt)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    res = _run(_tool("snakemake"), "-n", "--forceall", "--quiet", "rules")  # whatever results/ holds
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pretrain" in res.stdout + res.stderr


def test_lint_and_format_clean():
    lint = _run(_tool("snakemake"), "--lint")
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    fmt = _run(_tool("snakefmt"), "--check", "Snakefile", "workflow/rules")
    assert fmt.returncode == 0, fmt.stderr[-2000:]


def test_config_schema_rejects_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  other_run:\n    set: {}\n")  # its config key is missing
    res = _run(_tool("snakemake"), "-n", "--configfile", str(bad))
    assert res.returncode != 0
    assert "other_run" in res.stdout + res.stderr and "required" in res.stdout + res.stderr
