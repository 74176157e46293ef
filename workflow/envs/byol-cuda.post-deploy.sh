#!/usr/bin/env bash
# Snakemake blanks PYTHONPATH in conda jobs: install byol_pkg into the GPU rule environment too.
set -euo pipefail
pip install --no-deps -e "$(dirname "$0")/../.."
