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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
KVSIM = os.path.join(BUILD, "src/sim/kvsim")
KVROUTE = os.path.join(BUILD, "src/router/kvroute")
KVBENCH = os.path.join(BUILD, "src/bench/kvbench")
MODEL = "meta-llama/Llama-3.2-1B-Instruct"
procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ok(url, deadline_s=20):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling interval; the condition is the deadline above
    raise SystemExit(f"FAIL: {url} did not answer 200 within {deadline_s} s")


def start(args, log):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def metric_sum(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok:", what)


def cache_test(tmp):
    ports = [free_port() for _ in range(4)]
    log = open(os.path.join(tmp, "fleet.log"), "w")
    for p in ports:
        start([KVSIM, "--host", "127.0.0.1", "--port", str(p), "--model", MODEL,
               "--time-scale", "50", "--num-gpu-blocks-override", "20000"], log)
    for p in ports:
        wait_ok(f"http://127.0.0.1:{p}/health")
    rport = free_port()
    args = [KVROUTE, "--host", "127.0.0.1", "--port", str(rport)]
    for p in ports:
        args += ["--backend", f"http://127.0.0.1:{p}"]
    start(args, log)
    wait_ok(f"http://127.0.0.1:{rport}/health")
    before = [metric_sum(p, "vllm:prefix_cache_hits_total") for p in ports]
    bargs = [KVBENCH, "cache-test", "--target", f"127.0.0.1:{rport}", "--model", MODEL,
             "--time-scale", "50", "--quiet", "--duration", "120"]
    for p in ports:
        bargs += ["--backend", f"127.0.0.1:{p}"]
    out = subprocess.run(bargs, capture_output=True, text=True, timeout=180)
    print(out.stdout)
    check(out.returncode == 0, "cache-test exits 0 (target achieved)")
    check("TARGET ACHIEVED" in out.stdout, "cache-test prints TARGET ACHIEVED")
    hits = sum(metric_sum(p, "vllm:prefix_cache_hits_total") for p in ports) - sum(before)
    line = [l for l in out.stdout.splitlines() if l.startswith("New hits:")][0]
    check(abs(float(line.split(":")[1]) - hits) < 0.5, "cache-test's hits equal the backends' delta")
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=20)
    procs.clear()


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
        try:
            bad_trace(tmp)
            cache_test(tmp)
            compare(tmp)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print("test_kvbench: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
