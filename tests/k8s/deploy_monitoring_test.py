#!/usr/bin/python3
"""deploy_monitoring_test: checks deploy/prometheus and deploy/grafana.

  - promtool check config (local stack config; the Kubernetes one with its
    kubernetes_sd_configs swapped for a static target, because Debian's
    Prometheus is built without Kubernetes discovery), check rules, test rules
    (alerts_test.yml: every alert fires on its failure and not on look-alikes);
  - the Kubernetes relabelling, simulated on the pods that k8s/overlays/prod
    renders: one target per pod at the metrics port with the labels the alerts
    use, other pods dropped;
  - every channelops_* metric the alerts and the dashboard query exists in the
    code (libs/, services/, tools/), every alert has a severity, a summary and a
    runbook section in docs/OPERATIONS.md;
  - the Grafana dashboard: well-formed panels, every query valid PromQL
    (promtool, with the dashboard variables substituted), the panels the
    operations guide promises;
  - self-tests: a broken rule and a wrong alert expectation must be rejected.

Usage: deploy_monitoring_test.py --source-dir REPO --work-dir DIR
Needs: /usr/bin/python3 with python3-yaml, promtool (Debian package prometheus).
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kustomize_lite  # noqa: E402

SEVERITIES = {"warning", "critical"}
# Panels docs/OPERATIONS.md promises (metric -> what it shows).
REQUIRED_DASHBOARD_METRICS = {
    "channelops_grpc_server_handled_total": "request and error rate per service and method",
    "channelops_grpc_server_handling_seconds_bucket": "p50 / p99 latency",
    "channelops_outbox_lag_events": "outbox lag",
    "channelops_consumer_lag_events": "consumer lag",
    "channelops_eventstore_batch_size_commands_bucket": "event store batch size",
    "channelops_eventstore_append_latency_seconds_bucket": "event store append latency",
    "channelops_eventstore_stage_seconds_bucket": "append latency by stage",
}


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, name, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}")
            if detail:
                print("     " + str(detail).replace("\n", "\n     "))


def promtool(*args, cwd=None):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    return r.returncode, (r.stdout + r.stderr).strip()


def code_metrics(source_dir):
    """Metric names registered in the code, with the series a histogram exposes."""
    names, histograms = set(), set()
    for top in ("libs", "services", "tools"):
        for root, _, files in os.walk(os.path.join(source_dir, top)):
            for fn in files:
                if not fn.endswith((".cc", ".h")):
                    continue
                with open(os.path.join(root, fn), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for m in re.finditer(r'Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\("'
                                     r'(channelops_[a-z0-9_]+)"\)', text):
                    names.add(m.group(2))
                    if m.group(1) == "Histogram":
                        histograms.add(m.group(2))
    series = set(names)
    for h in histograms:
        series |= {h + "_bucket", h + "_sum", h + "_count"}
    return series


def metrics_in(expr):
    return set(re.findall(r"\b(channelops_[a-z0-9_]+)\b", expr))


def markdown_anchors(path):
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#+\s+(.*)", line)
            if m:
                a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
                anchors.add(a)
    return anchors


# ---------------------------------------------------------------- relabelling

def relabel(labels, configs):
    """Prometheus relabelling (replace / keep / drop) on one target; None if dropped."""
    labels = dict(labels)
    for c in configs:
        action = c.get("action", "replace")
        sep = c.get("separator", ";")
        value = sep.join(labels.get(s, "") for s in c.get("source_labels", []))
        regex = re.compile(c.get("regex", "(.*)"))  # anchored like Prometheus: fullmatch
        m = regex.fullmatch(value)
        if action == "keep":
            if not m:
                return None
        elif action == "drop":
            if m:
                return None
        elif action == "replace":
            if m:
                repl = c.get("replacement", "$1")
                out = re.sub(r"\$\{?(\d+)\}?", lambda g: m.group(int(g.group(1))) or "", repl)
                if out:
                    labels[c["target_label"]] = out
                else:
                    labels.pop(c["target_label"], None)
        else:
            raise ValueError(f"relabel action {action} not simulated")
    return labels


def k8s_meta_label(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(objs):
    """Prometheus kubernetes_sd role=pod targets for the pods the StatefulSets create."""
    targets = []
    for o in objs:
        if o["kind"] != "StatefulSet":
            continue
        tmpl = o["spec"]["template"]
        for i in range(o["spec"]["replicas"]):
            pod = f"{o['metadata']['name']}-{i}"
            ip = f"10.1.{len(targets) // 200}.{len(targets) % 200 + 1}"
            base = {"__meta_kubernetes_namespace": o["metadata"]["namespace"],
                    "__meta_kubernetes_pod_name": pod, "__meta_kubernetes_pod_ip": ip,
                    "__scheme__": "http", "__metrics_path__": "/metrics"}
            for k, v in (tmpl["metadata"].get("labels") or {}).items():
                base["__meta_kubernetes_pod_label_" + k8s_meta_label(k)] = v
            for k, v in (tmpl["metadata"].get("annotations") or {}).items():
                base["__meta_kubernetes_pod_annotation_" + k8s_meta_label(k)] = v
            for c in tmpl["spec"]["containers"]:
                for p in c.get("ports") or []:
                    t = dict(base)
                    t["__address__"] = f"{ip}:{p['containerPort']}"
                    t["__meta_kubernetes_pod_container_port_name"] = p.get("name", "")
                    targets.append((pod, t))
    return targets


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    src = args.source_dir
    prom_dir = os.path.join(src, "deploy", "prometheus")
    os.makedirs(args.work_dir, exist_ok=True)
    res = Results()

    if shutil.which("promtool") is None:
        res.check(False, "promtool installed", "promtool not found: apt-get install prometheus "
                  "(tools/channelops setup installs it)")
        print(f"{res.passed} passed, {res.failed} failed")
        return 1

    # Prometheus: the local stack config as is.
    rc, out = promtool("check", "config", os.path.join(prom_dir, "prometheus.yml"))
    res.check(rc == 0, "promtool check config prometheus.yml", out)

    # The Kubernetes config: everything but the discovery itself.
    k8s_cfg_path = os.path.join(prom_dir, "prometheus-kubernetes.yml")
    with open(k8s_cfg_path, encoding="utf-8") as f:
        k8s_cfg = yaml.safe_load(f)
    jobs = k8s_cfg.get("scrape_configs") or []
    sd_ok = bool(jobs) and all(
        [sd.get("role") for sd in j.get("kubernetes_sd_configs") or []] == ["pod"] for j in jobs)
    res.check(sd_ok, "prometheus-kubernetes.yml discovers pods (kubernetes_sd_configs role: pod)")
    with tempfile.TemporaryDirectory() as tmp:
        stripped = copy.deepcopy(k8s_cfg)
        for j in stripped["scrape_configs"]:
            j.pop("kubernetes_sd_configs", None)
            j["static_configs"] = [{"targets": ["127.0.0.1:51051"]}]
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            yaml.safe_dump(stripped, f)
        shutil.copy(os.path.join(prom_dir, "alerts.yml"), tmp)
        rc, out = promtool("check", "config", os.path.join(tmp, "prometheus.yml"))
        res.check(rc == 0, "promtool check config prometheus-kubernetes.yml (static discovery)", out)

    # Relabelling against the pods of the prod render.
    prod = kustomize_lite.render(os.path.join(src, "k8s", "overlays", "prod"))
    relabels = jobs[0].get("relabel_configs") or [] if jobs else []
    kept = {}
    for pod, t in pod_targets(prod):
        out = relabel(t, relabels)
        if out is not None:
            kept.setdefault(pod, set()).add(
                (out["__address__"], out.get("__metrics_path__"), out.get("service"),
                 out.get("namespace"), out.get("pod"), out.get("environment")))
    sts = [o for o in prod if o["kind"] == "StatefulSet"]
    problems = []
    for o in sts:
        tmpl = o["spec"]["template"]
        port = tmpl["metadata"]["annotations"]["prometheus.io/port"]
        want_service = tmpl["metadata"]["labels"]["channelops.io/service"]
        for i in range(o["spec"]["replicas"]):
            pod = f"{o['metadata']['name']}-{i}"
            got = kept.get(pod, set())
            if len(got) != 1:
                problems.append(f"{pod}: {len(got)} distinct targets {got}")
                continue
            addr, path, service, ns, podl, env = next(iter(got))
            if not addr.endswith(":" + port) or path != "/metrics" or service != want_service \
                    or ns != o["metadata"]["namespace"] or podl != pod or env != "prod":
                problems.append(f"{pod}: target {got}")
    res.check(sts and not problems, "kubernetes relabelling: one target per pod at the metrics "
              "port, labelled service/namespace/pod/environment", "\n".join(problems))
    other = {"__address__": "10.9.9.9:8080", "__meta_kubernetes_pod_annotation_prometheus_io_scrape":
             "true", "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "something-else"}
    res.check(relabel(other, relabels) is None, "kubernetes relabelling drops other annotated pods")

    # Rules.
    alerts_path = os.path.join(prom_dir, "alerts.yml")
    rc, out = promtool("check", "rules", alerts_path)
    res.check(rc == 0, "promtool check rules alerts.yml", out)
    rc, out = promtool("test", "rules", "alerts_test.yml", cwd=prom_dir)
    res.check(rc == 0, "promtool test rules alerts_test.yml", out)

    metrics = code_metrics(src)
    res.check(len(metrics) >= 10, f"metrics registered in the code ({len(metrics)} series)",
              sorted(metrics))
    with open(alerts_path, encoding="utf-8") as f:
        alerts = yaml.safe_load(f)
    anchors = markdown_anchors(os.path.join(src, "docs", "OPERATIONS.md"))
    names = []
    for g in alerts["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            name = r["alert"]
            names.append(name)
            unknown = metrics_in(r["expr"]) - metrics
            res.check(not unknown, f"alert {name}: metrics exist in the code",
                      f"unknown metrics {sorted(unknown)}")
            ann = r.get("annotations") or {}
            runbook = ann.get("runbook", "")
            ok = (r.get("labels") or {}).get("severity") in SEVERITIES and ann.get("summary") \
                and ann.get("description") and runbook.startswith("docs/OPERATIONS.md#") \
                and runbook.split("#", 1)[1] == name.lower() and name.lower() in anchors
            res.check(ok, f"alert {name}: severity, summary, description, runbook section",
                      f"labels {r.get('labels')}, runbook {runbook!r}; docs/OPERATIONS.md needs "
                      f"a heading '### {name}'")
    res.check(len(names) == len(set(names)), "alert names unique")

    # Self-tests: promtool must reject a broken rule and a wrong expectation.
    with tempfile.TemporaryDirectory() as tmp:
        broken = copy.deepcopy(alerts)
        broken["groups"][0]["rules"][0]["expr"] = "sum by (service (up)"
        with open(os.path.join(tmp, "alerts.yml"), "w") as f:
            yaml.safe_dump(broken, f)
        rc, _ = promtool("check", "rules", os.path.join(tmp, "alerts.yml"))
        res.check(rc != 0, "promtool rejects a rule with invalid PromQL")
        shutil.copy(alerts_path, os.path.join(tmp, "alerts.yml"))
        with open(os.path.join(prom_dir, "alerts_test.yml"), encoding="utf-8") as f:
            tests = yaml.safe_load(f)
        first = tests["tests"][0]["alert_rule_test"]
        for t in first:
            if t.get("exp_alerts"):
                t["exp_alerts"][0]["exp_labels"]["severity"] = "info"
                break
        with open(os.path.join(tmp, "alerts_test.yml"), "w") as f:
            yaml.safe_dump(tests, f)
        rc, _ = promtool("test", "rules", "alerts_test.yml", cwd=tmp)
        res.check(rc != 0, "promtool test rules rejects a wrong expectation")

    # Grafana.
    with open(os.path.join(src, "deploy", "grafana", "channelops.json"), encoding="utf-8") as f:
        dash = json.load(f)
    res.check(dash.get("uid") and dash.get("title") and isinstance(dash.get("panels"), list),
              "dashboard has uid, title, panels")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    res.check({"datasource", "service"} <= variables, "dashboard variables datasource, service",
              sorted(variables))
    ids, exprs, problems = set(), [], []
    for p in dash["panels"]:
        if p.get("id") in ids:
            problems.append(f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        gp = p.get("gridPos") or {}
        if not all(k in gp for k in "hwxy") or gp["x"] + gp["w"] > 24:
            problems.append(f"panel {p.get('title')}: bad gridPos {gp}")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problems.append(f"panel {p.get('title')}: datasource must be ${{datasource}}")
        if not p.get("targets"):
            problems.append(f"panel {p.get('title')}: no query")
        for t in p.get("targets") or []:
            exprs.append((p.get("title"), t.get("expr", "")))
    res.check(not problems, "dashboard panels well formed", "\n".join(problems))
    unknown = set().union(*(metrics_in(e) for _, e in exprs)) - metrics
    res.check(not unknown, "dashboard metrics exist in the code", sorted(unknown))
    used = set().union(*(metrics_in(e) for _, e in exprs))
    missing = {m: what for m, what in REQUIRED_DASHBOARD_METRICS.items() if m not in used}
    res.check(not missing, "dashboard shows " + ", ".join(REQUIRED_DASHBOARD_METRICS.values()),
              missing)
    with tempfile.TemporaryDirectory() as tmp:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:panel_{i}",
             "expr": e.replace("$__rate_interval", "5m").replace("$service", ".*")
                      .replace("$namespace", ".*")}
            for i, (_, e) in enumerate(exprs)]}]}
        with open(os.path.join(tmp, "dashboard_rules.yml"), "w") as f:
            yaml.safe_dump(rules, f)
        rc, out = promtool("check", "rules", os.path.join(tmp, "dashboard_rules.yml"))
        res.check(rc == 0 and len(exprs) > 0, f"dashboard queries are valid PromQL ({len(exprs)})",
                  out)

    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
