/* SPDX-License-Identifier: MIT */
/* src/router/scrape.c - /metrics scraping of the backends and the few vLLM families we use. */
#include "router/scrape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"
#include "metrics/promparse.h"
#include "prefix/index.h"
#include "router/backend.h"
#include "router/daemon.h"
#include "router/route.h"

#define METRICS_MAX_BYTES (8u << 20)

/* ---- parsing ---------------------------------------------------------------------------- */

enum fam {
    F_WAITING,
    F_RUNNING,
    F_USAGE,
    F_QUERIES,
    F_HITS,
    F_INFO,
    F_USAGE_OLD,
    F_QUERIES_OLD,
    F_HITS_OLD,
    NFAM
};

static const char *const fam_names[NFAM] = {
    [F_WAITING] = "vllm:num_requests_waiting",
    [F_RUNNING] = "vllm:num_requests_running",
    [F_USAGE] = "vllm:kv_cache_usage_perc",
    [F_QUERIES] = "vllm:prefix_cache_queries_total",
    [F_HITS] = "vllm:prefix_cache_hits_total",
    [F_INFO] = "vllm:cache_config_info",
    [F_USAGE_OLD] = "vllm:gpu_cache_usage_perc", /* its name before vLLM 0.10.2 */
    /* The prefix-cache counters' names before vLLM 0.9 (0.9-0.10 export both): read only when
     * the new ones are absent, so that a backend exporting both is not counted twice. */
    [F_QUERIES_OLD] = "vllm:gpu_prefix_cache_queries_total",
    [F_HITS_OLD] = "vllm:gpu_prefix_cache_hits_total",
};

struct acc {
    double sums[NFAM];
    unsigned counts[NFAM];
    struct kv_backend_stats *out;
};

static int family(const char *name, size_t len)
{
    for (int f = 0; f < NFAM; f++)
        if (strlen(fam_names[f]) == len && memcmp(fam_names[f], name, len) == 0)
            return f;
    return -1;
}

static bool want(const char *name, size_t len, void *ud)
{
    (void)ud;
    return family(name, len) >= 0;
}

/* A label value as an unsigned integer; 0 if it is not one (vLLM writes "None" when unset). */
static uint64_t label_u64(const struct kv_promparse_sample *s, const char *key)
{
    char num[32];

    for (size_t i = 0; i < s->nlabels; i++) {
        const struct kv_promparse_label *l = &s->labels[i];
        if (l->name_len != strlen(key) || memcmp(l->name, key, l->name_len) != 0)
            continue;
        if (l->value_len == 0 || l->value_len >= sizeof(num))
            return 0;
        memcpy(num, l->value, l->value_len);
        num[l->value_len] = '\0';
        return strspn(num, "0123456789") == l->value_len ? strtoull(num, NULL, 10) : 0;
    }
    return 0;
}

static int on_sample(const struct kv_promparse_sample *s, void *ud)
{
    struct acc *a = ud;
    int f = family(s->name, s->name_len);

    if (f < 0 || !isfinite(s->value))
        return 0;
    if (f == F_INFO) {
        a->out->block_size = label_u64(s, "block_size");
        a->out->gpu_blocks = label_u64(s, "num_gpu_blocks");
    }
    a->sums[f] += s->value;
    a->counts[f]++;
    return 0;
}

