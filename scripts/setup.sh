#!/usr/bin/env bash
# Sets up everything on a fresh machine: a virtualenv in .venv with PyTorch, this package (editable) and the
# workflow, tracking and test tools, plus Debian's offline Fashion-MNIST when apt-get is available. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch, torchvision" 2>/dev/null; then
  # shellcheck disable=SC2086
  python -m pip install -q $TORCH_SPEC
fi
python -m pip install -q -e ".[workflow,tracking,test]"

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
      || echo "setup: could not install dataset-fashion-mnist; put Fashion-MNIST under data/ (see README)" >&2
  else
    echo "setup: run 'sudo apt-get install dataset-fashion-mnist' or put Fashion-MNIST under data/ (see README)" >&2
  fi
fi
echo "setup: ready (activate with: . .venv/bin/activate)"
