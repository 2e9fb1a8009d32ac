#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/local-fleet.sh - a monitored fleet on this machine: N kvsim backends, kvroute in front
# of them, and Prometheus scraping all of them with deploy/monitoring's config and rules, every
# process on 127.0.0.1 ports picked free at start. Prints the URLs; Ctrl-C stops everything.
#
#   scripts/local-fleet.sh [options]
#     -n N                 number of kvsim backends (default 4)
#     --build-dir DIR      where kvsim and kvroute were built (default build)
#     --policy NAME        kvroute's scheduling policy (default: kvroute's own default)
#     --time-scale X       kvsim runs X times faster than model time (default 1)
#     --no-prometheus      skip Prometheus
#     --render-config DIR  only write the Prometheus config for the given ports into DIR and exit
#                          (--backend-ports P1,P2,... and --router-port P name the ports)
#
# Grafana is not started: import deploy/monitoring/grafana/kvroute-dashboard.json into yours,
# with the printed Prometheus URL as its data source.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
N=4
BUILD_DIR=build
POLICY=""
TIME_SCALE=1
PROMETHEUS=1
RENDER_DIR=""
BACKEND_PORTS=""
ROUTER_PORT=""
MODEL=meta-llama/Llama-3.2-1B
PIDS=()
WORK=""

log() { echo "local-fleet: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Prints COUNT free loopback ports (all bound at once, so they differ).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# write_config DIR ROUTER_PORT BACKEND_PORT...: deploy/monitoring with these targets.
write_config() {
    local dir=$1 rport=$2 targets="" p
    shift 2
    mkdir -p "$dir/targets" "$dir/rules"
    cp "$REPO/deploy/monitoring/prometheus.yml" "$dir/prometheus.yml"
    cp "$REPO/deploy/monitoring/rules/"*.yml "$dir/rules/"
    for p in "$@"; do targets="$targets${targets:+, }\"127.0.0.1:$p\""; done
    printf '[{"targets": [%s], "labels": {}}]\n' "$targets" >"$dir/targets/vllm.json"
    printf '[{"targets": ["127.0.0.1:%s"], "labels": {}}]\n' "$rport" >"$dir/targets/kvroute.json"
}

find_binary() {
    local name=$1 sub=$2 c
    for c in "$BUILD_DIR/$name" "$BUILD_DIR/src/$sub/$name"; do
        [ -x "$c" ] && { echo "$c"; return; }
    done
    die "$name not found in $BUILD_DIR (build first: cmake -S . -B $BUILD_DIR && cmake --build $BUILD_DIR)"
}

# wait_http URL WHAT: poll until URL answers 2xx, for at most 30 s.
wait_http() {
    local deadline=$(( SECONDS + 30 ))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "$2 did not answer $1 within 30 s (logs: $WORK)"
        sleep 0.2
    done
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

start() {
    local what=$1 logf=$2
    shift 2
    "$@" >"$logf" 2>&1 &
    PIDS+=($!)
    log "started $what (pid $!)"
}

run_fleet() {
    local kvsim kvroute ports bports rport pport p i backend_args=() policy_args=()
    kvsim=$(find_binary kvsim sim)
    kvroute=$(find_binary kvroute router)
    if [ "$PROMETHEUS" = 1 ]; then
        command -v prometheus >/dev/null || die "prometheus not found (scripts/install-deps.sh installs it)"
    fi
    WORK=$(mktemp -d /tmp/kvroute-fleet.XXXXXX)
    trap 'stop_all; rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
    read -r -a ports <<<"$(free_ports $(( N + 2 )))"
    bports=("${ports[@]:0:N}")
    rport=${ports[N]}
    pport=${ports[N+1]}
    for i in "${!bports[@]}"; do
        p=${bports[i]}
        start "kvsim $i on :$p" "$WORK/kvsim-$i.log" "$kvsim" --host 127.0.0.1 --port "$p" \
            --model "$MODEL" --time-scale "$TIME_SCALE"
        backend_args+=(--backend "http://127.0.0.1:$p")
    done
    for p in "${bports[@]}"; do wait_http "http://127.0.0.1:$p/health" kvsim; done
    [ -z "$POLICY" ] || policy_args=(--policy "$POLICY")
    start "kvroute on :$rport" "$WORK/kvroute.log" "$kvroute" --host 127.0.0.1 --port "$rport" \
        "${backend_args[@]}" "${policy_args[@]}"
    wait_http "http://127.0.0.1:$rport/health" kvroute
    if [ "$PROMETHEUS" = 1 ]; then
        write_config "$WORK/monitoring" "$rport" "${bports[@]}"
        start "prometheus on :$pport" "$WORK/prometheus.log" prometheus \
            --config.file="$WORK/monitoring/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
            --web.listen-address="127.0.0.1:$pport" --web.enable-lifecycle
        wait_http "http://127.0.0.1:$pport/-/ready" prometheus
    fi
    print_urls "$rport" "$pport" "${bports[@]}"
    log "running; Ctrl-C stops everything"
    wait -n "${PIDS[@]}" || true
    die "a process exited early (logs in $WORK)"
}

print_urls() {
    local rport=$1 pport=$2 p query
    shift 2
    echo "kvroute:     http://127.0.0.1:$rport/v1/completions  (also /health, /metrics, /debug/backends)"
    for p in "$@"; do echo "kvsim:       http://127.0.0.1:$p  (/metrics)"; done
    if [ "$PROMETHEUS" = 1 ]; then
        query='sum(rate(vllm:prefix_cache_hits_total[1m])) / sum(rate(vllm:prefix_cache_queries_total[1m]))'
        echo "prometheus:  http://127.0.0.1:$pport  (config and rules in $WORK/monitoring)"
        echo "hit rate:    http://127.0.0.1:$pport/graph?g0.expr=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$query")"
    fi
    echo "try:         curl -s http://127.0.0.1:$rport/v1/completions -H 'content-type: application/json' -d '{\"model\": \"$MODEL\", \"prompt\": \"Hello\", \"max_tokens\": 8}'"
}

main() {
    while [ $# -gt 0 ]; do
        case $1 in
            -n) N=${2:?}; shift ;;
            --build-dir) BUILD_DIR=${2:?}; shift ;;
            --policy) POLICY=${2:?}; shift ;;
            --time-scale) TIME_SCALE=${2:?}; shift ;;
            --no-prometheus) PROMETHEUS=0 ;;
            --render-config) RENDER_DIR=${2:?}; shift ;;
            --backend-ports) BACKEND_PORTS=${2:?}; shift ;;
            --router-port) ROUTER_PORT=${2:?}; shift ;;
            -h|--help) usage ;;
            *) log "unknown argument $1"; usage ;;
        esac
        shift
    done
    [[ $N =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"
    if [ -n "$RENDER_DIR" ]; then
        [ -n "$BACKEND_PORTS" ] && [ -n "$ROUTER_PORT" ] || die "--render-config needs --backend-ports and --router-port"
        write_config "$RENDER_DIR" "$ROUTER_PORT" ${BACKEND_PORTS//,/ }
        return
    fi
    run_fleet
}

main "$@"
