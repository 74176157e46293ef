"""CPU threads of every command: a workflow job's granted cores (Snakemake ``threads``) are split between the
busy data workers and the compute threads, never oversubscribed."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from byol_pkg.runtime import JOB_CORES_ENV, configure_cpu_threads

ROOT = Path(__file__).resolve().parents[1]


def test_job_cores_leave_room_for_the_busy_workers(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # as Snakemake sets it: the job's whole thread count
        monkeypatch.setenv(JOB_CORES_ENV, "2")
        assert configure_cpu_threads(None, data_workers=1) == 1 == torch.get_num_threads()
        assert configure_cpu_threads(None, data_workers=0) == 2
        assert configure_cpu_threads(None, data_workers=4) == 1  # at least one
        monkeypatch.setenv(JOB_CORES_ENV, "16")
        assert configure_cpu_threads(None, data_workers=2, processes=2) == 6  # per process: 8 - 2
        assert configure_cpu_threads(3, data_workers=2) == 3  # train.cpu_threads wins
        monkeypatch.delenv(JOB_CORES_ENV)
        assert configure_cpu_threads(None, data_workers=1) == 2  # outside the workflow: OMP_NUM_THREADS as given
    finally:
        torch.set_num_threads(before)


def test_every_rule_running_a_byol_command_passes_its_cores():
    shells = []
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        shells += [(path.name, s) for s in re.findall(r'shell:\s*\n\s*"([^"]*)"', text)]
    compute = r"\b(pretrain|extract|knn|linear|semisup|transfer-linear|finetune) --"  # not prepare, report, ...
    commands = [(name, s) for name, s in shells if re.search(compute, s)]
    assert len(commands) == 8
    for name, shell in commands:
        assert shell.startswith(f"{JOB_CORES_ENV}={{threads}} "), (name, shell)
        assert "OMP_NUM_THREADS" not in shell, (name, shell)
