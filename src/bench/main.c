/* SPDX-License-Identifier: MIT */
/* src/bench/main.c - kvbench: replay prefix-sharing workloads and report what servers measured.
 *
 *   kvbench run        one workload against one endpoint (and its backends' /metrics)
 *   kvbench cache-test the validation workload; exits 1 below the target hit rate
 *   kvbench compare    one workload against several targets, each on a fresh kvsim fleet
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "bench/compare.h"
#include "bench/oracle.h"
#include "bench/report.h"
#include "bench/trace.h"
#include "bench/workload.h"

struct opts {
    const char *cmd;
    const char *workload;   /* chat, shared-prefix, trace */
    const char *trace, *trace_format;
    struct kv_workload_chat_params chat;
    struct kv_workload_shared_params shared;
    struct kv_trace_opts topts;
    const char *target;     /* run / cache-test: HOST:PORT */
    int backend_ports[KV_REPORT_MAX_BACKENDS];
    char backend_hosts[KV_REPORT_MAX_BACKENDS][64];
    const char *backend_host_ptrs[KV_REPORT_MAX_BACKENDS];
    size_t n_backend_ports;
    const char *targets;    /* compare: comma-separated */
    struct kv_compare_config cmp;
    size_t n_kvsim_args, n_kvroute_args;
    bool json;
    const char *plot;       /* PNG path for --plot */
    double min_hit;         /* cache-test target */
    unsigned long oracle_blocks;
    uint64_t seed;
};

static void usage(FILE *out)
{
    fputs("usage: kvbench <run|cache-test|compare> [options]\n"
          "\n"
          "workload:\n"
          "  --workload NAME        chat (default), shared-prefix, trace\n"
          "  --users N --turns N    chat: conversations and turns (32, 8)\n"
          "  --groups N             chat: system-prompt groups (1); shared-prefix: groups (8)\n"
          "  --system-tokens N      chat: shared system prompt (1000)\n"
          "  --user-tokens N --answer-tokens N   chat turn sizes (100, 100)\n"
          "  --think S --ramp S     chat: mean think time, session start spread (s) (1, 5)\n"
          "  --prompts N            shared-prefix: prompts per group (16)\n"
          "  --prefix-tokens N --question-tokens N --output-tokens N   (2000, 50, 32)\n"
          "  --rate R               shared-prefix: Poisson arrivals per second (0: all at once)\n"
          "  --trace PATH           trace file (Mooncake .jsonl) or Claude Code file/folder\n"
          "  --trace-format F       mooncake or claude (default: from PATH)\n"
          "  --speed X              trace: divide arrival and think times by X (1)\n"
          "  --token-scale X        trace: multiply token counts by X (1)\n"
          "  --max-requests N       trace: first N requests only\n"
          "  --max-sessions N --session-spread S   Claude Code: files, start spread (s)\n"
          "  --seed N               workload seed (0)\n"
          "\n"
          "run and cache-test:\n"
          "  --target HOST:PORT     endpoint to send to (kvroute, a proxy, or one server)\n"
          "  --backend HOST:PORT    a backend whose /metrics count the hits (repeat)\n"
          "  --min-hit F            cache-test: target hit rate (0.90)\n"
          "compare:\n"
          "  --targets LIST         comma-separated: kvroute:<policy>, haproxy, nginx\n"
          "                         (default kvroute:cache-aware,kvroute:round-robin,haproxy)\n"
          "  --backends N           kvsim processes per fleet (4)\n"
          "  --blocks N             --num-gpu-blocks-override of each kvsim (0: its default)\n"
          "  --kvsim PATH --kvroute PATH   programs (default: next to kvbench, then PATH)\n"
          "  --kvsim-arg ARG --kvroute-arg ARG   extra flags for them (repeat)\n"
          "common:\n"
          "  --model NAME           model of every request (meta-llama/Llama-3.2-1B-Instruct)\n"
          "  --time-scale X         the servers run X times faster than model time (1);\n"
          "                         latencies are reported in model time\n"
          "  --no-stream            non-streaming requests (no TTFT)\n"
          "  --source-ips           each session sends from its own 127.x.y.z address\n"
          "  --duration S           wall-time bound of a run (600)\n"
          "  --oracle-blocks N      per-backend capacity for the pooled reference\n"
          "  --json                 JSON instead of a table\n"
          "  --plot FILE.png        also draw TTFT distributions and per-backend work (gnuplot)\n"
          "  --quiet                no progress line\n",
          out);
}

