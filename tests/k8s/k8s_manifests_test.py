#!/usr/bin/python3
"""k8s_manifests_test: renders k8s/ (base, overlays/dev, overlays/prod) and checks it.

  1. Render every kustomization with tests/k8s/kustomize_lite.py. When a real
     kustomize is installed (`kubectl kustomize` or `kustomize build`), render
     with it too and require identical objects: the real tool is the reference,
     the lite renderer must match it (so it can stand in where none exists).
  2. Schema: every rendered object against the Kubernetes OpenAPI schemas
     (npm kubernetes-models, with a strict unknown-field check) and the Strimzi
     ones (schemas/strimzi-v1beta2.json, ajv) -- validate.js, under Node.
  3. Policy: what channelops needs of its manifests (security context, gRPC
     probes, flags that exist in libs/server, PDBs, deny-by-default network
     policies, Kafka replication, topic retention, one replica per shard...).
  4. Self-tests: deliberately broken manifests must be rejected by 2 and 3, and
     unsupported kustomize input by 1, so a check that stopped working fails.

Usage: k8s_manifests_test.py --source-dir REPO --work-dir DIR
Needs: /usr/bin/python3 with python3-yaml, node (>= 18) and npm; npm ci
installs tests/k8s/package-lock.json into DIR/npm (skipped when up to date).
"""

import argparse
import copy
import hashlib
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

HERE = os.path.dirname(os.path.abspath(__file__))

KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod"]

# StatefulSet name -> binary (services/<binary>, /usr/local/bin/<binary> in the image).
SERVICES = {
    "deal-registration": "deal_registration",
    "lead-routing": "lead_routing",
    "pos-ingestion": "pos_ingestion",
    "mdf": "mdf",
    "compensation": "compensation",
    "projections": "projections",
}
EVENTS_TOPICS = {f"channelops.{b}.events.v1" for b in SERVICES.values() if b != "projections"}
ANALYTICS_TOPICS = {"channelops.analytics.commission_credits.v1",
                    "channelops.analytics.partner_roi.v1"}
REQUIRED_ENV = {"CHANNELOPS_GRPC_ADDR", "CHANNELOPS_METRICS_ADDR", "CHANNELOPS_DATA_DIR",
                "CHANNELOPS_KAFKA_BOOTSTRAP", "CHANNELOPS_KAFKA_FORMAT",
                "CHANNELOPS_SHUTDOWN_TIMEOUT", "CHANNELOPS_IDENTITY_HEADER"}
IMAGE_UID = 10001

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


# ---------------------------------------------------------------- helpers

def kind_index(objs):
    out = {}
    for o in objs:
        out.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    return out


def parse_quantity(q):
    q = str(q)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20,
             "Gi": 2**30, "Ti": 2**40}
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", q)
    if not m or (m.group(2) and m.group(2) not in units):
        raise ValueError(f"bad quantity {q!r}")
    return float(m.group(1)) * units.get(m.group(2), 1)


def parse_duration_s(d):
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", d):
        total += float(num) * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    if not re.fullmatch(r"([0-9.]+(ms|s|m|h))+", d):
        raise ValueError(f"bad duration {d!r}")
    return total


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def runtime_flags(source_dir):
    """Flag names every binary accepts (ABSL_FLAG in libs/server)."""
    flags = set()
    root = os.path.join(source_dir, "libs", "server", "src")
    for fn in sorted(os.listdir(root)):
        if fn.endswith(".cc"):
            with open(os.path.join(root, fn), encoding="utf-8") as f:
                flags.update(re.findall(r"ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,", f.read()))
    return flags


# ---------------------------------------------------------------- policy

