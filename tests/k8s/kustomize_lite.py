#!/usr/bin/python3
"""kustomize_lite: renders the small subset of kustomize that k8s/ uses.

Debian 12 ships no usable kustomize (kubernetes-client 1.20 embeds kustomize
2.0.3, which lacks `patches`, `labels` and JSON 6902 patches in `patches`), and
only Debian's archive and the npm registry are reachable from the project's
machines. This renderer lets the k8s test run anywhere; when a real kustomize is
installed (`kubectl kustomize`, `kustomize build`) the test renders with both and
requires identical output, so this file stays faithful to kustomize.

Supported kustomization.yaml fields, with kustomize v5 semantics:
  resources            files (multi-document YAML) and directories (nested
                       kustomizations)
  namespace            set on every namespaced object
  labels               pairs + includeTemplates; includeSelectors must be false
  patches              strategic-merge (by kind/name, or to every object matched
                       by `target`) and JSON 6902 (add/replace/remove, needs
                       `target`); from `path:` or inline `patch:`
  images               name -> newName / newTag / digest
  configMapGenerator   envs / literals, behavior create; name hash suffix and
                       references from pod templates updated like kustomize
Anything else is an error, never silently ignored.

Usage: kustomize_lite.py DIR      (prints the rendered YAML stream)
"""

import copy
import hashlib
import json
import os
import re
import sys

import yaml


class KustomizeLiteError(Exception):
    pass


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ALLOWED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "patches", "images",
                  "configMapGenerator"}

CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleBinding", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "CSIDriver", "CSINode", "IngressClass",
    "RuntimeClass", "VolumeAttachment",
}

# Kinds whose strategic-merge semantics come from the Kubernetes API (lists with
# merge keys). Every other kind (custom resources) is patched as JSON merge
# patch: maps merge, lists are replaced.
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "autoscaling",
                  "rbac.authorization.k8s.io", "storage.k8s.io", "scheduling.k8s.io"}

# kustomize's "legacy" output order.
ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
               "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
               "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
               "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
               "StatefulSet", "CronJob", "PodDisruptionBudget"]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                  "ReplicationController"}


def _group(obj):
    api = obj.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


def _version(obj):
    return obj.get("apiVersion", "").split("/")[-1]


def _name(obj):
    return (obj.get("metadata") or {}).get("name")


class Res:
    """One object plus what the renderer must remember about it."""

    def __init__(self, obj, needs_hash=False):
        self.obj = obj
        self.needs_hash = needs_hash


# ---------------------------------------------------------------- loading

def _load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise KustomizeLiteError(f"{path}: every document needs apiVersion and kind")
        if d["kind"].endswith("List"):
            raise KustomizeLiteError(f"{path}: List documents are not supported")
    return docs


def _kustomization_path(d):
    for n in KUSTOMIZATION_FILES:
        p = os.path.join(d, n)
        if os.path.isfile(p):
            return p
    raise KustomizeLiteError(f"{d}: no kustomization.yaml")


def _parse_env_line(line, where):
    if "=" not in line:
        # kustomize would read the value from the environment: not reproducible.
        raise KustomizeLiteError(f"{where}: '{line}' has no '=' (values from the environment are "
                                 "not supported)")
    k, v = line.split("=", 1)
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", k):
        raise KustomizeLiteError(f"{where}: invalid key '{k}'")
    return k, v


def _generate_configmap(spec, base_dir):
    allowed = {"name", "envs", "literals", "behavior"}
    extra = set(spec) - allowed
    if extra:
        raise KustomizeLiteError(f"configMapGenerator: unsupported fields {sorted(extra)}")
    if spec.get("behavior", "create") != "create":
        raise KustomizeLiteError("configMapGenerator: only behavior: create is supported")
    data = {}
    for env in spec.get("envs") or []:
        p = os.path.join(base_dir, env)
        with open(p, encoding="utf-8") as f:
            for raw in f.read().splitlines():
                line = raw.lstrip()
                if not line or line.startswith("#"):
                    continue
                k, v = _parse_env_line(line, p)
                data[k] = v
    for lit in spec.get("literals") or []:
        k, v = _parse_env_line(lit, "configMapGenerator literals")
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            raise KustomizeLiteError("configMapGenerator: quoted literals are not supported")
        data[k] = v
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": spec["name"]}}
    if data:
        obj["data"] = data
    return Res(obj, needs_hash=True)


# ---------------------------------------------------------------- hashing (kustomize api/hasher)

