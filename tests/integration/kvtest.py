# SPDX-License-Identifier: MIT
# tests/integration/kvtest.py - shared helpers for the Python integration tests (stdlib only):
# free ports, child processes killed on exit, waiting on conditions with deadlines, HTTP/JSON
# and SSE requests, and Prometheus text scraped into a dict.
import atexit
import http.client
import json
import os
import socket
import subprocess
import sys
import time

_procs = []


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a truthy value (returned) or the deadline passes (raises)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - the condition may fail until the server is up
            last_exc = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last error: %r)" % (what, last_exc))


class Proc:
    """A child process whose output goes to a log file; killed at exit if still running."""

    def __init__(self, argv, log_path=None, env=None):
        self.argv = argv
        self.log_path = log_path or "/tmp/kvtest-%d-%d-%s.log" % (
            os.getpid(), len(_procs), os.path.basename(argv[0]))
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        _procs.append(self)

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for exit; returns the exit code (raises on timeout)."""
        return self.p.wait(timeout=timeout)

    def kill(self):
        if self.alive():
            self.p.kill()
            self.p.wait()
        self.log.close()

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


@atexit.register
def _kill_all():
    for p in _procs:
        try:
            p.kill()
        except Exception:  # noqa: BLE001
            pass


def request(host, port, method, path, body=None, headers=None, timeout=10.0):
    """One HTTP request; returns (status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def post_json(host, port, path, obj, timeout=30.0):
    """POSTs <obj> (or raw str/bytes); returns (status, parsed JSON or None)."""
    status, _, data = request(host, port, "POST", path, obj, timeout=timeout)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


def get(host, port, path, timeout=10.0):
    status, _, data = request(host, port, "GET", path, timeout=timeout)
    return status, data


def wait_http(host, port, path="/health", timeout=10.0, proc=None):
    """Waits until GET <path> answers 200 (fails early if <proc> died)."""
    def ok():
        if proc is not None and not proc.alive():
            raise SystemExit("process exited early:\n" + proc.output())
        return get(host, port, path, timeout=1.0)[0] == 200
    wait_until(ok, timeout, what="%s:%d%s" % (host, port, path))


def sse(host, port, path, obj, timeout=30.0):
    """POSTs a streaming request; returns (status, list of 'data:' payload strings)."""
    status, headers, data = request(host, port, "POST", path, obj, timeout=timeout)
    events = []
    for block in data.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                events.append(line[len("data: "):])
    return status, headers, events


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}, labels as written, plus {'name': float} for
    series without labels."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def scrape(host, port, path="/metrics"):
    status, data = get(host, port, path)
    assert status == 200, status
    return parse_metrics(data.decode())


def metric(metrics, name, **labels):
    """The value of series <name> whose labels include <labels> (first match), or None."""
    for key, v in metrics.items():
        n, _, rest = key.partition("{")
        if n != name:
            continue
        if all('%s="%s"' % (k, val) in rest for k, val in labels.items()):
            return v
    return None


def build_dir():
    """The build directory ctest passes as argv[1] (default: build)."""
    return sys.argv[1] if len(sys.argv) > 1 else "build"