def configmap_errors(name, data, flags, bootstraps):
    """The flags ConfigMap: only real flags, every flag the pods rely on, sane values."""
    errs = []
    for key in sorted(data):
        flag = key[len("CHANNELOPS_"):].lower() if key.startswith("CHANNELOPS_") else None
        if flag not in flags:
            errs.append(f"ConfigMap/{name}: {key} is not a flag of the binaries (libs/server "
                        f"defines {sorted(flags)})")
    for key in sorted(REQUIRED_ENV - set(data)):
        errs.append(f"ConfigMap/{name}: {key} missing")
    if data.get("CHANNELOPS_KAFKA_FORMAT", "protobuf") not in ("protobuf", "json"):
        errs.append(f"ConfigMap/{name}: CHANNELOPS_KAFKA_FORMAT must be protobuf or json")
    if data.get("CHANNELOPS_KAFKA_BOOTSTRAP") not in bootstraps:
        errs.append(f"ConfigMap/{name}: CHANNELOPS_KAFKA_BOOTSTRAP is not the plain bootstrap of "
                    f"a Kafka here ({sorted(bootstraps)})")
    try:
        parse_duration_s(data.get("CHANNELOPS_SHUTDOWN_TIMEOUT", "10s"))
    except ValueError as e:
        errs.append(f"ConfigMap/{name}: CHANNELOPS_SHUTDOWN_TIMEOUT: {e}")
    if data.get("CHANNELOPS_STORE_SYNC", "true") not in ("true", "1"):
        errs.append(f"ConfigMap/{name}: CHANNELOPS_STORE_SYNC must stay true (acknowledged "
                    "writes would not survive a power loss)")
    return errs


