#!/usr/bin/env bash
# Sets everything up, then runs the default workflow (config/config.yaml) with all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
snakemake --cores all --workflow-profile workflow/profiles/default "$@"
