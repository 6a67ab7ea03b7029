#!/usr/bin/python3
"""Per-thread CPU of running processes over an interval, from /proc.

    tools/bench/thread_cpu.py SECONDS PID [PID...]
    tools/bench/thread_cpu.py --until-exit PID

Prints the CPU time each thread name used (threads of one name summed) as a
share of one core, busiest first. With --until-exit: each thread name's whole
CPU time from the process's start until it exits (sampled every 0.1 s; the
last sample before the exit counts), e.g. a bench-started service's CPU per
line: `bench_pos --no-postgres & thread_cpu.py --until-exit $(pgrep -x pos_ingestion)`. Used to see which of a service's threads
(es-decide, es-commit, es-answer, rocksdb:low/high, gRPC's) bounds a benchmark:
see docs/BENCHMARKS.md.
"""
import collections
import os
import sys
import time


def snapshot(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
            process = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        for tid in tids:
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            out[(pid, tid)] = (process, name, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def cpu_by_thread_name(used_by_tid):
    """{(pid, tid): (process, name, cpu s)} -> Counter {(process, name): cpu s}."""
    used = collections.Counter()
    for (process, name, cpu) in used_by_tid.values():
        used[(process, name)] += cpu
    return used


def print_threads(used, wall=None):
    for (process, name), cpu in used.most_common():
        if cpu > 0:
            share = f" {100 * cpu / wall:5.1f}%" if wall else ""
            print(f"  {process:16} {name:18} {cpu:7.2f} s{share}")


def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) > 1 else 2
    if sys.argv[1] == "--until-exit":
        pid = sys.argv[2]
        start = time.time()
        last = {}
        while os.path.exists(f"/proc/{pid}"):
            last.update(snapshot([pid]))
            time.sleep(0.1)
        used = cpu_by_thread_name(last)
        print(f"until exit: {time.time() - start:.1f} s watched, CPU {sum(used.values()):.2f} s")
        print_threads(used)
        return 0
    seconds, pids = float(sys.argv[1]), sys.argv[2:]
    before = snapshot(pids)
    start = time.time()
    time.sleep(seconds)
    after = snapshot(pids)
    wall = time.time() - start
    used = cpu_by_thread_name({
        key: (process, name, cpu - (before[key][2] if key in before else 0))
        for key, (process, name, cpu) in after.items()
    })
    total = sum(used.values())
    print(f"wall {wall:.1f} s, CPU {total:.2f} s = {100 * total / wall:.0f}% of one core")
    print_threads(used, wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
