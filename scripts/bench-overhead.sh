#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/bench-overhead.sh - the router's overhead against HAProxy, in one run: both proxy the
# same 9 KB completion requests to the same fast backend (one kvsim at --time-scale 100000),
# alternating, each pinned to core 0 with wrk on core 1. Prints, for each round, req/s,
# latency percentiles, the proxy's CPU time per request (user+sys, and user, from
# /proc/PID/stat) and kvsim's.
# Usage: scripts/bench-overhead.sh [BUILD_DIR] [ROUNDS] [SECONDS]
# KVROUTE_ARGS adds flags to kvroute's command line (e.g. "--scrape-interval-ms 0").
# KVSIM_CPU=N pins kvsim to core N. Unpinned (the default) it mostly shares core 1 with wrk;
# with KVSIM_CPU=0 it shares the proxy's core, so a proxy's extra CPU shows as throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-rel}
ROUNDS=${2:-3}
SECS=${3:-5}
[ -x "$BUILD/src/router/kvroute" ] || {
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKV_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target kvroute kvsim >/dev/null
}
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
. scripts/lib.sh
wait_ok() { kv_wait_ok "$1" 10 || { echo "bench-overhead: $1 did not come up" >&2; exit 1; }; }

SIM=$(kv_free_port); KVR=$(kv_free_port); HAP=$(kv_free_port)
${KVSIM_CPU:+taskset -c "$KVSIM_CPU"} "$BUILD/src/sim/kvsim" --host 127.0.0.1 --port "$SIM" --served-model-name m \
    --time-scale 100000 --num-gpu-blocks-override 200000 --log-level warning &
SPID=$!
PIDS+=($!)
wait_ok "http://127.0.0.1:$SIM/health"
taskset -c 0 "$BUILD/src/router/kvroute" --host 127.0.0.1 --port "$KVR" \
    --backend "http://127.0.0.1:$SIM" --log-level warning ${KVROUTE_ARGS:-} &
KPID=$!
PIDS+=($!)
cat >"$TMP/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:$HAP
    default_backend be
backend be
    balance source
    server s0 127.0.0.1:$SIM
CFG
taskset -c 0 haproxy -db -f "$TMP/haproxy.cfg" &
HPID=$!
PIDS+=($!)
wait_ok "http://127.0.0.1:$KVR/health"
wait_ok "http://127.0.0.1:$HAP/health"

cpu() { awk '{print $14 + $15, $14}' "/proc/$1/stat"; } # ticks: user+sys, user
HZ=$(getconf CLK_TCK)
run() { # run NAME PORT PID
    local c0 u0 c1 u1 s0 s1 x
    read -r c0 u0 < <(cpu "$3")
    read -r s0 x < <(cpu "$SPID")
    taskset -c 1 wrk -t1 -c32 -d"${SECS}s" --latency -s tests/micro/micro_router_post9k.lua \
        "http://127.0.0.1:$2/v1/completions" >"$TMP/wrk.txt"
    read -r c1 u1 < <(cpu "$3")
    read -r s1 x < <(cpu "$SPID")
    awk -v n="$1" -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" '
         /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /requests in/ {req=$1}
         END {printf "%-8s %10s req/s   p50 %8s   p99 %8s   cpu/req %5.1f us (user %4.1f)" \
                     "   kvsim %5.1f us\n", n, rps, p50, p99, c * 1e6 / hz / req,
                     u * 1e6 / hz / req, s * 1e6 / hz / req}' "$TMP/wrk.txt"
}
echo "9 KB POST /v1/completions, wrk -t1 -c32 -d${SECS}s, proxy on core 0, wrk on core 1," \
    "kvsim ${KVSIM_CPU:+on core }${KVSIM_CPU:-unpinned}"
for r in $(seq 1 "$ROUNDS"); do
    run kvroute "$KVR" "$KPID"
    run haproxy "$HAP" "$HPID"
done
