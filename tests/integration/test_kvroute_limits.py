#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_kvroute_limits.py - configured limits, from a YAML file, in front of two
# slow kvsim of 5,000 blocks each:
#  - a backend's own index capacity (backends.static[].capacity_blocks) holds against its
#    scraped cache_config_info, while the other backend's capacity comes from its scrape;
#  - the load bound (proxy.max_inflight 1): with one request in flight, the next goes to the
#    other backend; with one on each, a third gets 503 with the overload error at once (the
#    router does not queue it); once they end, requests are served again.
# Usage: test_kvroute_limits.py BUILD_DIR
import json
import os
import sys
import tempfile
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
                                 "m", "--time-scale", "0.05", "--num-gpu-blocks-override",
                                 "5000", "--log-level", "warning"]))
        kvtest.wait_http(H, p, proc=sims[-1])
        names.append("%s:%d" % (H, p))
    rport = kvtest.free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    conf.write("backends:\n  static:\n"
               "    - url: http://%s\n      capacity_blocks: 1234\n"
               "    - http://%s\n"
               "scrape:\n  interval_ms: 50\n"
               "proxy:\n  max_inflight: 1\n" % (names[0], names[1]))
    conf.close()
    router = kvtest.Proc([KVROUTE, "--config", conf.name, "--host", H, "--port", str(rport),
                          "--log-level", "warning"])
    kvtest.wait_http(H, rport, proc=router)

    def backends():
        return {b["name"]: b for b in json.loads(kvtest.get(H, rport, "/debug/backends")[1])
                ["backends"]}
    kvtest.wait_until(lambda: all(b["scraped"]["num_gpu_blocks"] == 5000
                                  for b in backends().values()), what="both backends scraped")
    caps = {n: b["index"]["capacity"] for n, b in backends().items()}
    # kvsim's 5,000 blocks of 16 tokens are 5,000 index blocks of 64 bytes (16 tokens).
    assert caps == {names[0]: 1234, names[1]: 5000}, caps
    print("ok   configured capacity 1234 holds against the scrape; the other backend's is its "
          "scraped 5000")
    os.unlink(conf.name)
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
    print("test_kvroute_limits: all passed")


if __name__ == "__main__":
    main()
