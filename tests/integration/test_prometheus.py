#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_prometheus.py - the monitoring assets against a real Prometheus (the
# Debian package, 2.42) scraping a live fleet: 4 kvsim + kvroute on loopback, 1 s scrapes and
# rule evaluations, a ~55 s kvbench chat workload through kvroute. Checks:
#   1. promtool accepts deploy/monitoring/rules/*.yml, the generated config (and, when present,
#      deploy/monitoring/prometheus.yml);
#   2. every target is up with the job names the rules expect (job="vllm", job="kvroute");
#   3. Prometheus' counters of each backend moved by exactly what kvbench counted from /metrics,
#      and the dashboard's hit-rate query (sum(rate(hits)) / sum(rate(queries))) over the run's
#      window agrees with kvbench's hit_rate within one percentage point;
#   4. every recording rule and alert was evaluated without error, every recording rule has
#      series, and the values that can be pinned are (shares sum to 1, ratios in [0, 1]);
#   5. EVERY PromQL expression of the dashboard and the rules parses and evaluates, selects only
#      metrics the fleet exports, and has data unless listed in MAY_BE_EMPTY with a reason.
# Everything waits on conditions with deadlines; every process is killed on exit.
# Usage: test_prometheus.py BUILD_DIR
import calendar
import ctypes
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest as kt  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.abspath(kt.build_dir())
KVSIM = os.path.join(BUILD, "src/sim/kvsim")
KVROUTE = os.path.join(BUILD, "src/router/kvroute")
KVBENCH = os.path.join(BUILD, "src/bench/kvbench")
MODEL = "meta-llama/Llama-3.2-1B-Instruct"
DASHBOARD = os.path.join(REPO, "deploy/monitoring/grafana/kvroute-dashboard.json")
RULES = sorted(glob.glob(os.path.join(REPO, "deploy/monitoring/rules/*.yml")))
DEPLOY_CONFIG = os.path.join(REPO, "deploy/monitoring/prometheus.yml")
EXTRACTOR = os.path.join(REPO, "tests/deploy/promql_exprs.js")
N_BACKENDS = 4
TIME_SCALE = 50
# The chat workload: model-time think/ramp divided by TIME_SCALE give ~3 s thinks and a 4 s ramp
# on the wall, so 16 sessions of 10 turns keep the fleet busy for about 55 s: enough for the
# 1m windows of the rules and dashboard to cover traffic at 1 s scrapes. Four system prompts
# (groups) rather than one: with one, the cache-aware policy may send every session to the
# backend holding it, and the per-backend panels would show a single series.
USERS, TURNS, GROUPS, THINK_S, RAMP_S = 16, 10, 4, 150, 200
MIN_RUN_WALL_S = 30
# Grafana's built-in variables, as Grafana would resolve them for this 1 s-scrape Prometheus on
# a last-minutes range: $__rate_interval = max(4 x scrape, $__interval + scrape), rounded up.
GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m",
                "__range_s": "300", "__interval_ms": "15000"}
# Expressions whose result may be empty on a healthy, loaded fleet, and why. Keys: alert names
# (their expression is the firing condition) or exact PromQL text.
MAY_BE_EMPTY = {
    "KVRoutePrefixCacheHitRateLow": "fires only while the 1m hit rate is under its target",
    "KVRouteLoadImbalance": "needs >= 1 request in flight per backend on average over 5m",
}
# Alerts whose condition must be EMPTY on a healthy fleet (every process up and answering).
MUST_BE_EMPTY = {
    "KVRouteBackendDown": "every kvsim passes kvroute's health checks",
    "KVRouteBackendMetricsDown": "every kvsim answers Prometheus' scrapes",
    "KVRouteDown": "kvroute answers Prometheus' scrapes",
}

procs = []
results = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        results["passed"] += 1
        print("ok:", what)
    else:
        results["failed"] += 1
        print("FAIL:", what)
    return bool(cond)


class Fatal(Exception):
    """A failure after which the test cannot go on."""


def fatal(what):
    raise Fatal(what)


def _die_with_parent():
    # PR_SET_PDEATHSIG: the child gets SIGKILL if this test is killed (ctest's timeout) before
    # its own cleanup runs.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start(argv, log_path):
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=_die_with_parent)
    procs.append((p, log, log_path))
    return p


