/* SPDX-License-Identifier: MIT */
/* src/metrics/vllmdefs.h - the Prometheus metrics of vLLM v0.10.0, as data.
 *
 * One table, in vLLM's registration order (vllm/v1/metrics/loggers.py, PrometheusStatLogger),
 * gives each metric's name, help text, type, label names and histogram buckets, so that kvsim
 * registers the same families and the router scrapes the same names. Facts, checked against
 * vLLM v0.10.0 and real /metrics output (tests/data/vllm_metrics_v0_10.txt):
 *  - every engine metric has labels model_name, engine (served model name, engine index "0");
 *    vllm:request_success adds finished_reason ("stop", "length", "abort", one child each,
 *    created up front so all three show at 0);
 *  - counters are created as e.g. "vllm:prefix_cache_queries" and exposed by prometheus_client
 *    as vllm:prefix_cache_queries_total on HELP, TYPE and sample lines, followed by a
 *    vllm:prefix_cache_queries_created gauge family (one API server: no multiprocess mode);
 *  - prefix cache counters count tokens (queries: prompt tokens of newly scheduled requests,
 *    hits: those found cached); kv_cache_usage_perc is 1 - free/total blocks (0..1);
 *    vllm:gpu_cache_usage_perc and vllm:gpu_prefix_cache_* are deprecated duplicates still
 *    served in v0.10.0;
 *  - token-count histograms (request_prompt_tokens, request_generation_tokens,
 *    request_max_num_generation_tokens, request_params_max_tokens) use 1-2-5 buckets up to
 *    max_model_len: see kv_vllmdefs_buckets_125();
 *  - vllm:cache_config_info is a gauge set to 1 whose labels are CacheConfig's fields plus
 *    engine (kv_vllmdefs_cache_config_labels); block_size and num_gpu_blocks give the KV
 *    capacity in tokens.
 */
#ifndef KV_METRICS_VLLMDEFS_H
#define KV_METRICS_VLLMDEFS_H

#include <stddef.h>

#include "metrics/registry.h"

/* Sample names as scraped (counters with _total). */
#define KV_VLLMDEFS_NUM_REQUESTS_RUNNING "vllm:num_requests_running"
#define KV_VLLMDEFS_NUM_REQUESTS_WAITING "vllm:num_requests_waiting"
#define KV_VLLMDEFS_KV_CACHE_USAGE_PERC "vllm:kv_cache_usage_perc"
#define KV_VLLMDEFS_GPU_CACHE_USAGE_PERC "vllm:gpu_cache_usage_perc"
#define KV_VLLMDEFS_PREFIX_CACHE_QUERIES_TOTAL "vllm:prefix_cache_queries_total"
#define KV_VLLMDEFS_PREFIX_CACHE_HITS_TOTAL "vllm:prefix_cache_hits_total"
#define KV_VLLMDEFS_PROMPT_TOKENS_TOTAL "vllm:prompt_tokens_total"
#define KV_VLLMDEFS_GENERATION_TOKENS_TOTAL "vllm:generation_tokens_total"
#define KV_VLLMDEFS_NUM_PREEMPTIONS_TOTAL "vllm:num_preemptions_total"
#define KV_VLLMDEFS_REQUEST_SUCCESS_TOTAL "vllm:request_success_total"
#define KV_VLLMDEFS_CACHE_CONFIG_INFO "vllm:cache_config_info"
#define KV_VLLMDEFS_TTFT_SECONDS "vllm:time_to_first_token_seconds"

/* Index of each metric in kv_vllmdefs_metrics (registration order). */
enum kv_vllmdefs_id {
    KV_VLLMDEFS_RUNNING = 0,
    KV_VLLMDEFS_WAITING,
    KV_VLLMDEFS_GPU_CACHE_USAGE,      /* deprecated duplicate of KV_CACHE_USAGE */
    KV_VLLMDEFS_GPU_PREFIX_QUERIES,   /* deprecated duplicate of PREFIX_QUERIES */
    KV_VLLMDEFS_GPU_PREFIX_HITS,      /* deprecated duplicate of PREFIX_HITS */
    KV_VLLMDEFS_KV_CACHE_USAGE,
    KV_VLLMDEFS_PREFIX_QUERIES,
    KV_VLLMDEFS_PREFIX_HITS,
    KV_VLLMDEFS_PREEMPTIONS,
    KV_VLLMDEFS_PROMPT_TOKENS,
    KV_VLLMDEFS_GENERATION_TOKENS,
    KV_VLLMDEFS_REQUEST_SUCCESS,      /* labels model_name, engine, finished_reason */
    KV_VLLMDEFS_REQ_PROMPT_TOKENS,    /* 1-2-5 buckets to max_model_len */
    KV_VLLMDEFS_REQ_GENERATION_TOKENS, /* 1-2-5 buckets to max_model_len */
    KV_VLLMDEFS_ITERATION_TOKENS,
    KV_VLLMDEFS_REQ_MAX_GEN_TOKENS,   /* 1-2-5 buckets to max_model_len */
    KV_VLLMDEFS_REQ_PARAMS_N,
    KV_VLLMDEFS_REQ_PARAMS_MAX_TOKENS, /* 1-2-5 buckets to max_model_len */
    KV_VLLMDEFS_TTFT,
    KV_VLLMDEFS_TPOT,
    KV_VLLMDEFS_E2E_LATENCY,
    KV_VLLMDEFS_QUEUE_TIME,
    KV_VLLMDEFS_INFERENCE_TIME,
    KV_VLLMDEFS_PREFILL_TIME,
    KV_VLLMDEFS_DECODE_TIME,
    KV_VLLMDEFS_COUNT
};

struct kv_vllmdefs_metric {
    struct kv_registry_desc desc; /* buckets NULL when buckets_125 */
    int buckets_125;              /* 1: buckets are kv_vllmdefs_buckets_125(max_model_len) */
};

extern const struct kv_vllmdefs_metric kv_vllmdefs_metrics[KV_VLLMDEFS_COUNT];

/* Bucket lists of v0.10.0 (the +Inf bucket is implied). */
extern const double kv_vllmdefs_ttft_buckets[22];
extern const double kv_vllmdefs_tpot_buckets[19];
extern const double kv_vllmdefs_latency_buckets[21]; /* e2e, queue, inference, prefill, decode */
extern const double kv_vllmdefs_iteration_buckets[13];
extern const double kv_vllmdefs_params_n_buckets[5];

/* "finished_reason" label values of vllm:request_success, in vLLM's FinishReason order. */
extern const char *const kv_vllmdefs_finish_reasons[3];

/* Label names of vllm:cache_config_info in v0.10.0: CacheConfig's fields and "engine". */
extern const char *const kv_vllmdefs_cache_config_labels[17];

/* Writes vLLM's build_1_2_5_buckets(max): 1, 2, 5, 10, 20, 50, ... while <= max, at most <cap>
 * of them, into <out>. Returns how many were written. */
size_t kv_vllmdefs_buckets_125(double max, double *out, size_t cap);

/* Registers all of kv_vllmdefs_metrics in <r>, in order, token histograms bucketed up to
 * <max_model_len>, and sets out[id] to each family (out has KV_VLLMDEFS_COUNT slots). Creates
 * the children for (<model_name>, <engine>) of every metric, and the three finished_reason
 * children of vllm:request_success, as vLLM does at startup; fetch them with
 * kv_registry_labels(). Returns 0, or a kv_registry_add error. */
int kv_vllmdefs_register(struct kv_registry *r, double max_model_len, const char *model_name,
                         const char *engine, struct kv_metric **out);

#endif /* KV_METRICS_VLLMDEFS_H */