def _go_json(v):
    # encoding/json.Marshal: sorted map keys, no spaces, HTML-safe escaping.
    s = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
             .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def configmap_hash(obj):
    # kustomize v5 hashes the generated ConfigMap before it is named: the
    # encoded name is empty (checked against kubectl kustomize, kustomize 5.5).
    m = {"kind": "ConfigMap", "name": "", "data": obj.get("data") or {}}
    if obj.get("binaryData"):
        m["binaryData"] = obj["binaryData"]
    digest = hashlib.sha256(_go_json(m).encode("utf-8")).hexdigest()
    table = {"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}
    return "".join(table.get(c, c) for c in digest[:10])


# ---------------------------------------------------------------- strategic merge patch

# List fields of built-in kinds that merge by key; every other list a patch of a
# built-in kind may contain must be in REPLACE_LISTS (else: error, so that the
# renderer never guesses).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
}
REPLACE_LISTS = {"command", "args", "accessModes", "drop", "add", "policyTypes", "envFrom",
                 "volumeClaimTemplates"}


def _smp(orig, patch, builtin, path):
    if isinstance(patch, dict):
        for k in patch:
            if isinstance(k, str) and k.startswith("$"):
                raise KustomizeLiteError(f"patch directive {k} at {path} is not supported")
        if not isinstance(orig, dict):
            return _strip_nulls(copy.deepcopy(patch))
        out = dict(orig)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = _smp(out[k], v, builtin, f"{path}/{k}")
            else:
                out[k] = _strip_nulls(copy.deepcopy(v))
        return out
    if isinstance(patch, list):
        field = path.rsplit("/", 1)[-1]
        if not builtin:
            return copy.deepcopy(patch)
        if field == "ports" and "/containers" in path:
            key = "containerPort"
        elif field in MERGE_KEYS:
            key = MERGE_KEYS[field]
        elif field in REPLACE_LISTS:
            return copy.deepcopy(patch)
        else:
            raise KustomizeLiteError(f"strategic merge of list {path} is not supported by "
                                     "kustomize_lite (add its merge key)")
        if not isinstance(orig, list):
            return copy.deepcopy(patch)
        out = [copy.deepcopy(x) for x in orig]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise KustomizeLiteError(f"{path}: list item without merge key {key}")
            for i, o in enumerate(out):
                if isinstance(o, dict) and o.get(key) == item[key]:
                    out[i] = _smp(o, item, builtin, f"{path}[{key}={item[key]}]")
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return patch


def _strip_nulls(v):
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_nulls(x) for x in v]
    return v


# ---------------------------------------------------------------- JSON 6902

