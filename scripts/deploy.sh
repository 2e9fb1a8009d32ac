#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/deploy.sh - deploy a kvroute fleet to Kubernetes from deploy/kubernetes/overlays, wait
# for it, and verify it the way docs/operations.md does by hand.
#
#   scripts/deploy.sh [options] OVERLAY        OVERLAY: vllm | kvsim | baseline-clientip | a dir
#     --dry-run            render the overlay to stdout and exit (no cluster needed)
#     --create-namespace   create the overlay's namespace when it does not exist
#     --no-verify          apply and wait, skip the checks after the rollout
#     --timeout DURATION   rollout wait per Deployment (default 20m: vLLM downloads the model)
#
# Rendering: `kubectl kustomize` when kubectl is on PATH, else tests/deploy/render.js (node; the
# subset of kustomize these overlays use). DEPLOY_RENDERER=kubectl|builtin forces one.
# Prerequisites checked before anything is applied: kubectl and a reachable cluster, the
# namespace, the Secret hf-token (key token) when the overlay's pods read it. Objects whose CRDs
# the cluster lacks (ServiceMonitor, PrometheusRule without the Prometheus Operator; Gateway,
# HTTPRoute without Gateway API) are left out with a warning, and verification uses a
# port-forward instead of the Gateway.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/scripts/lib.sh"
DRY_RUN=0
CREATE_NS=0
VERIFY=1
TIMEOUT=20m
MODEL=meta-llama/Llama-3.2-1B
PF_PID=""
LPORT=""

usage() {
    sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

log() { echo "deploy.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

overlay_dir() {
    local o=$1
    if [ -d "$REPO/deploy/kubernetes/overlays/$o" ]; then
        echo "$REPO/deploy/kubernetes/overlays/$o"
    elif [ -f "$o/kustomization.yaml" ]; then
        (cd "$o" && pwd)
    else
        die "unknown overlay '$o' (choose from: $(ls "$REPO/deploy/kubernetes/overlays" | tr '\n' ' '))"
    fi
}

render() {
    local dir=$1 renderer=${DEPLOY_RENDERER:-auto}
    if [ "$renderer" = auto ]; then
        if command -v kubectl >/dev/null; then renderer=kubectl; else renderer=builtin; fi
    fi
    case $renderer in
        kubectl) kubectl kustomize "$dir" ;;
        builtin)
            command -v node >/dev/null || die "neither kubectl nor node found: install one (scripts/install-deps.sh gives node)"
            "$REPO/tests/deploy/install.sh" >&2
            node "$REPO/tests/deploy/render.js" "$dir"
            ;;
        *) die "DEPLOY_RENDERER must be kubectl or builtin, not $renderer" ;;
    esac
}

# Objects of the rendered multi-document YAML, as "Kind/name" lines (top-level fields only).
list_objects() {
    awk '/^---/ { kind = ""; name = ""; inmeta = 0; next }
         /^kind: / { kind = $2 }
         /^metadata:/ { inmeta = 1; next }
         inmeta && /^  name: / { name = $2; inmeta = 0 }
         /^[a-z]/ && !/^metadata:/ { inmeta = 0 }
         kind != "" && name != "" { print kind "/" name; kind = ""; name = "" }' "$1"
}

# Drops the documents of the given kinds from a rendered file (in place).
drop_kinds() {
    local file=$1 kinds=$2 tmp
    tmp=$(mktemp)
    awk -v kinds=" $kinds " '
        function flush() { if (doc != "" && index(kinds, " " kind " ") == 0) { printf "%s%s", sep, doc; sep = "---\n" } doc = ""; kind = "" }
        /^---/ { flush(); next }
        /^kind: / { kind = $2 }
        { doc = doc $0 "\n" }
        END { flush() }' "$file" >"$tmp"
    mv "$tmp" "$file"
}

check_prerequisites() {
    local file=$1 ns=$2
    command -v kubectl >/dev/null || die "kubectl not found (https://kubernetes.io/docs/tasks/tools/)"
    kubectl get --raw /version >/dev/null 2>&1 || die "no cluster reachable with the current kubeconfig context"
    if ! kubectl get namespace "$ns" >/dev/null 2>&1; then
        [ "$CREATE_NS" = 1 ] || die "namespace $ns does not exist: kubectl create namespace $ns (or pass --create-namespace)"
        kubectl create namespace "$ns" >&2
    fi
    if grep -q 'name: hf-token' "$file" && ! kubectl -n "$ns" get secret hf-token >/dev/null 2>&1; then
        die "Secret hf-token missing in $ns (Llama-3.2 is gated): kubectl -n $ns create secret generic hf-token --from-literal=token=hf_..."
    fi
}

