#!/usr/bin/env bash
# Soak: the stack under a fixed-rate mixed load for MINUTES (default 30). Every
# 30 s it samples each service's RSS, open file descriptors and CPU seconds from /proc and its
# store's memory gauges from /metrics (memtables, block cache, table readers,
# table files on disk); the load writes its latency percentiles per 10 s window.
# Store budgets can be passed to the services with CHANNELOPS_SERVICE_ARGS
# (e.g. "--store_memtable_budget_mb=4 --store_block_cache_mb=4"). At the end it compares the
# first and last fifth of the run and runs tests/chaos/verify.py.
#
# The dev Kafka cluster runs at SCHED_IDLE (CHANNELOPS_SOAK_KAFKA_POLICY=normal
# to keep it at the default policy). It is a test fixture, not the system
# under test: librdkafka's mock broker finds a fetch offset by walking the
# partition's message sets from the first (no offset index, unlike a real
# broker), so its CPU per fetch grows with everything published in the run
# (1% -> 4% of a core over 20 minutes here), in bursts that fall exactly when
# the services commit and publish. On two shared cores those bursts delayed
# the services' own threads' wake-ups (the answered stage, 0.25 -> 1.5-3 ms
# p99). nice 19 did not help: the kernel's EEVDF scheduler lets a running
# task finish its slice whatever its weight; only SCHED_IDLE yields at once.
# docs/RELIABILITY.md has both runs.
#
#   tests/chaos/soak.sh ROOT BUILD_DIR [MINUTES] [RATE]
# Output: $CHANNELOPS_SOAK_OUT (default var/soak) with samples.csv, stages.jsonl,
# latency.jsonl, load.json and summary.txt. Results: docs/RELIABILITY.md.
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
KAFKA_POLICY="${CHANNELOPS_SOAK_KAFKA_POLICY:-idle}"
case "$KAFKA_POLICY" in
  idle) chrt --idle -a -p 0 "$(cat "$CHANNELOPS_VAR_DIR/run/dev_kafka.pid")" ;;
  normal) ;;
  *) echo "soak: CHANNELOPS_SOAK_KAFKA_POLICY must be idle or normal, not '$KAFKA_POLICY'" >&2; exit 2 ;;
esac
"$BUILD_DIR/bin/channelopsctl" load --deal_registration="127.0.0.1:$((base + 1))" \
  --lead_routing="127.0.0.1:$((base + 2))" --pos_ingestion="127.0.0.1:$((base + 3))" \
  --mdf="127.0.0.1:$((base + 4))" --rate="$RATE" --duration="${MINUTES}m" --run="soak$base" \
  --journal="$OUT/journal.tsv" --latency_log="$OUT/latency.jsonl" >"$OUT/load.json" 2>"$OUT/load.log" &
