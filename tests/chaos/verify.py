#!/usr/bin/python3
"""Checks a stack after `channelopsctl load` ran against it (tests/chaos).

Reads every service topic from Kafka (decoded by `channelopsctl tail`), each
service's durable last position (its /metrics), the load's journal of answered
commands, and read models over gRPC, then asserts:

  1. every event of every store is on Kafka: the distinct global positions on a
     topic are exactly 1..last_position of the store;
  2. per stream, events arrive in stream order and stream versions are gap-free
     (duplicates from re-publishing after a crash are allowed and are detected by
     position);
  3. every answered command's fact exists exactly once (one event of its first
     type with the command's request id as correlation id);
  4. money reconciles across services: each partner's co-op fund in mdf accrued
     exactly rate x the value of the shipments the load recorded in pos_ingestion
     (through Kafka), and pos_ingestion's channel inventory holds every unit;
  5. with --rebuild_addr: the projections equal a rebuild from the topics.

Exit status 0 when everything holds; prints one line per check.
"""
import argparse
import collections
import json
import subprocess
import sys
import time
import urllib.request

SERVICES = ["deal_registration", "lead_routing", "pos_ingestion", "mdf", "compensation"]
FAILURES = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def ctl(args, build):
    return subprocess.run([f"{build}/bin/channelopsctl"] + args, check=False, capture_output=True,
                          text=True, timeout=600)


def call(build, addr, method, req):
    r = ctl(["call", f"--addr={addr}", method, json.dumps(req)], build)
    if r.returncode != 0:
        raise RuntimeError(f"{method} at {addr}: {r.stdout} {r.stderr}")
    return json.loads(r.stdout)


def last_position(metrics_addr):
    body = urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith("channelops_eventstore_last_position"):
            return int(float(line.split()[-1]))
    raise RuntimeError(f"no channelops_eventstore_last_position at {metrics_addr}")