def policy_errors(objs, env, flags):
    """Returns a list of violations of channelops' deployment rules."""
    errs = []
    err = errs.append
    idx = kind_index(objs)

    # Names, labels, namespace.
    namespaces = list(idx.get("Namespace", {}))
    if len(namespaces) != 1:
        err(f"expected exactly one Namespace, got {namespaces}")
    ns = namespaces[0] if namespaces else None
    for o in objs:
        md = o["metadata"]
        name = md["name"]
        if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            err(f"{o['kind']}/{name}: name is not a DNS subdomain")
        if o["kind"] in ("Service", "Namespace", "StatefulSet") and \
                (not DNS_LABEL.match(name) or len(name) > 63):
            err(f"{o['kind']}/{name}: name is not a DNS label")
        if o["kind"] == "StatefulSet" and len(name) > 52:
            err(f"StatefulSet/{name}: name longer than 52 characters (pod and revision labels)")
        for where, labels in [("metadata", md.get("labels") or {})]:
            for k, v in labels.items():
                key = k.split("/", 1)[-1]
                if "/" in k and not DNS_SUBDOMAIN.match(k.split("/", 1)[0]):
                    err(f"{o['kind']}/{name}: bad label prefix {k}")
                if not LABEL_NAME.match(key) or len(key) > 63:
                    err(f"{o['kind']}/{name}: bad label key {k}")
                if not isinstance(v, str) or not LABEL_VALUE.match(v) or len(v) > 63:
                    err(f"{o['kind']}/{name}: bad label value {k}={v!r}")
        if o["kind"] != "Namespace" and md.get("namespace") != ns:
            err(f"{o['kind']}/{name}: namespace {md.get('namespace')!r}, expected {ns!r}")

    # The flags ConfigMap.
    configmaps = idx.get("ConfigMap", {})

    # Kafka.
    kafkas = idx.get("Kafka", {})
    brokers = 0
    bootstraps = set()
    if len(kafkas) != 1:
        err(f"expected exactly one Kafka, got {sorted(kafkas)}")
    for kname, k in kafkas.items():
        ann = k["metadata"].get("annotations") or {}
        if ann.get("strimzi.io/kraft") != "enabled" or ann.get("strimzi.io/node-pools") != "enabled":
            err(f"Kafka/{kname}: KRaft with node pools expected (strimzi.io/kraft, node-pools)")
        pools = [p for p in idx.get("KafkaNodePool", {}).values()
                 if (p["metadata"].get("labels") or {}).get("strimzi.io/cluster") == kname]
        if not pools:
            err(f"Kafka/{kname}: no KafkaNodePool")
        brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
        controllers = sum(p["spec"]["replicas"] for p in pools
                          if "controller" in p["spec"]["roles"])
        if controllers % 2 != 1:
            err(f"Kafka/{kname}: {controllers} controllers; a KRaft quorum needs an odd number")
        cfg = k["spec"]["kafka"].get("config") or {}
        if cfg.get("auto.create.topics.enable") is not False:
            err(f"Kafka/{kname}: auto.create.topics.enable must be false (topics are declared)")
        if cfg.get("unclean.leader.election.enable") is not False:
            err(f"Kafka/{kname}: unclean.leader.election.enable must be false")
        rf = cfg.get("default.replication.factor", 1)
        isr = cfg.get("min.insync.replicas", 1)
        for key in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor"):
            if cfg.get(key, 1) > brokers:
                err(f"Kafka/{kname}: {key} {cfg.get(key)} > {brokers} brokers")
        if isr > rf:
            err(f"Kafka/{kname}: min.insync.replicas {isr} > default.replication.factor {rf}")
        for lst in k["spec"]["kafka"]["listeners"]:
            if lst["type"] == "internal" and not lst["tls"]:
                bootstraps.add(f"{kname}-kafka-bootstrap:{lst['port']}")
            if not lst.get("networkPolicyPeers"):
                err(f"Kafka/{kname}: listener {lst['name']} has no networkPolicyPeers "
                    "(Strimzi would open it to every pod)")
        for p in pools:
            for v in p["spec"]["storage"].get("volumes") or [p["spec"]["storage"]]:
                if env == "prod" and (v["type"] != "persistent-claim" or v.get("deleteClaim")):
                    err(f"KafkaNodePool/{p['metadata']['name']}: prod needs persistent volumes "
                        "with deleteClaim false")
                if env == "dev" and v["type"] != "ephemeral":
                    err(f"KafkaNodePool/{p['metadata']['name']}: dev Kafka is ephemeral")
        if env == "prod":
            if brokers < 3:
                err(f"Kafka/{kname}: prod needs 3 brokers, has {brokers}")
            if rf < 3 or isr < 2 or cfg.get("offsets.topic.replication.factor", 1) < 3 or \
                    cfg.get("transaction.state.log.min.isr", 1) < 2:
                err(f"Kafka/{kname}: prod needs replication 3 and min.insync.replicas 2")
        if env == "dev" and brokers != 1:
            err(f"Kafka/{kname}: dev runs one broker, has {brokers}")

    # Topics.
    topic_names = {}
    for t in idx.get("KafkaTopic", {}).values():
        tn = t["metadata"]["name"]
        spec = t["spec"]
        name = spec.get("topicName", tn)
        topic_names[name] = t
        cluster = (t["metadata"].get("labels") or {}).get("strimzi.io/cluster")
        if cluster not in kafkas:
            err(f"KafkaTopic/{tn}: strimzi.io/cluster {cluster!r} is not a Kafka here")
        for f in ("partitions", "replicas", "topicName"):
            if f not in spec:
                err(f"KafkaTopic/{tn}: spec.{f} must be explicit")
        cfg = spec.get("config") or {}
        reps = spec.get("replicas", 0)
        tisr = cfg.get("min.insync.replicas", 1)
        if reps > brokers:
            err(f"KafkaTopic/{tn}: replicas {reps} > {brokers} brokers")
        if tisr > reps or (reps >= 3 and tisr < 2):
            err(f"KafkaTopic/{tn}: min.insync.replicas {tisr} does not fit replicas {reps}")
        if env == "prod" and (reps != 3 or tisr != 2):
            err(f"KafkaTopic/{tn}: prod topics have replicas 3 and min.insync.replicas 2")
        if "compact" in str(cfg.get("cleanup.policy", "delete")):
            err(f"KafkaTopic/{tn}: cleanup.policy must be delete (compaction drops events of a "
                "stream)")
        if name in EVENTS_TOPICS and (cfg.get("retention.ms") != -1):
            err(f"KafkaTopic/{tn}: events topics keep everything (retention.ms -1)")
        if name in ANALYTICS_TOPICS and not 0 < cfg.get("retention.ms", -1) <= 90 * 86400000:
            err(f"KafkaTopic/{tn}: analytics topics keep at most 90 days")
    missing = (EVENTS_TOPICS | ANALYTICS_TOPICS) - set(topic_names)
    extra = set(topic_names) - (EVENTS_TOPICS | ANALYTICS_TOPICS)
    if missing:
        err(f"missing KafkaTopic for {sorted(missing)}")
    if extra:
        err(f"unexpected KafkaTopic for {sorted(extra)}")

    # Network policies: default deny, DNS and Kafka egress, no rule open to all.
    policies = idx.get("NetworkPolicy", {})
    deny = [p for p in policies.values()
            if p["spec"].get("podSelector", {}).get("matchLabels") ==
            {"app.kubernetes.io/part-of": "channelops"}
            and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        err("no default-deny NetworkPolicy (Ingress+Egress) for app.kubernetes.io/part-of=channelops")
    egress_ports = set()
    for p in policies.values():
        pn = p["metadata"]["name"]
        for rule in p["spec"].get("ingress") or []:
            if not rule.get("from"):
                err(f"NetworkPolicy/{pn}: an ingress rule without 'from' is open to every source")
        for rule in p["spec"].get("egress") or []:
            if not rule.get("to"):
                err(f"NetworkPolicy/{pn}: an egress rule without 'to' is open to every destination")
            for port in rule.get("ports") or []:
                egress_ports.add((port.get("protocol", "TCP"), port.get("port")))
    for need in (("UDP", 53), ("TCP", 53), ("TCP", 9092)):
        if need not in egress_ports:
            err(f"no NetworkPolicy allows egress to {need[0]}/{need[1]} (DNS, Kafka)")

    # The services.
    statefulsets = idx.get("StatefulSet", {})
    if set(statefulsets) != set(SERVICES):
        err(f"StatefulSets {sorted(statefulsets)} != expected {sorted(SERVICES)}")
    images = set()
    checked_configmaps = set()
    for name, binary in SERVICES.items():
        sts = statefulsets.get(name)
        if sts is None:
            continue
        where = f"StatefulSet/{name}"
        spec = sts["spec"]
        tmpl = spec["template"]
        pod_labels = tmpl["metadata"].get("labels") or {}
        pod = tmpl["spec"]
        if spec.get("replicas") != 1:
            err(f"{where}: replicas {spec.get('replicas')}: one pod per StatefulSet until shard "
                "routing lands (docs/OPERATIONS.md)")
        if not selects(spec["selector"].get("matchLabels"), pod_labels):
            err(f"{where}: selector does not match the pod template labels")
        if pod_labels.get("channelops.io/service") != binary:
            err(f"{where}: pod label channelops.io/service must be {binary} (metrics 'service')")
        retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenDeleted") != "Retain" or retention.get("whenScaled") != "Retain":
            err(f"{where}: persistentVolumeClaimRetentionPolicy must Retain the event store")
        ann = tmpl["metadata"].get("annotations") or {}
        if pod.get("automountServiceAccountToken") is not False:
            err(f"{where}: automountServiceAccountToken must be false")
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != IMAGE_UID or \
                psc.get("fsGroup") != IMAGE_UID or \
                (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            err(f"{where}: pod securityContext needs runAsNonRoot, runAsUser/fsGroup {IMAGE_UID}, "
                "seccompProfile RuntimeDefault")
        containers = pod.get("containers") or []
        if [c.get("name") for c in containers] != ["server"]:
            err(f"{where}: expected one container named server")
            continue
        c = containers[0]
        images.add(c.get("image"))
        if c.get("command") != [f"/usr/local/bin/{binary}"]:
            err(f"{where}: command must be [/usr/local/bin/{binary}]")
        csc = c.get("securityContext") or {}
        if csc.get("readOnlyRootFilesystem") is not True:
            err(f"{where}: container needs readOnlyRootFilesystem: true")
        if csc.get("allowPrivilegeEscalation") is not False or csc.get("privileged"):
            err(f"{where}: container must not escalate privileges")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
            err(f"{where}: container must drop ALL capabilities and add none")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        if set(ports) != {"grpc", "metrics"}:
            err(f"{where}: container ports must be named grpc and metrics")
            continue
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            pr = c.get(probe) or {}
            if (pr.get("grpc") or {}).get("port") != ports["grpc"]:
                err(f"{where}: {probe} must be a gRPC probe on the grpc port {ports['grpc']}")
        res = c.get("resources") or {}
        for r in ("cpu", "memory"):
            req = (res.get("requests") or {}).get(r)
            lim = (res.get("limits") or {}).get(r)
            if req is None or lim is None:
                err(f"{where}: resources need requests and limits for {r}")
            elif parse_quantity(req) > parse_quantity(lim):
                err(f"{where}: {r} request {req} > limit {lim}")
        if ann.get("prometheus.io/scrape") != "true" or \
                ann.get("prometheus.io/port") != str(ports["metrics"]) or \
                ann.get("prometheus.io/path") != "/metrics":
            err(f"{where}: prometheus.io annotations must point at the metrics port")
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts") or []}
        claims = [v["metadata"]["name"] for v in spec.get("volumeClaimTemplates") or []]
        if "data" not in claims or "data" not in mounts:
            err(f"{where}: needs a volumeClaimTemplate 'data' mounted in the container")
        if mounts.get("tmp") != "/tmp":
            err(f"{where}: read-only root needs a writable /tmp (emptyDir 'tmp')")
        refs = [ef["configMapRef"]["name"] for ef in c.get("envFrom") or [] if "configMapRef" in ef]
        if len(refs) != 1 or refs[0] not in configmaps:
            err(f"{where}: envFrom must reference one ConfigMap of this render, got {refs}")
            continue
        data = configmaps[refs[0]].get("data") or {}
        if refs[0] not in checked_configmaps:
            checked_configmaps.add(refs[0])
            errs.extend(configmap_errors(refs[0], data, flags, bootstraps))
        if not data.get("CHANNELOPS_GRPC_ADDR", "").endswith(f":{ports['grpc']}"):
            err(f"{where}: CHANNELOPS_GRPC_ADDR does not listen on the grpc port")
        if not data.get("CHANNELOPS_METRICS_ADDR", "").endswith(f":{ports['metrics']}"):
            err(f"{where}: CHANNELOPS_METRICS_ADDR does not listen on the metrics port")
        if not data.get("CHANNELOPS_DATA_DIR", "").startswith(mounts.get("data", "//") + "/"):
            err(f"{where}: CHANNELOPS_DATA_DIR is not on the data volume")
        try:
            shutdown = parse_duration_s(data.get("CHANNELOPS_SHUTDOWN_TIMEOUT", "10s"))
        except ValueError:
            shutdown = 0  # reported by configmap_errors
        sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}) \
            .get("seconds", 0)
        if sleep <= 0:
            err(f"{where}: preStop sleep lets endpoints drop the pod before the drain")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace < 2 * shutdown + sleep + 5:
            err(f"{where}: terminationGracePeriodSeconds {grace} < preStop {sleep} s + drain and "
                f"outbox flush (2 x {shutdown} s) + close")

        # Services, PDB, NetworkPolicy of this StatefulSet.
        services = idx.get("Service", {})
        headless = services.get(spec.get("serviceName"))
        if headless is None or headless["spec"].get("clusterIP") != "None":
            err(f"{where}: serviceName must name a headless Service of this render")
        client = services.get(name)
        if client is None or client["spec"].get("clusterIP") == "None":
            err(f"{where}: needs a ClusterIP Service named {name} for clients")
        for svc in [s for s in (headless, client) if s is not None]:
            sname = svc["metadata"]["name"]
            if not selects(svc["spec"].get("selector"), pod_labels):
                err(f"Service/{sname}: selector does not match StatefulSet/{name} pods")
            for p in svc["spec"]["ports"]:
                if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
                    err(f"Service/{sname}: targetPort {p.get('targetPort')!r} is not a container "
                        "port")
        if not any(selects(p["spec"]["selector"].get("matchLabels"), pod_labels)
                   for p in idx.get("PodDisruptionBudget", {}).values()):
            err(f"{where}: no PodDisruptionBudget selects its pods")
        own = [p for p in policies.values()
               if selects(p["spec"]["podSelector"].get("matchLabels"), pod_labels)
               and p not in deny and p["spec"].get("ingress")]
        if not own:
            err(f"{where}: no NetworkPolicy admits its callers")
        opened = {port.get("port") for p in own for rule in p["spec"]["ingress"]
                  for port in rule.get("ports") or []}
        if not {ports["grpc"], ports["metrics"]} <= opened:
            err(f"{where}: network policies must open the grpc and metrics ports to declared "
                "callers")
    if len(images) > 1:
        err(f"all services run the one image, got {sorted(images)}")
    if env == "prod":
        for img in images:
            tag = kustomize_lite._split_image(img or "")
            if not (tag[2] or (tag[1] and tag[1] not in ("latest", "dev"))):
                err(f"prod image {img!r} must be pinned (a version tag or a digest)")
    return errs