enum {
    O_WORKLOAD = 256, O_USERS, O_TURNS, O_GROUPS, O_SYSTEM, O_USER, O_ANSWER, O_THINK, O_RAMP,
    O_PROMPTS, O_PREFIX, O_QUESTION, O_OUTPUT, O_RATE, O_TRACE, O_TRACE_FORMAT, O_SPEED,
    O_TOKEN_SCALE, O_MAX_REQ, O_MAX_SESS, O_SPREAD, O_SEED, O_TARGET, O_BACKEND, O_MIN_HIT,
    O_TARGETS, O_BACKENDS, O_BLOCKS, O_KVSIM, O_KVROUTE, O_KVSIM_ARG, O_KVROUTE_ARG, O_MODEL,
    O_TIME_SCALE, O_NO_STREAM, O_SOURCE_IPS, O_DURATION, O_ORACLE_BLOCKS, O_JSON, O_QUIET, O_HELP,
    O_PLOT
};

static const struct option long_opts[] = {
    {"workload", 1, 0, O_WORKLOAD},     {"users", 1, 0, O_USERS},
    {"turns", 1, 0, O_TURNS},           {"groups", 1, 0, O_GROUPS},
    {"system-tokens", 1, 0, O_SYSTEM},  {"user-tokens", 1, 0, O_USER},
    {"answer-tokens", 1, 0, O_ANSWER},  {"think", 1, 0, O_THINK},
    {"ramp", 1, 0, O_RAMP},             {"prompts", 1, 0, O_PROMPTS},
    {"prefix-tokens", 1, 0, O_PREFIX},  {"question-tokens", 1, 0, O_QUESTION},
    {"output-tokens", 1, 0, O_OUTPUT},  {"rate", 1, 0, O_RATE},
    {"trace", 1, 0, O_TRACE},           {"trace-format", 1, 0, O_TRACE_FORMAT},
    {"speed", 1, 0, O_SPEED},           {"token-scale", 1, 0, O_TOKEN_SCALE},
    {"max-requests", 1, 0, O_MAX_REQ},  {"max-sessions", 1, 0, O_MAX_SESS},
    {"session-spread", 1, 0, O_SPREAD}, {"seed", 1, 0, O_SEED},
    {"target", 1, 0, O_TARGET},         {"backend", 1, 0, O_BACKEND},
    {"min-hit", 1, 0, O_MIN_HIT},       {"targets", 1, 0, O_TARGETS},
    {"backends", 1, 0, O_BACKENDS},     {"blocks", 1, 0, O_BLOCKS},
    {"kvsim", 1, 0, O_KVSIM},           {"kvroute", 1, 0, O_KVROUTE},
    {"kvsim-arg", 1, 0, O_KVSIM_ARG},   {"kvroute-arg", 1, 0, O_KVROUTE_ARG},
    {"model", 1, 0, O_MODEL},           {"time-scale", 1, 0, O_TIME_SCALE},
    {"no-stream", 0, 0, O_NO_STREAM},   {"source-ips", 0, 0, O_SOURCE_IPS},
    {"duration", 1, 0, O_DURATION},     {"oracle-blocks", 1, 0, O_ORACLE_BLOCKS},
    {"json", 0, 0, O_JSON},             {"quiet", 0, 0, O_QUIET},
    {"help", 0, 0, O_HELP},             {"plot", 1, 0, O_PLOT},
    {0, 0, 0, 0},
};

