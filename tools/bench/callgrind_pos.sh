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
for dir in "${DIRS[@]}"; do
  out=$(mktemp -d)
  valgrind --tool=callgrind --trace-children=yes --separate-threads=yes \
    --callgrind-out-file="$out/cg.%p" build/main/bin/bench_pos --no-postgres \
    --lines="$LINES" --server_bin_dir="$dir" >"$out/log" 2>&1 || true  # its floors fail under valgrind
  # The server is the traced process with the most threads.
  server=$(ls "$out" | grep -- '^cg\.[0-9]*-' | sed 's/-[0-9]*$//' | sort | uniq -c | sort -n |
           tail -1 | awk '{print $2}')
  writer=0 committer=0 stream=0
  for f in "$out/$server"-*; do
    total=$(awk '/^summary:/ {print $2; exit}' "$f")
    [ "${total:-0}" -gt 0 ] || continue
    funcs=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null | head -60 || true)
    if grep -q "StoreImpl::WriterLoop" <<<"$funcs"; then writer=$((writer + total))
    elif grep -q "StoreImpl::CommitterLoop" <<<"$funcs"; then committer=$((committer + total))
    elif grep -q "CsvParser::PushTo" <<<"$funcs"; then stream=$((stream + total))
    fi
  done
  awk -v d="$dir" -v w="$writer" -v c="$committer" -v s="$stream" -v n="$LINES" 'BEGIN {
    printf "%s: per line: writer %.0f, committer %.0f, stream (gRPC + parse + validate) %.0f instructions (%d lines)\n",
           d, w / n, c / n, s / n, n }'
  rm -rf "$out"
done
