/* SPDX-License-Identifier: MIT */
/* src/sim/vllmmetrics.h - kvsim's /metrics: vLLM v0.10.0's v1 Prometheus metrics, same names,
 * labels, buckets and text layout.
 *
 * Follows vllm/v1/metrics/loggers.py (PrometheusStatLogger) as served by prometheus_client:
 * metrics in registration order, labels sorted by name (engine, [finished_reason | le],
 * model_name), counters as <name>_total plus <name>_created, histograms as _bucket/_count/_sum/
 * _created, values in client_python's floatToGoString form ("1.0", "1.764e+09"). Both the
 * deprecated (vllm:gpu_cache_usage_perc, vllm:gpu_prefix_cache_*) and the 0.9.2+ names
 * (vllm:kv_cache_usage_perc, vllm:prefix_cache_*) are served, as v0.10.0 does.
 * Gauges and the prefix-cache counters are read from the engine at render time; the rest is
 * fed by the API layer through the observe functions. Times are model seconds (see api.h).
 *
 * One struct per process, no allocation after init except the render buffer the caller owns.
 * (When src/metrics lands its registry and name tables, this file should move onto them.)
 */
#ifndef KV_SIM_VLLMMETRICS_H
#define KV_SIM_VLLMMETRICS_H

#include <stdint.h>

#include "base/buf.h"
#include "sim/engine.h"

#define KV_VLLMMETRICS_MAX_BUCKETS 24

struct kv_vllmmetrics_hist {
    const double *bounds;
    unsigned nbounds;
    uint64_t counts[KV_VLLMMETRICS_MAX_BUCKETS]; /* per bucket, not cumulative */
    uint64_t count;
    double sum;
};

/* Per finished request, what the output processor records (all times model seconds). */
struct kv_vllmmetrics_done {
    int finish;           /* enum kv_engine_finish */
    uint32_t prompt_tokens;
    uint32_t generation_tokens;
    uint32_t max_tokens;  /* the request's max_tokens parameter */
    double e2e;           /* arrival to finish */
    double queue;         /* arrival to first scheduled */
    double prefill;       /* first scheduled to first token */
    double decode;        /* first token to finish */
    double inference;     /* first scheduled to finish */
};

struct kv_vllmmetrics {
    char model_name[256];
    double created; /* unix time the counters were made */
    uint32_t max_model_len;
    uint64_t prompt_tokens, generation_tokens;
    uint64_t success[3]; /* stop, length, abort */
    double len_bounds[KV_VLLMMETRICS_MAX_BUCKETS];
    struct kv_vllmmetrics_hist req_prompt, req_gen, iter_tokens, max_gen, params_n, params_max;
    struct kv_vllmmetrics_hist ttft, tpot, e2e, queue, inference, prefill, decode;
    char cache_info[1024]; /* rendered label set of vllm:cache_config_info */
};

/* Sets up <m> for served model <model_name> (first served name) and <max_model_len>; the
 * cache_config_info labels come from <cache_labels> (already rendered, sorted, without engine,
 * e.g. block_size="16",...; copied, truncated to fit). */
void kv_vllmmetrics_init(struct kv_vllmmetrics *m, const char *model_name, uint32_t max_model_len,
                         const char *cache_labels);
/* A request's first token: its prompt counts into vllm:prompt_tokens, its TTFT is observed. */
void kv_vllmmetrics_first_token(struct kv_vllmmetrics *m, uint32_t prompt_tokens, double ttft);
/* A later token, <itl> seconds after the previous one (vllm:time_per_output_token_seconds). */
void kv_vllmmetrics_token(struct kv_vllmmetrics *m, double itl);
/* Generation tokens counted (every token, first included). */
void kv_vllmmetrics_generated(struct kv_vllmmetrics *m, uint32_t n);
/* One engine step produced <tokens> prompt + generation tokens (vllm:iteration_tokens_total). */
void kv_vllmmetrics_iteration(struct kv_vllmmetrics *m, uint64_t tokens);
void kv_vllmmetrics_finished(struct kv_vllmmetrics *m, const struct kv_vllmmetrics_done *d);
/* Appends the whole exposition (gauges from <e>) to <out>; returns 0 or KV_ETOOBIG. */
int kv_vllmmetrics_render(const struct kv_vllmmetrics *m, const struct kv_engine *e,
                          struct kv_buf *out);
/* client_python's floatToGoString(<v>) into <out> (>= 40 bytes); returns the length. */
size_t kv_vllmmetrics_format(double v, char *out);

#endif /* KV_SIM_VLLMMETRICS_H */
