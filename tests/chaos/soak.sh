#!/usr/bin/env bash
# Soak: the stack under a fixed-rate mixed load for MINUTES (default 30). Every
# 30 s it samples each service's RSS and open file descriptors from /proc and its
# store's memory gauges from /metrics (memtables, block cache, table readers,
# table files on disk); the load writes its latency percentiles per 10 s window.
# Store budgets can be passed to the services with CHANNELOPS_SERVICE_ARGS
# (e.g. "--store_memtable_budget_mb=4 --store_block_cache_mb=4"). At the end it compares the
# first and last fifth of the run and runs tests/chaos/verify.py.
#
#   tests/chaos/soak.sh ROOT BUILD_DIR [MINUTES] [RATE]
# Output: $CHANNELOPS_SOAK_OUT (default var/soak) with samples.csv, latency.jsonl,
# load.json and summary.txt. Results: docs/RELIABILITY.md.
set -euo pipefail
ROOT="$1"; BUILD_DIR="$2"; MINUTES="${3:-30}"; RATE="${4:-100}"
OUT="${CHANNELOPS_SOAK_OUT:-$ROOT/var/soak}"
mkdir -p "$OUT"; rm -f "$OUT"/*
export CHANNELOPS_BUILD_DIR="$BUILD_DIR"
export CHANNELOPS_VAR_DIR="$(mktemp -d /tmp/channelops_soak.XXXXXX)"
base=$((20000 + RANDOM % 11000))  # below the ephemeral range (32768+), metrics +1000
export CHANNELOPS_KAFKA_ADDR="127.0.0.1:$base" CHANNELOPS_COOP_ACCRUAL_BPS=200
services=(deal_registration lead_routing pos_ingestion mdf compensation projections)
i=1; ports=""
for s in "${services[@]}"; do
  up=$(echo "$s" | tr a-z A-Z); export "CHANNELOPS_${up}_PORT=$((base + i))"
  ports="${ports:+$ports,}$s=$((base + i))"; i=$((i + 1))
done
trap '"$ROOT/tools/channelops" down >/dev/null 2>&1 || true; rm -rf "$CHANNELOPS_VAR_DIR"' EXIT
"$ROOT/tools/channelops" up >/dev/null
"$BUILD_DIR/bin/channelopsctl" load --deal_registration="127.0.0.1:$((base + 1))" \
  --lead_routing="127.0.0.1:$((base + 2))" --pos_ingestion="127.0.0.1:$((base + 3))" \
  --mdf="127.0.0.1:$((base + 4))" --rate="$RATE" --duration="${MINUTES}m" --run="soak$base" \
  --journal="$OUT/journal.tsv" --latency_log="$OUT/latency.jsonl" >"$OUT/load.json" 2>"$OUT/load.log" &
load_pid=$!
echo "t,service,rss_kib,fds,memtables_kib,block_cache_kib,table_readers_kib,table_files_kib" >"$OUT/samples.csv"
# The store gauges of one service's /metrics, in KiB: "memtables,block_cache,table_readers,files".
store_gauges() {
  /usr/bin/python3 - "$1" <<'PY' 2>/dev/null || echo ",,,"
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
def g(pattern):
    m = re.search(pattern + r" ([0-9.e+]+)", text)
    return f"{float(m.group(1)) / 1024:.0f}" if m else ""
print(",".join([g(r'channelops_eventstore_memory_bytes\{component="memtables"\}'),
                g(r'channelops_eventstore_memory_bytes\{component="block_cache"\}'),
                g(r'channelops_eventstore_memory_bytes\{component="table_readers"\}'),
                g(r'channelops_eventstore_table_files_bytes')]))
PY
}
start=$SECONDS
while kill -0 "$load_pid" 2>/dev/null; do
  i=1
  for s in "${services[@]}"; do
    pid=$(cat "$CHANNELOPS_VAR_DIR/run/$s.pid")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    echo "$((SECONDS - start)),$s,$rss,$fds,$(store_gauges $((base + i + 1000)))" >>"$OUT/samples.csv"
    i=$((i + 1))
  done
  sleep 30
done
wait "$load_pid" || { cat "$OUT/load.json" "$OUT/load.log"; echo "FAIL: load"; exit 1; }
/usr/bin/python3 - "$OUT" "$MINUTES" "$RATE" >"$OUT/summary.txt" <<'PY'
import csv, json, sys
out, minutes, rate = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(f"{out}/samples.csv")))
end = max(int(r["t"]) for r in rows)
fifth = end / 5
print(f"soak: {minutes} min at {rate} commands/s; first fifth vs last fifth of the run")
print(f"{'service':20} {'RSS MiB first':>14} {'RSS MiB last':>13} {'FDs first':>10} {'FDs last':>9}"
      f" {'store MiB first':>16} {'store MiB last':>15}")
def store(r):  # memtables + block cache + table readers, KiB ("" if not scraped)
    parts = [r.get(k) or "" for k in ("memtables_kib", "block_cache_kib", "table_readers_kib")]
    return sum(int(p) for p in parts) if all(parts) else None
for s in sorted({r["service"] for r in rows}):
    mine = [r for r in rows if r["service"] == s]
    first = [r for r in mine if int(r["t"]) <= fifth]
    last = [r for r in mine if int(r["t"]) >= end - fifth]
    avg = lambda rs, k: sum(int(r[k]) for r in rs) / max(1, len(rs))
    def avg_store(rs):
        v = [store(r) for r in rs if store(r) is not None]
        return f"{sum(v) / len(v) / 1024:.1f}" if v else "-"
    print(f"{s:20} {avg(first,'rss_kib')/1024:14.1f} {avg(last,'rss_kib')/1024:13.1f} "
          f"{avg(first,'fds'):10.1f} {avg(last,'fds'):9.1f} {avg_store(first):>16} {avg_store(last):>15}")
wins = [json.loads(l) for l in open(f"{out}/latency.jsonl")]
lend = max(w["t"] for w in wins)
def p99(ws): return sorted(w["p99_us"] for w in ws)[len(ws) // 2] / 1000 if ws else 0
first = [w for w in wins if w["t"] <= lend / 5]
last = [w for w in wins if w["t"] >= lend * 4 / 5]
print(f"command latency p99 (median of 10 s windows): first fifth {p99(first):.1f} ms, last fifth {p99(last):.1f} ms")
print(f"worst 10 s window p99: {max(w['p99_us'] for w in wins)/1000:.1f} ms; answered {sum(w['answered'] for w in wins)}")
print("load:", open(f"{out}/load.json").read().strip())
PY
cat "$OUT/summary.txt"
/usr/bin/python3 "$ROOT/tests/chaos/verify.py" --build="$BUILD_DIR" --kafka="$CHANNELOPS_KAFKA_ADDR" \
  --ports="$ports" --journal="$OUT/journal.tsv" --coop_bps=200 | tee -a "$OUT/summary.txt"