def stop_all():
    for p, log, _ in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p, log, _ in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def log_tails():
    for _, log, path in procs:
        log.flush()
        with open(path, "rb") as f:
            tail = f.read()[-1500:].decode(errors="replace")
        print("---- %s (tail)\n%s" % (os.path.basename(path), tail))


def wait_up(port, p, what, timeout=20.0):
    def ok():
        if p.poll() is not None:
            fatal("%s exited early (rc %s)" % (what, p.returncode))
        return kt.get("127.0.0.1", port, "/health", timeout=1.0)[0] == 200
    kt.wait_until(ok, timeout, interval=0.05, what=what + " /health")


# ---- Prometheus HTTP API -----------------------------------------------------------------------

class Prom:
    def __init__(self, port):
        self.port = port

    def api(self, path, params=None, method="GET"):
        body = None
        headers = {}
        if method == "POST":
            body = urllib.parse.urlencode(params or {})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif params:
            path += "?" + urllib.parse.urlencode(params)
        status, _, data = kt.request("127.0.0.1", self.port, method, path, body, headers,
                                     timeout=10.0)
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {"status": "error", "error": "HTTP %d: %r" % (status, data[:200])}
        return doc

    def query(self, expr, at):
        """Instant query at unix time <at>: (status, result list, error text)."""
        doc = self.api("/api/v1/query", {"query": expr, "time": "%.3f" % at}, "POST")
        if doc.get("status") != "success":
            return doc.get("status"), [], "%s: %s" % (doc.get("errorType"), doc.get("error"))
        return "success", doc["data"]["result"], ""

    def scalar(self, expr, at):
        """The single value of <expr> at <at> (None when empty or not one series)."""
        status, res, _ = self.query(expr, at)
        if status != "success" or len(res) != 1:
            return None
        return float(res[0]["value"][1])

    def by_label(self, expr, label, at):
        status, res, _ = self.query(expr, at)
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in res}

    def rule_groups(self):
        return self.api("/api/v1/rules")["data"]["groups"]


_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def rfc3339(s):
    """Prometheus' RFC 3339 timestamps (nanosecond fractions) -> unix seconds, 0 when unset."""
    m = _TS.match(s or "")
    if not m or m.group(1) == "0001":
        return 0.0
    t = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    t += float("0." + m.group(7)) if m.group(7) else 0.0
    if m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        t -= sign * (int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60)
    return t


# ---- PromQL expressions of the dashboard and rules ---------------------------------------------

def grafana_vars(dash):
    """Grafana's built-ins plus the dashboard's own template variables (as "All": .*)."""
    out = dict(GRAFANA_VARS)
    for v in (dash.get("templating") or {}).get("list", []):
        kind, name = v.get("type"), v.get("name")
        if kind in ("query", "custom"):
            out[name] = ".*"
        elif kind in ("textbox", "constant", "interval"):
            out[name] = str((v.get("current") or {}).get("value") or v.get("query") or "")
    return out


def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in variables:
            raise KeyError("unknown Grafana variable %s in: %s" % (m.group(0), expr))
        return variables[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    variables = grafana_vars(dash)
    out = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets") or []:
                if isinstance(t.get("expr"), str) and t["expr"].strip():
                    where = 'panel %s "%s" %s' % (p.get("id"), p.get("title"), t.get("refId"))
                    try:
                        out.append({"source": "dashboard", "where": where, "expr": t["expr"],
                                    "promql": substitute(t["expr"], variables)})
                    except KeyError as e:
                        check(False, "%s: %s" % (where, e))
            walk(p.get("panels"))
    walk(dash.get("panels"))
    return out


def extractor_exprs():
    """The deploy tests' extractor (node + its yaml package), or None where it cannot run."""
    node = shutil.which("node")
    if not node or not os.path.exists(EXTRACTOR) or not os.path.isdir(
            os.path.join(REPO, "tests/deploy/node_modules/yaml")):
        return None
    r = subprocess.run([node, EXTRACTOR], capture_output=True, timeout=30, cwd=REPO)
    if r.returncode != 0:
        check(False, "node %s runs: %s" % (os.path.relpath(EXTRACTOR, REPO),
                                          r.stderr.decode(errors="replace")[-300:]))
        return None
    return json.loads(r.stdout)


_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "bool", "offset", "inf", "nan"}


