# Shared by tools/bench/callgrind_*.sh (sourced, not run): a benchmark under
# callgrind with every traced process's threads in files of their own, and the
# per-thread instruction counts of the server it started.

# Runs "$@" under callgrind; sets CG_OUT to the directory holding one file per
# thread (cg.<pid>-<thread>) and the command's output (log). Never fails: a
# benchmark's floors may fail under valgrind; the caller checks the log.
cg_run() {
  CG_OUT=$(mktemp -d)
  valgrind --tool=callgrind --trace-children=yes --separate-threads=yes \
    --callgrind-out-file="$CG_OUT/cg.%p" "$@" >"$CG_OUT/log" 2>&1 || true
}

# The server's thread files: the traced process with the most threads.
cg_server_threads() {
  local server
  server=$(ls "$CG_OUT" | grep -- '^cg\.[0-9]*-' | sed 's/-[0-9]*$//' | sort | uniq -c | sort -n |
           tail -1 | awk '{print $2}')
  ls "$CG_OUT/$server"-*
}

# A thread file's instructions (0 if it ran none).
cg_instructions() { awk '/^summary:/ {print $2; exit}' "$1"; }

# The thread's 60 most inclusive functions, to match a thread by what it runs.
cg_functions() { callgrind_annotate --inclusive=yes "$1" 2>/dev/null | head -60 || true; }

# Prints, per UNIT (e.g. "registration", "lead") over N of them, the
# instructions of the traced server's threads by kind: the event store's
# writer, committer and answerer, RocksDB's background threads, gRPC's
# threads, and the total (the main thread, the process's start, left out).
#   cg_store_threads_per LABEL UNIT N
cg_store_threads_per() {
  local label=$1 unit=$2 count=$3 f n funcs
  local writer=0 committer=0 answerer=0 engine=0 grpc=0 total=0
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
  awk -v d="$label" -v u="$unit" -v w="$writer" -v c="$committer" -v a="$answerer" -v e="$engine" \
      -v g="$grpc" -v t="$total" -v n="$count" 'BEGIN {
    printf "%s: per %s: writer %.0f, committer %.0f, answerer %.0f, engine %.0f, gRPC %.0f; total %.0f instructions (%d)\n",
           d, u, w / n, c / n, a / n, e / n, g / n, t / n, n }'
}
