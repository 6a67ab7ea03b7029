#!/usr/bin/env bash
# `tools/channelops up`, a reduced demo, the report's figures checked against the
# events on Kafka read with kcat, then `down` leaving no process behind.
set -euo pipefail
ROOT="$1"; BUILD_DIR="$2"
export CHANNELOPS_BUILD_DIR="$BUILD_DIR"
export CHANNELOPS_VAR_DIR="$(mktemp -d /tmp/channelops_stack.XXXXXX)"
# Below the kernel's ephemeral range (32768+): ports picked at random there can be
# held by any outgoing connection of a concurrently running test (a failed bind
# was seen as "pos_ingestion did not become SERVING"). Metrics ports are +1000.
base=$((20000 + RANDOM % 11000))
export CHANNELOPS_KAFKA_ADDR="127.0.0.1:$base"
i=1
for s in DEAL_REGISTRATION LEAD_ROUTING POS_INGESTION MDF COMPENSATION PROJECTIONS; do
  export "CHANNELOPS_${s}_PORT=$((base + i))"; i=$((i + 1))
done
addrs=()
for s in deal_registration lead_routing pos_ingestion mdf compensation projections; do
  up=$(echo "$s" | tr a-z A-Z); v="CHANNELOPS_${up}_PORT"
  [ -x "$BUILD_DIR/bin/$s" ] && addrs+=("--$s=127.0.0.1:${!v}")
done
cleanup() {
  local rc=$?
  "$ROOT/tools/channelops" down >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    for f in "$CHANNELOPS_VAR_DIR"/log/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  fi
  rm -rf "$CHANNELOPS_VAR_DIR"
}
trap cleanup EXIT

# As `tools/channelops demo` does: a development clock the demo moves a month ahead.
mkdir -p "$CHANNELOPS_VAR_DIR"; echo 0 >"$CHANNELOPS_VAR_DIR/dev_clock"
export CHANNELOPS_DEV_CLOCK_OFFSET_FILE="$CHANNELOPS_VAR_DIR/dev_clock"
export CHANNELOPS_EXPIRY_SWEEP_INTERVAL=1s CHANNELOPS_SLA_SWEEP_INTERVAL=1s CHANNELOPS_SWEEP_INTERVAL=1s
export CHANNELOPS_PRICE_SWEEP_INTERVAL=1s CHANNELOPS_COOP_ACCRUAL_BPS=200
"$ROOT/tools/channelops" up
out=$("$BUILD_DIR/bin/channelopsctl" demo --kafka="$CHANNELOPS_KAFKA_ADDR" "${addrs[@]}" \
  --deals=300 --partners=30 --leads=300 --pos_lines=3000 --dev_clock_file="$CHANNELOPS_VAR_DIR/dev_clock" \
  --report_html="$CHANNELOPS_VAR_DIR/report.html") || { echo "$out"; echo "FAIL: the demo exited non-zero"; exit 1; }
echo "$out"
# Each topic the demo reports on: its count of distinct events agrees with
# kcat's (every record's channelops_position header; distinct values = distinct
# events), and every event of one type the demo counted is on it.
#   check_topic TOPIC EVENT_TYPE
check_topic() {
  local topic=$1 type=$2 reported headers counted kcat_all kcat_type
  reported=$(echo "$out" | sed -n "s/^Events on Kafka topic $topic (distinct positions): \([0-9]*\)\$/\1/p")
  [ -n "$reported" ] && [ "$reported" -gt 0 ] || { echo "FAIL: no event count for $topic in the report"; exit 1; }
  headers=$(kcat -b "$CHANNELOPS_KAFKA_ADDR" -C -t "$topic" -e -q -f '%h\n' 2>/dev/null)
  kcat_all=$(echo "$headers" | tr ',' '\n' | sed -n 's/^channelops_position=//p' | sort -u | wc -l)
  echo "$topic: report $reported events; kcat: $kcat_all distinct positions"
  [ "$reported" = "$kcat_all" ] || { echo "FAIL: report and Kafka disagree on $topic"; exit 1; }
  counted=$(echo "$out" | sed -n "s/^ *$type *\([0-9]*\)\$/\1/p")
  kcat_type=$(echo "$headers" | grep "ce_type=$type" | tr ',' '\n' |
    sed -n 's/^channelops_position=//p' | sort -u | wc -l)
  [ -n "$counted" ] && [ "$counted" -gt 0 ] && [ "$counted" = "$kcat_type" ] ||
    { echo "FAIL: $type ${counted:-none} in the report vs kcat $kcat_type"; exit 1; }
}
check_topic channelops.deal_registration.events.v1 channelops.dealreg.v1.DealRegistered
check_topic channelops.lead_routing.events.v1 channelops.leads.v1.LeadSubmitted
grep -q "<svg" "$CHANNELOPS_VAR_DIR/report.html" || { echo "FAIL: no SVG chart in report.html"; exit 1; }
if grep -oE 'https?://[^" ]*' "$CHANNELOPS_VAR_DIR/report.html" | grep -v '^http://www.w3.org/2000/svg$' | grep -q .; then
  echo "FAIL: report.html references the network"; exit 1