/* Parses a number option; exits with a message naming the flag when it is not one. */
static double num(const char *flag, const char *s, double min, double max)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < min || v > max) {
        fprintf(stderr, "kvbench: --%s: expected a number in [%g, %g], got '%s'\n", flag, min,
                max, s);
        exit(2);
    }
    return v;
}

static int host_port(const char *s, char *host, size_t cap)
{
    const char *colon;
    char *end;
    long port;

    if (strncmp(s, "http://", 7) == 0)
        s += 7;
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= cap)
        return -EINVAL;
    port = strtol(colon + 1, &end, 10);
    if (*end && *end != '/')
        return -EINVAL;
    if (port <= 0 || port > 65535)
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    return (int)port;
}

static void defaults(struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->workload = "chat";
    o->chat = (struct kv_workload_chat_params){.users = 32, .turns = 8, .groups = 1,
                                               .system_tokens = 1000, .user_tokens = 100,
                                               .answer_tokens = 100, .think_s = 1, .ramp_s = 5};
    o->shared = (struct kv_workload_shared_params){.groups = 8, .prompts = 16,
                                                   .prefix_tokens = 2000, .question_tokens = 50,
                                                   .output_tokens = 32};
    kv_trace_opts_init(&o->topts);
    o->cmp.backends = 4;
    o->cmp.model = "meta-llama/Llama-3.2-1B-Instruct";
    o->cmp.time_scale = 1;
    o->cmp.prefill_ms = 0.01; /* kvsim's default timing model (docs/benchmarks.md) */
    o->cmp.decode_ms = 0.02;
    o->cmp.run = (struct kv_runner_config){.stream = true, .time_scale = 1, .max_duration_s = 600,
                                           .session_header = "x-session-id",
                                           .progress = isatty(2),
                                           .timeout_ms = 600000};
    o->min_hit = 0.90;
}

/* Handles one workload option; returns 1 if <c> was one. */
static int workload_opt(struct opts *o, int c, const char *arg)
{
    switch (c) {
    case O_WORKLOAD: o->workload = arg; break;
    case O_USERS: o->chat.users = (uint32_t)num("users", arg, 1, 1e6); break;
    case O_TURNS: o->chat.turns = (uint32_t)num("turns", arg, 1, 1e4); break;
    case O_GROUPS: o->chat.groups = o->shared.groups = (uint32_t)num("groups", arg, 1, 1e6); break;
    case O_SYSTEM: o->chat.system_tokens = (uint32_t)num("system-tokens", arg, 0, 1e7); break;
    case O_USER: o->chat.user_tokens = (uint32_t)num("user-tokens", arg, 1, 1e7); break;
    case O_ANSWER: o->chat.answer_tokens = (uint32_t)num("answer-tokens", arg, 1, 1e6); break;
    case O_THINK: o->chat.think_s = num("think", arg, 0, 1e6); break;
    case O_RAMP: o->chat.ramp_s = num("ramp", arg, 0, 1e6); break;
    case O_PROMPTS: o->shared.prompts = (uint32_t)num("prompts", arg, 1, 1e6); break;
    case O_PREFIX: o->shared.prefix_tokens = (uint32_t)num("prefix-tokens", arg, 0, 1e7); break;
    case O_QUESTION: o->shared.question_tokens = (uint32_t)num("question-tokens", arg, 1, 1e7); break;
    case O_OUTPUT: o->shared.output_tokens = (uint32_t)num("output-tokens", arg, 1, 1e6); break;
    case O_RATE: o->shared.rate = num("rate", arg, 0, 1e6); break;
    case O_TRACE: o->trace = arg; break;
    case O_TRACE_FORMAT: o->trace_format = arg; break;
    case O_SPEED: o->topts.speed = num("speed", arg, 1e-6, 1e9); break;
    case O_TOKEN_SCALE: o->topts.token_scale = num("token-scale", arg, 1e-4, 100); break;
    case O_MAX_REQ: o->topts.max_requests = (uint32_t)num("max-requests", arg, 0, 1e9); break;
    case O_MAX_SESS: o->topts.max_sessions = (uint32_t)num("max-sessions", arg, 0, 1e9); break;
    case O_SPREAD: o->topts.session_spread_s = num("session-spread", arg, 0, 1e9); break;
    case O_SEED: o->seed = (uint64_t)num("seed", arg, 0, 1e18); break;
    default: return 0;
    }
    return 1;
}

