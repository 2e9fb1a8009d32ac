// SPDX-License-Identifier: MIT
// tests/deploy/render.js - render a kustomization directory to plain manifests, for machines
// without a kustomize binary (kubectl kustomize is preferred where present; the deploy test
// checks that both agree when it is).
//
// Implements the subset of kustomize that deploy/kubernetes uses, with kustomize v5 semantics,
// and rejects every other kustomization field instead of ignoring it:
//   resources          files (within the kustomization root) and directories (other kustomizations)
//   namespace          sets metadata.namespace of namespaced objects
//   labels             [{pairs}] with includeSelectors/includeTemplates false: metadata.labels only
//   images             name -> newName / newTag / digest, in every containers/initContainers list
//   patches            path or inline patch; strategic merge (merge keys below, null deletes,
//                      $patch: delete|replace) or a JSON 6902 op list (needs target)
//   configMapGenerator files ([key=]path) and literals; name gets kustomize's content hash
//                      suffix and references to it (volumes, envFrom, env) follow
// Transformers run in kustomize's order: patches, namespace, labels, images; generated names
// are suffixed once, after the top-level build. Output order is kustomize's legacy kind order.
//
// CLI: node tests/deploy/render.js DIR > manifests.yaml
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
const ALLOWED_FIELDS = new Set([
  "apiVersion", "kind", "resources", "namespace", "labels", "images", "patches",
  "configMapGenerator",
]);
const CLUSTER_SCOPED = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
  "PersistentVolume", "StorageClass", "PriorityClass", "GatewayClass", "IngressClass",
  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
]);
// kustomize's legacy output order (api/resid gvk ordering): these kinds first, in this order,
// the webhook configurations last, everything else between, sorted by GVK string then name.
const ORDER_FIRST = [
  "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
  "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
  "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
  "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
];
const ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

export class RenderError extends Error {}

function fail(msg) {
  throw new RenderError(msg);
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function clone(v) {
  return v === undefined ? v : structuredClone(v);
}

export function parseYamlDocs(text, what) {
  const docs = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) fail(`${what}: ${doc.errors[0].message}`);
    const v = doc.toJS();
    if (v !== null && v !== undefined) docs.push(v);
  }
  return docs;
}

function kustomizationPath(dir) {
  for (const f of KUSTOMIZATION_FILES) {
    const p = join(dir, f);
    if (existsSync(p)) return p;
  }
  return null;
}

// kustomize's load restrictor: files a kustomization reads must lie in or below its root.
function fileInRoot(root, rel, what) {
  const p = resolve(root, rel);
  if (p !== root && !p.startsWith(root + sep)) {
    fail(`${what}: ${rel} is outside the kustomization root ${root}`);
  }
  if (!existsSync(p)) fail(`${what}: ${rel} does not exist`);
  return p;
}

// --- strategic merge patch -------------------------------------------------------------------

// Merge keys of the list fields the manifests patch (from the Kubernetes API's patchMergeKey).
function mergeKey(field, path) {
  switch (field) {
    case "containers": case "initContainers": case "ephemeralContainers":
    case "volumes": case "env": case "imagePullSecrets":
      return "name";
    case "volumeMounts":
      return "mountPath";
    case "ports":
      return path.includes("containers") || path.includes("initContainers")
        ? "containerPort" : "port";
    default:
      return null;
  }
}

function withoutDirectives(v) {
  if (Array.isArray(v)) return v.map(withoutDirectives);
  if (!isObject(v)) return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "$patch" || x === null) continue;
    out[k] = withoutDirectives(x);
  }
  return out;
}

function mergeList(orig, patch, field, path) {
  if (patch.some((e) => isObject(e) && e.$patch === "replace")) {
    return withoutDirectives(patch.filter((e) => !(isObject(e) && e.$patch === "replace")));
  }
  const key = mergeKey(field, path);
  if (!key || !patch.every(isObject) || !orig.every(isObject)) return withoutDirectives(patch);
  const out = orig.map(clone);
  for (const p of patch) {
    if (p[key] === undefined) fail(`patch ${path.join(".")}: list item without merge key ${key}`);
    const at = out.findIndex((o) => o[key] === p[key]);
    if (p.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) {
      out[at] = mergeValue(out[at], p, field, path);
    } else {
      out.push(withoutDirectives(p));
    }
  }
  return out;
}

