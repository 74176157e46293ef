"""The GPU check's environment section: device, driver, versions, and the bf16 peak that MFU is measured against.

MFU everywhere in this project is achieved FLOP/s over the **datasheet dense bf16 peak** of the device
(``pretrain_throughput.BF16_PEAK_TFLOPS``: 989 TFLOP/s for an H100/H200 SXM). This section also times a large
bf16 matrix product, the highest rate torch actually reaches on this device, so a reader can see both
(on an H200 here: about 790 TFLOP/s, 80 % of the datasheet figure).

    python benchmarks/gpu_env.py --json env.json            # on the GPU
    python benchmarks/gpu_env.py --device cpu --matmul 256  # anywhere (no peak, no MFU)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrain_throughput import bf16_peak_tflops, environment, resolve_device  # noqa: E402

#: Packages the GPU check needs beyond torch (staged as wheels by scripts/gpu_stage.sh where missing).
PACKAGES = ("torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn", "snakemake", "jsonschema", "lightly",
            "byol-pytorch", "pytest")


def driver_version() -> str | None:
    """The NVIDIA driver version as ``nvidia-smi`` reports it (None without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    res = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                         text=True, timeout=30)
    return res.stdout.strip().splitlines()[0] if res.returncode == 0 and res.stdout.strip() else None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def matmul_tflops(device: torch.device, n: int, repeats: int = 10) -> float:
    """TFLOP/s of an ``n x n x n`` bf16 matrix product on random data (mean of ``repeats`` after 3 warm-ups)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e12


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--matmul", type=int, default=8192, help="side of the timed square matrix product")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    peak = bf16_peak_tflops(device, None)
    env = environment(device, peak, compile_=False)
    env["driver"] = driver_version()
    env["packages"] = package_versions()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({"gpu_memory_gib": round(props.total_memory / 2**30, 1), "gpu_sms": props.multi_processor_count})
    measured = matmul_tflops(device, args.matmul)
    env["matmul_side"] = args.matmul
    env["matmul_tflops"] = round(measured, 1 if device.type == "cuda" else 4)
    env["matmul_dtype"] = "bf16" if device.type == "cuda" else "fp32"
    env["mfu_peak_tflops"] = peak
    env["matmul_fraction_of_peak"] = round(measured / peak, 3) if peak else None
    for key, value in env.items():
        print(f"  {key:22s} {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(env, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