static void add_backend(struct opts *o, const char *arg)
{
    size_t i = o->n_backend_ports;
    int port = i < KV_REPORT_MAX_BACKENDS
                   ? host_port(arg, o->backend_hosts[i], sizeof(o->backend_hosts[i]))
                   : -ENOSPC;
    if (port < 0) {
        fprintf(stderr, "kvbench: --backend: expected HOST:PORT, got '%s'\n", arg);
        exit(2);
    }
    o->backend_ports[i] = port;
    o->backend_host_ptrs[i] = o->backend_hosts[i];
    o->n_backend_ports++;
}

static void parse(struct opts *o, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (workload_opt(o, c, optarg))
            continue;
        switch (c) {
        case O_TARGET: o->target = optarg; break;
        case O_BACKEND: add_backend(o, optarg); break;
        case O_MIN_HIT: o->min_hit = num("min-hit", optarg, 0, 1); break;
        case O_TARGETS: o->targets = optarg; break;
        case O_BACKENDS: o->cmp.backends = (unsigned)num("backends", optarg, 1, 64); break;
        case O_BLOCKS: o->cmp.blocks = (unsigned long)num("blocks", optarg, 0, 1e9); break;
        case O_KVSIM: o->cmp.kvsim = optarg; break;
        case O_KVROUTE: o->cmp.kvroute = optarg; break;
        case O_KVSIM_ARG:
            if (o->n_kvsim_args + 1 < KV_COMPARE_MAX_ARGS)
                o->cmp.kvsim_args[o->n_kvsim_args++] = optarg;
            break;
        case O_KVROUTE_ARG:
            if (o->n_kvroute_args + 1 < KV_COMPARE_MAX_ARGS)
                o->cmp.kvroute_args[o->n_kvroute_args++] = optarg;
            break;
        case O_MODEL: o->cmp.model = optarg; break;
        case O_TIME_SCALE: o->cmp.time_scale = num("time-scale", optarg, 1e-3, 1e6); break;
        case O_NO_STREAM: o->cmp.run.stream = false; break;
        case O_SOURCE_IPS: o->cmp.run.source_ips = true; break;
        case O_DURATION: o->cmp.run.max_duration_s = num("duration", optarg, 1, 1e6); break;
        case O_ORACLE_BLOCKS: o->oracle_blocks = (unsigned long)num("oracle-blocks", optarg, 1, 1e10); break;
        case O_JSON: o->json = true; break;
        case O_PLOT: o->plot = optarg; break;
        case O_QUIET: o->cmp.run.progress = false; break;
        case 'h':
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    o->cmp.run.time_scale = o->cmp.time_scale;
    o->cmp.run.model = o->cmp.model;
    o->chat.seed = o->shared.seed = o->topts.seed = o->seed;
}

/* Builds the workload named by the options. Returns 0 or exits with a message. */
static void build_workload(const struct opts *o, struct kv_workload *w)
{
    char err[512];
    int rc = 0;

    if (strcmp(o->workload, "chat") == 0) {
        kv_workload_init(w, "chat", true, o->seed);
        kv_workload_chat(w, &o->chat);
    } else if (strcmp(o->workload, "shared-prefix") == 0) {
        kv_workload_init(w, "shared-prefix", false, o->seed);
        kv_workload_shared_prefix(w, &o->shared);
    } else if (strcmp(o->workload, "trace") == 0 && o->trace) {
        const char *fmt = o->trace_format;
        size_t len = strlen(o->trace);
        if (!fmt)
            fmt = len > 6 && strcmp(o->trace + len - 6, ".jsonl") == 0 ? "mooncake" : "claude";
        kv_workload_init(w, fmt, false, o->seed);
        if (strcmp(fmt, "mooncake") == 0)
            rc = kv_trace_load_mooncake(w, o->trace, &o->topts, err, sizeof(err));
        else if (strcmp(fmt, "claude") == 0)
            rc = kv_trace_load_claude(w, o->trace, &o->topts, err, sizeof(err));
        else
            rc = -EINVAL, snprintf(err, sizeof(err), "--trace-format: mooncake or claude");
    } else {
        snprintf(err, sizeof(err), "--workload: chat, shared-prefix or trace (with --trace)");
        rc = -EINVAL;
    }
    if (rc < 0) {
        fprintf(stderr, "kvbench: %s\n", err);
        exit(2);
    }
}

/* Finds a sibling program of this kvbench in the build tree (../sim/kvsim), else PATH. */
static const char *find_program(const char *given, const char *subdir, const char *name,
                                char *buf, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n;
    char *slash;

    if (given)
        return given;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL) {
            *slash = '\0';
            /* A truncated path is skipped, not tried. */
            if ((size_t)snprintf(buf, cap, "%s/../%s/%s", self, subdir, name) < cap &&
                access(buf, X_OK) == 0)
                return buf;
            if ((size_t)snprintf(buf, cap, "%s/%s", self, name) < cap && access(buf, X_OK) == 0)
                return buf;
        }
    }
    return name;
}

