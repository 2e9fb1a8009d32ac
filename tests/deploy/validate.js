// SPDX-License-Identifier: MIT
// tests/deploy/validate.js - validate kvroute's deployment and monitoring assets offline.
//
// 1. Renders every overlay in deploy/kubernetes/overlays with render.js, or reads the rendered
//    YAML given with --rendered OVERLAY=FILE (kubectl kustomize's or deploy.sh --dry-run's
//    output) and checks it equals render.js' rendering.
// 2. Validates every object against the Kubernetes API schemas (kubernetes-models, plus the
//    Prometheus Operator and Gateway API CRD schemas), strictly: a field the schema does not
//    declare is an error, as with kubectl's --validate=strict.
// 3. Checks what the deployment promises: references resolve (Services and monitors select pods
//    and ports that exist, the HTTPRoute's Gateway and backend exist, the config file is mounted
//    where kvroute reads it), the drain timing adds up, the vLLM arguments, GPU and token are
//    there (and gone in the kvsim overlay), the baseline has ClientIP affinity and no kvroute.
// 4. Checks the monitoring: the PrometheusRule equals the rule file, the dashboard's panels and
//    that every expression names only known metrics.
// 5. --self-test: feeds broken objects and asserts each is rejected, so the checks above can fail.
// Prints one line per check group and "N passed, N failed"; exits 1 on any failure.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { parseYamlDocs, render } from "./render.js";
import { generate, PROMETHEUS_RULE, RULES_FILE } from "./gen-prometheusrule.js";
import { allExprs, DASHBOARD_FILE, metricNames } from "./promql_exprs.js";
import { KNOWN_METRICS } from "./metrics.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const OVERLAYS_DIR = join(REPO, "deploy/kubernetes/overlays");

// The tuned vLLM arguments every backend must run with.
const VLLM_ARGS = [
  "--model=meta-llama/Llama-3.2-1B",
  "--enable-prefix-caching",
  "--block-size=16",
  "--no-enable-chunked-prefill",
  "--gpu-memory-utilization=0.9",
  "--prefix-caching-hash-algo=sha256_cbor_64bit",
];

// --- schema validation -----------------------------------------------------------------------

const MODEL_PACKAGES = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api/gateway.networking.k8s.io",
};

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const base = MODEL_PACKAGES[group] ?? (group ? `kubernetes-models/${group}` : "kubernetes-models");
  try {
    const mod = await import(`${base}/${version}/${kind}`);
    return mod[kind];
  } catch {
    return null;
  }
}

