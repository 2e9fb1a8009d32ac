/* SPDX-License-Identifier: MIT */
/* src/router/rmetrics.c - kvroute's metrics: a registry for what requests update, and
 * per-backend families rendered straight from the live backend set (so they follow DNS). */
#include "router/rmetrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "metrics/promfmt.h"
#include "metrics/registry.h"
#include "prefix/index.h"
#include "router/backend.h"

struct kv_rmetrics {
    struct kv_registry *reg;
    struct kv_metric *requests;
    struct kv_metric *affinity;
    struct kv_metric *retries;
    struct kv_metric *dns;
    struct kv_metric_child *duration;
    struct kv_metric_child *ttfb;
    struct kv_metric_child *decision;
    struct kv_metric_child *ratio;
};

static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,      2.5,   5,    10,    20,    40,  80};
/* Microseconds for the work itself, seconds for a slow client's upload (it is in the span). */
static const double decision_buckets[] = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                          1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
                                          1e-2, 1e-1,   0.25, 1,    5};
static const double ratio_buckets[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1};

static struct kv_metric *add(struct kv_registry *reg, const char *name, const char *help,
                             enum kv_registry_type type, const char *const *labels, size_t nl,
                             const double *buckets, size_t nb)
{
    struct kv_registry_desc d = {name, help, type, labels, nl, buckets, nb};
    struct kv_metric *m = NULL;
    int rc = kv_registry_add(reg, &d, &m);
    (void)rc;
    return m; /* static names and buckets: a failure is a bug caught by the unit test */
}

static struct kv_metric_child *histogram(struct kv_registry *reg, const char *name,
                                         const char *help, const double *b, size_t nb)
{
    struct kv_metric *m = add(reg, name, help, KV_REGISTRY_HISTOGRAM, NULL, 0, b, nb);
    struct kv_metric_child *c = NULL;
    if (m)
        kv_registry_child(m, NULL, &c);
    return c;
}

struct kv_rmetrics *kv_rmetrics_new(void)
{
    static const char *const req_labels[] = {"backend", "code"};
    static const char *const result_label[] = {"result"};
    static const char *const reason_label[] = {"reason"};
    struct kv_rmetrics *m = kv_calloc(1, sizeof(*m));

    m->reg = kv_registry_new(NULL);
    m->requests = add(m->reg, "kvroute_requests_total", "Requests answered, by backend and code.",
                      KV_REGISTRY_COUNTER, req_labels, 2, NULL, 0);
    m->duration = histogram(m->reg, "kvroute_request_duration_seconds",
                            "Request start to last byte sent.", latency_buckets,
                            KV_ARRAY_LEN(latency_buckets));
    m->ttfb = histogram(m->reg, "kvroute_time_to_first_byte_seconds",
                        "Request start to the backend's first response byte.", latency_buckets,
                        KV_ARRAY_LEN(latency_buckets));
    /* Measured from the server's message begin to the first dispatch (proxy.c), so a slow
     * client's upload counts too: the HELP says so rather than promise pure CPU time. */
    m->decision = histogram(m->reg, "kvroute_routing_decision_seconds",
                            "Time from the request's first byte to its first dispatch to a "
                            "backend: receiving the body, parsing, hashing and scheduling.",
                            decision_buckets, KV_ARRAY_LEN(decision_buckets));
    m->ratio = histogram(m->reg, "kvroute_prefix_match_ratio",
                         "Matched / total prompt blocks on the chosen backend (index estimate).",
                         ratio_buckets, KV_ARRAY_LEN(ratio_buckets));
    m->affinity = add(m->reg, "kvroute_session_affinity_total",
                      "Requests with a session key, by outcome.", KV_REGISTRY_COUNTER,
                      result_label, 1, NULL, 0);
    m->retries = add(m->reg, "kvroute_retries_total", "Requests routed again after a failure.",
                     KV_REGISTRY_COUNTER, reason_label, 1, NULL, 0);
    m->dns = add(m->reg, "kvroute_dns_resolutions_total",
                 "Resolutions of backends.dns (every dns_interval_ms), by result: ok or failed "
                 "(a failed one keeps the backends).",
                 KV_REGISTRY_COUNTER, result_label, 1, NULL, 0);
    return m;
}

void kv_rmetrics_free(struct kv_rmetrics *m)
{
    if (!m)
        return;
    kv_registry_free(m->reg);
    free(m);
}

void kv_rmetrics_request(struct kv_rmetrics *m, const char *backend, const char *code,
                         double seconds)
{
    const char *values[] = {backend, code};
    struct kv_metric_child *c;

    if (kv_registry_child(m->requests, values, &c) == 0)
        kv_registry_inc(c, 1);
    kv_registry_observe(m->duration, seconds);
}