static void references(const struct opts *o, const struct kv_workload *w, unsigned backends,
                       struct kv_report_row *rows, size_t n)
{
    struct kv_oracle_result r;
    unsigned long per = o->oracle_blocks ? o->oracle_blocks : o->cmp.blocks;
    if (per == 0)
        per = 130000; /* kvsim's default capacity for Llama-3.2-1B on an 80 GB GPU */
    if (kv_oracle_run(w, 16, (uint64_t)per * backends, &r) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        rows[i].ideal = r.ideal;
        rows[i].pooled = r.pooled;
    }
}

static void print_rows(const struct opts *o, const struct kv_workload *w,
                       const struct kv_report_row *rows, size_t n)
{
    if (o->json)
        kv_report_json(stdout, rows, n, w->name);
    else
        kv_report_table(stdout, rows, n, w->name);
    if (o->plot && n > 0) {
        if (kv_report_plot(o->plot, rows, n, w->name) < 0)
            fprintf(stderr, "kvbench: --plot: gnuplot failed to draw %s\n", o->plot);
        else if (!o->json)
            printf("plot: %s\n", o->plot);
    }
}

/* run and cache-test: one endpoint, already running. */
static int run_one(struct opts *o, struct kv_workload *w, struct kv_report_row *row)
{
    char host[sizeof(o->backend_hosts[0])];
    int port = o->target ? host_port(o->target, host, sizeof(o->backend_hosts[0])) : -EINVAL;

    if (port < 0) {
        fprintf(stderr, "kvbench: --target HOST:PORT is required\n");
        return 2;
    }
    if (o->n_backend_ports == 0) { /* a single server: it is its own backend */
        snprintf(o->backend_hosts[0], sizeof(o->backend_hosts[0]), "%s", host);
        o->backend_host_ptrs[0] = o->backend_hosts[0];
        o->backend_ports[0] = port;
        o->n_backend_ports = 1;
    }
    memset(row, 0, sizeof(*row));
    snprintf(row->target, sizeof(row->target), "%s", o->target);
    if (kv_compare_run(&o->cmp, w, host, port, o->backend_host_ptrs, o->backend_ports,
                       o->n_backend_ports, row) < 0) {
        fprintf(stderr, "kvbench: the run against %s failed (is it up? are the backends' "
                        "/metrics reachable?)\n", o->target);
        return 1;
    }
    references(o, w, (unsigned)o->n_backend_ports, row, 1);
    return 0;
}