function isPlain(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// v with every object's keys sorted: renderers order keys differently, content is what counts.
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (!isPlain(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
}

// Runs the model's compiled schema validator on a Proxy of the object that records which
// properties the validator reads. The validator reads every property its schema declares on an
// object (and enumerates the keys of maps), so a key of a schema-described object that it never
// read is undeclared. Objects it reads nothing of (free-form, preserve-unknown-fields) are skipped.
function strictValidate(Model, obj) {
  const model = new Model(obj);
  const seen = new Map();
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || typeof v !== "object") return v;
    if (proxies.has(v)) return proxies.get(v);
    const info = { read: new Set(), enumerated: false };
    seen.set(v, info);
    const p = new Proxy(v, {
      get(t, k, r) {
        if (typeof k === "string") info.read.add(k);
        return wrap(Reflect.get(t, k, r));
      },
      has(t, k) {
        if (typeof k === "string") info.read.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        info.enumerated = true;
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(v, p);
    return p;
  };
  const errors = [];
  try {
    Model.prototype.validate.call(wrap(model));
  } catch (e) {
    errors.push(e.message);
  }
  const walk = (v, path) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
      return;
    }
    if (!isPlain(v) && !(v instanceof Model)) return;
    const info = seen.get(v);
    if (info && !info.enumerated && info.read.size > 0) {
      for (const k of Object.keys(v)) {
        if (!info.read.has(k)) errors.push(`${path}.${k}: unknown field`);
      }
    }
    for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(model, "");
  return errors;
}

export async function schemaErrors(obj) {
  if (!isPlain(obj) || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return ["not a Kubernetes object (apiVersion and kind needed)"];
  }
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (!Model) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  return strictValidate(Model, obj);
}

// --- reference and content checks ------------------------------------------------------------

function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

function podTemplates(objs) {
  return objs.filter((o) => o.spec?.template?.spec?.containers)
    .map((o) => ({ owner: o, labels: o.spec.template.metadata?.labels ?? {}, spec: o.spec.template.spec }));
}

function find(objs, kind, name) {
  return objs.find((o) => o.kind === kind && o.metadata.name === name);
}

function containerPortNames(tpl) {
  return new Set(tpl.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
}

// Checks that hold in every overlay: each returns a list of problems.
function referenceProblems(objs, namespace) {
  const out = [];
  const pods = podTemplates(objs);
  for (const o of objs) {
    if (o.metadata.namespace !== namespace) out.push(`${o.kind}/${o.metadata.name}: namespace ${o.metadata.namespace} != ${namespace}`);
  }
  for (const s of objs.filter((o) => o.kind === "Service")) {
    const hit = pods.filter((p) => selects(s.spec.selector, p.labels));
    if (!s.spec.selector || hit.length === 0) out.push(`Service/${s.metadata.name} selects no pod template`);
    for (const port of s.spec.ports) {
      if (typeof port.targetPort === "string" && !hit.every((p) => containerPortNames(p).has(port.targetPort))) {
        out.push(`Service/${s.metadata.name}: targetPort ${port.targetPort} is not a container port name`);
      }
    }
  }
  for (const b of objs.filter((o) => o.kind === "PodDisruptionBudget")) {
    if (!pods.some((p) => selects(b.spec.selector.matchLabels, p.labels))) out.push(`PodDisruptionBudget/${b.metadata.name} selects no pods`);
  }
  for (const d of objs.filter((o) => o.kind === "Deployment")) {
    if (!selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels)) out.push(`Deployment/${d.metadata.name}: selector does not match its template`);
    for (const v of d.spec.template.spec.volumes ?? []) {
      if (v.configMap && !find(objs, "ConfigMap", v.configMap.name)) out.push(`Deployment/${d.metadata.name}: ConfigMap ${v.configMap.name} is not in the overlay`);
    }
  }
  for (const m of objs.filter((o) => o.kind === "ServiceMonitor")) {
    const svcs = objs.filter((o) => o.kind === "Service" && selects(m.spec.selector.matchLabels, o.metadata.labels));
    // Exactly one: two Services over the same pods would scrape each pod twice and double sums.
    if (svcs.length !== 1) out.push(`ServiceMonitor/${m.metadata.name} selects ${svcs.length} Services, want 1`);
    for (const e of m.spec.endpoints) {
      if (!svcs.every((s) => s.spec.ports.some((p) => p.name === e.port))) out.push(`ServiceMonitor/${m.metadata.name}: port ${e.port} not on the Service`);
    }
    if (m.spec.jobLabel && !svcs.every((s) => s.metadata.labels?.[m.spec.jobLabel])) out.push(`ServiceMonitor/${m.metadata.name}: Service lacks jobLabel ${m.spec.jobLabel}`);
  }
  for (const r of objs.filter((o) => o.kind === "HTTPRoute")) {
    for (const p of r.spec.parentRefs) {
      if (!find(objs, "Gateway", p.name)) out.push(`HTTPRoute/${r.metadata.name}: Gateway ${p.name} not in the overlay`);
    }
    for (const rule of r.spec.rules) {
      for (const b of rule.backendRefs ?? []) {
        const svc = find(objs, "Service", b.name);
        if (!svc?.spec.ports.some((p) => p.port === b.port)) out.push(`HTTPRoute/${r.metadata.name}: no Service ${b.name} with port ${b.port}`);
      }
      if (!rule.matches?.some((m) => m.path?.type === "PathPrefix" && m.path.value === "/v1")) out.push(`HTTPRoute/${r.metadata.name}: no PathPrefix /v1 match`);
    }
  }
  return out;
}

function backendDeployment(objs) {
  return find(objs, "Deployment", "vllm");
}

function vllmProblems(objs, { gpu }) {
  const out = [];
  const d = backendDeployment(objs);
  if (!d) return ["no vllm Deployment"];
  const c = d.spec.template.spec.containers.find((x) => x.name === "vllm");
  for (const a of VLLM_ARGS) {
    if (!c.args.includes(a)) out.push(`vllm: argument ${a} missing`);
  }
  const gpus = [c.resources?.limits?.["nvidia.com/gpu"], c.resources?.requests?.["nvidia.com/gpu"]];
  const token = (c.env ?? []).find((e) => e.name === "HF_TOKEN");
  if (gpu) {
    if (gpus.some((g) => String(g) !== "1")) out.push(`vllm: nvidia.com/gpu request and limit must be 1, got ${gpus}`);
    if (token?.valueFrom?.secretKeyRef?.name !== "hf-token") out.push("vllm: HF_TOKEN must come from Secret hf-token");
    if (!c.image.startsWith("vllm/vllm-openai:")) out.push(`vllm: image ${c.image}`);
  } else {
    if (JSON.stringify(objs).includes("nvidia.com/gpu")) out.push("kvsim: a GPU is still requested or tolerated");
    if (JSON.stringify(objs).includes("hf-token")) out.push("kvsim: still needs the hf-token Secret");
    if (!c.image.startsWith("ghcr.io/kvroute/kvsim:")) out.push(`kvsim: image ${c.image}`);
  }
  const headless = find(objs, "Service", "vllm-headless");
  if (headless?.spec.clusterIP !== "None") out.push("vllm-headless must be a headless Service (clusterIP: None)");
  return out;
}

function routerProblems(objs) {
  const out = [];
  const d = find(objs, "Deployment", "kvroute");
  if (!d) return ["no kvroute Deployment"];
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === "kvroute");
  if (d.spec.replicas !== 2) out.push(`kvroute: replicas ${d.spec.replicas}, want 2`);
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    if (c[probe]?.httpGet?.path !== "/health") out.push(`kvroute: ${probe} must GET /health`);
  }
  if (!c.resources?.requests?.cpu || !c.resources?.limits?.memory) out.push("kvroute: cpu request and memory limit needed");
  // The config file: the --config argument must name a file of a mounted ConfigMap.
  const arg = c.args.find((a) => a.startsWith("--config="))?.slice("--config=".length);
  const mount = (c.volumeMounts ?? []).find((m) => arg?.startsWith(`${m.mountPath}/`));
  const vol = pod.volumes?.find((v) => v.name === mount?.name);
  const cm = vol && find(objs, "ConfigMap", vol.configMap?.name);
  const file = arg && mount ? arg.slice(mount.mountPath.length + 1) : undefined;
  if (!cm?.data?.[file]) return [...out, `kvroute: --config=${arg} is not a file of a mounted ConfigMap`];
  const cfg = parse(cm.data[file]);
  // Drain: preStop sleep + kvroute's drain must fit in the grace period, with 5 s to spare.
  const sleep = c.lifecycle?.preStop?.sleep?.seconds;
  const drain = cfg.server?.drain_timeout_ms / 1000;
  if (!(sleep > 0) || !(drain > 0)) out.push("kvroute: preStop sleep and server.drain_timeout_ms needed");
  else if (pod.terminationGracePeriodSeconds < sleep + drain + 5) out.push(`kvroute: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < preStop ${sleep} + drain ${drain} + 5`);
  // Backends by DNS: the headless Service's name and port.
  const [host, port] = String(cfg.backends?.dns).split(":");
  const svc = find(objs, "Service", host.split(".")[0]);
  if (svc?.spec.clusterIP !== "None" || !svc.spec.ports.some((p) => p.port === Number(port))) out.push(`kvroute: backends.dns ${cfg.backends?.dns} is not the headless Service and port`);
  const containerPort = c.ports.find((p) => p.name === "http")?.containerPort;
  if (cfg.server?.port !== containerPort) out.push(`kvroute: server.port ${cfg.server?.port} != containerPort ${containerPort}`);
  const profiles = cfg.scheduling?.schedulingProfiles ?? [];
  const plugins = new Set((cfg.scheduling?.plugins ?? []).map((p) => p.name ?? p.type));
  for (const ref of profiles.flatMap((p) => p.plugins)) {
    if (!plugins.has(ref.pluginRef)) out.push(`kvroute config: pluginRef ${ref.pluginRef} names no plugin`);
  }
  if (!profiles.some((p) => p.name === "default")) out.push("kvroute config: no schedulingProfile named default");
  const pdb = objs.find((o) => o.kind === "PodDisruptionBudget" && selects(o.spec.selector.matchLabels, d.spec.template.metadata.labels));
  if (!pdb || !(pdb.spec.minAvailable >= 1)) out.push("kvroute: PodDisruptionBudget with minAvailable >= 1 needed");
  const route = find(objs, "HTTPRoute", "kvroute");
  if (route?.spec.rules[0].backendRefs[0].name !== "kvroute") out.push("HTTPRoute must send /v1 to kvroute");
  return out;
}