def metric_names(expr):
    """Metric names an expression selects: strings, label matchers, ranges and grouping lists
    blanked; an identifier not followed by "(" and not a keyword is a metric name."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', " ", expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()", s):
        if m.group(1).lower() not in _KEYWORDS:
            names.add(m.group(1))
    names.update(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    return names


# ---- the test steps ----------------------------------------------------------------------------

def start_fleet(tmp):
    ports = [kt.free_port() for _ in range(N_BACKENDS)]
    sims = []
    for i, p in enumerate(ports):
        sims.append(start([KVSIM, "--host", "127.0.0.1", "--port", str(p), "--model", MODEL,
                           "--time-scale", str(TIME_SCALE), "--num-gpu-blocks-override", "20000"],
                          os.path.join(tmp, "kvsim%d.log" % i)))
    for p, s in zip(ports, sims):
        wait_up(p, s, "kvsim :%d" % p)
    rport = kt.free_port()
    argv = [KVROUTE, "--host", "127.0.0.1", "--port", str(rport)]
    for p in ports:
        argv += ["--backend", "http://127.0.0.1:%d" % p]
    r = start(argv, os.path.join(tmp, "kvroute.log"))
    wait_up(rport, r, "kvroute :%d" % rport)
    return ports, rport


def write_config(tmp, ports, rport):
    """Prometheus config: job names and instance labels (host:port) as the Kubernetes
    ServiceMonitors and deploy/monitoring/prometheus.yml give them."""
    path = os.path.join(tmp, "prometheus.yml")
    lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s",
             "  evaluation_interval: 1s", "rule_files:"]
    lines += ["  - %s" % json.dumps(r) for r in RULES]
    lines += ["scrape_configs:",
              "  - job_name: vllm", "    metrics_path: /metrics", "    static_configs:",
              "      - targets: [%s]" % ", ".join('"127.0.0.1:%d"' % p for p in ports),
              "  - job_name: kvroute", "    metrics_path: /metrics", "    static_configs:",
              '      - targets: ["127.0.0.1:%d"]' % rport]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def promtool_checks(config):
    promtool = shutil.which("promtool")
    r = subprocess.run([promtool, "check", "rules"] + RULES, capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode == 0 and "SUCCESS" in out, "promtool check rules %s\n%s" % (
        " ".join(os.path.relpath(x, REPO) for x in RULES), out.strip()))
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", out))
    r = subprocess.run([promtool, "check", "config", config], capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode == 0, "promtool check config (generated)\n" + out.strip())
    if os.path.exists(DEPLOY_CONFIG):
        r = subprocess.run([promtool, "check", "config", DEPLOY_CONFIG], capture_output=True,
                           timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        check(r.returncode == 0, "promtool check config deploy/monitoring/prometheus.yml\n" +
              out.strip())
    return found


def start_prometheus(tmp, config):
    port = kt.free_port()
    p = start(["prometheus", "--config.file=" + config,
               "--storage.tsdb.path=" + os.path.join(tmp, "data"),
               "--web.listen-address=127.0.0.1:%d" % port, "--log.level=info"],
              os.path.join(tmp, "prometheus.log"))

    def ready():
        if p.poll() is not None:
            fatal("prometheus exited early (rc %s)" % p.returncode)
        return kt.get("127.0.0.1", port, "/-/ready", timeout=1.0)[0] == 200
    kt.wait_until(ready, 30, interval=0.1, what="prometheus /-/ready")
    return Prom(port)


def wait_targets(prom, ports, rport):
    want = {("vllm", "127.0.0.1:%d" % p) for p in ports} | {("kvroute", "127.0.0.1:%d" % rport)}

    def all_up():
        t = prom.api("/api/v1/targets")["data"]["activeTargets"]
        up = {(x["labels"]["job"], x["labels"]["instance"]) for x in t if x["health"] == "up"}
        return up == want and len(t) == len(want)
    kt.wait_until(all_up, 20, interval=0.2, what="all 5 targets up in /api/v1/targets")
    check(True, "Prometheus scrapes %d targets, all up (job=vllm x%d, job=kvroute x1)" %
          (len(want), len(ports)))


def wait_fresh(prom, after):
    """Until every target has a sample scraped after <after> and both rule groups have been
    evaluated after it; returns the time to evaluate at."""
    def fresh():
        now = time.time()
        ts = prom.by_label("timestamp(up)", "instance", now)
        if len(ts) != N_BACKENDS + 1 or min(ts.values()) <= after:
            return None
        groups = prom.rule_groups()
        if not groups or min(rfc3339(g.get("lastEvaluation")) for g in groups) <= after:
            return None
        return time.time()
    return kt.wait_until(fresh, 15, interval=0.2, what="scrapes and rule evaluations after the run")


def run_bench(tmp, rport, ports):
    argv = [KVBENCH, "run", "--target", "127.0.0.1:%d" % rport]
    for p in ports:
        argv += ["--backend", "127.0.0.1:%d" % p]
    argv += ["--workload", "chat", "--users", str(USERS), "--turns", str(TURNS),
             "--groups", str(GROUPS), "--think", str(THINK_S), "--ramp", str(RAMP_S),
             "--model", MODEL, "--time-scale", str(TIME_SCALE), "--duration", "100", "--json",
             "--quiet"]
    out_path, log_path = os.path.join(tmp, "kvbench.json"), os.path.join(tmp, "kvbench.log")
    with open(out_path, "wb") as out:
        # Like start(), but stdout is the JSON: killed with this test and by stop_all().
        log = open(log_path, "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
        procs.append((p, log, log_path))
        p.wait(timeout=120)
    if p.returncode != 0:
        fatal("kvbench run exited %d" % p.returncode)
    with open(out_path) as f:
        return json.load(f)["targets"][0]


def check_counters(prom, bench, ports, t0, t1):
    """Prometheus' samples before and after the run differ by exactly kvbench's deltas."""
    fields = [("queries", "vllm:prefix_cache_queries_total"),
              ("hits", "vllm:prefix_cache_hits_total"),
              ("prompt_tokens", "vllm:prompt_tokens_total"),
              ("requests", "vllm:request_success_total")]
    for field, name in fields:
        before = prom.by_label("sum by (instance) (%s)" % name, "instance", t0)
        after = prom.by_label("sum by (instance) (%s)" % name, "instance", t1)
        got = [after.get("127.0.0.1:%d" % p, math.nan) - before.get("127.0.0.1:%d" % p, math.nan)
               for p in ports]
        want = [b[field] for b in bench["backends"]]
        check(got == want, "%s: Prometheus' per-backend deltas %s == kvbench's %s" %
              (name, got, want))


def check_hit_rate(prom, bench, t0, t1):
    window = int(math.ceil(t1 - t0)) + 2  # reaches back to the last sample before the run
    seed = ("sum(rate(vllm:prefix_cache_hits_total[{w}s])) / "
            "sum(rate(vllm:prefix_cache_queries_total[{w}s]))").format(w=window)
    inc = ("sum(increase(vllm:prefix_cache_hits_total[{w}s])) / "
           "sum(increase(vllm:prefix_cache_queries_total[{w}s]))").format(w=window)
    for expr in (seed, inc):
        v = prom.scalar(expr, t1)
        check(v is not None and abs(v - bench["hit_rate"]) <= 0.01,
              "%s at the run's end = %s, kvbench hit_rate %.6f (within 1 pp)" %
              (expr, v, bench["hit_rate"]))


def check_rules(prom, n_promtool, t):
    groups = prom.rule_groups()
    rules = [r for g in groups for r in g["rules"]]
    check(len(rules) == n_promtool and n_promtool > 0,
          "Prometheus loaded %d rules, promtool counted %d" % (len(rules), n_promtool))
    for r in rules:
        name = r.get("name")
        check(r.get("health") == "ok" and not r.get("lastError") and
              rfc3339(r.get("lastEvaluation")) > 0,
              "rule %s evaluated: health %r, lastError %r, lastEvaluation %s" %
              (name, r.get("health"), r.get("lastError"), r.get("lastEvaluation")))
        if r["type"] == "recording":
            status, res, err = prom.query(name, t)
            check(status == "success" and len(res) > 0,
                  "recording rule %s has %d series %s" % (name, len(res), err))
        elif name in MUST_BE_EMPTY:
            check(r.get("state") == "inactive" and not r.get("alerts"),
                  "alert %s inactive on a healthy fleet (%s): state %r" %
                  (name, MUST_BE_EMPTY[name], r.get("state")))
    return rules


def check_recorded_values(prom, bench, ports, t):
    """What the recording rules' definitions pin on this fleet. The cache-aware policy may leave
    backends idle (at light load it stacks sessions that share a prompt), so per-backend values
    are checked against what each backend actually did."""
    instances = ["127.0.0.1:%d" % p for p in ports]
    busy = {i for i, b in zip(instances, bench["backends"]) if b["requests"] > 0}
    check(busy, "kvbench's requests reached %d of %d backends" % (len(busy), len(instances)))
    per = prom.by_label("kvroute:backend_prefix_cache_hit_ratio:rate1m", "instance", t)
    moved = prom.by_label("sum by (instance) (increase(vllm:prefix_cache_queries_total[1m]))",
                          "instance", t)
    want_ok = all((0 <= per[i] <= 1) if moved.get(i, 0) > 0 else math.isnan(per[i])
                  for i in instances if i in per)
    check(sorted(per) == sorted(instances) and want_ok,
          "kvroute:backend_prefix_cache_hit_ratio:rate1m: a ratio in [0,1] for each backend with "
          "lookups in the last minute, NaN (0/0) for the others: %s" % per)
    fleet = prom.scalar("kvroute:fleet_prefix_cache_hit_ratio:rate1m", t)
    check(fleet is not None and 0 < fleet <= 1,
          "kvroute:fleet_prefix_cache_hit_ratio:rate1m in (0,1]: %s" % fleet)
    share = prom.by_label("kvroute:backend_request_share:ratio_rate5m", "backend", t)
    total = sum(b["requests"] for b in bench["backends"])
    want = {i: b["requests"] / total for i, b in zip(instances, bench["backends"]) if i in busy}
    check(set(share) == busy and abs(sum(share.values()) - 1) < 1e-9 and
          all(abs(share[i] - want[i]) < 0.03 for i in busy),
          "kvroute:backend_request_share:ratio_rate5m: a share per backend kvroute sent requests "
          "to, summing to 1, within 3 pp of kvbench's request counts %s: %s" % (want, share))
    avg = prom.by_label("kvroute:backend_inflight_requests:avg5m", "backend", t)
    check(sorted(avg) == sorted(instances) and all(v >= 0 for v in avg.values()),
          "kvroute:backend_inflight_requests:avg5m per backend: %s" % avg)
    check(prom.scalar("kvroute:fleet_prefix_cache_hit_ratio:target", t) == 0.5,
          "kvroute:fleet_prefix_cache_hit_ratio:target is 0.5")
    up = prom.by_label('up{job="vllm"}', "instance", t)
    check(up == {i: 1.0 for i in instances}, 'up{job="vllm"} is 1 for the 4 backends: %s' % up)


def all_exprs(rules):
    """Dashboard targets and rule expressions; the deploy extractor's list when it runs, checked
    against this file's own extraction and against the rules Prometheus loaded."""
    mine = dashboard_exprs()
    ext = extractor_exprs()
    if ext is not None:
        ext_dash = sorted(e["promql"] for e in ext if e["source"] == "dashboard")
        check(ext_dash == sorted(e["promql"] for e in mine),
              "tests/deploy/promql_exprs.js lists the same %d dashboard expressions" % len(mine))
        ext_rules = [e for e in ext if e["source"] == "rules"]
        check(sorted(e["where"].split(" ", 1)[1] for e in ext_rules) ==
              sorted(r["name"] for r in rules),
              "tests/deploy/promql_exprs.js lists the %d rules Prometheus loaded" % len(rules))
    else:
        print("note: tests/deploy/promql_exprs.js cannot run (node or its node_modules missing);"
              " using this test's extraction")
    out = list(mine)
    by_name = {}
    for r in rules:
        out.append({"source": "rules", "where": "%s %s" % (r["type"], r["name"]),
                    "name": r["name"], "promql": r["query"]})
        by_name[r["name"]] = r
    if ext is not None:  # the rules as written, too (Prometheus' API re-prints them)
        for e in ext:
            if e["source"] == "rules":
                name = e["where"].split(" ", 1)[1]
                out.append({"source": "rules", "where": "%s (as written)" % e["where"],
                            "name": name, "promql": e["promql"]})
    return out, by_name