function mergeValue(orig, patch, field, path) {
  if (isObject(orig) && isObject(patch)) {
    if (patch.$patch === "replace") return withoutDirectives(patch);
    const out = clone(orig);
    for (const [k, v] of Object.entries(patch)) {
      if (k === "$patch") continue;
      if (v === null) delete out[k];
      else if (k in out) out[k] = mergeValue(out[k], v, k, [...path, k]);
      else out[k] = withoutDirectives(v);
    }
    return out;
  }
  if (Array.isArray(orig) && Array.isArray(patch)) return mergeList(orig, patch, field, path);
  return withoutDirectives(patch);
}

export function strategicMerge(obj, patch) {
  if (patch.$patch === "delete") return null;
  const out = mergeValue(obj, patch, "", []);
  // The patch's identity fields select the target; they never rename it.
  out.apiVersion = obj.apiVersion;
  out.kind = obj.kind;
  out.metadata.name = obj.metadata.name;
  if (obj.metadata.namespace !== undefined) out.metadata.namespace = obj.metadata.namespace;
  return out;
}

// --- JSON 6902 -------------------------------------------------------------------------------

function pointer(path) {
  if (path === "") return [];
  if (!path.startsWith("/")) fail(`json patch path must start with /: ${path}`);
  return path.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function walkTo(doc, tokens, op) {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) fail(`json patch ${op.op} ${op.path}: no such path`);
  }
  return cur;
}

export function jsonPatch(obj, ops) {
  const doc = clone(obj);
  for (const op of ops) {
    const tokens = pointer(op.path);
    const parent = walkTo(doc, tokens, op);
    const last = tokens[tokens.length - 1];
    const isArr = Array.isArray(parent);
    const idx = isArr ? (last === "-" ? parent.length : Number(last)) : last;
    const exists = isArr ? idx < parent.length : Object.hasOwn(parent, idx);
    switch (op.op) {
      case "add":
        if (isArr) parent.splice(idx, 0, clone(op.value));
        else parent[idx] = clone(op.value);
        break;
      case "replace":
      case "remove":
        if (!exists) fail(`json patch ${op.op} ${op.path}: no such path`);
        if (op.op === "remove") {
          if (isArr) parent.splice(idx, 1);
          else delete parent[idx];
        } else {
          parent[idx] = clone(op.value);
        }
        break;
      case "test":
        if (JSON.stringify(parent[idx]) !== JSON.stringify(op.value)) {
          fail(`json patch test ${op.path} failed`);
        }
        break;
      default:
        fail(`json patch op ${op.op} is outside the supported subset`);
    }
  }
  return doc;
}

// --- transformers ----------------------------------------------------------------------------

function matchesTarget(obj, t) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  if (t.kind !== undefined && t.kind !== obj.kind) return false;
  if (t.name !== undefined && !new RegExp(`^(?:${t.name})$`).test(obj.metadata.name)) return false;
  if (t.group !== undefined && t.group !== group) return false;
  if (t.version !== undefined && t.version !== version) return false;
  if (t.namespace !== undefined && t.namespace !== (obj.metadata.namespace ?? "")) return false;
  for (const k of Object.keys(t)) {
    if (!["kind", "name", "group", "version", "namespace"].includes(k)) {
      fail(`patch target field ${k} is outside the supported subset`);
    }
  }
  return true;
}

function applyPatch(objs, entry, root) {
  for (const k of Object.keys(entry)) {
    if (!["path", "patch", "target"].includes(k)) fail(`patches: field ${k} is outside the subset`);
  }
  const text = entry.path !== undefined
    ? readFileSync(fileInRoot(root, entry.path, "patches"), "utf8") : entry.patch;
  if (typeof text !== "string") fail("patches: an entry needs path or patch");
  const docs = parseYamlDocs(text, `patch ${entry.path ?? "(inline)"}`);
  if (docs.length !== 1) fail(`patch ${entry.path ?? "(inline)"}: exactly one document expected`);
  const patch = docs[0];
  let target = entry.target;
  if (Array.isArray(patch)) {
    if (!target) fail(`json patch ${entry.path ?? "(inline)"} needs a target`);
  } else if (!target) {
    target = { kind: patch.kind, name: patch.metadata?.name };
  }
  let hits = 0;
  const out = [];
  for (const o of objs) {
    if (!matchesTarget(o, target)) {
      out.push(o);
      continue;
    }
    hits++;
    const r = Array.isArray(patch) ? jsonPatch(o, patch) : strategicMerge(o, patch);
    if (r !== null) out.push(r);
  }
  if (hits === 0) fail(`patch ${entry.path ?? "(inline)"} matches no resource`);
  return out;
}

