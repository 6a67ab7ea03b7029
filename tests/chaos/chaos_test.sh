#!/usr/bin/env bash
# Whole-stack fault tests through the real binaries (docs/RELIABILITY.md).
#
#   chaos_test.sh ROOT BUILD_DIR kill   [SECONDS]
#     Under a fixed-rate mixed load (channelopsctl load: retries with the same
#     request ids), SIGKILL a random service or the projections every 2-5 s for
#     SECONDS (default $CHANNELOPS_CHAOS_SECONDS or 60) and restart it; then
#     tests/chaos/verify.py checks every store against Kafka, every answered
#     command's fact exactly once, co-op money in mdf against the shipments in
#     pos_ingestion, and the projections against a rebuild from the topics.
#
#   chaos_test.sh ROOT BUILD_DIR outage [SECONDS]
#     The only Kafka broker is down for SECONDS (default 60) in the middle of a
#     load run: no command may fail even once, the outbox lag metric must rise
#     during the outage and return to 0 after it, and verify.py must pass.
set -euo pipefail
ROOT="$1"; BUILD_DIR="$2"; MODE="${3:-kill}"
case "$MODE" in
  kill) SECONDS_UNDER_TEST="${4:-${CHANNELOPS_CHAOS_SECONDS:-60}}" ;;
  outage) SECONDS_UNDER_TEST="${4:-60}" ;;
  *) echo "usage: chaos_test.sh ROOT BUILD_DIR kill|outage [SECONDS]"; exit 2 ;;
esac
PY=/usr/bin/python3
CTL="$BUILD_DIR/bin/channelopsctl"
export CHANNELOPS_BUILD_DIR="$BUILD_DIR"
export CHANNELOPS_VAR_DIR="$(mktemp -d /tmp/channelops_chaos.XXXXXX)"
base=$((20000 + RANDOM % 11000))  # below the ephemeral range (32768+), metrics +1000
export CHANNELOPS_KAFKA_ADDR="127.0.0.1:$base"
control_port=$((base + 40))
export CHANNELOPS_DEV_KAFKA_CONTROL_ADDR="127.0.0.1:$control_port"
export CHANNELOPS_COOP_ACCRUAL_BPS=200
services=(deal_registration lead_routing pos_ingestion mdf compensation projections)
i=1; ports=""
for s in "${services[@]}"; do
  up=$(echo "$s" | tr a-z A-Z)
  export "CHANNELOPS_${up}_PORT=$((base + i))"
  ports="${ports:+$ports,}$s=$((base + i))"; i=$((i + 1))
