#!/usr/bin/env bash
# Renders the README's evidence examples from ../shared/data (or DATA_ROOT), with the shipped config and models:
#   docs/evaluation/    `hydra evaluate` on the held-out year 2023-07 -> 2024-06: Hydra, its ablations,
#                       Freqtrade's SampleStrategy and buy-and-hold (table, plots, Hydra's breakdowns)
#   docs/walk-forward/  `hydra evaluate walk-forward` on the development span: the out-of-sample report
# Usage: scripts/evidence.sh [DATA_ROOT]   (default ../shared/data; needs .venv from `make setup`; ~5 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${1:-${HYDRA_DATA_DIR:-../shared/data}}
BIN=.venv/bin
WORK=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
export HYDRA_DOTENV=0

$BIN/hydra evaluate --datadir "$DATA_ROOT/binance" --output-dir "$WORK/evaluate" > "$WORK/evaluate.log" 2>&1
rm -rf docs/evaluation && mkdir -p docs/evaluation
cp "$WORK"/evaluate/20230701-20240630/evaluation{.html,.md,.json,_*.png} docs/evaluation/

$BIN/hydra evaluate walk-forward --datadir "$DATA_ROOT/binance" --output-dir "$WORK/wf" --no-progress \
    > "$WORK/walk-forward.log" 2>&1
rm -rf docs/walk-forward && mkdir -p docs/walk-forward
cp "$WORK"/wf/report{.html,.md,.json,_*.png} "$WORK"/wf/walk_forward.md docs/walk-forward/
echo "Wrote docs/evaluation/ and docs/walk-forward/"