load_pid=$!
echo "t,service,rss_kib,fds,cpu_s,memtables_kib,block_cache_kib,table_readers_kib,table_files_kib" >"$OUT/samples.csv"
ticks=$(getconf CLK_TCK)
# The store gauges of one service's /metrics, in KiB: "memtables,block_cache,table_readers,files".
# Its cumulative append-stage histograms (channelops_eventstore_stage_seconds) go to stages.jsonl.
# RSS (KiB), open descriptors and CPU seconds so far (utime + stime: fields 14 and
# 15 of /proc/PID/stat, after the comm in parentheses) of one process: "rss,fds,cpu".
proc_sample() {
  local rss fds cpu
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
  cpu=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v t="$ticks" '{printf "%.2f", ($12 + $13) / t}')
  echo "${rss:-0},$fds,${cpu:-0}"
}
store_gauges() {
  /usr/bin/python3 - "$1" "$2" "$3" "$OUT/stages.jsonl" <<'PY' 2>/dev/null || echo ",,,"
import json, re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
stages = {}
for m in re.finditer(r'^channelops_eventstore_stage_seconds_bucket\{(?=[^}]*stage="(\w+)")(?=[^}]*le="([^"]+)")[^}]*\} (\d+)', text, re.M):
    stages.setdefault(m.group(1), {})[m.group(2)] = int(m.group(3))
if stages:
    with open(sys.argv[4], "a") as f:
        f.write(json.dumps({"t": int(sys.argv[2]), "service": sys.argv[3], "stages": stages}) + "\n")
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
    t=$((SECONDS - start))
    echo "$t,$s,$(proc_sample "$(cat "$CHANNELOPS_VAR_DIR/run/$s.pid")"),$(store_gauges $((base + i + 1000)) "$t" "$s")" >>"$OUT/samples.csv"
    i=$((i + 1))
  done
  # The dev Kafka cluster and the load generator share the two cores: their CPU too.
  for other in "dev_kafka:$(cat "$CHANNELOPS_VAR_DIR/run/dev_kafka.pid")" "load:$load_pid"; do
    echo "$((SECONDS - start)),${other%%:*},$(proc_sample "${other#*:}"),,,," >>"$OUT/samples.csv"
  done
  sleep 30
done
wait "$load_pid" || { cat "$OUT/load.json" "$OUT/load.log"; echo "FAIL: load"; exit 1; }
/usr/bin/python3 - "$OUT" "$MINUTES" "$RATE" "$KAFKA_POLICY" >"$OUT/summary.txt" <<'PY'
import csv, json, sys
out, minutes, rate, policy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = list(csv.DictReader(open(f"{out}/samples.csv")))
end = max(int(r["t"]) for r in rows)
fifth = end / 5
print(f"soak: {minutes} min at {rate} commands/s, dev Kafka at scheduling policy {policy};"
      " first fifth vs last fifth of the run")
print(f"{'service':20} {'RSS MiB first':>14} {'RSS MiB last':>13} {'FDs first':>10} {'FDs last':>9}"
      f" {'store MiB first':>16} {'store MiB last':>15} {'CPU % first':>12} {'CPU % last':>11}")
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
    def cpu_pct(rs):  # CPU seconds used over the fifth / its wall time, as % of one core
        if len(rs) < 2: return "-"
        dt = int(rs[-1]["t"]) - int(rs[0]["t"])
        return f"{100 * (float(rs[-1]['cpu_s']) - float(rs[0]['cpu_s'])) / dt:.1f}" if dt else "-"
    print(f"{s:20} {avg(first,'rss_kib')/1024:14.1f} {avg(last,'rss_kib')/1024:13.1f} "
          f"{avg(first,'fds'):10.1f} {avg(last,'fds'):9.1f} {avg_store(first):>16} {avg_store(last):>15}"
          f" {cpu_pct(first):>12} {cpu_pct(last):>11}")
wins = [json.loads(l) for l in open(f"{out}/latency.jsonl")]
lend = max(w["t"] for w in wins)
def p99(ws): return sorted(w["p99_us"] for w in ws)[len(ws) // 2] / 1000 if ws else 0
first = [w for w in wins if w["t"] <= lend / 5]
last = [w for w in wins if w["t"] >= lend * 4 / 5]
print(f"command latency p99 (median of 10 s windows): first fifth {p99(first):.1f} ms, last fifth {p99(last):.1f} ms")
print(f"worst 10 s window p99: {max(w['p99_us'] for w in wins)/1000:.1f} ms; answered {sum(w['answered'] for w in wins)}")
# Where the store's time went: p99 (bucket upper bound) of each append stage over the
# first and the last fifth, all services' commands together (cumulative buckets,
# differenced between the samples bounding each fifth).
try:
    snaps = [json.loads(l) for l in open(f"{out}/stages.jsonl")]
except OSError:
    snaps = []
def stage_p99(lo, hi, stage):
    total = {}
    for s in {x["service"] for x in snaps}:
        mine = [x for x in snaps if x["service"] == s and stage in x["stages"]]
        a = [x for x in mine if x["t"] <= lo]
        b = [x for x in mine if x["t"] <= hi]
        if not b: continue
        first, last = (a[-1]["stages"][stage] if a else {}), b[-1]["stages"][stage]
        for le, n in last.items(): total[le] = total.get(le, 0) + n - first.get(le, 0)
    les = sorted(total, key=lambda k: float("inf") if k == "+Inf" else float(k))
    if not les or total[les[-1]] == 0: return "-"
    for le in les:
        if total[le] >= 0.99 * total[les[-1]]:
            return ">1000" if le == "+Inf" else f"{float(le) * 1000:g}"
if snaps:
    names = ["queued", "decided", "durable", "answered"]
    print("append stages, p99 ms (bucket bound), first fifth -> last fifth: " + ", ".join(
        f"{n} {stage_p99(0, fifth, n)} -> {stage_p99(end - fifth, end, n)}" for n in names))
print("load:", open(f"{out}/load.json").read().strip())
PY
cat "$OUT/summary.txt"
/usr/bin/python3 "$ROOT/tests/chaos/verify.py" --build="$BUILD_DIR" --kafka="$CHANNELOPS_KAFKA_ADDR" \
  --ports="$ports" --journal="$OUT/journal.tsv" --coop_bps=200 | tee -a "$OUT/summary.txt"
