"""Process-level runtime settings shared by every command."""

from __future__ import annotations

import os

import torch


def usable_cores() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


#: The cores a workflow job was granted (its Snakemake ``threads``): its busy data workers are subtracted. Snakemake
#: also sets ``OMP_NUM_THREADS`` to the job's whole thread count, which, read as compute threads, oversubscribed the
#: cores (the demo's pretraining ran at 310 instead of about 1,000 images/s: 2 compute threads + 1 worker on 2 cores).
JOB_CORES_ENV = "BYOL_JOB_CORES"


def configure_cpu_threads(requested: int | None = None, data_workers: int = 0, processes: int = 1) -> int:
    """Set torch's intra-op threads: ``requested``, else ``$BYOL_JOB_CORES`` (per process) less the data workers,
    else ``$OMP_NUM_THREADS``, else the usable cores (per process) less the data workers; at least 1.

    Oversubscribing (more busy threads than cores) stalls OpenMP kernels badly on small CPUs: BatchNorm on a
    small tensor went from 0.08 ms to 24 ms with 2 threads on 2 cores while another process was busy.
    """
    job_cores = os.environ.get(JOB_CORES_ENV, "")
    if requested is None and job_cores.isdigit():
        requested = max(1, int(job_cores) // processes - data_workers)
    if requested is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        requested = int(os.environ["OMP_NUM_THREADS"])  # the user's explicit choice (e.g. a shared machine)
    threads = requested if requested is not None else max(1, usable_cores() // processes - data_workers)
    torch.set_num_threads(threads)
    return threads


#: cuBLAS needs a fixed workspace to be deterministic (set before its first call in the process).
CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """``train.deterministic``: deterministic kernels only (bit-reproducible runs and resumes), else let cuDNN
    autotune its convolution algorithms for the fixed input shapes of a training run (faster on a GPU; results
    equal up to float rounding). Process-wide, like torch's own switches."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
    # warn_only: ops without a deterministic kernel (CUDA's adaptive-average-pool backward) warn instead of
    # stopping the run; with a 1x1 output each input gradient gets a single write, so it is exact anyway
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