# ---------------------------------------------------------------- rendering

def real_kustomize():
    """The command of an installed kustomize, or None."""
    forced = os.environ.get("CHANNELOPS_KUSTOMIZE")
    if forced == "none":
        return None
    if forced:
        return forced.split()
    for cmd in (["kubectl", "kustomize"], ["kustomize", "build"]):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            r = subprocess.run(cmd + ["--help"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return cmd
    return None


def render_real(cmd, path):
    r = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} {path}: {r.stderr.strip()}")
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


def diff_summary(a, b):
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa
    da, db = {key(o): o for o in a}, {key(o): o for o in b}
    lines = [f"only in kustomize_lite: {k}" for k in sorted(set(da) - set(db))]
    lines += [f"only in kustomize: {k}" for k in sorted(set(db) - set(da))]
    for k in sorted(set(da) & set(db)):
        if da[k] != db[k]:
            lines.append(f"differs: {k}\n  lite: {json.dumps(da[k], sort_keys=True)[:600]}\n"
                         f"  real: {json.dumps(db[k], sort_keys=True)[:600]}")
    if not lines and [key(o) for o in a] != [key(o) for o in b]:
        lines.append("same objects, different order")
    return lines


# ---------------------------------------------------------------- node

def ensure_node_modules(work_dir):
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install Node.js >= 18 with npm (Debian: "
                               "nodejs npm)")
    npm_dir = os.path.join(work_dir, "npm")
    os.makedirs(npm_dir, exist_ok=True)
    with open(os.path.join(HERE, "package-lock.json"), "rb") as f:
        lock = f.read()
    with open(os.path.join(HERE, "package.json"), "rb") as f:
        pkg = f.read()
    stamp_want = hashlib.sha256(lock + pkg).hexdigest()
    stamp = os.path.join(npm_dir, "node_modules", ".channelops-stamp")
    if os.path.exists(stamp) and open(stamp).read() == stamp_want:
        return os.path.join(npm_dir, "node_modules")
    shutil.copy(os.path.join(HERE, "package.json"), npm_dir)
    shutil.copy(os.path.join(HERE, "package-lock.json"), npm_dir)
    print("npm ci (kubernetes-models, ajv) ...", flush=True)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=npm_dir, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"npm ci failed:\n{r.stdout}\n{r.stderr}")
    with open(stamp, "w") as f:
        f.write(stamp_want)
    return os.path.join(npm_dir, "node_modules")


