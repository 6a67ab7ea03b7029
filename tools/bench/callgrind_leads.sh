#!/usr/bin/env bash
# Instructions per lead, per thread kind, of the lead_routing binary while
# bench_leads submits leads through it over gRPC (each routed to a partner of a
# shared territory), under callgrind. Unlike leads/s, these do not move with
# this VM's speed, so two builds compare exactly.
#
#   tools/bench/callgrind_leads.sh BIN_DIR [BIN_DIR ...] [--leads=3000]
#
# BIN_DIR holds a lead_routing binary (copy build/main/bin/lead_routing aside
# before rebuilding with a change). Prints, per build: the store's writer
# (decides: routing), its committer (WAL + memtables + fsync), its answerer
# (finishes each call), RocksDB's background threads, gRPC's threads and the
# total. The setup (1,000 partner profiles, 8 territories) is counted in the
# total too: compare builds at the same --leads. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
LEADS=3000
DIRS=()
for a in "$@"; do
  case "$a" in
    --leads=*) LEADS="${a#--leads=}" ;;
    *) DIRS+=("$(realpath "$a")") ;;
  esac
done
[ "${#DIRS[@]}" -gt 0 ] || { sed -n 2,14p "$0"; exit 2; }
source tools/bench/callgrind_lib.sh
for dir in "${DIRS[@]}"; do
  cg_run build/main/bin/bench_leads --submit_only="$LEADS" --server_bin_dir="$dir"
  grep -q "routed $LEADS\$" "$CG_OUT/log" ||
    { echo "$dir: bench failed:"; cat "$CG_OUT/log"; exit 1; }
  cg_store_threads_per "$dir" lead "$LEADS"
  rm -rf "$CG_OUT"
done
