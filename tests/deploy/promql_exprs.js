// SPDX-License-Identifier: MIT
// tests/deploy/promql_exprs.js - every PromQL expression of the monitoring assets, for tests
// that parse or evaluate them: the Grafana dashboard's panel targets and the rule file's
// recording and alerting rules.
//   node tests/deploy/promql_exprs.js            JSON list on stdout
//   node tests/deploy/promql_exprs.js --rules    the same as a Prometheus rule file, one
//                                                recording rule per expression (promtool parses it)
// Each entry: {source: "dashboard"|"rules", where: panel or rule name, expr: as written,
// promql: with Grafana's interval variables replaced so Prometheus' HTTP API takes it as is}.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DASHBOARD_FILE = join(REPO, "deploy/monitoring/grafana/kvroute-dashboard.json");
export const RULES_FILE = join(REPO, "deploy/monitoring/rules/kvroute.rules.yml");

// Grafana's built-in interval variables, as the local fleet (5 s scrapes) would resolve them.
const GRAFANA_VARS = { __rate_interval: "1m", __interval: "15s", __range: "5m" };

export function substituteGrafana(expr) {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => {
    const v = GRAFANA_VARS[a ?? b];
    if (v === undefined) throw new Error(`unknown Grafana variable ${m} in: ${expr}`);
    return v;
  });
}

function dashboardPanels(panels) {
  return panels.flatMap((p) => [p, ...dashboardPanels(p.panels ?? [])]);
}

export function dashboardExprs(dash) {
  const out = [];
  for (const p of dashboardPanels(dash.panels ?? [])) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== "string") continue;
      out.push({ source: "dashboard", where: `panel ${p.id} "${p.title}" ${t.refId}`,
        expr: t.expr, promql: substituteGrafana(t.expr) });
    }
  }
  return out;
}

export function ruleExprs(rules) {
  return rules.groups.flatMap((g) => g.rules.map((r) => ({
    source: "rules", where: `${g.name} ${r.record ?? r.alert}`, expr: String(r.expr).trim(),
    promql: String(r.expr).trim(),
  })));
}

export function allExprs() {
  return [
    ...dashboardExprs(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"))),
    ...ruleExprs(parse(readFileSync(RULES_FILE, "utf8"))),
  ];
}

// Metric names an expression selects. A small lexer, not a parser: strings, label matchers,
// range/subquery brackets and grouping label lists are blanked, then every identifier that is not
// a keyword and not followed by "(" (a function or aggregation) is a metric name.
const KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
  "group_right", "bool", "offset", "inf", "nan"]);

export function metricNames(expr) {
  const blanked = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set();
  for (const m of blanked.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (!KEYWORDS.has(m[1].toLowerCase())) names.add(m[1]);
  }
  return [...names];
}

export function asRuleFile(exprs) {
  return stringify({ groups: [{ name: "promql_exprs", rules: exprs.map((e, i) => ({
    record: `promql_exprs:expr_${i}`, expr: e.promql, labels: { where: e.where },
  })) }] }, { lineWidth: 0 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const exprs = allExprs();
  process.stdout.write(process.argv[2] === "--rules" ? asRuleFile(exprs) : `${JSON.stringify(exprs, null, 2)}\n`);
}
