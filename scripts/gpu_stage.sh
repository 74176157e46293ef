#!/usr/bin/env bash
# Stages what the GPU machine (no network; see scripts/gpu_check.sh) lacks into STAGE_DIR (default .gpu_stage):
#   STAGE_DIR/fashion-mnist/  the four gzipped Fashion-MNIST IDX files
#   STAGE_DIR/wheels/         the wheels of scripts/gpu_wheels.txt (CPython 3.12, Linux x86-64), nothing else
# then checks that the wheels' runtime requirements close over the staged set + the GPU image
# (scripts/gpu_image_packages.txt) and that the stage fits the size limit. Idempotent: files already there are kept.
# usage: scripts/gpu_stage.sh [STAGE_DIR]     env: PYTHON (default python3), GPU_STAGE_MAX_MB (default 60)
set -euo pipefail
STAGE=${1:+$(realpath -m -- "$1")}  # relative to the caller's folder
cd "$(dirname "$0")/.."
STAGE=${STAGE:-.gpu_stage}
PY=${PYTHON:-python3}
MAX_MB=${GPU_STAGE_MAX_MB:-60}
LIST=scripts/gpu_wheels.txt
IMAGE=scripts/gpu_image_packages.txt
die() { echo "gpu_stage: $*" >&2; exit 1; }

# --- Fashion-MNIST ---------------------------------------------------------------------------------------------
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
SRC=""
for d in /usr/share/datasets/fashion-mnist data/fashion-mnist data/fashion_mnist data/FashionMNIST/raw; do
  ok=1
  for f in "${FILES[@]}"; do [ -s "$d/$f.gz" ] || [ -s "$d/$f" ] || ok=0; done
  if [ "$ok" = 1 ]; then SRC=$d; break; fi
done
[ -n "$SRC" ] || die "Fashion-MNIST not found in /usr/share/datasets/fashion-mnist, data/fashion-mnist, data/fashion_mnist or data/FashionMNIST/raw (apt-get install dataset-fashion-mnist)"
mkdir -p "$STAGE/fashion-mnist" "$STAGE/wheels"
for f in "${FILES[@]}"; do
  out="$STAGE/fashion-mnist/$f.gz"
  if [ -s "$SRC/$f.gz" ]; then
    cmp -s "$SRC/$f.gz" "$out" || cp "$SRC/$f.gz" "$out.tmp"
  elif [ ! -s "$out" ] || ! gzip -dc "$out" | cmp -s - "$SRC/$f"; then
    gzip -9nc "$SRC/$f" >"$out.tmp"
  fi
  if [ -e "$out.tmp" ]; then mv "$out.tmp" "$out"; fi
  gzip -t "$out" 2>/dev/null || die "$out is not a valid gzip file (source: $SRC)"
done

# --- wheels ----------------------------------------------------------------------------------------------------
# Platform tags: manylinux up to glibc 2.28 (the GPU image's glibc is not documented; its Python 3.12.3 suggests
# Ubuntu 24.04, glibc 2.39, but pip there refuses a wheel whose tag its glibc does not reach, so stay low).
PLAT=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux2010 manylinux1; do
  PLAT+=(--platform "${p}_x86_64")
done
PIP_DL=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
        "${PLAT[@]}" -d "$STAGE/wheels")
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
pip_errors() { grep -v "is ignored: it is neither a file nor a directory" "$LOG" | grep -E "ERROR|error" | head -3 >&2 || true; }
# Drop stale wheels; list what the list names and the folder lacks.
mapfile -t MISSING < <("$PY" scripts/gpu_stage_verify.py "$STAGE/wheels" "$LIST" "$IMAGE" --prune --missing)
if [ "${#MISSING[@]}" -gt 0 ] && ! "$PY" -m pip download -q "${PIP_DL[@]}" "${MISSING[@]}" >"$LOG" 2>&1; then
  # One at a time, so one failure names itself; a release with no wheel (e.g. antlr4-python3-runtime 4.9.3, an
  # sdist only) is built into a wheel here, which must come out pure Python (py3-none-any).
  for req in "${MISSING[@]}"; do
    "$PY" -m pip download -q "${PIP_DL[@]}" "$req" >"$LOG" 2>&1 && continue
    BUILD=$(mktemp -d)
    if "$PY" -m pip wheel -q --no-deps --no-binary "${req%%==*}" -w "$BUILD" "$req" >"$LOG" 2>&1 \
        && compgen -G "$BUILD/*-py3-none-any.whl" >/dev/null; then
      mv "$BUILD"/*-py3-none-any.whl "$STAGE/wheels/"
      rm -rf "$BUILD"
    else
      rm -rf "$BUILD"
      pip_errors
      die "no CPython 3.12 Linux x86-64 wheel for $req, and no pure-Python wheel could be built from its sdist"
    fi
  done
fi

# --- checks ----------------------------------------------------------------------------------------------------
# Every listed wheel there and no other; every requirement met by the stage or the image.
"$PY" scripts/gpu_stage_verify.py "$STAGE/wheels" "$LIST" "$IMAGE" \
  || die "the wheels in $STAGE/wheels don't close over $LIST + $IMAGE (above)"
kb() { du -sk "$1" | cut -f1; }
total_kb=$(kb "$STAGE")
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
[ "$total_kb" -le $((MAX_MB * 1024)) ] \
  || die "$STAGE is $(mb "$total_kb") MB, over the ${MAX_MB} MB limit (GPU_STAGE_MAX_MB)"
n_whl=$(find "$STAGE/wheels" -name '*.whl' | wc -l)
echo "gpu_stage: $STAGE ready: ${#FILES[@]} Fashion-MNIST files ($(mb "$(kb "$STAGE/fashion-mnist")") MB), $n_whl wheels ($(mb "$(kb "$STAGE/wheels")") MB), $(mb "$total_kb") MB in all"