def check_exprs(prom, rules, t):
    exprs, by_name = all_exprs(rules)
    names = set(prom.api("/api/v1/label/__name__/values")["data"])
    may_empty = []
    for e in exprs:
        status, res, err = prom.query(e["promql"], t)
        rule = by_name.get(e.get("name"))
        is_alert = rule is not None and rule["type"] == "alerting"
        missing = sorted(metric_names(e["promql"]) - names)
        ok = status == "success" and not missing
        if not ok:
            check(False, "%s: %s parses and selects exported metrics: status %s %s, missing %s" %
                  (e["where"], e["promql"], status, err, missing))
            continue
        if is_alert and e["name"] in MUST_BE_EMPTY:
            check(len(res) == 0,
                  "%s: condition empty (%s)" % (e["where"], MUST_BE_EMPTY[e["name"]]))
        elif is_alert or e["promql"] in MAY_BE_EMPTY:
            key = e["name"] if is_alert else e["promql"]
            reason = MAY_BE_EMPTY.get(key)
            check(reason is not None, "%s: evaluates (%d series; may be empty: %s)" %
                  (e["where"], len(res), reason or "NOT LISTED in MAY_BE_EMPTY"))
            may_empty.append("%s (%d series)" % (e["where"], len(res)))
        else:
            check(len(res) > 0, "%s: %s has data (%d series)" % (e["where"], e["promql"],
                                                                 len(res)))
    print("may be empty: " + "; ".join(may_empty))
    return len(exprs)