void kv_rmetrics_ttfb(struct kv_rmetrics *m, double seconds)
{
    kv_registry_observe(m->ttfb, seconds);
}

void kv_rmetrics_decision(struct kv_rmetrics *m, double seconds)
{
    kv_registry_observe(m->decision, seconds);
}

void kv_rmetrics_prefix_ratio(struct kv_rmetrics *m, double ratio)
{
    kv_registry_observe(m->ratio, ratio);
}

void kv_rmetrics_affinity(struct kv_rmetrics *m, const char *result)
{
    struct kv_metric_child *c;

    if (strcmp(result, "none") != 0 && kv_registry_child(m->affinity, &result, &c) == 0)
        kv_registry_inc(c, 1);
}

void kv_rmetrics_dns(struct kv_rmetrics *m, bool ok)
{
    const char *result = ok ? "ok" : "failed";
    struct kv_metric_child *c;

    if (kv_registry_child(m->dns, &result, &c) == 0)
        kv_registry_inc(c, 1);
}

void kv_rmetrics_retry(struct kv_rmetrics *m, const char *reason)
{
    struct kv_metric_child *c;

    if (kv_registry_child(m->retries, &reason, &c) == 0)
        kv_registry_inc(c, 1);
}

/* ---- per-backend families ---------------------------------------------------------------- */

enum col { UP, INFLIGHT, BLOCKS, CAPACITY, HITS, QUERIES, WAITING, RUNNING, KVUSE, NCOLS };

static double value(const struct kv_backend *b, const struct kv_index *ix, enum col c)
{
    switch (c) {
    case UP:
        return kv_backend_is_routable(b);
    case INFLIGHT:
        return b->inflight;
    case BLOCKS:
        return ix ? kv_index_blocks(ix, b->id) : 0;
    case CAPACITY:
        return ix ? kv_index_capacity(ix, b->id) : 0;
    case HITS:
        return b->stats.prefix_hits;
    case QUERIES:
        return b->stats.prefix_queries;
    case WAITING:
        return b->stats.waiting;
    case RUNNING:
        return b->stats.running;
    case KVUSE:
        return b->stats.kv_usage;
    default:
        return 0;
    }
}

static int render_family(struct kv_buf *out, const char *name, const char *type, const char *help,
                         const struct kv_backend_set *set, const struct kv_index *ix, enum col c)
{
    char num[KV_PROMFMT_DOUBLE_MAX], label[2 * 256];

    if (kv_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0)
        return KV_ETOOBIG;
    for (size_t i = 0; i < set->n; i++) {
        const struct kv_backend *b = set->items[i];
        size_t n = strlen(b->name);
        if (kv_promfmt_label_len(b->name, n) >= sizeof(label))
            continue;
        n = kv_promfmt_label_escape(b->name, n, label);
        label[n] = '\0';
        kv_promfmt_double(value(b, ix, c), num);
        if (kv_buf_printf(out, "%s{backend=\"%s\"} %s\n", name, label, num) < 0)
            return KV_ETOOBIG;
    }
    return 0;
}

int kv_rmetrics_render(struct kv_rmetrics *m, const struct kv_backend_set *set,
                       const struct kv_index *index, struct kv_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } fam[NCOLS] = {
        [UP] = {"kvroute_backend_up", "gauge", "1 if the backend takes requests, else 0."},
        [INFLIGHT] = {"kvroute_backend_inflight_requests", "gauge",
                      "Requests the router has in flight to the backend."},
        [BLOCKS] = {"kvroute_index_blocks", "gauge",
                    "Prompt blocks the prefix index believes the backend holds."},
        [CAPACITY] = {"kvroute_index_capacity_blocks", "gauge",
                      "The backend's cache capacity in index blocks."},
        [HITS] = {"kvroute_backend_prefix_cache_hits_total", "counter",
                  "The backend's vllm:prefix_cache_hits (tokens), as last scraped."},
        [QUERIES] = {"kvroute_backend_prefix_cache_queries_total", "counter",
                     "The backend's vllm:prefix_cache_queries (tokens), as last scraped."},
        [WAITING] = {"kvroute_backend_waiting_requests", "gauge",
                     "The backend's vllm:num_requests_waiting, as last scraped."},
        [RUNNING] = {"kvroute_backend_running_requests", "gauge",
                     "The backend's vllm:num_requests_running, as last scraped."},
        [KVUSE] = {"kvroute_backend_kv_cache_usage_ratio", "gauge",
                   "The backend's vllm:kv_cache_usage_perc (0..1), as last scraped."},
    };

    if (kv_registry_render(m->reg, out) < 0)
        return KV_ETOOBIG;
    for (int c = 0; c < NCOLS; c++)
        if (render_family(out, fam[c].name, fam[c].type, fam[c].help, set, index,
                          (enum col)c) < 0)
            return KV_ETOOBIG;
    return 0;
}
