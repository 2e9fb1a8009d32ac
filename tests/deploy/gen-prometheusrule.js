// SPDX-License-Identifier: MIT
// tests/deploy/gen-prometheusrule.js - write the Kubernetes PrometheusRule from the plain rule
// file, so deploy/monitoring/rules/kvroute.rules.yml stays the one source of truth.
//   node tests/deploy/gen-prometheusrule.js           rewrite the PrometheusRule
//   node tests/deploy/gen-prometheusrule.js --check   exit 1 when it is out of date
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const RULES_FILE = join(REPO, "deploy/monitoring/rules/kvroute.rules.yml");
export const PROMETHEUS_RULE = join(REPO, "deploy/kubernetes/base/monitoring/prometheusrule.yaml");

const HEADER = `# SPDX-License-Identifier: MIT
# GENERATED from deploy/monitoring/rules/kvroute.rules.yml by tests/deploy/gen-prometheusrule.js:
# edit the rule file and run \`node tests/deploy/gen-prometheusrule.js\`, never this file.
`;

export function generate() {
  const rules = parse(readFileSync(RULES_FILE, "utf8"));
  const obj = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "kvroute", labels: { "app.kubernetes.io/name": "kvroute" } },
    spec: { groups: rules.groups },
  };
  return HEADER + stringify(obj, { lineWidth: 100 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = generate();
  if (process.argv[2] === "--check") {
    if (readFileSync(PROMETHEUS_RULE, "utf8") !== text) {
      console.error(`${PROMETHEUS_RULE} is out of date: run node tests/deploy/gen-prometheusrule.js`);
      process.exit(1);
    }
  } else {
    writeFileSync(PROMETHEUS_RULE, text);
  }
}
