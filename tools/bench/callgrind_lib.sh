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
