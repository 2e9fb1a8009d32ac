/* SPDX-License-Identifier: MIT */
/* src/metrics/vllmdefs.c - vLLM v0.10.0's metric definitions (names, help texts verbatim,
 * including vLLM's own typos such as "queriedtokens", label names, buckets) and their
 * registration in a kv_registry. Source: vllm/v1/metrics/loggers.py at v0.10.0, checked
 * against real /metrics output (tests/data/vllm_metrics_v0_10.txt).
 */
#include "metrics/vllmdefs.h"

#include "base/mem.h"

static const char *const engine_labels[] = {"model_name", "engine"};
static const char *const success_labels[] = {"model_name", "engine", "finished_reason"};

const double kv_vllmdefs_ttft_buckets[22] = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
};
const double kv_vllmdefs_tpot_buckets[19] = {
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
    0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0,
};
const double kv_vllmdefs_latency_buckets[21] = {
    0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,   5.0,   10.0,  15.0,   20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
};
const double kv_vllmdefs_iteration_buckets[13] = {
    1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
};
const double kv_vllmdefs_params_n_buckets[5] = {1, 2, 5, 10, 20};

const char *const kv_vllmdefs_finish_reasons[3] = {"stop", "length", "abort"};

const char *const kv_vllmdefs_cache_config_labels[17] = {
    "block_size",        "gpu_memory_utilization", "swap_space",
    "cache_dtype",       "is_attention_free",      "num_gpu_blocks_override",
    "sliding_window",    "enable_prefix_caching",  "prefix_caching_hash_algo",
    "cpu_offload_gb",    "calculate_kv_scales",    "cpu_kvcache_space_bytes",
    "mamba_page_size_padded", "num_gpu_blocks",    "num_cpu_blocks",
    "swap_space_bytes",  "engine",
};

#define G(n, h) {{n, h, KV_REGISTRY_GAUGE, engine_labels, 2, NULL, 0}, 0}
#define C(n, h) {{n, h, KV_REGISTRY_COUNTER, engine_labels, 2, NULL, 0}, 0}
#define H(n, h, b) {{n, h, KV_REGISTRY_HISTOGRAM, engine_labels, 2, b, KV_ARRAY_LEN(b)}, 0}
#define H125(n, h) {{n, h, KV_REGISTRY_HISTOGRAM, engine_labels, 2, NULL, 0}, 1}

const struct kv_vllmdefs_metric kv_vllmdefs_metrics[KV_VLLMDEFS_COUNT] = {
    G("vllm:num_requests_running", "Number of requests in model execution batches."),
    G("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
    G("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage."
                                   "DEPRECATED: Use vllm:kv_cache_usage_perc instead."),
    C("vllm:gpu_prefix_cache_queries", "GPU prefix cache queries, in terms of number of queried"
                                       "tokens. DEPRECATED: Use vllm:prefix_cache_queries instead."),
    C("vllm:gpu_prefix_cache_hits", "GPU prefix cache hits, in terms of number of cached tokens. "
                                    "DEPRECATED: Use vllm:prefix_cache_hits instead."),
    G("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
    C("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens."),
    C("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens."),
    C("vllm:num_preemptions", "Cumulative number of preemption from the engine."),
    C("vllm:prompt_tokens", "Number of prefill tokens processed."),
    C("vllm:generation_tokens", "Number of generation tokens processed."),
    {{"vllm:request_success", "Count of successfully processed requests.", KV_REGISTRY_COUNTER,
      success_labels, 3, NULL, 0}, 0},
    H125("vllm:request_prompt_tokens", "Number of prefill tokens processed."),
    H125("vllm:request_generation_tokens", "Number of generation tokens processed."),
    H("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
      kv_vllmdefs_iteration_buckets),
    H125("vllm:request_max_num_generation_tokens",
         "Histogram of maximum number of requested generation tokens."),
    H("vllm:request_params_n", "Histogram of the n request parameter.",
      kv_vllmdefs_params_n_buckets),
    H125("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter."),
    H("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
      kv_vllmdefs_ttft_buckets),
    H("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.",
      kv_vllmdefs_tpot_buckets),
    H("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
      kv_vllmdefs_latency_buckets),
    H("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
      kv_vllmdefs_latency_buckets),
    H("vllm:request_inference_time_seconds",
      "Histogram of time spent in RUNNING phase for request.", kv_vllmdefs_latency_buckets),
    H("vllm:request_prefill_time_seconds",
      "Histogram of time spent in PREFILL phase for request.", kv_vllmdefs_latency_buckets),
    H("vllm:request_decode_time_seconds",
      "Histogram of time spent in DECODE phase for request.", kv_vllmdefs_latency_buckets),
};

size_t kv_vllmdefs_buckets_125(double max, double *out, size_t cap)
{
    static const double mant[] = {1, 2, 5};
    size_t n = 0;

    for (double p = 1; n < cap; p *= 10) {
        for (size_t i = 0; i < 3 && n < cap; i++) {
            if (mant[i] * p > max)
                return n;
            out[n++] = mant[i] * p;
        }
    }
    return n;
}

/* The children vLLM creates at startup, so every series shows from the first scrape. */
static int make_children(struct kv_metric *m, enum kv_vllmdefs_id id, const char *model,
                         const char *engine)
{
    struct kv_metric_child *c;
    int rc = 0;

    if (id != KV_VLLMDEFS_REQUEST_SUCCESS) {
        const char *v[] = {model, engine};
        return kv_registry_child(m, v, &c);
    }
    for (size_t i = 0; i < KV_ARRAY_LEN(kv_vllmdefs_finish_reasons) && rc == 0; i++) {
        const char *v[] = {model, engine, kv_vllmdefs_finish_reasons[i]};
        rc = kv_registry_child(m, v, &c);
    }
    return rc;
}

int kv_vllmdefs_register(struct kv_registry *r, double max_model_len, const char *model_name,
                         const char *engine, struct kv_metric **out)
{
    double b125[KV_REGISTRY_MAX_BUCKETS];
    size_t n125 = kv_vllmdefs_buckets_125(max_model_len, b125, KV_ARRAY_LEN(b125));
    int rc;

    for (size_t i = 0; i < KV_VLLMDEFS_COUNT; i++) {
        struct kv_registry_desc d = kv_vllmdefs_metrics[i].desc;
        if (kv_vllmdefs_metrics[i].buckets_125) {
            d.buckets = b125;
            d.nbuckets = n125;
        }
        if ((rc = kv_registry_add(r, &d, &out[i])) < 0)
            return rc;
        if ((rc = make_children(out[i], (enum kv_vllmdefs_id)i, model_name, engine)) < 0)
            return rc;
    }
    return 0;
}
