#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/integration/test_deploy_manifests.sh BUILD_DIR - the deployment and monitoring assets:
#   - every overlay rendered (tests/deploy/render.js) and validated strictly against the
#     Kubernetes, Prometheus Operator and Gateway API schemas, references and content checked
#     (tests/deploy/validate.js, with its self-test of broken objects);
#   - kubectl kustomize's rendering equals render.js' (when kubectl is installed);
#   - scripts/deploy.sh --dry-run for every overlay, with each renderer available;
#   - scripts/deploy.sh against a stub kubectl: refuses without namespace or HF token Secret,
#     applies exactly the rendered objects (minus those of missing CRDs), waits for rollouts;
#   - promtool: rules and config check, the rules' unit tests, every dashboard expression parses;
#   - scripts/local-fleet.sh with stand-in backends and router and the real Prometheus: targets
#     up, the hit-rate query and recording rule give the stand-ins' ratio, Ctrl-C/TERM stops all;
#   - kvroute --check-config on the ConfigMap's kvroute.yaml (when kvroute is built).
# Run by ctest with the build dir as argv[1], cwd = repo root.
set -uo pipefail

BUILD_DIR=${1:-build}
REPO=$(pwd)
TMP=$(mktemp -d /tmp/test_deploy.XXXXXX)
PASSED=0
FAILED=0
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
# check NAME CMD...: runs CMD, output to a log shown on failure.
check() {
    local name=$1 log
    shift
    log="$TMP/log.$((PASSED + FAILED))"
    if "$@" >"$log" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/       /' "$log" | tail -40; fi
}

OVERLAYS=$(ls deploy/kubernetes/overlays)

# --- validators --------------------------------------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm needed: scripts/install-deps.sh"; exit 1; }
command -v promtool >/dev/null || { echo "promtool needed (Debian package prometheus): scripts/install-deps.sh"; exit 1; }
check "npm ci of the pinned validators" tests/deploy/install.sh
check "render.js + validate.js --self-test" node tests/deploy/validate.js --self-test

# --- renderers agree, deploy.sh --dry-run ---------------------------------------------------
renderers="builtin"
if command -v kubectl >/dev/null && kubectl kustomize deploy/kubernetes/base >/dev/null 2>&1; then
    renderers="builtin kubectl"
else
    echo "note: no kubectl with kustomize here: render.js is checked on its own"
fi
for r in $renderers; do
    args=()
    for o in $OVERLAYS; do
        if DEPLOY_RENDERER=$r scripts/deploy.sh --dry-run "$o" >"$TMP/dry-$r-$o.yaml" 2>"$TMP/dry-$r-$o.err" \
            && [ -s "$TMP/dry-$r-$o.yaml" ]; then
            args+=(--rendered "$o=$TMP/dry-$r-$o.yaml")
        else
            fail "deploy.sh --dry-run $o (renderer $r)"; cat "$TMP/dry-$r-$o.err"
        fi
    done
    check "deploy.sh --dry-run (renderer $r): every overlay equals render.js and validates" \
        node tests/deploy/validate.js "${args[@]}"
done
check "deploy.sh rejects an unknown overlay" bash -c '! scripts/deploy.sh --dry-run no-such-overlay'

# Stand-ins for kvsim and kvroute: /health, and /metrics whose prefix-cache counters keep a 3:4
# hit ratio, so Prometheus' hit rate must come out at exactly 0.75. POST answers a completion.
FAKE=$TMP/fakebuild
mkdir -p "$FAKE"
cat >"$FAKE/kvsim" <<'EOF'
#!/usr/bin/env python3
import http.server, os, sys, time
port = int(sys.argv[sys.argv.index("--port") + 1])
start = time.monotonic()
router = os.path.basename(sys.argv[0]) == "kvroute"
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        k = int((time.monotonic() - start) * 10)
        if self.path == "/health":
            body = "ok\n"
        elif self.path == "/metrics" and router:
            body = 'kvroute_backend_up{backend="b1"} 1\nkvroute_backend_inflight_requests{backend="b1"} 0\n'
        elif self.path == "/metrics":
            body = ('vllm:prefix_cache_hits_total{model_name="m",engine="0"} %d\n'
                    'vllm:prefix_cache_queries_total{model_name="m",engine="0"} %d\n' % (3 * k, 4 * k))
        else:
            self.send_response(404); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Type", "text/plain"); self.end_headers()
        self.wfile.write(body.encode())
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"object": "text_completion", "choices": [{"text": " Paris"}]}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
chmod +x "$FAKE/kvsim"
cp "$FAKE/kvsim" "$FAKE/kvroute"