def preflight():
    for prog in (KVSIM, KVROUTE, KVBENCH):
        if not os.access(prog, os.X_OK):
            fatal("%s not built" % prog)
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            fatal("%s not found: run scripts/install-deps.sh (Debian package prometheus)" % tool)
    if not RULES:
        fatal("no rules file in deploy/monitoring/rules/")


def run(tmp):
    preflight()
    ports, rport = start_fleet(tmp)
    config = write_config(tmp, ports, rport)
    n_promtool = promtool_checks(config)
    prom = start_prometheus(tmp, config)
    wait_targets(prom, ports, rport)
    # The samples before the run: every target's first scrape is in (all up), and the counters
    # have not moved since the processes started.
    t0 = time.time()
    bench = run_bench(tmp, rport, ports)
    t_bench = time.time()
    check(bench["errors"] == 0 and bench["ok"] == USERS * TURNS,
          "kvbench: %d requests ok, %d errors" % (bench["ok"], bench["errors"]))
    check(bench["wall_s"] >= MIN_RUN_WALL_S,
          "kvbench ran %.1f s wall (>= %d s: 1m windows see traffic)" %
          (bench["wall_s"], MIN_RUN_WALL_S))
    t1 = wait_fresh(prom, t_bench)
    check_counters(prom, bench, ports, t0, t1)
    check_hit_rate(prom, bench, t0, t1)
    rules = check_rules(prom, n_promtool, t1)
    check_recorded_values(prom, bench, ports, t1)
    n = check_exprs(prom, rules, t1)
    print("evaluated %d PromQL expressions at t=%.0f (run %.0f..%.0f)" % (n, t1, t0, t_bench))


def main():
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="kvtest-prom-")
    try:
        run(tmp)
    except (Fatal, AssertionError, subprocess.TimeoutExpired) as e:
        check(False, str(e))
    except Exception:  # noqa: BLE001 - reported as a failure, with its traceback
        traceback.print_exc()
        check(False, "unexpected exception")
    finally:
        ok = results["failed"] == 0 and results["passed"] > 0
        if not ok:
            log_tails()
        stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs and TSDB kept in", tmp)
        print("wall time %.1f s" % (time.monotonic() - started))
        print("test_prometheus: %d passed, %d failed" % (results["passed"], results["failed"]))
    sys.exit(0 if ok else 1)


def on_sigterm(signum, frame):
    check(False, "terminated by signal %d" % signum)
    sys.exit(128 + signum)  # unwinds through main's finally: children stopped, summary printed


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    main()