fi

# Co-op accrued through the real mdf binary from the pos_ingestion topic: every
# sell-in shipment to P001 credited exactly once.
if [ -x "$BUILD_DIR/bin/mdf" ] && [ -x "$BUILD_DIR/bin/pos_ingestion" ]; then
  for _ in $(seq 1 30); do
    fund=$("$BUILD_DIR/bin/channelopsctl" call --addr="127.0.0.1:$CHANNELOPS_MDF_PORT" \
      channelops.mdf.v1.MdfService/GetFund '{"fund_id":"COOP-P001"}' || true)
    echo "$fund" | grep -q '"accrual_count":"4"' && break
    sleep 1
  done
  echo "$fund" | grep -q '"accrual_count":"4"' || { echo "FAIL: co-op accrual: $fund"; exit 1; }
fi

# The CLI: stream a CSV report, tail a topic decoded to JSON.
if [ -x "$BUILD_DIR/bin/pos_ingestion" ]; then
  ing=$("$BUILD_DIR/bin/channelopsctl" ingest --addr="127.0.0.1:$CHANNELOPS_POS_INGESTION_PORT" \
    --file="$ROOT/services/pos_ingestion/tests/testdata/sell_through.csv" --partner=P001 --report_id=cli-1 \
    --period_start=2026-01-01 --period_end=2026-02-01)
  echo "$ing" | grep -q '"lines_received"' || { echo "FAIL: channelopsctl ingest: $ing"; exit 1; }
fi
first=$("$BUILD_DIR/bin/channelopsctl" tail --kafka="$CHANNELOPS_KAFKA_ADDR" \
  --topic=channelops.deal_registration.events.v1 --from_beginning --max=1 --idle=30s)
echo "$first" | grep -q '"event_type":"channelops.dealreg.v1.' || { echo "FAIL: channelopsctl tail: $first"; exit 1; }

# A real Prometheus scrapes every service of the stack: each one's request
# metrics and each writer's outbox metrics are found through its HTTP API.
prom_port=$((base + 50))
{
  echo "global: {scrape_interval: 1s}"
  echo "scrape_configs:"
  for s in deal_registration lead_routing pos_ingestion mdf compensation projections; do
    [ -x "$BUILD_DIR/bin/$s" ] || continue
    up=$(echo "$s" | tr a-z A-Z); v="CHANNELOPS_${up}_PORT"
    echo "  - job_name: $s"
    echo "    static_configs: [{targets: ['127.0.0.1:$(( ${!v} + 1000 ))']}]"
  done
} >"$CHANNELOPS_VAR_DIR/prometheus.yml"
/usr/bin/prometheus --config.file="$CHANNELOPS_VAR_DIR/prometheus.yml" --storage.tsdb.path="$CHANNELOPS_VAR_DIR/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$CHANNELOPS_VAR_DIR/prometheus.log" 2>&1 &
prom_pid=$!
q() { curl -s "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"; }
ok=0
for _ in $(seq 1 60); do
  handled=$(q 'count by (job) (channelops_grpc_server_handled_total)' || true)
  outbox=$(q 'count by (job) (channelops_outbox_published_total)' || true)
  missing=""
  for s in deal_registration lead_routing pos_ingestion mdf compensation projections; do
    [ -x "$BUILD_DIR/bin/$s" ] || continue
    echo "$handled" | grep -q "\"job\":\"$s\"" || missing="$missing $s(requests)"
    echo "$outbox" | grep -q "\"job\":\"$s\"" || missing="$missing $s(outbox)"
  done
  if [ -z "$missing" ]; then ok=1; break; fi
  sleep 1
done
kill "$prom_pid" 2>/dev/null || true
[ "$ok" = 1 ] || { echo "FAIL: Prometheus did not find:$missing"; exit 1; }
echo "Prometheus scraped request and outbox metrics of every service"

pids=$(cat "$CHANNELOPS_VAR_DIR"/run/*.pid)
"$ROOT/tools/channelops" down
for p in $pids; do
  if kill -0 "$p" 2>/dev/null; then echo "FAIL: process $p still running after down"; exit 1; fi
done
echo "PASS"
