#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh - install, build, then show kvroute at work on one machine:
#   1. 4 kvsim (simulated vLLM servers) + kvroute on loopback ports, one request through it,
#      and the backends' prefix-cache metrics;
#   2. `kvbench cache-test`: the validation workload, hit rate against the 90% target;
#   3. two short `kvbench compare` runs (chat, shared prefixes): kvroute (cache-aware) against
#      round-robin and client-IP affinity (HAProxy `balance source`), each on a fresh fleet.
# Everything it starts is stopped on exit. Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DKV_SANITIZE=OFF -DKV_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
KVSIM=$BUILD_DIR/src/sim/kvsim
KVROUTE=$BUILD_DIR/src/router/kvroute
KVBENCH=$BUILD_DIR/src/bench/kvbench
MODEL=meta-llama/Llama-3.2-1B-Instruct
SCALE=20 # the simulated servers run 20x faster than model time

LOGDIR=$(mktemp -d /tmp/kvroute-demo.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$LOGDIR"
}
trap cleanup EXIT

. scripts/lib.sh
wait_ok() { # wait_ok URL: poll until it answers 200, at most 20 s; else keep the logs and stop
    kv_wait_ok "$1" 20 && return 0
    echo "demo: $1 did not come up; logs in $LOGDIR" >&2
    trap - EXIT
    exit 1
}

echo "== starting 4 kvsim backends and kvroute"
BACKENDS=()
BACKEND_ARGS=()
for i in 0 1 2 3; do
    port=$(kv_free_port)
    "$KVSIM" --host 127.0.0.1 --port "$port" --model "$MODEL" --time-scale "$SCALE" \
        --num-gpu-blocks-override 20000 >"$LOGDIR/kvsim-$i.log" 2>&1 &
    PIDS+=($!)
    BACKENDS+=("127.0.0.1:$port")
    BACKEND_ARGS+=(--backend "http://127.0.0.1:$port")
done
for b in "${BACKENDS[@]}"; do wait_ok "http://$b/health"; done
RPORT=$(kv_free_port)
"$KVROUTE" --host 127.0.0.1 --port "$RPORT" "${BACKEND_ARGS[@]}" >"$LOGDIR/kvroute.log" 2>&1 &
PIDS+=($!)
wait_ok "http://127.0.0.1:$RPORT/health"
grep -h "non-default args" "$LOGDIR/kvsim-0.log" | head -1 || true

echo
echo "== one chat completion through kvroute (response headers show the routing)"
curl -sS -D - -o "$LOGDIR/resp.json" "http://127.0.0.1:$RPORT/v1/chat/completions" \
    -H 'content-type: application/json' -H 'x-session-id: demo-user' \
    -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Explain prefix caching in one sentence.\"}],\"max_tokens\":12}" \
    | grep -i '^x-kvroute' || true
head -c 400 "$LOGDIR/resp.json"; echo

echo
echo "== kvbench cache-test through kvroute (hit rate measured by the backends themselves)"
BENCH_BACKENDS=()
for b in "${BACKENDS[@]}"; do BENCH_BACKENDS+=(--backend "$b"); done
"$KVBENCH" cache-test --target "127.0.0.1:$RPORT" "${BENCH_BACKENDS[@]}" \
    --model "$MODEL" --time-scale "$SCALE" --quiet

echo
echo "== prefix-cache metrics of one backend"
curl -sS "http://${BACKENDS[0]}/metrics" | grep -E '^vllm:prefix_cache_(queries|hits)_total' || true

cleanup
PIDS=()
trap - EXIT

echo
echo "== kvbench compare: a chat workload (32 users x 6 turns, shared 1,000-token system prompt),"
echo "   each target on a fresh fleet of 4 kvsim"
"$KVBENCH" compare --backends 4 --blocks 20000 --time-scale 5 --model "$MODEL" \
    --targets kvroute:cache-aware,kvroute:round-robin,haproxy --source-ips \
    --workload chat --users 32 --turns 6 --system-tokens 1000 --think 0.6 --ramp 3 --quiet

echo
echo "== kvbench compare: shared prefixes (8 documents x 32 questions, Poisson arrivals)"
"$KVBENCH" compare --backends 4 --blocks 20000 --time-scale 5 --model "$MODEL" \
    --targets kvroute:cache-aware,kvroute:round-robin,haproxy --source-ips \
    --workload shared-prefix --groups 8 --prompts 32 --rate 30 --quiet
