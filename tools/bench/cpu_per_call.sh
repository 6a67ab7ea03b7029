#!/usr/bin/env bash
# CPU per call of the deal_registration server and of bench_dealreg's client,
# for the no-op phase and the RegisterDeal phase, from `perf stat` on each
# process (task-clock, context switches and the syscalls that matter), 6 s
# inside each phase. The server's threads are printed for the RegisterDeal
# phase. The environment reaches the server (bench_dealreg starts it), so an
# XP_* experiment (tools/bench/experiments/) is measured the same way.
#
#   tools/bench/cpu_per_call.sh [bench_dealreg flags]   (default --preload=100000)
#
# Needs perf (linux-perf) and the permission to trace syscalls (root, or
# kernel.perf_event_paranoid <= 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
ARGS=("$@")
[ "${#ARGS[@]}" -gt 0 ] || ARGS=(--preload=100000)
SECONDS_FLAG=10
for a in "${ARGS[@]}"; do case "$a" in --seconds=*) SECONDS_FLAG="${a#--seconds=}" ;; esac; done
SECONDS_FLAG=${SECONDS_FLAG%.*}  # whole seconds: the measuring windows are whole seconds
[ "$SECONDS_FLAG" -ge 9 ] || { echo "needs --seconds >= 9 (6 s are measured inside each phase)"; exit 2; }
OUT=$(mktemp -d)
EV=task-clock,context-switches,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_fdatasync
stdbuf -oL build/main/bin/bench_dealreg "${ARGS[@]}" >"$OUT/bench" 2>&1 &
BENCH=$!
until grep -q '^preloaded' "$OUT/bench"; do
  kill -0 $BENCH 2>/dev/null || { cat "$OUT/bench"; exit 1; }
  sleep 0.2
done
SERVER=$(pgrep -n deal_registrati)
CLIENT=$BENCH
sleep 2
perf stat -x, -e $EV -p "$SERVER" -o "$OUT/noop_server" -- sleep 6 &
perf stat -x, -e $EV -p "$CLIENT" -o "$OUT/noop_client" -- sleep 6
wait %2 2>/dev/null || true
sleep $((SECONDS_FLAG - 8 + 1))
perf stat -x, -e $EV -p "$SERVER" --per-thread -o "$OUT/reg_threads" -- sleep 6 &
perf stat -x, -e $EV -p "$SERVER" -o "$OUT/reg_server" -- sleep 6 &
perf stat -x, -e $EV -p "$CLIENT" -o "$OUT/reg_client" -- sleep 6
wait %2 %3 2>/dev/null || true
wait $BENCH || true
cat "$OUT/bench"
rate() { sed -n "s/^$1.* \([0-9][0-9]*\) \/s .*/\1/p" "$OUT/bench" | head -1; }
NOOP=$(rate "no-op unary RPC")
REG=$(rate "RegisterDeal (durable")
# perf stat -x,: value,unit,event,...
val() { awk -F, -v e="$2" '$3 ~ e {print $1; exit}' "$OUT/$1"; }
per_call() {  # file rate -> "cpu us, ctx switches, sendmsg, futex per call"
  awk -v ms="$(val "$1" task-clock)" -v cs="$(val "$1" context-switches)" \
      -v sm="$(val "$1" sendmsg)" -v fx="$(val "$1" sys_enter_futex)" -v r="$2" \
      'BEGIN { n = r * 6; printf "%6.1f us CPU, %.2f context switches, %.2f sendmsg, %.2f futex per call\n", ms * 1000 / n, cs / n, sm / n, fx / n }'
}
echo "no-op        server: $(per_call noop_server "$NOOP")"
echo "no-op        client: $(per_call noop_client "$NOOP")"
echo "RegisterDeal server: $(per_call reg_server "$REG")"
echo "RegisterDeal client: $(per_call reg_client "$REG")"
echo "RegisterDeal server threads, us of CPU per call:"
awk -F, -v r="$REG" '$4 ~ /task-clock/ && $2 + 0 > 0 {
  name = $1; sub(/-[0-9]+$/, "", name); cpu[name] += $2 }
  END { for (t in cpu) if (cpu[t] * 1000 / (r * 6) >= 0.5) printf "  %-16s %6.1f\n", t, cpu[t] * 1000 / (r * 6) }' \
  "$OUT/reg_threads" | sort -k2 -nr
rm -rf "$OUT"
