#!/usr/bin/env bash
# Every GPU question of the project in one run (about 6 minutes on one H100/H200): environment, the CUDA tests,
# step throughput and MFU, end-to-end throughput, learning on Fashion-MNIST, the workflow on the GPU, the peers.
#   bash scripts/gpu_check.sh OUTDIR            # on the GPU machine (offline: staged wheels and data, see below)
#   bash scripts/gpu_check.sh --smoke OUTDIR    # every section at toy size on the CPU (part of the test suite)
#   bash scripts/gpu_check.sh OUTDIR --only step,peers
# Writes OUTDIR/gpu_check.json, OUTDIR/summary.md, OUTDIR/logs/<section>.log, OUTDIR/data/*; prints the summary.
# With a .gpu_stage/ folder (bash scripts/gpu_stage.sh, run beforehand on a machine with a network), its wheels
# are installed without a network into OUTDIR/site (nothing outside OUTDIR is changed) and its Fashion-MNIST
# files are used. See docs/speed.md ("The GPU check").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
STAGE=${GPU_STAGE:-$ROOT/.gpu_stage}

args=()
out=""
for a in "$@"; do
  case "$a" in
    -*) args+=("$a") ;;
    *) if [ -z "$out" ] && [ "${args[-1]:-}" != "--only" ]; then out=$a; else args+=("$a"); fi ;;
  esac
done
[ -n "$out" ] || { echo "gpu_check: usage: gpu_check.sh [--smoke] OUTDIR [--only SECTIONS]" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The package from this tree, whether or not it is installed; a `byol` command for the workflow's rules.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# (the staged wheels are built for the GPU machine's Python 3.12; another Python uses its own environment)
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' && [ -d "$STAGE/wheels" ] && compgen -G "$STAGE/wheels/*.whl" >/dev/null; then
  site="$out/site"
  if [ ! -f "$site/.installed" ]; then
    echo "gpu_check: installing $(ls "$STAGE"/wheels/*.whl | wc -l) staged wheels into $site (no network)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
      "$STAGE"/wheels/*.whl
    touch "$site/.installed"
  fi
  export PYTHONPATH="$ROOT:$site${PYTHONPATH#"$ROOT"}" PATH="$site/bin:$PATH"
fi
if [ -d "$STAGE/fashion-mnist" ]; then
  export BYOL_FASHION_MNIST_SYSTEM_DIRS="$STAGE/fashion-mnist${BYOL_FASHION_MNIST_SYSTEM_DIRS:+:$BYOL_FASHION_MNIST_SYSTEM_DIRS}"
fi
if ! command -v byol >/dev/null; then
  mkdir -p "$out/bin"
  printf '#!/bin/sh\nexec "%s" -m byol_pkg "$@"\n' "$(command -v "$PYTHON")" >"$out/bin/byol"
  chmod +x "$out/bin/byol"
  export PATH="$out/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" "$ROOT/benchmarks/gpu_check.py" "$out" "${args[@]}"