# Leaves out objects whose CRD the cluster does not serve; prints the kinds left out.
filter_missing_crds() {
    local file=$1 missing="" crd kinds
    for pair in "servicemonitors.monitoring.coreos.com:ServiceMonitor" \
                "prometheusrules.monitoring.coreos.com:PrometheusRule" \
                "gateways.gateway.networking.k8s.io:Gateway" \
                "httproutes.gateway.networking.k8s.io:HTTPRoute"; do
        crd=${pair%%:*}
        kinds=${pair##*:}
        if grep -q "^kind: $kinds\$" "$file" && ! kubectl get crd "$crd" >/dev/null 2>&1; then
            missing="$missing $kinds"
        fi
    done
    if [ -n "$missing" ]; then
        log "warning: the cluster has no CRD for:$missing; those objects are not applied"
        drop_kinds "$file" "$missing"
    fi
    echo "$missing"
}

wait_rollouts() {
    local file=$1 ns=$2 d
    for d in $(list_objects "$file" | sed -n 's|^Deployment/||p'); do
        log "waiting for deployment/$d (up to $TIMEOUT)"
        kubectl -n "$ns" rollout status "deployment/$d" --timeout="$TIMEOUT" >&2
    done
}

# Starts a port-forward to TARGET (e.g. svc/kvroute) PORT on a free local port: sets LPORT and
# PF_PID (globals, not output: a $(...) subshell would lose the PID). stop_port_forward ends it.
# A port taken between the pick and kubectl's bind makes kubectl exit: another port is tried.
port_forward() {
    local ns=$1 target=$2 port=$3 deadline try
    for try in 1 2 3; do
        if command -v python3 >/dev/null; then LPORT=$(kv_free_port); else LPORT=$(( 20000 + RANDOM % 20000 )); fi
        kubectl -n "$ns" port-forward "$target" "$LPORT:$port" >/dev/null 2>&1 &
        PF_PID=$!
        deadline=$(( SECONDS + 20 ))
        until curl -s -o /dev/null "http://127.0.0.1:$LPORT/health"; do
            if ! kill -0 "$PF_PID" 2>/dev/null; then
                wait "$PF_PID" 2>/dev/null || true
                PF_PID=""
                [ "$try" -lt 3 ] && continue 2
                die "port-forward to $target exited"
            fi
            [ $SECONDS -lt $deadline ] || { stop_port_forward; die "port-forward to $target did not come up"; }
            sleep 0.5
        done
        return 0
    done
}

stop_port_forward() {
    if [ -n "$PF_PID" ]; then
        kill "$PF_PID" 2>/dev/null || true
        wait "$PF_PID" 2>/dev/null || true # reaped, so nothing outlives the verification
    fi
    PF_PID=""
}

verify_backends() {
    local ns=$1 pod
    echo "== non-default args (vLLM logs them at start)"
    for pod in $(kubectl -n "$ns" get pods -l app.kubernetes.io/name=vllm -o name); do
        echo "$pod: $(kubectl -n "$ns" logs "$pod" | grep -m1 'non-default args' || echo 'NOT FOUND')"
    done
    echo "== prefix-cache metrics"
    for pod in $(kubectl -n "$ns" get pods -l app.kubernetes.io/name=vllm -o name); do
        port_forward "$ns" "$pod" 8000
        echo "$pod:"
        curl -s "http://127.0.0.1:$LPORT/metrics" | grep -E '^vllm:(prefix_cache_(queries|hits)_total|cache_config_info)' | sed 's/^/  /'
        stop_port_forward
    done
}

verify_completion() {
    local ns=$1 skipped=$2 entry=$3 port=$4 addr url body
    body="{\"model\": \"$MODEL\", \"prompt\": \"The capital of France is\", \"max_tokens\": 8}"
    addr=""
    case $skipped in *Gateway*) ;; *) addr=$(kubectl -n "$ns" get gateway kvroute -o jsonpath='{.status.addresses[0].value}' 2>/dev/null || true) ;; esac
    if [ -n "$addr" ]; then
        url="http://$addr/v1/completions"
        echo "== test completion through the Gateway ($url)"
    else
        port_forward "$ns" "svc/$entry" "$port"
        url="http://127.0.0.1:$LPORT/v1/completions"
        echo "== test completion through a port-forward to svc/$entry (the Gateway has no address)"
    fi
    curl -sS --max-time 120 "$url" -H 'Content-Type: application/json' -d "$body"
    echo
    stop_port_forward
}

main() {
    local overlay="" dir ns skipped entry port
    while [ $# -gt 0 ]; do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --create-namespace) CREATE_NS=1 ;;
            --no-verify) VERIFY=0 ;;
            --timeout) TIMEOUT=${2:?}; shift ;;
            -h|--help) usage ;;
            -*) log "unknown option $1"; usage ;;
            *) [ -z "$overlay" ] || usage; overlay=$1 ;;
        esac
        shift
    done
    [ -n "$overlay" ] || usage
    dir=$(overlay_dir "$overlay")
    if [ "$DRY_RUN" = 1 ]; then
        render "$dir"
        return
    fi
    # Global, not local: the EXIT trap runs after main has returned.
    RENDERED=$(mktemp --suffix=.yaml)
    trap 'stop_port_forward; rm -f "$RENDERED"' EXIT
    local file=$RENDERED
    render "$dir" >"$file"
    ns=$(sed -n 's/^  namespace: //p' "$file" | sort -u | head -n1)
    [ -n "$ns" ] || die "the overlay sets no namespace"
    check_prerequisites "$file" "$ns"
    skipped=$(filter_missing_crds "$file")
    log "applying $(list_objects "$file" | wc -l) objects to namespace $ns"
    kubectl apply -f "$file" >&2
    wait_rollouts "$file" "$ns"
    [ "$VERIFY" = 1 ] || { log "deployed (verification skipped)"; return; }
    if list_objects "$file" | grep -qx 'Deployment/kvroute'; then entry=kvroute; port=8080; else entry=vllm; port=8000; fi
    verify_backends "$ns"
    verify_completion "$ns" "$skipped" "$entry" "$port"
    echo "== next: the fleet's hit rate in Prometheus"
    echo "  sum(rate(vllm:prefix_cache_hits_total[1m])) / sum(rate(vllm:prefix_cache_queries_total[1m]))"
    echo "  kvroute's view: kubectl -n $ns port-forward svc/$entry $port, then curl localhost:$port/metrics"
}

main "$@"