function setNamespace(objs, ns) {
  for (const o of objs) {
    if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = ns;
  }
}

function addLabels(objs, entries) {
  for (const e of entries) {
    for (const k of Object.keys(e)) {
      if (k === "pairs") continue;
      if ((k === "includeSelectors" || k === "includeTemplates") && e[k] === false) continue;
      fail(`labels: ${k}${k.startsWith("include") ? ": true" : ""} is outside the subset`);
    }
    for (const o of objs) {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), ...e.pairs };
    }
  }
}

// Splits an image reference into name and the tag/digest part, as kustomize's image.Split does:
// a colon after the last slash starts the tag (a colon before it is a registry port).
function splitImage(ref) {
  const at = ref.indexOf("@");
  if (at >= 0) return { name: ref.slice(0, at), tag: "", digest: ref.slice(at + 1) };
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1), digest: "" };
  return { name: ref, tag: "", digest: "" };
}

function rewriteImage(ref, img) {
  const cur = splitImage(ref);
  if (cur.name !== img.name) return ref;
  const name = img.newName ?? cur.name;
  if (img.digest !== undefined) return `${name}@${img.digest}`;
  if (img.newTag !== undefined) return `${name}:${img.newTag}`;
  if (cur.digest) return `${name}@${cur.digest}`;
  return cur.tag ? `${name}:${cur.tag}` : name;
}

function walkContainers(v, fn) {
  if (Array.isArray(v)) {
    v.forEach((x) => walkContainers(x, fn));
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if ((k === "containers" || k === "initContainers") && Array.isArray(x)) x.forEach(fn);
      walkContainers(x, fn);
    }
  }
}

function setImages(objs, images) {
  for (const img of images) {
    for (const k of Object.keys(img)) {
      if (!["name", "newName", "newTag", "digest"].includes(k)) fail(`images: field ${k} is outside the subset`);
    }
    for (const o of objs) {
      walkContainers(o, (c) => {
        if (typeof c.image === "string") c.image = rewriteImage(c.image, img);
      });
    }
  }
}

// --- configMapGenerator and its content hash -------------------------------------------------

// Go's encoding/json: sorted map keys, and <, >, &, U+2028, U+2029 escaped as \uXXXX.
function goJson(v) {
  if (isObject(v)) {
    return `{${Object.keys(v).sort().map((k) => `${goJson(k)}:${goJson(v[k])}`).join(",")}}`;
  }
  if (typeof v === "string") {
    return JSON.stringify(v)
      .replace(/[<>&\u2028\u2029\b\f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  return JSON.stringify(v);
}

// kustomize's hasher: sha256 over the Go JSON of {data, kind, name}; the first 10 hex digits with
// 0,1,3,a,e replaced (so the suffix never reads as a number or a word). kustomize v5 hashes a
// generated ConfigMap before its name is set, so name is "" (checked against kubectl kustomize
// v5.5: the suffix depends on the data only).
export function configMapHash(data) {
  const hex = createHash("sha256").update(goJson({ data, kind: "ConfigMap", name: "" })).digest("hex");
  const map = { 0: "g", 1: "h", 3: "k", a: "m", e: "t" };
  return [...hex.slice(0, 10)].map((c) => map[c] ?? c).join("");
}

function generateConfigMaps(gens, root) {
  return gens.map((g) => {
    for (const k of Object.keys(g)) {
      if (!["name", "files", "literals"].includes(k)) fail(`configMapGenerator: field ${k} is outside the subset`);
    }
    const data = {};
    for (const f of g.files ?? []) {
      const eq = f.indexOf("=");
      const key = eq >= 0 ? f.slice(0, eq) : basename(f);
      data[key] = readFileSync(fileInRoot(root, eq >= 0 ? f.slice(eq + 1) : f, "configMapGenerator"), "utf8");
    }
    for (const l of g.literals ?? []) {
      const eq = l.indexOf("=");
      if (eq <= 0) fail(`configMapGenerator ${g.name}: literal ${l} is not key=value`);
      data[l.slice(0, eq)] = l.slice(eq + 1);
    }
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name }, data };
  });
}

function renameConfigMapRefs(v, ns, renames) {
  if (Array.isArray(v)) {
    v.forEach((x) => renameConfigMapRefs(x, ns, renames));
    return;
  }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if ((k === "configMap" || k === "configMapRef" || k === "configMapKeyRef") && isObject(x)) {
      const to = renames.get(`${ns}/${x.name}`);
      if (to) x.name = to;
    }
    renameConfigMapRefs(x, ns, renames);
  }
}