done
rebuild_port=$((base + 30))
rebuild_pid=""
cleanup() {
  [ -n "$rebuild_pid" ] && kill -TERM "$rebuild_pid" 2>/dev/null
  "$ROOT/tools/channelops" down >/dev/null 2>&1 || true
  if [ "${KEEP_VAR:-0}" = 1 ]; then echo "kept $CHANNELOPS_VAR_DIR"; else rm -rf "$CHANNELOPS_VAR_DIR"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$CHANNELOPS_VAR_DIR"/log/*.log; do echo "--- tail $f"; tail -3 "$f" | cut -c1-300; done; exit 1; }

"$ROOT/tools/channelops" up >/dev/null
journal="$CHANNELOPS_VAR_DIR/journal.tsv"
load_args=(--deal_registration="127.0.0.1:$((base + 1))" --lead_routing="127.0.0.1:$((base + 2))"
           --pos_ingestion="127.0.0.1:$((base + 3))" --mdf="127.0.0.1:$((base + 4))"
           --rate="${CHANNELOPS_CHAOS_RATE:-100}" --journal="$journal" --run="chaos$base")

kafka_control() {  # down|up <broker id>
  exec 3<>"/dev/tcp/127.0.0.1/$control_port"
  echo "$1 $2" >&3
  read -r -t 5 reply <&3 || true
  exec 3>&-
  echo "dev_kafka: $1 $2 -> ${reply:-no reply}"
}
outbox_lag() {  # sum of every writer's channelops_outbox_lag_events
  local total=0 v
  for s in deal_registration lead_routing pos_ingestion mdf; do
    up=$(echo "$s" | tr a-z A-Z); p="CHANNELOPS_${up}_PORT"
    v=$(curl -s "http://127.0.0.1:$((${!p} + 1000))/metrics" | sed -n 's/^channelops_outbox_lag_events[^ ]* \([0-9.e+]*\)$/\1/p' | head -1)
    total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN { printf "%d", a + b }')
  done
  echo "$total"
}

if [ "$MODE" = kill ]; then
  "$CTL" load "${load_args[@]}" --duration="${SECONDS_UNDER_TEST}s" >"$CHANNELOPS_VAR_DIR/load.json" \
    2>"$CHANNELOPS_VAR_DIR/load.log" &
  load_pid=$!
  kills=0; end=$((SECONDS + SECONDS_UNDER_TEST)); order=()
  while [ $SECONDS -lt $end ]; do
    sleep "$((2 + RANDOM % 4))"
    # Random order, but every service and the projections are hit in turn.
    if [ ${#order[@]} -eq 0 ]; then mapfile -t order < <(printf '%s\n' "${services[@]}" | shuf); fi
    victim=${order[0]}; order=("${order[@]:1}")
    pid=$(cat "$CHANNELOPS_VAR_DIR/run/$victim.pid")
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    kills=$((kills + 1))
    echo "$(date +%T) SIGKILL $victim (pid $pid); restarting"
    "$ROOT/tools/channelops" up >/dev/null || fail "$victim did not come back"
  done
  wait "$load_pid" || { cat "$CHANNELOPS_VAR_DIR/load.json" "$CHANNELOPS_VAR_DIR/load.log"; fail "the load reported unanswered or refused commands"; }
  echo "load: $(cat "$CHANNELOPS_VAR_DIR/load.json")"
  echo "$kills SIGKILLs in ${SECONDS_UNDER_TEST}s"
  [ "$kills" -ge 3 ] || fail "too few kills ($kills)"
  # A projections instance rebuilt from the topics alone, to compare with the live one.
  "$BUILD_DIR/bin/projections" --rebuild --grpc_addr="127.0.0.1:$rebuild_port" \
    --metrics_addr="127.0.0.1:$((rebuild_port + 1000))" --data_dir="$CHANNELOPS_VAR_DIR/data/projections_rebuild" \
    --kafka_bootstrap="$CHANNELOPS_KAFKA_ADDR" --consumer_group=chaos.rebuild \
    >"$CHANNELOPS_VAR_DIR/log/projections_rebuild.log" 2>&1 &
  rebuild_pid=$!
  "$CTL" --addr="127.0.0.1:$rebuild_port" health --wait=30s >/dev/null || fail "rebuild projections did not start"
  $PY "$ROOT/tests/chaos/verify.py" --build="$BUILD_DIR" --kafka="$CHANNELOPS_KAFKA_ADDR" --ports="$ports" \
    --journal="$journal" --coop_bps=200 --rebuild_addr="127.0.0.1:$rebuild_port" || fail "verification"
else
  total=$((SECONDS_UNDER_TEST + 40))
  "$CTL" load "${load_args[@]}" --duration="${total}s" >"$CHANNELOPS_VAR_DIR/load.json" \
    2>"$CHANNELOPS_VAR_DIR/load.log" &
  load_pid=$!
  sleep 15
  lag_before=$(outbox_lag)
  kafka_control down 1
  peak=0
  for _ in $(seq 1 "$SECONDS_UNDER_TEST"); do
    sleep 1
    l=$(outbox_lag); [ "$l" -gt "$peak" ] && peak=$l
  done
  kafka_control up 1
  echo "outbox lag: $lag_before before the outage, peak $peak during it"
  [ "$peak" -ge 1000 ] || fail "the outbox lag did not rise during the outage (peak $peak)"
  wait "$load_pid" || { cat "$CHANNELOPS_VAR_DIR/load.json" "$CHANNELOPS_VAR_DIR/load.log"; fail "the load reported unanswered or refused commands"; }
  summary=$(cat "$CHANNELOPS_VAR_DIR/load.json"); echo "load: $summary"
  echo "$summary" | grep -q '"failed_attempts":{}' || fail "commands failed during the Kafka outage"
  drained=""
  for _ in $(seq 1 120); do
    l=$(outbox_lag); [ "$l" -eq 0 ] && { drained=1; break; }; sleep 1
  done
  [ -n "$drained" ] || fail "the outbox backlog did not drain (lag $(outbox_lag))"
  echo "outbox lag back to 0 after the outage"
  $PY "$ROOT/tests/chaos/verify.py" --build="$BUILD_DIR" --kafka="$CHANNELOPS_KAFKA_ADDR" --ports="$ports" \
    --journal="$journal" --coop_bps=200 || fail "verification"
fi
echo "PASS"