def run_validate(node_modules, cases, work_dir):
    path = os.path.join(work_dir, "validate_cases.json")
    with open(path, "w") as f:
        json.dump({"cases": cases}, f)
    envv = dict(os.environ, NODE_PATH=node_modules)
    r = subprocess.run(["node", os.path.join(HERE, "validate.js"), path], env=envv,
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------- self-tests

def _find(objs, kind, name=None):
    for o in objs:
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name):
            return o
    raise KeyError(f"{kind}/{name}")


def _container(objs, name="mdf"):
    return _find(objs, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]


def schema_negative_cases(objs):
    """(name, mutate, expected error substring): each must fail schema validation."""
    def typo_container(o):
        _container(o)["readinesProbe"] = {"grpc": {"port": 50051}}

    def typo_metadata(o):
        _find(o, "Service", "mdf")["metadata"]["label"] = {"a": "b"}

    def wrong_type(o):
        _find(o, "StatefulSet", "mdf")["spec"]["replicas"] = "one"

    def bad_enum(o):
        _find(o, "Service", "mdf")["spec"]["type"] = "Headless"

    def topic_partitions(o):
        _find(o, "KafkaTopic")["spec"]["partitions"] = 0

    def topic_config_typo(o):
        _find(o, "KafkaTopic")["spec"]["config"]["retention.msec"] = 1

    def listener_name(o):
        _find(o, "Kafka")["spec"]["kafka"]["listeners"][0]["name"] = "plain-listener"

    def zookeeper(o):
        _find(o, "Kafka")["spec"]["zookeeper"] = {"replicas": 3}

    def unknown_kind(o):
        o.append({"apiVersion": "v1", "kind": "Servce", "metadata": {"name": "x"}})

    return [
        ("unknown container field", typo_container, 'unknown field "readinesProbe"'),
        ("unknown metadata field", typo_metadata, 'unknown field "label"'),
        ("wrong type", wrong_type, "/spec/replicas"),
        ("enum", bad_enum, "/spec/type"),
        ("KafkaTopic partitions 0", topic_partitions, "/spec/partitions"),
        ("KafkaTopic config typo", topic_config_typo, "retention.msec"),
        ("Kafka listener name", listener_name, "/spec/kafka/listeners/0/name"),
        ("Kafka zookeeper", zookeeper, "zookeeper"),
        ("unknown kind", unknown_kind, "Servce"),
    ]


