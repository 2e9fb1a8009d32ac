#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/bench-compare.sh - the exact commands behind docs/benchmarks.md "Comparison".
#
# Usage: scripts/bench-compare.sh [BUILD_DIR] [OUT_DIR] [WORKLOAD...]
#   BUILD_DIR  a Release-type build with kvsim, kvroute and kvbench (default build-tune)
#   OUT_DIR    where the tables (<workload>.txt) go (default bench-out)
#   WORKLOAD   any of chat shared-prefix mooncake claude (default: all four), or
#              busy-<workload> to measure the busy fraction round-robin gives on it
#   TARGETS_OVERRIDE=list (environment) runs only those targets, e.g. to redo a failed one
#
# Every run: 8 kvsim ("about 2M tokens of KV each": 125,000 blocks of 16 tokens), a fresh fleet
# per target, latencies in model time. The offered load of each workload was set so that
# round-robin keeps the backends about 75% busy, measured by busy-<workload>: it samples every
# kvsim's vllm:num_requests_running each 20 ms of wall time while the run lasts, and prints the
# fraction of samples with a request running (kvsim runs steps back to back whenever one is, so
# this is also its step time over wall time). Each workload's 9 targets take 1-5 minutes on
# 2 shared cores; time scales are the largest at which latencies stayed within noise of a
# time scale of 1 (CPU-bound timing inflates them beyond).
set -eu

BUILD=${1:-build-tune}
OUT=${2:-bench-out}
[ $# -ge 2 ] && shift 2 || shift $#
WORKLOADS=${*:-chat shared-prefix mooncake claude}
KVBENCH=$BUILD/src/bench/kvbench
TRACES=${TRACES:-../shared/data/traces}
TARGETS=kvroute:cache-aware,kvroute:round-robin,kvroute:least-load,kvroute:session,kvroute:prefix,kvroute:sglang,kvroute:chwbl,haproxy,nginx
COMMON="--backends 8 --blocks 125000 --source-ips --quiet"

args_for() {
    case $1 in
    chat) # 64 sessions x 8 turns, 1,000-token shared system prompt, 100-token turns
        echo "--time-scale 2 --workload chat --users 64 --turns 8 --system-tokens 1000 --think 0.6 --ramp 5" ;;
    shared-prefix) # 16 groups of 64 questions on a 2,000-token document, Poisson arrivals
        echo "--time-scale 2 --workload shared-prefix --groups 16 --prompts 64 --rate 66" ;;
    mooncake) # the first 1,000 requests of the conversation trace, full token counts, 2.1x
        echo "--time-scale 4 --workload trace --trace $TRACES/mooncake_conversation_trace.jsonl --speed 2.1 --max-requests 1000" ;;
    claude) # all 68 sessions (2,180 requests), tokens x 0.25, think times / 1000, starts in 45 s
        echo "--time-scale 4 --workload trace --trace $TRACES/weka_claude_code --token-scale 0.25 --speed 1000 --session-spread 45" ;;
    *) echo "unknown workload $1" >&2; exit 2 ;;
    esac
}

# Busy fraction of the kvsim children of kvbench <pid>, sampled until it exits.
busy_sampler() {
    python3 - "$1" <<'EOF'
import os, sys, time, urllib.request
root = int(sys.argv[1])
def ports():
    out = []
    for p in os.listdir('/proc'):
        try:
            st = open('/proc/%s/stat' % p).read()
            if int(st[st.rindex(')') + 2:].split()[1]) != root:
                continue
            argv = open('/proc/%s/cmdline' % p).read().split('\0')
        except (OSError, ValueError):
            continue
        if os.path.basename(argv[0]) == 'kvsim' and '--port' in argv:
            out.append(int(argv[argv.index('--port') + 1]))
    return out
def running(port):
    try:
        text = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=1).read()
    except Exception:
        return None
    for line in text.decode().splitlines():
        if line.startswith('vllm:num_requests_running'):
            return float(line.rsplit(' ', 1)[1])
    return None
busy = n = 0
started = False
while os.path.exists('/proc/%d' % root):
    vals = [v for v in (running(p) for p in ports()) if v is not None]
    started = started or any(v > 0 for v in vals)
    if started:
        busy += sum(v > 0 for v in vals)
        n += len(vals)
    time.sleep(0.02)
print('busy fraction %.3f (%d samples)' % (busy / n if n else 0, n))
EOF
}

mkdir -p "$OUT"
for w in $WORKLOADS; do
    case $w in
    busy-*)
        w=${w#busy-}
        # shellcheck disable=SC2046
        "$KVBENCH" compare $COMMON $(args_for "$w") --targets kvroute:round-robin > "$OUT/busy-$w.txt" 2>&1 &
        pid=$!
        busy_sampler $pid | tee -a "$OUT/busy-$w.txt"
        wait $pid
        ;;
    *)
        # shellcheck disable=SC2046
        "$KVBENCH" compare $COMMON $(args_for "$w") --targets "${TARGETS_OVERRIDE:-$TARGETS}" \
            > "$OUT/$w.txt" 2>&1 || echo "kvbench exited with $? (a target failed)" >> "$OUT/$w.txt"
        cat "$OUT/$w.txt"
        ;;
    esac
done
