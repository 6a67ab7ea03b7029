#!/usr/bin/env bash
# A/B of two pos_ingestion builds on the durable-ingestion benchmark, alternating
# (this VM's speed moves by +-20% within minutes: only alternating runs compare).
# For each run: lines/s, and the service's CPU per thread over its whole life
# (tools/bench/thread_cpu.py), per 1M-line report.
#
#   tools/bench/ab_pos.sh A_BIN_DIR B_BIN_DIR [pairs=4] [bench_pos flags...]
#
# A_BIN_DIR / B_BIN_DIR hold a pos_ingestion binary (e.g. build/main/bin of a
# worktree at another commit: git worktree add /tmp/base <sha>; build it there).
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$(realpath "$1"); B=$(realpath "$2"); PAIRS="${3:-4}"; shift $(( $# < 3 ? $# : 3 ))
BENCH=build/main/bin/bench_pos
run() {
  local label="$1" dir="$2"; shift 2
  local out; out=$(mktemp)
  "$BENCH" --no-postgres --server_bin_dir="$dir" "$@" >"$out" 2>&1 &
  local bench=$! pid=""
  for _ in $(seq 1 400); do
    pid=$(pgrep -n -f "^$dir/pos_ingestion " || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  local cpu=""
  if [ -n "$pid" ]; then cpu=$(/usr/bin/python3 tools/bench/thread_cpu.py --until-exit "$pid" 2>&1 || true); fi
  wait "$bench" || true
  local rate; rate=$(grep 'durable ingestion' "$out" | sed 's/.*: *\([0-9]*\) lines.*/\1/')
  thread() { echo "$cpu" | awk -v t="$1" '$2 == t {print $3}'; }
  echo "$label lines/s=$rate cpu=$(echo "$cpu" | sed -n 's/.*CPU \([0-9.]*\) s.*/\1/p' | head -1)" \
       "writer=$(thread es-decide) stream=$(thread nexting_thread) commit=$(thread es-commit)" \
       "flush=$(thread rocksdb:high) compaction=$(thread rocksdb:low) answer=$(thread es-answer)"
  rm -f "$out"
}
for i in $(seq 1 "$PAIRS"); do
  run A "$A" "$@"
  run B "$B" "$@"
done