def policy_negative_cases():
    def rw_root(o):
        _container(o)["securityContext"]["readOnlyRootFilesystem"] = False

    def no_pdb(o):
        o.remove(_find(o, "PodDisruptionBudget", "mdf"))

    def replicas(o):
        _find(o, "StatefulSet", "mdf")["spec"]["replicas"] = 2

    def compact(o):
        _find(o, "KafkaTopic", "channelops.mdf.events.v1")["spec"]["config"]["cleanup.policy"] = \
            "compact"

    def bogus_flag(o):
        _find(o, "ConfigMap")["data"]["CHANNELOPS_GRPC_PORT"] = "50051"

    def open_ingress(o):
        _find(o, "NetworkPolicy", "mdf")["spec"]["ingress"].append({"ports": [{"port": 50051}]})

    def target_port(o):
        _find(o, "Service", "mdf")["spec"]["ports"][0]["targetPort"] = "grpcx"

    def http_probe(o):
        _container(o)["livenessProbe"] = {"httpGet": {"port": 51051, "path": "/metrics"}}

    def topic_isr(o):
        _find(o, "KafkaTopic", "channelops.mdf.events.v1")["spec"]["config"][
            "min.insync.replicas"] = 1

    def root_user(o):
        _find(o, "StatefulSet", "mdf")["spec"]["template"]["spec"]["securityContext"][
            "runAsUser"] = 0

    return [
        ("writable root filesystem", rw_root, "readOnlyRootFilesystem"),
        ("missing PDB", no_pdb, "PodDisruptionBudget"),
        ("two replicas before shard routing", replicas, "replicas 2"),
        ("compacted events topic", compact, "cleanup.policy"),
        ("env var that is not a flag", bogus_flag, "CHANNELOPS_GRPC_PORT is not a flag"),
        ("ingress rule open to all", open_ingress, "without 'from'"),
        ("Service targetPort", target_port, "targetPort"),
        ("HTTP liveness probe", http_probe, "livenessProbe must be a gRPC probe"),
        ("prod topic min ISR 1", topic_isr, "min.insync.replicas"),
        ("root user", root_user, "runAsUser"),
    ]


