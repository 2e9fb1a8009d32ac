/* SPDX-License-Identifier: MIT */
/* src/sim/vllmmetrics.c - engine events and state onto vLLM v0.10.0's metrics (see the header);
 * names, buckets and formatting live in src/metrics.
 */
#include "sim/vllmmetrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "metrics/promparse.h"

/* Where the parsed cache_config_info sample is registered, and the outcome. */
struct info_ctx {
    struct kv_registry *reg;
    int rc; /* 1 until the first sample is seen, then kv_registry_info()'s result */
};

/* Registers vllm:cache_config_info with the labels of the first sample parsed. */
static int on_info_sample(const struct kv_promparse_sample *s, void *ud)
{
    struct info_ctx *ctx = ud;
    const char *names[KV_PROMPARSE_MAX_LABELS], *values[KV_PROMPARSE_MAX_LABELS];
    size_t room = 0, k = 0;
    char *store; /* NUL-terminated copies: the parser's spans are not */

    if (ctx->rc != 1)
        return 0; /* a second sample: the caller rejects the text */
    for (size_t i = 0; i < s->nlabels; i++)
        room += s->labels[i].name_len + s->labels[i].value_len + 2;
    store = kv_malloc(room + 1);
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct kv_promparse_label *l = &s->labels[i];
        names[i] = memcpy(store + k, l->name, l->name_len);
        k += l->name_len;
        store[k++] = '\0';
        values[i] = memcpy(store + k, l->value, l->value_len);
        k += l->value_len;
        store[k++] = '\0';
    }
    ctx->rc = kv_registry_info(ctx->reg, KV_VLLMDEFS_CACHE_CONFIG_INFO,
                               "Information of the LLMEngine CacheConfig", names, values,
                               s->nlabels);
    free(store);
    return 0;
}

/* The label text is parsed as the one sample line it will be rendered as, by the parser the
 * router scrapes with, so what kvsim serves is what a scraper reads back. */
static int add_cache_info(struct kv_registry *reg, const char *labels)
{
    struct info_ctx ctx = {reg, 1};
    struct kv_promparse_stats st;
    struct kv_buf line;

    if (strpbrk(labels, "\r\n"))
        return KV_ECONFIG;
    kv_buf_init(&line, KV_PROMPARSE_MAX_LINE);
    if (kv_buf_appends(&line, "i{") < 0 || kv_buf_appends(&line, labels) < 0 ||
        kv_buf_appends(&line, "} 1") < 0) {
        kv_buf_cleanup(&line);
        return KV_ECONFIG;
    }
    kv_promparse_parse(line.data, line.len, on_info_sample, NULL, &ctx, &st);
    kv_buf_cleanup(&line);
    return ctx.rc == 0 && st.samples == 1 && st.bad == 0 && st.too_long == 0 ? 0 : KV_ECONFIG;
}

int kv_vllmmetrics_init(struct kv_vllmmetrics *m, const char *model_name, uint32_t max_model_len,
                        const char *cache_labels, const struct kv_registry_opts *opts)
{
    struct kv_registry_opts dflt = {.created = true};
    struct kv_metric *fam[KV_VLLMDEFS_COUNT];
    int rc;

    memset(m, 0, sizeof(*m));
    m->reg = kv_registry_new(opts ? opts : &dflt);
    rc = kv_vllmdefs_register(m->reg, max_model_len, model_name, "0", fam);
    if (rc == 0)
        rc = add_cache_info(m->reg, cache_labels ? cache_labels : "");
    if (rc < 0) {
        kv_vllmmetrics_cleanup(m);
        return rc;
    }
    for (size_t i = 0; i < KV_VLLMDEFS_COUNT; i++) {
        if (i == KV_VLLMDEFS_REQUEST_SUCCESS)
            continue;
        m->c[i] = kv_registry_labels(fam[i], model_name, "0");
    }
    for (size_t i = 0; i < KV_ARRAY_LEN(m->success); i++)
        m->success[i] = kv_registry_labels(fam[KV_VLLMDEFS_REQUEST_SUCCESS], model_name, "0",
                                           kv_vllmdefs_finish_reasons[i]);
    m->c[KV_VLLMDEFS_REQUEST_SUCCESS] = m->success[0];
    return 0;
}

