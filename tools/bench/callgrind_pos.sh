#!/usr/bin/env bash
# Instruction counts per thread of the pos_ingestion binary while bench_pos
# ingests a report through it over gRPC, under callgrind. Unlike lines/s,
# these do not move with this VM's speed, so two builds compare exactly.
#
#   tools/bench/callgrind_pos.sh BIN_DIR [BIN_DIR ...] [--lines=50000]
#
# BIN_DIR holds a pos_ingestion binary (copy build/main/bin/pos_ingestion aside
# before rebuilding with a change). Prints, per build, the store's writer
# (decides each batch), its committer (WAL + memtables), and the gRPC threads
# that parse and validate the stream (CsvParser::PushTo), summed. Each build
# takes ~2 minutes at 50,000 lines. Needs valgrind (tools/setup installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=50000
DIRS=()
for a in "$@"; do
  case "$a" in
    --lines=*) LINES="${a#--lines=}" ;;
    *) DIRS+=("$(realpath "$a")") ;;
  esac
done
[ "${#DIRS[@]}" -gt 0 ] || { sed -n 2,12p "$0"; exit 2; }
source tools/bench/callgrind_lib.sh
for dir in "${DIRS[@]}"; do
  cg_run build/main/bin/bench_pos --no-postgres --lines="$LINES" --server_bin_dir="$dir"
  writer=0 committer=0 stream=0
  for f in $(cg_server_threads); do
    total=$(cg_instructions "$f")
    [ "${total:-0}" -gt 0 ] || continue
    funcs=$(cg_functions "$f")
    if grep -q "StoreImpl::WriterLoop" <<<"$funcs"; then writer=$((writer + total))
    elif grep -q "StoreImpl::CommitterLoop" <<<"$funcs"; then committer=$((committer + total))
    elif grep -q "CsvParser::PushTo" <<<"$funcs"; then stream=$((stream + total))
    fi
  done
  awk -v d="$dir" -v w="$writer" -v c="$committer" -v s="$stream" -v n="$LINES" 'BEGIN {
    printf "%s: per line: writer %.0f, committer %.0f, stream (gRPC + parse + validate) %.0f instructions (%d lines)\n",
           d, w / n, c / n, s / n, n }'
  rm -rf "$CG_OUT"
done
