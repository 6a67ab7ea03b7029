#!/usr/bin/env bash
# A/B of two deal_registration server flags on bench_dealreg, alternating A, B,
# A, B, ... (this VM's speed moves by tens of percent within minutes: only
# alternating runs compare). Prints each run's summary lines.
#
#   tools/bench/ab_dealreg.sh 'FLAG_A' 'FLAG_B' [pairs=1] [bench_dealreg flags...]
#
# e.g. tools/bench/ab_dealreg.sh --store_memory_read_models=false \
#        --store_memory_read_models=true 1            # the issue's 1,000,000 preloaded
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1"; B="$2"; PAIRS="${3:-1}"; shift $(( $# < 3 ? $# : 3 ))
for pair in $(seq 1 "$PAIRS"); do
  for flag in "$A" "$B"; do
    echo "=== pair $pair: --server_flag=$flag $*"
    build/main/bin/bench_dealreg --server_flag="$flag" "$@" 2>&1 |
      grep -E "preloaded|/s |floor|calls|answers"
  done
done
