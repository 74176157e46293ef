#!/usr/bin/env bash
# Every evaluation protocol on the offline data (Fashion-MNIST, scikit-learn digits), for the demo encoder and a
# random-init encoder of the same architecture, then one table of all results. Shortened grids (CPU demo);
# the paper's grids are the commands' defaults.
#   bash scripts/eval_demo.sh [ENCODER] [OUT]      (defaults: results/pretrain/demo/encoder.pt, results/eval/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
ENC=${1:-results/pretrain/demo/encoder.pt}
OUT=${2:-results/eval/demo}
CACHE=${CACHE:-results/features}
[ -f "$ENC" ] || { echo "eval_demo: $ENC not found; run: byol pretrain --config demo --out results/pretrain/demo" >&2; exit 2; }
for init in pretrained random; do
  if [ "$init" = random ]; then flags=(--random-init --method random-init); else flags=(--method byol); fi
  d="$OUT/$init"
  mkdir -p "$d"
  common=(--encoder "$ENC" "${flags[@]}" --cache-root "$CACHE")
  run() { local out=$1; shift; [ -f "$out" ] || byol "$@" --out "$out"; }
  run "$d/knn_fashion_mnist.json" knn "${common[@]}" --dataset fashion_mnist
  run "$d/linear_fashion_mnist.json" linear "${common[@]}" --dataset fashion_mnist
  run "$d/linear_aug_fashion_mnist.json" linear "${common[@]}" --dataset fashion_mnist --mode augmented \
      --base-lrs 0.4 0.1 --epochs 1
  run "$d/semisup1_fashion_mnist.json" semisup "${common[@]}" --dataset fashion_mnist --fraction 0.01 \
      --lrs 0.05 0.1 --epochs 30
  run "$d/semisup10_fashion_mnist.json" semisup "${common[@]}" --dataset fashion_mnist --fraction 0.1 \
      --lrs 0.05 --epochs 5
  run "$d/transfer_linear_fashion_mnist.json" transfer-linear "${common[@]}" --dataset fashion_mnist
  run "$d/transfer_linear_digits.json" transfer-linear "${common[@]}" --dataset digits
  run "$d/finetune_digits.json" finetune "${common[@]}" --dataset digits --lrs 0.01 0.1 --wds 0 1e-4 --steps 50
done
byol results "$OUT"/*/*.json --by method --markdown --csv "$OUT/all_results.csv" | tee "$OUT/table.md"