def _pointer(path):
    if not path.startswith("/"):
        raise KustomizeLiteError(f"JSON pointer must start with '/': {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json6902(obj, ops):
    obj = copy.deepcopy(obj)
    for op in ops:
        kind = op.get("op")
        if kind not in ("add", "replace", "remove"):
            raise KustomizeLiteError(f"JSON 6902 op {kind!r} is not supported")
        parts = _pointer(op["path"])
        parent = obj
        for p in parts[:-1]:
            try:
                parent = parent[int(p)] if isinstance(parent, list) else parent[p]
            except (KeyError, IndexError, ValueError):
                raise KustomizeLiteError(f"JSON 6902 path {op['path']} does not exist")
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-" and kind == "add":
                parent.append(copy.deepcopy(op["value"]))
                continue
            try:
                idx = int(last)
            except ValueError:
                raise KustomizeLiteError(f"JSON 6902 path {op['path']}: bad index")
            if not 0 <= idx < len(parent) + (1 if kind == "add" else 0):
                raise KustomizeLiteError(f"JSON 6902 path {op['path']} does not exist")
            if kind == "add":
                parent.insert(idx, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[idx] = copy.deepcopy(op["value"])
            else:
                del parent[idx]
        elif isinstance(parent, dict):
            if kind in ("replace", "remove") and last not in parent:
                raise KustomizeLiteError(f"JSON 6902 path {op['path']} does not exist")
            if kind == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op["value"])
        else:
            raise KustomizeLiteError(f"JSON 6902 path {op['path']} does not exist")
    return obj


# ---------------------------------------------------------------- transformers

def _matches_target(obj, target):
    allowed = {"kind", "name", "group", "version", "namespace"}
    extra = set(target) - allowed
    if extra:
        raise KustomizeLiteError(f"patch target: unsupported selectors {sorted(extra)}")
    if "kind" in target and not re.fullmatch(target["kind"], obj["kind"]):
        return False
    if "name" in target and not re.fullmatch(target["name"], _name(obj) or ""):
        return False
    if "group" in target and target["group"] != _group(obj):
        return False
    if "version" in target and target["version"] != _version(obj):
        return False
    if "namespace" in target and target["namespace"] != obj["metadata"].get("namespace", ""):
        return False
    return True


def _apply_patches(resources, patches, base_dir):
    for entry in patches or []:
        extra = set(entry) - {"path", "patch", "target"}
        if extra:
            raise KustomizeLiteError(f"patches: unsupported fields {sorted(extra)}")
        if ("path" in entry) == ("patch" in entry):
            raise KustomizeLiteError("patches: exactly one of path and patch")
        if "path" in entry:
            with open(os.path.join(base_dir, entry["path"]), encoding="utf-8") as f:
                text = f.read()
        else:
            text = entry["patch"]
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        target = entry.get("target")
        if len(docs) == 1 and isinstance(docs[0], list):
            if target is None:
                raise KustomizeLiteError("JSON 6902 patch needs a target")
            for r in resources:
                if _matches_target(r.obj, target):
                    r.obj = _json6902(r.obj, docs[0])
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                raise KustomizeLiteError("patch documents must be objects or one JSON 6902 list")
            body = {k: v for k, v in doc.items()}
            if target is not None:
                selected = [r for r in resources if _matches_target(r.obj, target)]
            else:
                selected = [r for r in resources
                            if r.obj["kind"] == doc.get("kind") and _name(r.obj) == _name(doc)
                            and _group(r.obj) == _group(doc)]
                if not selected:
                    raise KustomizeLiteError(
                        f"patch {doc.get('kind')}/{_name(doc)}: no matching resource")
            for r in selected:
                b = copy.deepcopy(body)
                # With a target the patch's own identity is ignored.
                b.pop("apiVersion", None)
                b.pop("kind", None)
                md = dict(b.get("metadata") or {})
                md.pop("name", None)
                md.pop("namespace", None)
                if md:
                    b["metadata"] = md
                else:
                    b.pop("metadata", None)
                r.obj = _smp(r.obj, b, _group(r.obj) in BUILTIN_GROUPS, "")


def _set_namespace(resources, ns):
    for r in resources:
        if r.obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            raise KustomizeLiteError("namespace: RoleBinding subjects are not supported")
        if r.obj["kind"] in CLUSTER_SCOPED:
            continue
        r.obj.setdefault("metadata", {})["namespace"] = ns


def _template_label_paths(obj):
    kind, group = obj["kind"], _group(obj)
    if kind in ("Deployment", "ReplicaSet", "DaemonSet", "ReplicationController") or \
            (kind == "Job" and group == "batch"):
        return [("spec", "template", "metadata", "labels")]
    if kind == "StatefulSet" and group == "apps":
        return [("spec", "template", "metadata", "labels"),
                ("spec", "volumeClaimTemplates[]", "metadata", "labels")]
    if kind == "CronJob" and group == "batch":
        return [("spec", "jobTemplate", "metadata", "labels"),
                ("spec", "jobTemplate", "spec", "template", "metadata", "labels")]
    return []


def _set_at(node, path, pairs):
    if not path:
        return
    head, rest = path[0], path[1:]
    if head.endswith("[]"):
        for item in node.get(head[:-2]) or []:
            _set_at(item, rest, pairs)
        return
    if not rest:
        cur = node.get(head)
        node[head] = dict(cur or {})
        node[head].update(pairs)
        return
    if node.get(head) is None:
        node[head] = {}
    _set_at(node[head], rest, pairs)


def _apply_labels(resources, labels):
    for entry in labels or []:
        extra = set(entry) - {"pairs", "includeSelectors", "includeTemplates"}
        if extra:
            raise KustomizeLiteError(f"labels: unsupported fields {sorted(extra)}")
        if entry.get("includeSelectors"):
            raise KustomizeLiteError("labels: includeSelectors: true is not supported")
        pairs = {str(k): str(v) for k, v in (entry.get("pairs") or {}).items()}
        for r in resources:
            _set_at(r.obj, ("metadata", "labels"), pairs)
            if entry.get("includeTemplates"):
                for p in _template_label_paths(r.obj):
                    _set_at(r.obj, p, pairs)


def _split_image(image):
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1:]
    return image, tag, digest