static int cmd_run(struct opts *o)
{
    struct kv_workload w;
    struct kv_report_row row;
    int rc;

    build_workload(o, &w);
    rc = run_one(o, &w, &row);
    if (rc == 0)
        print_rows(o, &w, &row, 1);
    kv_workload_cleanup(&w);
    return rc;
}

/* The seed's validation: a repeatable chat workload whose prompts share long prefixes; the
 * backends' own counters must show at least --min-hit. */
static int cmd_cache_test(struct opts *o)
{
    struct kv_workload w;
    struct kv_report_row row;
    double queries = 0, hits = 0;
    int rc;

    if (strcmp(o->workload, "chat") == 0 && !o->trace) {
        o->chat = (struct kv_workload_chat_params){.users = 16, .turns = 10, .groups = 1,
                                                   .system_tokens = 4000, .user_tokens = 50,
                                                   .answer_tokens = 50, .think_s = 0.2,
                                                   .ramp_s = 2, .seed = o->seed};
    }
    build_workload(o, &w);
    rc = run_one(o, &w, &row);
    if (rc == 0) {
        for (size_t i = 0; i < row.n_backends; i++) {
            queries += row.be[i].queries;
            hits += row.be[i].hits;
        }
        printf("New queries: %.0f\nNew hits: %.0f\nCache Hit Rate: %.1f%%\n", queries, hits,
               100 * row.hit_rate);
        printf("(ideal for this workload: %.1f%%; requests ok %llu, errors %llu)\n",
               100 * row.ideal, row.ok, row.errors);
        if (row.hit_rate >= o->min_hit && row.errors == 0) {
            printf("TARGET ACHIEVED (>= %.1f%%)\n", 100 * o->min_hit);
        } else {
            printf("TARGET MISSED (< %.1f%%%s)\n", 100 * o->min_hit,
                   row.errors ? ", or requests failed" : "");
            rc = 1;
        }
    }
    kv_workload_cleanup(&w);
    return rc;
}

static int cmd_compare(struct opts *o)
{
    char list[1024], kvsim[PATH_MAX], kvroute[PATH_MAX], *save = NULL;
    struct kv_report_row *rows = kv_calloc(32, sizeof(*rows));
    struct kv_workload w;
    size_t n = 0;
    int failed = 0;

    o->cmp.kvsim = find_program(o->cmp.kvsim, "sim", "kvsim", kvsim, sizeof(kvsim));
    o->cmp.kvroute = find_program(o->cmp.kvroute, "router", "kvroute", kvroute, sizeof(kvroute));
    snprintf(list, sizeof(list), "%s",
             o->targets ? o->targets : "kvroute:cache-aware,kvroute:round-robin,haproxy");
    build_workload(o, &w);
    for (char *t = strtok_r(list, ",", &save); t && n < 32; t = strtok_r(NULL, ",", &save)) {
        if (kv_compare_target(&o->cmp, &w, t, &rows[n]) < 0)
            failed++;
        else
            n++;
    }
    references(o, &w, o->cmp.backends, rows, n);
    print_rows(o, &w, rows, n);
    kv_workload_cleanup(&w);
    free(rows);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct opts *o = kv_malloc(sizeof(*o));
    int rc;

    signal(SIGPIPE, SIG_IGN);
    defaults(o);
    if (argc < 2 || argv[1][0] == '-') {
        usage(argc < 2 ? stderr : stdout);
        free(o);
        return argc < 2 ? 2 : 0;
    }
    o->cmd = argv[1];
    kv_log_setup(KV_LOG_INFO, "kvbench");
    parse(o, argc - 1, argv + 1);
    if (strcmp(o->cmd, "run") == 0)
        rc = cmd_run(o);
    else if (strcmp(o->cmd, "cache-test") == 0)
        rc = cmd_cache_test(o);
    else if (strcmp(o->cmd, "compare") == 0)
        rc = cmd_compare(o);
    else {
        fprintf(stderr, "kvbench: unknown command '%s'\n", o->cmd);
        usage(stderr);
        rc = 2;
    }
    free(o);
    return rc;
}