# --- deploy.sh against a stub kubectl ------------------------------------------------------------
STUB=$TMP/stub
mkdir -p "$STUB/bin"
cat >"$STUB/bin/kubectl" <<'EOF'
#!/usr/bin/env bash
# Stub kubectl: answers from the environment, records what it is asked.
echo "$*" >>"$STUB_DIR/calls"
args=" $* "
case $args in
    *" get --raw /version "*) echo '{"gitVersion":"v1.31.0"}' ;;
    *" get namespace "*) [ "${STUB_NS:-0}" = 1 ] ;;
    *" create namespace "*) echo created ;;
    *" get secret hf-token "*) [ "${STUB_SECRET:-0}" = 1 ] ;;
    *" get crd "*) for c in ${STUB_CRDS:-}; do [[ $args == *" $c "* ]] && exit 0; done; exit 1 ;;
    *" apply -f "*) cp "${@: -1}" "$STUB_DIR/applied.yaml" ;;
    *" rollout status "*) echo "rolled out" ;;
    *" get pods -l app.kubernetes.io/name=vllm -o name "*) printf 'pod/vllm-a\npod/vllm-b\n' ;;
    *" logs pod/"*) echo "INFO non-default args: {'model': 'meta-llama/Llama-3.2-1B', 'block_size': 16}" ;;
    *" get gateway kvroute "*) ;; # no address yet: verification port-forwards to the Service
    *" port-forward "*)
        for a in "$@"; do [[ $a == *:* ]] && lport=${a%%:*}; done
        echo "pf $$" >>"$STUB_DIR/pids"
        exec "$STUB_FAKE" --port "$lport" ;;
    *) echo "stub kubectl: unexpected: $*" >&2; exit 1 ;;
esac
EOF
chmod +x "$STUB/bin/kubectl"
# stub_deploy SCENARIO ENV... -- ARGS...: deploy.sh with the stub, builtin renderer.
stub_deploy() {
    local dir=$STUB/$1
    shift
    mkdir -p "$dir"
    : >"$dir/calls"
    env STUB_DIR="$dir" STUB_FAKE="$FAKE/kvsim" PATH="$STUB/bin:$PATH" DEPLOY_RENDERER=builtin "$@"
}
stub_deploy nons STUB_NS=0 scripts/deploy.sh --no-verify vllm >"$TMP/nons.out" 2>&1
if grep -q "kubectl create namespace kvroute" "$TMP/nons.out" && ! grep -q apply "$STUB/nons/calls"; then
    pass "deploy.sh: missing namespace stops it before apply, with the command to fix"
else fail "deploy.sh: missing namespace"; cat "$TMP/nons.out"; fi
stub_deploy nosecret STUB_NS=1 STUB_SECRET=0 scripts/deploy.sh --no-verify vllm >"$TMP/nosecret.out" 2>&1
if grep -q "create secret generic hf-token" "$TMP/nosecret.out" && ! grep -q apply "$STUB/nosecret/calls"; then
    pass "deploy.sh: missing hf-token Secret stops the vllm overlay before apply"
else fail "deploy.sh: missing Secret"; cat "$TMP/nosecret.out"; fi
ALL_CRDS="servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com gateways.gateway.networking.k8s.io httproutes.gateway.networking.k8s.io"
if stub_deploy full STUB_NS=1 STUB_SECRET=1 STUB_CRDS="$ALL_CRDS" scripts/deploy.sh --no-verify vllm >"$TMP/full.out" 2>&1 \
    && node tests/deploy/validate.js --rendered "vllm=$STUB/full/applied.yaml" >"$TMP/full.val" 2>&1 \
    && [ "$(grep -c '^-n kvroute rollout status deployment/' "$STUB/full/calls")" = 2 ]; then
    pass "deploy.sh vllm: applies exactly the rendered overlay, waits for both rollouts"
