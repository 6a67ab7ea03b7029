#!/usr/bin/env node
// Validates Kubernetes objects against schemas:
//   - built-in kinds: the Kubernetes OpenAPI schemas compiled in the npm
//     package kubernetes-models (Kubernetes 1.31 API), plus a strict
//     unknown-field check (what `kubectl apply --validate=strict` rejects): every
//     field of an object must be one the schema reads;
//   - Strimzi kinds (kafka.strimzi.io/v1beta2): schemas/strimzi-v1beta2.json with ajv.
//
// Usage: node validate.js CASES.json
//   CASES.json = {"cases": [{"name": "...", "expect": "valid"|"invalid",
//                            "match": "substring of an expected error" (optional),
//                            "objects": [ ...Kubernetes objects... ]}]}
// Prints one line per case and exits non-zero if any case did not meet its
// expectation. NODE_PATH must point at the node_modules that npm ci filled.
'use strict';

const fs = require('fs');
const path = require('path');

const Ajv = require('ajv');

const STRIMZI = JSON.parse(
    fs.readFileSync(path.join(__dirname, 'schemas', 'strimzi-v1beta2.json'), 'utf8'));
const ajv = new Ajv({allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true});
ajv.addSchema(STRIMZI);
const strimziValidators = {};
for (const kind of ['Kafka', 'KafkaNodePool', 'KafkaTopic']) {
  strimziValidators[kind] = ajv.getSchema(`${STRIMZI.$id}#/definitions/${kind}`);
}

// kubernetes-models exposes one module per kind (kubernetes-models/apps/v1/StatefulSet);
// the module requires its compiled schema (_schemas/IoK8s...js), which the
// package does not export: load that file by path.
const builtinCache = new Map();
function builtinValidator(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (builtinCache.has(key)) return builtinCache.get(key);
  let fn = null;
  let file;
  try {
    file = require.resolve(`kubernetes-models/${apiVersion}/${kind}`);
  } catch (e) {
    builtinCache.set(key, null);
    return null;
  }
  const src = fs.readFileSync(file, 'utf8');
  const re = /require\("((?:\.\.\/)+_schemas\/(IoK8s[A-Za-z0-9]+)\.js)"\)/g;
  let m;
  while ((m = re.exec(src)) !== null) {
    if (m[2].endsWith(kind)) {
      fn = require(path.resolve(path.dirname(file), m[1])).validate;
      break;
    }
  }
  builtinCache.set(key, fn);
  return fn;
}

// Wraps obj so that every property the validator reads is recorded. After
// validation, a property of a plain object that was never read and whose
// object was never enumerated (maps such as labels are enumerated) is a field
// the schema does not know.
function track(value, nodes, where) {
  if (value === null || typeof value !== 'object') return value;
  const isArray = Array.isArray(value);
  const target = isArray ?
      value.map((v, i) => track(v, nodes, `${where}/${i}`)) :
      Object.fromEntries(
          Object.entries(value).map(([k, v]) => [k, track(v, nodes, `${where}/${k}`)]));
  const node = {target, isArray, where, read: new Set(), enumerated: false};
  nodes.push(node);
  return new Proxy(target, {
    get(t, k, r) {
      if (typeof k === 'string') node.read.add(k);
      return Reflect.get(t, k, r);
    },
    has(t, k) {
      if (typeof k === 'string') node.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      node.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

function fmt(errors) {
  return (errors || []).map((e) => {
    const params = e.params ? JSON.stringify(e.params) : '';
    return `${e.instancePath || '/'} ${e.keyword}${e.message ? ' ' + e.message : ''} ${params}`;
  });
}

function validateObject(obj) {
  const id = `${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
  if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind) {
    return [`${id}: not a Kubernetes object`];
  }
  if (obj.apiVersion === 'kafka.strimzi.io/v1beta2') {
    const v = strimziValidators[obj.kind];
    if (!v) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind}`];
    return v(obj) ? [] : fmt(v.errors).map((e) => `${id}: ${e}`);
  }
  const v = builtinValidator(obj.apiVersion, obj.kind);
  if (!v) return [`${id}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`];
  const nodes = [];
  const proxy = track(obj, nodes, '');
  const errors = v(proxy) ? [] : fmt(v.errors).map((e) => `${id}: ${e}`);
  // Report the outermost unknown field only (not the fields inside it).
  const unknown = [];
  for (const n of nodes) {
    if (n.isArray || n.enumerated) continue;
    for (const k of Object.keys(n.target)) {
      if (!n.read.has(k)) unknown.push({where: `${n.where}/${k}`, k});
    }
  }
  for (const u of unknown) {
    if (unknown.some((o) => o !== u && u.where.startsWith(o.where + '/'))) continue;
    errors.push(`${id}: ${u.where}: unknown field "${u.k}"`);
  }
  return errors;
}

function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node validate.js CASES.json');
    process.exit(2);
  }
  const {cases} = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  let failed = 0;
  for (const c of cases) {
    const errors = [];
    for (const o of c.objects) errors.push(...validateObject(o));
    const valid = errors.length === 0;
    let ok = valid === (c.expect === 'valid');
    if (ok && !valid && c.match && !errors.some((e) => e.includes(c.match))) ok = false;
    if (!ok) failed++;
    const status = ok ? 'ok  ' : 'FAIL';
    console.log(`${status} ${c.name}: ${c.objects.length} objects, ${errors.length} schema errors` +
                ` (expected ${c.expect}${c.match ? ' matching "' + c.match + '"' : ''})`);
    if (!ok || (!valid && process.env.VALIDATE_VERBOSE)) {
      for (const e of errors.slice(0, 30)) console.log(`       ${e}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
