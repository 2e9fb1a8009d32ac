/* SPDX-License-Identifier: MIT */
/* src/sim/vllmmetrics.h - kvsim's /metrics: engine events mapped onto vLLM v0.10.0's metric
 * families, kept in a src/metrics registry.
 *
 * The families, help texts, buckets and labels are metrics/vllmdefs.h's (registered in vLLM's
 * order with kv_vllmdefs_register() for the first served model name and engine "0"), rendered
 * by metrics/registry.h as prometheus_client does, _created series included. This file only
 * decides what feeds each metric, as vLLM v0.10.0's output processor and PrometheusStatLogger
 * do (vllm/v1/metrics/loggers.py, stats.py):
 *  - per generated token: vllm:generation_tokens; the first token adds the prompt to
 *    vllm:prompt_tokens and observes TTFT (arrival to first token), a later one observes the
 *    inter-token gap in vllm:time_per_output_token_seconds;
 *  - per engine step with events: vllm:iteration_tokens_total gets the step's prompt tokens of
 *    requests that got their first token plus one a token;
 *  - per finished request: vllm:request_success{finished_reason}, and unless aborted the
 *    request histograms (prompt/generation tokens, max_tokens, n, e2e, queue, inference,
 *    prefill, decode times);
 *  - at render time, read from the engine: running/waiting gauges, kv_cache_usage_perc (and
 *    the deprecated gpu_cache_usage_perc), the prefix-cache token counters (and the deprecated
 *    gpu_prefix_cache_*), num_preemptions.
 * Every time is model seconds (see api.h).
 *
 * Cost: the children of the (model, engine) label set are looked up once at init and kept, so
 * a token is a double add plus one histogram bucket scan (<= 22 bounds); nothing allocates
 * after init except the caller's render buffer. Ownership: the struct owns its registry until
 * kv_vllmmetrics_cleanup(); the engine passed to render is borrowed for the call.
 */
#ifndef KV_SIM_VLLMMETRICS_H
#define KV_SIM_VLLMMETRICS_H

#include <stdint.h>

#include "base/buf.h"
#include "metrics/registry.h"
#include "metrics/vllmdefs.h"
#include "sim/engine.h"

struct kv_vllmmetrics {
    struct kv_registry *reg;
    /* The (model, "0") child of each family; for vllm:request_success the "stop" child. */
    struct kv_metric_child *c[KV_VLLMDEFS_COUNT];
    /* vllm:request_success by finished_reason: stop, length, abort (vLLM's order). */
    struct kv_metric_child *success[3];
};

/* Sets up <m> for served model <model_name> (first served name) and <max_model_len> (bounds of
 * the 1-2-5 token histograms). <cache_labels> is vllm:cache_config_info's label set as written
 * in the exposition, name="value" pairs separated by commas (values escaped as Prometheus
 * label values, e.g. block_size="16",engine="0",num_gpu_blocks="1000"); "" or NULL gives the
 * info gauge no labels. <opts> may be NULL: _created series stamped with the real clock; tests
 * pass a fixed clock. Returns 0, or KV_ECONFIG for malformed <cache_labels> (more than
 * KV_REGISTRY_MAX_LABELS, a bad name); on error <m> holds nothing to clean up. */
int kv_vllmmetrics_init(struct kv_vllmmetrics *m, const char *model_name, uint32_t max_model_len,
                        const char *cache_labels, const struct kv_registry_opts *opts);
/* Frees the registry. Safe on a zeroed or failed-init struct, and twice. */
void kv_vllmmetrics_cleanup(struct kv_vllmmetrics *m);

/* Engine event <e> carried a token (e->has_token); <itl> is the model seconds since the
 * request's previous token (ignored for the first token). */
void kv_vllmmetrics_token(struct kv_vllmmetrics *m, const struct kv_engine_event *e, double itl);
/* The <n> events of one finished engine step (vllm:iteration_tokens_total); no-op for n == 0. */
void kv_vllmmetrics_step(struct kv_vllmmetrics *m, const struct kv_engine_event *ev, size_t n);
/* Engine event <e> finished its request (e->finish != KV_ENGINE_RUNNING); <max_tokens> is the
 * request's max_tokens parameter. */
void kv_vllmmetrics_finished(struct kv_vllmmetrics *m, const struct kv_engine_event *e,
                             uint32_t max_tokens);

/* Reads the gauges and cache counters from <e>, then appends the whole exposition to <out>.
 * Returns 0 or KV_ETOOBIG (out's max reached; out then holds a truncated prefix). */
int kv_vllmmetrics_render(struct kv_vllmmetrics *m, const struct kv_engine *e,
                          struct kv_buf *out);

#endif /* KV_SIM_VLLMMETRICS_H */
