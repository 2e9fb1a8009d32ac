#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_kvbench.py - kvbench end to end on loopback:
#   1. `kvbench cache-test` through kvroute in front of 4 kvsim passes its 90% target, and its
#      figures agree with the backends' own /metrics;
#   2. a small `kvbench compare` (kvroute cache-aware, kvroute round-robin, HAProxy balance
#      source) produces a row per target, with the cache-aware hit rate above round-robin's;
#   3. a bad trace line is reported with its line number.
# Usage: test_kvbench.py BUILD_DIR
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

H = "127.0.0.1"
BUILD = os.path.abspath(kvtest.build_dir())
KVSIM = os.path.join(BUILD, "src/sim/kvsim")
KVROUTE = os.path.join(BUILD, "src/router/kvroute")
KVBENCH = os.path.join(BUILD, "src/bench/kvbench")
MODEL = "meta-llama/Llama-3.2-1B-Instruct"


def hits_of(port):
    return kvtest.metric(kvtest.scrape(H, port), "vllm:prefix_cache_hits_total")


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok:", what)


def cache_test(tmp):
    ports = [kvtest.free_port() for _ in range(4)]
    procs = [kvtest.Proc([KVSIM, "--host", H, "--port", str(p), "--model", MODEL,
                          "--time-scale", "50", "--num-gpu-blocks-override", "20000"],
                         os.path.join(tmp, "kvsim-%d.log" % p)) for p in ports]
    for p, proc in zip(ports, procs):
        kvtest.wait_http(H, p, timeout=20, proc=proc)
    rport = kvtest.free_port()
    args = [KVROUTE, "--host", H, "--port", str(rport)]
    for p in ports:
        args += ["--backend", f"http://{H}:{p}"]
    procs.append(kvtest.Proc(args, os.path.join(tmp, "kvroute.log")))
    kvtest.wait_http(H, rport, timeout=20, proc=procs[-1])
    before = [hits_of(p) for p in ports]
    bargs = [KVBENCH, "cache-test", "--target", f"{H}:{rport}", "--model", MODEL,
             "--time-scale", "50", "--quiet", "--duration", "120"]
    for p in ports:
        bargs += ["--backend", f"{H}:{p}"]
    out = subprocess.run(bargs, capture_output=True, text=True, timeout=180)
    print(out.stdout)
    check(out.returncode == 0, "cache-test exits 0 (target achieved)")
    check("TARGET ACHIEVED" in out.stdout, "cache-test prints TARGET ACHIEVED")
    hits = sum(hits_of(p) for p in ports) - sum(before)
    line = [l for l in out.stdout.splitlines() if l.startswith("New hits:")][0]
    check(abs(float(line.split(":")[1]) - hits) < 0.5, "cache-test's hits equal the backends' delta")
    for proc in procs:
        proc.kill()


def compare(tmp):
    out = subprocess.run(
        [KVBENCH, "compare", "--backends", "4", "--blocks", "20000", "--time-scale", "50",
         "--model", MODEL, "--targets", "kvroute:cache-aware,kvroute:round-robin,haproxy",
         "--source-ips", "--workload", "chat", "--users", "12", "--turns", "4",
         "--system-tokens", "600", "--think", "0.5", "--ramp", "1", "--json", "--quiet",
         "--duration", "60"],
        capture_output=True, text=True, timeout=300)
    sys.stderr.write(out.stderr[-3000:])
    check(out.returncode == 0, "compare exits 0")
    rep = json.loads(out.stdout)
    rows = {r["target"]: r for r in rep["targets"]}
    check(set(rows) == {"kvroute:cache-aware", "kvroute:round-robin", "haproxy"},
          "compare has a row per target")
    for name, r in rows.items():
        check(r["ok"] == 48 and r["errors"] == 0, f"{name}: all 48 requests ok")
        check(0 < r["pooled"] <= r["ideal"] <= 1, f"{name}: 0 < pooled <= ideal <= 1")
        check(len(r["backends"]) == 4, f"{name}: 4 backends reported")
    check(rows["kvroute:cache-aware"]["hit_rate"] > rows["kvroute:round-robin"]["hit_rate"],
          "cache-aware beats round-robin on hit rate")


def bad_trace(tmp):
    path = os.path.join(tmp, "bad.jsonl")
    with open(path, "w") as f:
        f.write('{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [0]}\n')
        f.write('{"timestamp": 1, "input_length": 10}\n')
    out = subprocess.run([KVBENCH, "run", "--workload", "trace", "--trace", path,
                          "--target", "127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 2 and f"{path}:2:" in out.stderr, "a bad trace line is named")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        bad_trace(tmp)
        cache_test(tmp)
        compare(tmp)
    print("test_kvbench: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