def _apply_images(resources, images):
    for img in images or []:
        extra = set(img) - {"name", "newName", "newTag", "digest"}
        if extra:
            raise KustomizeLiteError(f"images: unsupported fields {sorted(extra)}")

    def visit(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("containers", "initContainers") and isinstance(v, list):
                    for c in v:
                        if isinstance(c, dict) and isinstance(c.get("image"), str):
                            c["image"] = rewrite(c["image"])
                visit(v)
        elif isinstance(node, list):
            for x in node:
                visit(x)

    def rewrite(image):
        name, tag, digest = _split_image(image)
        for img in images or []:
            if img["name"] != name:
                continue
            new = img.get("newName", name)
            if "digest" in img:
                return f"{new}@{img['digest']}"
            if "newTag" in img:
                return f"{new}:{img['newTag']}"
            if digest:
                return f"{new}@{digest}"
            return f"{new}:{tag}" if tag else new
        return image

    if images:
        for r in resources:
            visit(r.obj)


def _pod_specs(obj):
    kind = obj["kind"]
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in WORKLOAD_KINDS:
        return [((spec.get("template") or {}).get("spec")) or {}]
    if kind == "CronJob":
        return [(((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {})
                .get("spec") or {}]
    return []


def _rename_configmap_refs(resources, ns, old, new):
    for r in resources:
        if (r.obj.get("metadata") or {}).get("namespace") != ns:
            continue
        for ps in _pod_specs(r.obj):
            for c in (ps.get("containers") or []) + (ps.get("initContainers") or []):
                for ef in c.get("envFrom") or []:
                    ref = ef.get("configMapRef")
                    if ref and ref.get("name") == old:
                        ref["name"] = new
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                    if ref and ref.get("name") == old:
                        ref["name"] = new
            for v in ps.get("volumes") or []:
                if (v.get("configMap") or {}).get("name") == old:
                    v["configMap"]["name"] = new
                for src in (v.get("projected") or {}).get("sources") or []:
                    if (src.get("configMap") or {}).get("name") == old:
                        src["configMap"]["name"] = new


# ---------------------------------------------------------------- build

def _build(d, stack):
    d = os.path.abspath(d)
    if d in stack:
        raise KustomizeLiteError(f"cycle through {d}")
    kpath = _kustomization_path(d)
    with open(kpath, encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    extra = set(k) - ALLOWED_FIELDS
    if extra:
        raise KustomizeLiteError(f"{kpath}: unsupported fields {sorted(extra)}")
    if k.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeLiteError(f"{kpath}: kind must be Kustomization")
    resources = []
    for entry in k.get("resources") or []:
        p = os.path.join(d, entry)
        if os.path.isdir(p):
            resources.extend(_build(p, stack + [d]))
        elif os.path.isfile(p):
            resources.extend(Res(o) for o in _load_yaml_docs(p))
        else:
            raise KustomizeLiteError(f"{kpath}: resource {entry} not found (remote resources are "
                                     "not supported)")
    for spec in k.get("configMapGenerator") or []:
        resources.append(_generate_configmap(spec, d))
    seen = set()
    for r in resources:
        ident = (_group(r.obj), r.obj["kind"], r.obj.get("metadata", {}).get("namespace"),
                 _name(r.obj))
        if ident in seen:
            raise KustomizeLiteError(f"{kpath}: duplicate resource {ident}")
        seen.add(ident)
    _apply_patches(resources, k.get("patches"), d)
    if k.get("namespace"):
        _set_namespace(resources, k["namespace"])
    _apply_labels(resources, k.get("labels"))
    _apply_images(resources, k.get("images"))
    return resources


def _sort_key(obj):
    kind = obj["kind"]
    if kind in ORDER_FIRST:
        rank = ORDER_FIRST.index(kind)
    elif kind in ORDER_LAST:
        rank = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
    else:
        rank = len(ORDER_FIRST)
    return (rank, kind, _group(obj), (obj.get("metadata") or {}).get("namespace") or "",
            _name(obj) or "")


def render(d):
    """Returns the list of rendered objects of the kustomization in directory d."""
    resources = _build(d, [])
    for r in resources:
        if r.needs_hash:
            old = r.obj["metadata"]["name"]
            new = f"{old}-{configmap_hash(r.obj)}"
            r.obj["metadata"]["name"] = new
            _rename_configmap_refs(resources, r.obj["metadata"].get("namespace"), old, new)
    return sorted((r.obj for r in resources), key=_sort_key)


def dump(objs):
    return "---\n".join(yaml.safe_dump(o, sort_keys=True, default_flow_style=False) for o in objs)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        sys.stdout.write(dump(render(argv[1])))
    except (KustomizeLiteError, OSError, yaml.YAMLError) as e:
        print(f"kustomize_lite: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