void kv_vllmmetrics_cleanup(struct kv_vllmmetrics *m)
{
    kv_registry_free(m->reg);
    memset(m, 0, sizeof(*m));
}

void kv_vllmmetrics_token(struct kv_vllmmetrics *m, const struct kv_engine_event *e, double itl)
{
    kv_registry_inc(m->c[KV_VLLMDEFS_GENERATION_TOKENS], 1);
    if (e->first_token) {
        kv_registry_inc(m->c[KV_VLLMDEFS_PROMPT_TOKENS], e->num_prompt);
        kv_registry_observe(m->c[KV_VLLMDEFS_TTFT], e->first_token_time - e->arrival);
    } else {
        kv_registry_observe(m->c[KV_VLLMDEFS_TPOT], itl);
    }
}

void kv_vllmmetrics_step(struct kv_vllmmetrics *m, const struct kv_engine_event *ev, size_t n)
{
    uint64_t tokens = 0;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        tokens += 1 + (ev[i].first_token ? ev[i].num_prompt : 0);
    kv_registry_observe(m->c[KV_VLLMDEFS_ITERATION_TOKENS], (double)tokens);
}

void kv_vllmmetrics_finished(struct kv_vllmmetrics *m, const struct kv_engine_event *e,
                             uint32_t max_tokens)
{
    struct kv_metric_child *const *c = m->c;

    if (e->finish == KV_ENGINE_FINISH_ABORT) {
        kv_registry_inc(m->success[2], 1);
        return; /* vLLM records no request-level histograms for an aborted request */
    }
    kv_registry_inc(m->success[e->finish == KV_ENGINE_FINISH_STOP ? 0 : 1], 1);
    kv_registry_observe(c[KV_VLLMDEFS_REQ_PROMPT_TOKENS], e->num_prompt);
    kv_registry_observe(c[KV_VLLMDEFS_REQ_GENERATION_TOKENS], e->num_output);
    kv_registry_observe(c[KV_VLLMDEFS_REQ_MAX_GEN_TOKENS], max_tokens);
    kv_registry_observe(c[KV_VLLMDEFS_REQ_PARAMS_N], 1);
    kv_registry_observe(c[KV_VLLMDEFS_REQ_PARAMS_MAX_TOKENS], max_tokens);
    kv_registry_observe(c[KV_VLLMDEFS_E2E_LATENCY], e->finish_time - e->arrival);
    kv_registry_observe(c[KV_VLLMDEFS_QUEUE_TIME], e->first_scheduled - e->arrival);
    kv_registry_observe(c[KV_VLLMDEFS_INFERENCE_TIME], e->finish_time - e->first_scheduled);
    kv_registry_observe(c[KV_VLLMDEFS_PREFILL_TIME], e->first_token_time - e->first_scheduled);
    kv_registry_observe(c[KV_VLLMDEFS_DECODE_TIME], e->finish_time - e->first_token_time);
}

int kv_vllmmetrics_render(struct kv_vllmmetrics *m, const struct kv_engine *e,
                          struct kv_buf *out)
{
    const struct kv_blockpool *p = kv_engine_pool(e);
    struct kv_metric_child *const *c = m->c;
    struct kv_engine_stats st;
    double usage = kv_blockpool_usage(p);

    kv_engine_stats(e, &st);
    kv_registry_set(c[KV_VLLMDEFS_RUNNING], st.num_running);
    kv_registry_set(c[KV_VLLMDEFS_WAITING], st.num_waiting);
    kv_registry_set(c[KV_VLLMDEFS_GPU_CACHE_USAGE], usage);
    kv_registry_set(c[KV_VLLMDEFS_KV_CACHE_USAGE], usage);
    /* The pool's counts only grow, so setting the counters keeps them monotonic. */
    kv_registry_set(c[KV_VLLMDEFS_GPU_PREFIX_QUERIES], (double)p->stats.queries);
    kv_registry_set(c[KV_VLLMDEFS_PREFIX_QUERIES], (double)p->stats.queries);
    kv_registry_set(c[KV_VLLMDEFS_GPU_PREFIX_HITS], (double)p->stats.hits);
    kv_registry_set(c[KV_VLLMDEFS_PREFIX_HITS], (double)p->stats.hits);
    kv_registry_set(c[KV_VLLMDEFS_PREEMPTIONS], (double)st.num_preemptions);
    return kv_registry_render(m->reg, out);
}
