#!/usr/bin/env bash
# A/B of two bench_pos builds on the in-process parse + validate (--parse_only),
# in two ways:
#  - wall clock: the two run alternately, PAIRS times (this VM's speed moves by
#    tens of percent within minutes: only alternating runs compare); each prints
#    the median of its three service-path passes;
#  - --callgrind: instruction counts under valgrind, which do not move with the
#    machine: per line on the service path, i.e. CsvParser::PushTo's inclusive
#    count less the first (new-line-per-line) pass's CsvParser::Push, over the
#    three passes of --lines lines.
#
#   tools/bench/ab_parse.sh A_BENCH_POS B_BENCH_POS [pairs=4]
#   tools/bench/ab_parse.sh --callgrind A_BENCH_POS B_BENCH_POS [lines=50000]
#
# A_BENCH_POS / B_BENCH_POS: bench_pos binaries (copy build/main/bin/bench_pos
# aside before rebuilding with the change).
set -euo pipefail
if [ "${1:-}" = "--callgrind" ]; then
  A="$2"; B="$3"; LINES="${4:-50000}"
  for bin in "$A" "$B"; do
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --parse_only --lines="$LINES" \
      >/dev/null 2>&1
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v bin="$bin" -v lines="$LINES" '
      /^ *[0-9,]+ .*CsvParser::PushTo\(/ && !push_to { gsub(",", "", $1); push_to = $1 }
      /^ *[0-9,]+ .*CsvParser::Push\(/ && !push { gsub(",", "", $1); push = $1 }
      END { printf "%s: %.0f instructions per line (service path, %d lines x 3 passes)\n",
                   bin, (push_to - push) / (3 * lines), lines }'
    rm -f "$out"
  done
  exit 0
fi
A="$1"; B="$2"; PAIRS="${3:-4}"
for _ in $(seq 1 "$PAIRS"); do
  for bin in "$A" "$B"; do
    echo "$bin $("$bin" --parse_only | awk '/^parse \+ validate/ {print $8}')"
  done
done
