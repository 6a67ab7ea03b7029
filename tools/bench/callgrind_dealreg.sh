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
  writer=0 committer=0 answerer=0 engine=0 grpc=0 total=0
  for f in $(cg_server_threads); do
    n=$(cg_instructions "$f")
    [ "${n:-0}" -gt 0 ] || continue
    [ "${f%-01}" = "$f" ] || continue  # the main thread: the process's start
    total=$((total + n))
    funcs=$(cg_functions "$f")
    if grep -q "StoreImpl::WriterLoop" <<<"$funcs"; then writer=$((writer + n))
    elif grep -q "StoreImpl::CommitterLoop" <<<"$funcs"; then committer=$((committer + n))
    elif grep -q "StoreImpl::Init()::{lambda()#3}" <<<"$funcs"; then answerer=$((answerer + n))
    elif grep -q "rocksdb::ThreadPoolImpl" <<<"$funcs"; then engine=$((engine + n))
    elif grep -q "grpc" <<<"$funcs"; then grpc=$((grpc + n))
    fi
  done
  awk -v d="$dir" -v w="$writer" -v c="$committer" -v a="$answerer" -v e="$engine" -v g="$grpc" \
      -v t="$total" -v n="$DEALS" 'BEGIN {
    printf "%s: per registration: writer %.0f, committer %.0f, answerer %.0f, engine %.0f, gRPC %.0f; total %.0f instructions (%d deals)\n",
           d, w / n, c / n, a / n, e / n, g / n, t / n, n }'
  rm -rf "$CG_OUT"
done