def read_topic(build, kafka, topic):
    r = ctl(["tail", f"--kafka={kafka}", f"--topic={topic}", "--from_beginning", "--idle=15s"], build)
    out = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--ports", required=True, help="svc=grpc_port,... (metrics = grpc + 1000)")
    ap.add_argument("--journal", required=True)
    ap.add_argument("--coop_bps", type=int, default=200)
    ap.add_argument("--rebuild_addr", default="")
    a = ap.parse_args()
    ports = dict(kv.split("=") for kv in a.ports.split(","))

    journal = []
    with open(a.journal) as f:
        for line in f:
            svc, method, rid, attempts, first = line.rstrip("\n").split("\t")
            journal.append((svc, method, rid, int(attempts), first))
    print(f"journal: {len(journal)} answered commands, "
          f"{sum(1 for j in journal if j[3] > 1)} answered after retries")

    by_corr = collections.defaultdict(set)  # (correlation id, event type) -> positions
    events_by_type = collections.defaultdict(dict)  # event type -> {position: envelope}
    for svc in SERVICES:
        if svc not in ports:
            continue
        topic = f"channelops.{svc}.events.v1"
        # A store can still be writing when the load has ended: mdf accrues co-op
        # from the shipments it consumes, and a restarted mdf catches up on them
        # after the load. Its durable position is read before and after the
        # topic; the topic is read again until the two agree (the store quiet).
        metrics = f"127.0.0.1:{int(ports[svc]) + 1000}"
        last = last_position(metrics)
        for _ in range(10):
            events = read_topic(a.build, a.kafka, topic)
            after = last_position(metrics)
            if after == last:
                break
            print(f"      {svc}: store moved from {last} to {after} while its topic was read; "
                  "reading again", flush=True)
            last = after
        positions = {int(e["global_position"]) for e in events}
        check(positions == set(range(1, last + 1)),
              f"{topic}: distinct positions on Kafka == 1..{last} (store) "
              f"[{len(events)} records, {len(positions)} distinct"
              + (f", missing e.g. {sorted(set(range(1, last + 1)) - positions)[:5]}"
                 if positions != set(range(1, last + 1)) else "")
              + "]")
        seen = set()
        versions = collections.defaultdict(list)
        order_ok = True
        for e in events:
            p = int(e["global_position"])
            if p in seen:
                continue  # a re-published duplicate
            seen.add(p)
            v = versions[e["stream_id"]]
            if v and int(e["stream_version"]) <= v[-1]:
                order_ok = False
            v.append(int(e["stream_version"]))
            by_corr[(e.get("correlation_id", ""), e["event_type"])].add(p)
            events_by_type[e["event_type"]][p] = e
        check(order_ok, f"{topic}: per-stream order on Kafka ({len(versions)} streams)")
        gap_free = all(v == list(range(1, len(v) + 1)) for v in versions.values())
        check(gap_free, f"{topic}: stream versions gap-free from 1")

    bad = [(rid, first, len(by_corr.get((rid, first), ()))) for (svc, _, rid, _, first) in journal
           if svc in ports and first and len(by_corr.get((rid, first), ())) != 1]
    check(not bad, f"every answered command's fact exactly once ({len(journal)} commands)"
          + (f": e.g. {bad[:5]}" if bad else ""))

    # Money across services: shipments (pos_ingestion) -> co-op accruals (mdf, via Kafka).
    if "pos_ingestion" in ports and "mdf" in ports:
        shipped = collections.Counter()  # partner -> units
        for e in events_by_type["channelops.pos.v1.ShipmentRecorded"].values():
            s = e["payload"]
            sh = s.get("shipment", s)
            if str(sh.get("sku", "")).startswith("LOAD-"):
                shipped[sh["partner_id"]] += int(sh["quantity"])
        journal_units = collections.Counter()
        for (svc, method, rid, _, _) in journal:
            if method == "RecordShipments":
                i = int(rid.rsplit("-", 1)[1])
                journal_units["P%03d" % (1 + (i // 7) % 30)] += 1 + i % 20
        check(shipped == journal_units,
              f"units shipped on Kafka == units the load recorded ({sum(journal_units.values())})")
        mdf_addr = f"127.0.0.1:{ports['mdf']}"
        deadline = time.time() + 120
        while True:
            mismatches = []
            for partner, units in sorted(journal_units.items()):
                fund = call(a.build, mdf_addr, "channelops.mdf.v1.MdfService/GetFund",
                            {"fund_id": f"COOP-LOAD-{partner}"})["fund"]
                accrued = int(fund.get("balance", {}).get("accrued", {}).get("amount_micros", "0"))
                want = units * 700 * 1_000_000 * a.coop_bps // 10_000
                if accrued != want:
                    mismatches.append((partner, accrued, want))
            if not mismatches or time.time() > deadline:
                break
            time.sleep(2)
        check(not mismatches, "co-op accrued in mdf == rate x shipments recorded in pos_ingestion, "
              f"per partner ({len(journal_units)} partners)"
              + (f": e.g. {mismatches[:3]}" if mismatches else ""))
        pos_addr = f"127.0.0.1:{ports['pos_ingestion']}"
        inv_bad = []
        for partner, units in sorted(journal_units.items()):
            inv = call(a.build, pos_addr, "channelops.pos.v1.PosIngestionService/GetChannelInventory",
                       {"partner_id": partner, "sku": "LOAD-NET-1"})
            on_hand = sum(int(p.get("on_hand", 0)) for p in inv.get("positions", []))
            if on_hand != units:
                inv_bad.append((partner, on_hand, units))
        check(not inv_bad, "pos_ingestion channel inventory == units shipped, per partner"
              + (f": e.g. {inv_bad[:3]}" if inv_bad else ""))

    if a.rebuild_addr and "projections" in ports:
        live = f"127.0.0.1:{ports['projections']}"
        svc = "channelops.analytics.v1.AnalyticsService"

        def snapshot(addr):
            st = call(a.build, addr, f"{svc}/GetProjectionStatus", {})
            roi = call(a.build, addr, f"{svc}/ListPartnerRoi", {"period_id": time.strftime("%Y-%m", time.gmtime()),
                                                              "page_size": 500})
            pipes = [call(a.build, addr, f"{svc}/GetPartnerPipeline", {"partner_id": "P%03d" % p})
                     for p in range(1, 31)]
            return st, {"counts": [st.get("credit_lines"), st.get("sales"), st.get("uncredited_sales")],
                        "applied": sorted((t["topic"], t.get("events_applied")) for t in st.get("topics", [])),
                        "roi": roi, "pipelines": pipes}

        deadline = time.time() + 120
        while True:
            (st1, s1), (st2, s2) = snapshot(live), snapshot(a.rebuild_addr)
            caught_up = int(st1.get("total_lag", 0)) == 0 and int(st2.get("total_lag", 0)) == 0  # proto3 JSON omits 0
            if (caught_up and s1 == s2) or time.time() > deadline:
                break
            time.sleep(3)
        check(caught_up, "projections and the rebuild caught up (lag 0)")
        diff = [k for k in s1 if s1[k] != s2[k]]
        check(not diff, "projections == a rebuild from the topics (status counts, events applied, "
              "partner ROI, 30 partner pipelines)" + (f": differ in {diff}" if diff else ""))

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
