#!/usr/bin/env bash
# Sets everything up, then runs the default workflow (config/config.yaml) with all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
# The README's command as it is: Snakemake loads workflow/profiles/default by itself (rerun-incomplete,
# printshellcmds, gpu=1), and the workflow releases the locks of a run that was killed.
snakemake --cores all "$@"