function baselineProblems(objs) {
  const out = [];
  if (objs.some((o) => o.metadata.name === "kvroute" && ["Deployment", "Service"].includes(o.kind))) out.push("baseline must not run kvroute");
  const svc = find(objs, "Service", "vllm");
  if (svc?.spec.sessionAffinity !== "ClientIP" || svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds !== 7200) out.push("baseline: Service vllm needs sessionAffinity ClientIP, timeoutSeconds 7200");
  if (svc?.spec.clusterIP === "None") out.push("baseline: the ClientIP Service must not be headless");
  const route = find(objs, "HTTPRoute", "kvroute");
  if (route?.spec.rules[0].backendRefs[0].name !== "vllm") out.push("baseline: HTTPRoute must send /v1 to Service vllm");
  return out;
}

// What each overlay must satisfy beyond the references.
const OVERLAY_CHECKS = {
  vllm: (objs) => [...vllmProblems(objs, { gpu: true }), ...routerProblems(objs)],
  kvsim: (objs) => [...vllmProblems(objs, { gpu: false }), ...routerProblems(objs)],
  "baseline-clientip": (objs) => [...vllmProblems(objs, { gpu: true }), ...baselineProblems(objs)],
};

// --- monitoring checks -----------------------------------------------------------------------

function prometheusRuleProblems(objsByOverlay) {
  const out = [];
  const rules = parse(readFileSync(RULES_FILE, "utf8"));
  if (readFileSync(PROMETHEUS_RULE, "utf8") !== generate()) out.push(`${PROMETHEUS_RULE} is stale: run node tests/deploy/gen-prometheusrule.js`);
  for (const [name, objs] of Object.entries(objsByOverlay)) {
    const pr = objs.find((o) => o.kind === "PrometheusRule");
    if (JSON.stringify(canon(pr?.spec)) !== JSON.stringify(canon({ groups: rules.groups }))) out.push(`${name}: PrometheusRule spec differs from ${RULES_FILE}`);
  }
  return out;
}