else fail "deploy.sh vllm apply"; cat "$TMP/full.out" "$TMP/full.val" "$STUB/full/calls"; fi
# kvsim: no Secret needed; no Prometheus Operator and no Gateway API in the cluster.
if stub_deploy nocrd STUB_NS=0 scripts/deploy.sh --no-verify --create-namespace kvsim >"$TMP/nocrd.out" 2>&1 \
    && grep -q "create namespace kvroute-sim" "$STUB/nocrd/calls" \
    && ! grep -q "get secret" "$STUB/nocrd/calls" \
    && ! grep -Eq '^kind: (ServiceMonitor|PrometheusRule|Gateway|HTTPRoute)$' "$STUB/nocrd/applied.yaml" \
    && [ "$(grep -c '^kind: ' "$STUB/nocrd/applied.yaml")" = 6 ]; then
    pass "deploy.sh kvsim: creates the namespace, needs no Secret, leaves out objects of missing CRDs"
else fail "deploy.sh kvsim without CRDs"; cat "$TMP/nocrd.out" "$STUB/nocrd/calls"; fi

# Verification: logs, metrics and a completion through port-forwards (the stub serves the fake).
if stub_deploy verify STUB_NS=1 STUB_SECRET=1 STUB_CRDS="$ALL_CRDS" scripts/deploy.sh vllm >"$TMP/verify.out" 2>&1 \
    && [ "$(grep -c "non-default args: {'model'" "$TMP/verify.out")" = 2 ] \
    && [ "$(grep -c '^  vllm:prefix_cache_queries_total' "$TMP/verify.out")" = 2 ] \
    && grep -q 'port-forward svc/kvroute' "$STUB/verify/calls" && grep -q '"text": " Paris"' "$TMP/verify.out" \
    && [ "$(wc -l <"$STUB/verify/pids")" = 3 ]; then
    left=""
    for p in $(awk '{print $2}' "$STUB/verify/pids"); do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    if [ -z "$left" ]; then pass "deploy.sh verification: args in 2 pod logs, their prefix-cache metrics, a completion via svc/kvroute; port-forwards stopped"
    else fail "deploy.sh verification left port-forwards running:$left"; kill $left; fi
else fail "deploy.sh verification"; cat "$TMP/verify.out" "$STUB/verify/calls"; fi

# --- Prometheus rules, config, dashboard expressions --------------------------------------------
check "promtool check rules" promtool check rules deploy/monitoring/rules/kvroute.rules.yml
check "promtool check config deploy/monitoring/prometheus.yml" promtool check config deploy/monitoring/prometheus.yml
check "promtool test rules (tests/deploy/rules.test.yml)" promtool test rules tests/deploy/rules.test.yml
node tests/deploy/promql_exprs.js --rules >"$TMP/exprs.rules.yml"
check "every dashboard and rule expression parses ($(grep -c 'record:' "$TMP/exprs.rules.yml") expressions)" \
    promtool check rules "$TMP/exprs.rules.yml"

# --- local-fleet.sh --------------------------------------------------------------------------------
scripts/local-fleet.sh --render-config "$TMP/mon" --backend-ports 9101,9102,9103 --router-port 9100
if promtool check config "$TMP/mon/prometheus.yml" >"$TMP/mon.out" 2>&1 \
    && [ "$(promtool check service-discovery --timeout=2s "$TMP/mon/prometheus.yml" vllm 2>/dev/null | grep -c '"instance": "127.0.0.1:910[123]"')" = 3 ] \
    && [ "$(promtool check service-discovery --timeout=2s "$TMP/mon/prometheus.yml" kvroute 2>/dev/null | grep -c '"instance": "127.0.0.1:9100"')" = 1 ]; then
    pass "local-fleet.sh --render-config: valid config, 3 backend targets and the router"
else fail "local-fleet.sh --render-config"; cat "$TMP/mon.out"; fi

scripts/local-fleet.sh -n 2 --build-dir "$FAKE" >"$TMP/fleet.out" 2>"$TMP/fleet.err" &
FLEET=$!
PIDS+=("$FLEET")
# promql EXPR: instant query result value (empty when none).
promql() {
    curl -fsS "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null \
        | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
deadline=$((SECONDS + 30))
PPORT=""
until [ -n "$PPORT" ] || [ $SECONDS -ge $deadline ]; do
    PPORT=$(sed -n 's|^prometheus:  http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/fleet.out" 2>/dev/null)
    sleep 0.2
done
if [ -n "$PPORT" ]; then pass "local-fleet.sh: 2 backends, router and Prometheus up, URLs printed"
else fail "local-fleet.sh did not come up"; cat "$TMP/fleet.err"; fi
# Rates need two scrapes (5 s apart) and the recording rule one more evaluation.
up=""; rate=""; rec=""
deadline=$((SECONDS + 45))
while [ -n "$PPORT" ] && [ $SECONDS -lt $deadline ]; do
    up=$(promql 'sum(up)')
    rate=$(promql 'sum(rate(vllm:prefix_cache_hits_total[1m])) / sum(rate(vllm:prefix_cache_queries_total[1m]))')
    rec=$(promql 'kvroute:fleet_prefix_cache_hit_ratio:rate1m')
    [ "$up" = 3 ] && [ "$rate" = 0.75 ] && [ "$rec" = 0.75 ] && break
    sleep 1
done
if [ "$up" = 3 ] && [ "$rate" = 0.75 ] && [ "$rec" = 0.75 ]; then
    pass "local fleet's Prometheus: 3 targets up, hit rate 0.75 by query and by recording rule"
else fail "local fleet's Prometheus: up=$up rate=$rate recorded=$rec (want 3, 0.75, 0.75)"; fi
children=$(pgrep -P "$FLEET" | tr '\n' ' ')
kill -TERM "$FLEET"
deadline=$((SECONDS + 15))
while kill -0 "$FLEET" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
left=""
for c in $children; do kill -0 "$c" 2>/dev/null && left="$left $c"; done
if ! kill -0 "$FLEET" 2>/dev/null && [ -n "$children" ] && [ -z "$left" ]; then
    pass "local-fleet.sh: TERM stops it and all $(echo $children | wc -w) processes it started"
else fail "local-fleet.sh stop: still running:$left (children: $children)"; fi

# --- kvroute accepts the deployed config ---------------------------------------------------------
KVROUTE=""
for c in "$BUILD_DIR/kvroute" "$BUILD_DIR/src/router/kvroute"; do [ -x "$c" ] && KVROUTE=$c; done
if [ -n "$KVROUTE" ]; then
    check "kvroute --check-config accepts the ConfigMap's kvroute.yaml" \
        "$KVROUTE" --config deploy/kubernetes/base/router/kvroute.yaml --check-config
else
    echo "note: kvroute not built in $BUILD_DIR: its --check-config of kvroute.yaml is skipped"
fi

# --- kvsim takes the backends' vLLM arguments ------------------------------------------------------
KVSIM=""
for c in "$BUILD_DIR/kvsim" "$BUILD_DIR/src/sim/kvsim"; do [ -x "$c" ] && KVSIM=$c; done
if [ -n "$KVSIM" ]; then
    # The kvsim overlay's container args, with host and port moved to a free loopback port.
    mapfile -t SIM_ARGS < <(node --input-type=module -e '
        import { render } from "./tests/deploy/render.js";
        const d = render("deploy/kubernetes/overlays/kvsim").find((o) => o.kind === "Deployment" && o.metadata.name === "vllm");
        for (const a of d.spec.template.spec.containers[0].args) console.log(a);')
    SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$KVSIM" "${SIM_ARGS[@]}" --host=127.0.0.1 --port="$SPORT" >"$TMP/kvsim.log" 2>&1 &
    SIM=$!
    PIDS+=("$SIM")
    deadline=$((SECONDS + 20))
    until curl -fsS -o /dev/null "http://127.0.0.1:$SPORT/health" 2>/dev/null || [ $SECONDS -ge $deadline ] || ! kill -0 "$SIM" 2>/dev/null; do sleep 0.1; done
    # Whole outputs first: with pipefail, `curl | grep -q` fails when grep exits before curl
    # has written everything (curl then dies of SIGPIPE).
    SIM_METRICS=$(curl -fsS "http://127.0.0.1:$SPORT/metrics" 2>/dev/null)
    SIM_ARGS_LOG=$(grep "non-default args" "$TMP/kvsim.log")
    if [ "${#SIM_ARGS[@]}" -ge 6 ] && grep -q '^vllm:prefix_cache_queries_total' <<<"$SIM_METRICS" \
        && grep -q sha256_cbor_64bit <<<"$SIM_ARGS_LOG"; then
        pass "kvsim runs with the Deployment's ${#SIM_ARGS[@]} vLLM arguments and logs its non-default args"
    else fail "kvsim with the Deployment's arguments (${SIM_ARGS[*]})"; cat "$TMP/kvsim.log"; fi
    kill "$SIM" 2>/dev/null
else
    echo "note: kvsim not built in $BUILD_DIR: the check of the Deployment's arguments is skipped"
fi

echo "test_deploy_manifests: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