def renderer_negative_cases(tmp):
    """(name, files, expected error substring): kustomize_lite must refuse each."""
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n"
    return [
        ("unsupported field", {"kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: x-\n",
                               "cm.yaml": cm}, "unsupported fields ['namePrefix']"),
        ("patch without match", {"kustomization.yaml": "resources: [cm.yaml]\npatches:\n"
                                 "- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n"
                                 "    metadata: {name: b}\n    data: {k: w}\n",
                                 "cm.yaml": cm}, "no matching resource"),
        ("JSON 6902 bad path", {"kustomization.yaml": "resources: [cm.yaml]\npatches:\n"
                                "- target: {kind: ConfigMap}\n  patch: |-\n"
                                "    - op: replace\n      path: /data/missing\n      value: x\n",
                                "cm.yaml": cm}, "does not exist"),
        ("env value from environment", {"kustomization.yaml": "configMapGenerator:\n"
                                        "- name: c\n  envs: [x.env]\n", "x.env": "HOME\n"},
         "no '='"),
        ("selector labels", {"kustomization.yaml": "resources: [cm.yaml]\nlabels:\n"
                             "- pairs: {a: b}\n  includeSelectors: true\n", "cm.yaml": cm},
         "includeSelectors"),
    ]


# ---------------------------------------------------------------- main

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
                print("     " + detail.replace("\n", "\n     "))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    k8s = os.path.join(args.source_dir, "k8s")
    os.makedirs(args.work_dir, exist_ok=True)
    res = Results()
    flags = runtime_flags(args.source_dir)
    res.check(len(flags) >= 7, "libs/server flags found", f"{sorted(flags)}")

    # 1. Render.
    rendered = {}
    real = real_kustomize()
    if real is None:
        print("note: no kustomize binary (kubectl kustomize / kustomize build): rendering with "
              "kustomize_lite only, without the comparison against the real tool")
    for kz in KUSTOMIZATIONS:
        path = os.path.join(k8s, kz)
        try:
            objs = kustomize_lite.render(path)
            res.check(True, f"render {kz} ({len(objs)} objects)")
        except kustomize_lite.KustomizeLiteError as e:
            res.check(False, f"render {kz}", str(e))
            continue
        rendered[kz] = objs
        out = os.path.join(args.work_dir, "rendered", kz.replace("/", "_") + ".yaml")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(kustomize_lite.dump(objs))
        if real is not None:
            try:
                ref = render_real(real, path)
                diff = diff_summary(objs, ref)
                res.check(not diff, f"kustomize_lite == {' '.join(real)} for {kz}",
                          "\n".join(diff[:10]))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                res.check(False, f"{' '.join(real)} {kz}", str(e))

    # 2. Policy.
    for env in ("dev", "prod"):
        objs = rendered.get(f"overlays/{env}")
        if objs is None:
            continue
        errs = policy_errors(objs, env, flags)
        res.check(not errs, f"policy overlays/{env}", "\n".join(errs))
    prod = rendered.get("overlays/prod")
    if prod is not None:
        for name, mutate, want in policy_negative_cases():
            objs = copy.deepcopy(prod)
            mutate(objs)
            errs = policy_errors(objs, "prod", flags)
            res.check(any(want in e for e in errs), f"policy rejects: {name}",
                      f"expected an error containing {want!r}, got: {errs}")

    # 3. Renderer self-tests.
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, files, want) in enumerate(renderer_negative_cases(tmp)):
            d = os.path.join(tmp, str(i))
            os.makedirs(d)
            for fn, text in files.items():
                with open(os.path.join(d, fn), "w") as f:
                    f.write(text)
            try:
                kustomize_lite.render(d)
                res.check(False, f"kustomize_lite rejects: {name}", "rendered without error")
            except kustomize_lite.KustomizeLiteError as e:
                res.check(want in str(e), f"kustomize_lite rejects: {name}",
                          f"expected {want!r}, got {e}")

    # 4. Schemas (one node run for all cases).
    try:
        node_modules = ensure_node_modules(args.work_dir)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        res.check(False, "npm ci", str(e))
        node_modules = None
    if node_modules is not None:
        cases = [{"name": f"schemas {kz}", "expect": "valid", "objects": objs}
                 for kz, objs in rendered.items()]
        if prod is not None:
            for name, mutate, want in schema_negative_cases(prod):
                objs = copy.deepcopy(prod)
                mutate(objs)
                cases.append({"name": f"schemas reject: {name}", "expect": "invalid",
                              "match": want, "objects": objs})
        rc, out = run_validate(node_modules, cases, args.work_dir)
        lines = out.splitlines()
        reported = 0
        for line in lines:
            if line.startswith("ok   "):
                res.check(True, line[5:])
                reported += 1
            elif line.startswith("FAIL "):
                res.failed += 1
                reported += 1
                print(line)
            elif line.startswith("       "):
                print(line)
        res.check(reported == len(cases), "validate.js reported every case",
                  out if reported != len(cases) else "")

    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