// The panels the operations guide refers to, by a word of their title.
const REQUIRED_PANELS = [/hit rate/i, /concentration/i, /KV cache usage/i, /routing decisions/i,
  /match ratio/i, /first byte/i, /health/i];

export function dashboardProblems(dash, rules) {
  const out = [];
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = panels.map((p) => p.id);
  if (new Set(ids).size !== ids.length) out.push("dashboard: panel ids not unique");
  for (const re of REQUIRED_PANELS) {
    if (!panels.some((p) => re.test(p.title))) out.push(`dashboard: no panel titled like ${re}`);
  }
  if (!dash.templating?.list?.some((v) => v.name === "datasource" && v.type === "datasource")) out.push("dashboard: no datasource variable");
  for (const p of panels.filter((x) => x.type !== "row")) {
    if (p.datasource?.uid !== "${datasource}") out.push(`dashboard: panel ${p.id} not on the datasource variable`);
    if (!p.targets?.length) out.push(`dashboard: panel ${p.id} has no query`);
    const g = p.gridPos;
    if (!g || g.w < 1 || g.x + g.w > 24) out.push(`dashboard: panel ${p.id} gridPos out of the 24-column grid`);
  }
  const recorded = new Set(rules.groups.flatMap((gr) => gr.rules.map((r) => r.record).filter(Boolean)));
  return [...out, ...exprMetricProblems(recorded)];
}