// The subset has no name prefix/suffix transformers, so a generated ConfigMap keeps its
// generator name until here: <generated> holds those names.
function suffixGenerated(objs, generated) {
  const renames = new Map();
  for (const o of objs) {
    if (o.kind !== "ConfigMap" || !generated.has(o.metadata.name)) continue;
    const ns = o.metadata.namespace ?? "";
    const name = `${o.metadata.name}-${configMapHash(o.data)}`;
    renames.set(`${ns}/${o.metadata.name}`, name);
    o.metadata.name = name;
  }
  for (const o of objs) renameConfigMapRefs(o, o.metadata.namespace ?? "", renames);
}

// --- build -----------------------------------------------------------------------------------

function loadResource(root, rel, generated) {
  const p = resolve(root, rel);
  if (!existsSync(p)) fail(`resources: ${rel} does not exist (from ${root})`);
  if (statSync(p).isDirectory()) return build(p, generated);
  fileInRoot(root, rel, "resources");
  const docs = parseYamlDocs(readFileSync(p, "utf8"), rel);
  for (const d of docs) {
    if (!isObject(d) || !d.apiVersion || !d.kind || !d.metadata?.name) {
      fail(`${rel}: every document needs apiVersion, kind and metadata.name`);
    }
  }
  return docs;
}

// Builds one kustomization: its resources (recursively), generators, then transformers.
// Adds the names of the ConfigMaps it generates to <generated>.
function build(dir, generated) {
  const root = resolve(dir);
  const kpath = kustomizationPath(root);
  if (!kpath) fail(`${dir}: no kustomization.yaml`);
  const docs = parseYamlDocs(readFileSync(kpath, "utf8"), kpath);
  const k = docs[0] ?? {};
  for (const f of Object.keys(k)) {
    if (!ALLOWED_FIELDS.has(f)) fail(`${kpath}: field ${f} is outside the subset render.js implements`);
  }
  if (k.kind !== undefined && k.kind !== "Kustomization") fail(`${kpath}: kind ${k.kind} unsupported`);
  let objs = [];
  for (const r of k.resources ?? []) objs.push(...loadResource(root, r, generated));
  for (const cm of generateConfigMaps(k.configMapGenerator ?? [], root)) {
    generated.add(cm.metadata.name);
    objs.push(cm);
  }
  for (const p of k.patches ?? []) objs = applyPatch(objs, p, root);
  if (k.namespace) setNamespace(objs, k.namespace);
  addLabels(objs, k.labels ?? []);
  setImages(objs, k.images ?? []);
  const seen = new Set();
  for (const o of objs) {
    const id = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    if (seen.has(id)) fail(`${kpath}: ${id} appears twice`);
    seen.add(id);
  }
  return objs;
}

function gvkString(o) {
  const [g, v] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  return `${g}_${v}_${o.kind}`;
}

function kindRank(kind) {
  const f = ORDER_FIRST.indexOf(kind);
  if (f >= 0) return f;
  const l = ORDER_LAST.indexOf(kind);
  return l >= 0 ? ORDER_FIRST.length + 1 + l : ORDER_FIRST.length;
}

export function sortLegacy(objs) {
  return [...objs].sort((a, b) => kindRank(a.kind) - kindRank(b.kind)
    || gvkString(a).localeCompare(gvkString(b))
    || (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "")
    || a.metadata.name.localeCompare(b.metadata.name));
}

// Renders the kustomization in DIR: the list of plain objects, in kustomize's output order.
export function render(dir) {
  const generated = new Set();
  const objs = build(dir, generated);
  suffixGenerated(objs, generated);
  return sortLegacy(objs).map((o) => JSON.parse(JSON.stringify(o)));
}

export function toYaml(objs) {
  return objs.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.length !== 3) {
    console.error("usage: node tests/deploy/render.js KUSTOMIZATION_DIR");
    process.exit(2);
  }
  try {
    process.stdout.write(toYaml(render(process.argv[2])));
  } catch (e) {
    console.error(`render.js: ${e instanceof RenderError ? e.message : e.stack}`);
    process.exit(1);
  }
}