int kv_scrape_parse(const char *text, size_t len, struct kv_backend_stats *out)
{
    struct acc a;
    const double *sums = a.sums;
    const unsigned *counts = a.counts;
    int found = 0;

    memset(&a, 0, sizeof(a));
    a.out = out;
    kv_promparse_parse(text, len, on_sample, want, &a, NULL);
    for (int f = 0; f < NFAM; f++)
        found += counts[f] > 0;
    if (counts[F_WAITING])
        out->waiting = sums[F_WAITING];
    if (counts[F_RUNNING])
        out->running = sums[F_RUNNING];
    if (counts[F_USAGE])
        out->kv_usage = sums[F_USAGE] / counts[F_USAGE];
    else if (counts[F_USAGE_OLD])
        out->kv_usage = sums[F_USAGE_OLD] / counts[F_USAGE_OLD];
    if (counts[F_QUERIES])
        out->prefix_queries = sums[F_QUERIES];
    else if (counts[F_QUERIES_OLD])
        out->prefix_queries = sums[F_QUERIES_OLD];
    if (counts[F_HITS])
        out->prefix_hits = sums[F_HITS];
    else if (counts[F_HITS_OLD])
        out->prefix_hits = sums[F_HITS_OLD];
    if (counts[F_WAITING] || counts[F_RUNNING] || counts[F_USAGE] || counts[F_USAGE_OLD])
        out->scraped = true;
    return found;
}

uint32_t kv_scrape_capacity(uint64_t gpu_blocks, uint64_t block_size, uint32_t block_tokens)
{
    uint64_t tokens;

    if (!gpu_blocks || !block_size || !block_tokens || gpu_blocks > UINT64_MAX / block_size)
        return 0;
    tokens = gpu_blocks * block_size;
    return (uint32_t)KV_MIN(tokens / block_tokens, (uint64_t)UINT32_MAX);
}

/* ---- scraping --------------------------------------------------------------------------- */

struct scrape {
    struct kv_router *r;
    struct kv_backend *b;
    int http_status;
    struct kv_buf body;
};

static int on_head(struct kv_http_call *call, int status, const struct kv_http_header *headers,
                   size_t count, void *data)
{
    struct scrape *s = data;
    (void)call;
    (void)headers;
    (void)count;
    s->http_status = status;
    return status == 200 ? 0 : 1;
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    struct scrape *s = data;
    (void)call;
    return kv_buf_append(&s->body, buf, len) < 0 ? 1 : 0;
}

static void apply(struct scrape *s)
{
    struct kv_backend *b = s->b;
    struct kv_backend_stats st = b->stats;
    uint32_t cap, block_tokens = kv_route_prefix(s->r->route)->block_bytes / 4;

    if (kv_scrape_parse(s->body.data ? s->body.data : "", s->body.len, &st) == 0) {
        b->stats.failures++;
        return;
    }
    st.failures = 0;
    st.scraped_ns = kv_time_ns();
    cap = kv_scrape_capacity(st.gpu_blocks, st.block_size, block_tokens);
    if (cap && !b->capacity_fixed && cap != kv_index_capacity(s->r->index, b->id))
        kv_index_set_capacity(s->r->index, b->id, cap);
    b->stats = st;
}

static void on_done(struct kv_http_call *call, int status, void *data)
{
    struct scrape *s = data;
    (void)call;

    if (!s->b->retired && !s->r->closing) {
        if (status == 0 && s->http_status == 200)
            apply(s);
        else
            s->b->stats.failures++;
    }
    s->b->scraping = false;
    kv__daemon_backend_unref(s->r, s->b);
    kv_buf_cleanup(&s->body);
    free(s);
}

static const struct kv_http_call_cbs scrape_cbs = {on_head, on_body, on_done};

static void scrape_one(struct kv_router *r, struct kv_backend *b)
{
    struct scrape *s;

    if (b->scraping || !kv_backend_is_routable(b) || !b->control)
        return;
    s = kv_calloc(1, sizeof(*s));
    s->r = r;
    s->b = b;
    kv_buf_init(&s->body, METRICS_MAX_BYTES);
    if (kv_http_call_start(b->control, "GET", "/metrics", NULL, NULL, 0, &scrape_cbs, s, NULL) <
        0) {
        kv_buf_cleanup(&s->body);
        free(s);
        return;
    }
    b->scraping = true;
    kv_backend_ref(b);
}

void kv_scrape_all(struct kv_router *r)
{
    for (size_t i = 0; i < r->backends.n; i++)
        scrape_one(r, r->backends.items[i]);
}
