"""Test-wide settings: one intra-op thread before every test (CLI commands called in-process may change it),
so that timings do not collapse when the cores are shared and float reductions are the same in every run."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the CLI's configure_cpu_threads honours it
    yield
