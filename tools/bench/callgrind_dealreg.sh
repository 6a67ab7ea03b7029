#!/usr/bin/env bash
# Instructions per registration, per thread kind, of the deal_registration
# binary while bench_dealreg registers new deals through it over gRPC, under
# callgrind. Unlike registrations/s, these do not move with this VM's speed,
# so two builds compare exactly.
#
#   tools/bench/callgrind_dealreg.sh BIN_DIR [BIN_DIR ...] [--deals=3000]
#
# BIN_DIR holds a deal_registration binary (copy build/main/bin/deal_registration
# aside before rebuilding with a change). Prints, per build: the store's writer
# (decides: the RegisterDeal command), its committer (WAL + memtables + fsync),
# its answerer (finishes each call), RocksDB's background threads (flush,
# compaction), gRPC's threads (receive, parse, validate, queue) and the total.
# The total leaves out the main thread (the process's start: opening the store).
# Under valgrind the threads run one at a time, so the committer's batches are
# smaller than in a real run and its count per registration is higher.
# Needs valgrind (tools/setup installs it). ~1 minute per build at 3,000 deals.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEALS=3000
DIRS=()
for a in "$@"; do
  case "$a" in
    --deals=*) DEALS="${a#--deals=}" ;;
    *) DIRS+=("$(realpath "$a")") ;;
  esac
done
[ "${#DIRS[@]}" -gt 0 ] || { sed -n 2,16p "$0"; exit 2; }
source tools/bench/callgrind_lib.sh
for dir in "${DIRS[@]}"; do
  cg_run build/main/bin/bench_dealreg --register_only --preload="$DEALS" --server_bin_dir="$dir"
  grep -q "DEAL_STATUS_APPROVED $DEALS" "$CG_OUT/log" ||
    { echo "$dir: bench failed:"; cat "$CG_OUT/log"; exit 1; }
  cg_store_threads_per "$dir" registration "$DEALS"
  rm -rf "$CG_OUT"
done