function exprMetricProblems(recorded) {
  const out = [];
  for (const e of allExprs()) {
    for (const m of metricNames(e.expr)) {
      if (!KNOWN_METRICS.has(m) && !recorded.has(m)) out.push(`${e.source} ${e.where}: unknown metric ${m}`);
    }
  }
  return out;
}

// --- self-test: the checks must reject these ---------------------------------------------------

async function selfTest(objs) {
  const failures = [];
  const deploy = find(objs, "Deployment", "kvroute");
  const mutate = (o, fn) => {
    const c = structuredClone(o);
    fn(c);
    return c;
  };
  const badObjects = {
    "unknown spec field": mutate(deploy, (d) => { d.spec.replicaz = 2; }),
    "unknown container field": mutate(deploy, (d) => { d.spec.template.spec.containers[0].imagePullPolicyy = "Always"; }),
    "wrong type": mutate(deploy, (d) => { d.spec.replicas = "2"; }),
    "missing required": mutate(deploy, (d) => { delete d.spec.template.spec.containers; }),
    "unknown ServiceMonitor field": mutate(find(objs, "ServiceMonitor", "kvroute"), (m) => { m.spec.endpoints[0].portt = "http"; }),
    "bad HTTPRoute path type": mutate(find(objs, "HTTPRoute", "kvroute"), (r) => { r.spec.rules[0].matches[0].path.type = "Prefix"; }),
    "bad PrometheusRule duration": mutate(find(objs, "PrometheusRule", "kvroute"), (r) => { r.spec.groups[1].rules[0].for = "ten minutes"; }),
    "unknown kind": { apiVersion: "v1", kind: "Servise", metadata: { name: "x" } },
  };
  for (const [what, o] of Object.entries(badObjects)) {
    if ((await schemaErrors(o)).length === 0) failures.push(`schema accepted: ${what}`);
  }
  const labels = { ...deploy.metadata.labels, extra: "x" };
  if ((await schemaErrors(mutate(deploy, (d) => { d.metadata.labels = labels; }))).length) failures.push("schema rejected extra label (maps must stay open)");
  const badRefs = {
    "Service selecting nothing": (o) => { find(o, "Service", "kvroute").spec.selector = { nope: "x" }; },
    "monitor on a missing port": (o) => { find(o, "ServiceMonitor", "vllm").spec.endpoints[0].port = "metrics"; },
    "route to a missing Service": (o) => { find(o, "HTTPRoute", "kvroute").spec.rules[0].backendRefs[0].name = "nope"; },
    "second Service over the backends": (o) => { o.push(mutate(find(o, "Service", "vllm-headless"), (s) => { s.metadata.name = "dup"; })); },
  };
  for (const [what, fn] of Object.entries(badRefs)) {
    const c = structuredClone(objs);
    fn(c);
    if (referenceProblems(c, "kvroute").length === 0) failures.push(`references accepted: ${what}`);
  }
  const badContent = {
    "missing tuned arg": (o) => { backendDeployment(o).spec.template.spec.containers[0].args.pop(); },
    "grace shorter than drain": (o) => { find(o, "Deployment", "kvroute").spec.template.spec.terminationGracePeriodSeconds = 30; },
    "one router replica": (o) => { find(o, "Deployment", "kvroute").spec.replicas = 1; },
  };
  for (const [what, fn] of Object.entries(badContent)) {
    const c = structuredClone(objs);
    fn(c);
    if (OVERLAY_CHECKS.vllm(c).length === 0) failures.push(`content accepted: ${what}`);
  }
  if (metricNames('sum(rate(vllm:prefix_cache_hit_total{a="b"}[1m]))').some((m) => KNOWN_METRICS.has(m))) failures.push("metric typo taken for a known metric");
  return failures;
}

