#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (no GPU, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pytest -q "$@"
