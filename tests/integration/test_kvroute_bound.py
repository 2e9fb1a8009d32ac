#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_kvroute_bound.py - the load-bound filter: kvroute --max-inflight 1 in
# front of two slow kvsim. With one request in flight on each backend a third gets 503 with the
# OpenAI-style overload error at once (the router does not queue it); with one in flight, the
# next request goes to the other backend; once they end, requests are served again.
# Usage: test_kvroute_bound.py BUILD_DIR
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

H = "127.0.0.1"
BUILD = kvtest.build_dir()
KVSIM = os.path.join(BUILD, "src", "sim", "kvsim")
KVROUTE = os.path.join(BUILD, "src", "router", "kvroute")
# 3 model ms a step at 0.05 model seconds a wall second: 40 tokens take about 2.4 s.
SLOW = {"model": "m", "prompt": "hold the line", "max_tokens": 40, "ignore_eos": True}
QUICK = {"model": "m", "prompt": "quick one", "max_tokens": 1}


def inflight(port, name):
    return kvtest.metric(kvtest.scrape(H, port), "kvroute_backend_inflight_requests",
                         backend=name)


def main():
    sims, names = [], []
    for _ in range(2):
        p = kvtest.free_port()
        sims.append(kvtest.Proc([KVSIM, "--host", H, "--port", str(p), "--served-model-name",
                                 "m", "--time-scale", "0.05", "--log-level", "warning"]))
        kvtest.wait_http(H, p, proc=sims[-1])
        names.append("%s:%d" % (H, p))
    rport = kvtest.free_port()
    argv = [KVROUTE, "--host", H, "--port", str(rport), "--max-inflight", "1",
            "--log-level", "warning"]
    for n in names:
        argv += ["--backend", "http://" + n]
    router = kvtest.Proc(argv)
    kvtest.wait_http(H, rport, proc=router)
    kvtest.wait_until(lambda: json.loads(kvtest.get(H, rport, "/v1/models")[1])["data"],
                      what="models known")

    results = []

    def slow():
        results.append(kvtest.request(H, rport, "POST", "/v1/completions", SLOW, timeout=30))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    threads[0].start()
    kvtest.wait_until(lambda: sum(inflight(rport, n) or 0 for n in names) == 1,
                      what="one request in flight")
    threads[1].start()
    # The bound sends the second slow request to the idle backend: one in flight on each.
    kvtest.wait_until(lambda: all(inflight(rport, n) == 1 for n in names),
                      what="one request in flight on each backend")

    t0 = time.monotonic()
    status, headers, body = kvtest.request(H, rport, "POST", "/v1/completions", QUICK)
    waited = time.monotonic() - t0
    assert status == 503, (status, body)
    assert headers["content-type"].startswith("application/json"), headers
    err = json.loads(body)  # vLLM's error shape: {"object": "error", "message", "type", ...}
    assert err["object"] == "error" and err["code"] == 503, err
    assert err["message"] == "Every backend is at its load bound (max_inflight); retry later.", err
    assert err["type"] == "ServiceUnavailableError", err
    assert waited < 1.0, "the refusal waited %.2f s: it must not queue" % waited
    print("ok   all backends at the bound: 503 at once (%.0f ms), overload error body"
          % (waited * 1000))

    for t in threads:
        t.join(30)
    assert [r[0] for r in results] == [200, 200], [r[0] for r in results]
    backends = sorted(r[1]["x-kvroute-backend"] for r in results)
    assert backends == sorted(names), backends
    print("ok   the two slow requests went to different backends: %s" % ", ".join(backends))

    status, _, body = kvtest.request(H, rport, "POST", "/v1/completions", QUICK)
    assert status == 200, (status, body)
    print("ok   below the bound again: 200")

    router.signal(15)
    assert router.wait(10) == 0
    for s in sims:
        s.kill()
    print("test_kvroute_bound: all passed")


if __name__ == "__main__":
    main()