// Differences between two renderings: same objects in the same order, same content (key
// order aside). Returns a list of problems.
export function sameObjects(a, b) {
  const id = (o) => `${o.kind}/${o.metadata?.name}`;
  if (a.map(id).join(" ") !== b.map(id).join(" ")) return [`objects differ: [${a.map(id)}] vs [${b.map(id)}]`];
  return a.flatMap((o, i) => (JSON.stringify(canon(o)) === JSON.stringify(canon(b[i])) ? [] : [`${id(o)} differs`]));
}

// --- main --------------------------------------------------------------------------------------

function parseArgs(argv) {
  const rendered = {};
  let self = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--self-test") self = true;
    else if (argv[i] === "--rendered") {
      const [name, file] = argv[++i].split("=");
      rendered[name] = file;
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return { rendered, self };
}

async function main() {
  const { rendered, self } = parseArgs(process.argv.slice(2));
  const overlays = readdirSync(OVERLAYS_DIR).sort();
  let passed = 0;
  let failed = 0;
  const report = (name, problems) => {
    if (problems.length === 0) {
      passed++;
      console.log(`ok   ${name}`);
    } else {
      failed++;
      console.log(`FAIL ${name}`);
      for (const p of problems) console.log(`       ${p}`);
    }
  };
  const objsByOverlay = {};
  for (const name of overlays) {
    const dir = join(OVERLAYS_DIR, name);
    let objs;
    try {
      objs = rendered[name] ? parseYamlDocs(readFileSync(rendered[name], "utf8"), rendered[name]) : render(dir);
    } catch (e) {
      report(`${name}: render`, [e.message]);
      continue;
    }
    objsByOverlay[name] = objs;
    if (rendered[name]) report(`${name}: ${rendered[name]} equals render.js output`, sameObjects(objs, render(dir)));
    const kust = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
    const schema = [];
    for (const o of objs) {
      for (const e of await schemaErrors(o)) schema.push(`${o.kind}/${o.metadata?.name}: ${e}`);
    }
    report(`${name}: ${objs.length} objects valid against the API schemas (strict)`, schema);
    report(`${name}: references resolve`, referenceProblems(objs, kust.namespace));
    const check = OVERLAY_CHECKS[name];
    report(`${name}: overlay content`, check ? check(objs) : [`no content checks for overlay ${name}: add them to validate.js`]);
  }
  report("PrometheusRule matches deploy/monitoring/rules/kvroute.rules.yml", prometheusRuleProblems(objsByOverlay));
  const rules = parse(readFileSync(RULES_FILE, "utf8"));
  report("dashboard panels and metric names", dashboardProblems(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")), rules));
  if (self && objsByOverlay.vllm) report("self-test: broken objects are rejected", await selfTest(objsByOverlay.vllm));
  console.log(`validate.js: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.stack);
    process.exit(1);
  });
}
