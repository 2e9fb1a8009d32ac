/* SPDX-License-Identifier: MIT */
/* src/bench/report.h - kvbench's results: one row per target, as a table or JSON.
 *
 * Hit rates come from the backends' own counters (vllm:prefix_cache_hits_total over
 * vllm:prefix_cache_queries_total, deltas over the run); `pooled` and `ideal` are the offline
 * references (one cache with the fleet's capacity, one unbounded cache) over the same requests,
 * so each row shows hit/pooled and pooled/ideal. Work per backend is the timing model's cost of
 * what it computed: uncached prompt tokens x prefill cost + generated tokens x decode cost.
 */
#ifndef KV_BENCH_REPORT_H
#define KV_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench/runner.h"

#define KV_REPORT_MAX_BACKENDS 64

struct kv_report_backend {
    double queries, hits;          /* prefix-cache token counters, deltas */
    double prompt_tokens, gen_tokens, requests, preemptions;
    double work_ms;                /* timing-model cost of the uncached prefill and the decode */
};

struct kv_report_row {
    char target[64];
    size_t n_backends;
    struct kv_report_backend be[KV_REPORT_MAX_BACKENDS];
    double hit_rate, pooled, ideal;
    double work_max_mean, req_max_mean, work_cv;
    double ttft_mean, ttft_p50, ttft_p90, ttft_p99, itl_p50, itl_p99, e2e_p50, e2e_p99;
    double ttft_q[101];            /* TTFT quantiles 0..100% (seconds, scaled), for plots */
    double req_per_s, tok_per_s;
    unsigned long long ok, errors;
    double wall_s, time_scale;
};

/* Fills the backend aggregates and ratios of <row> from its per-backend deltas, and the latency
 * and throughput figures from <res>. <prefill_ms>, <decode_ms>: the timing model's per-token
 * costs for the work figure. */
void kv_report_finish(struct kv_report_row *row, struct kv_runner_result *res, double prefill_ms,
                      double decode_ms);
/* Prints <rows> side by side as a table. */
void kv_report_table(FILE *out, const struct kv_report_row *rows, size_t n, const char *workload);
/* Draws <rows> with gnuplot into the PNG file <path>: TTFT distributions per target (left) and
 * each backend's share of the work per target (right). Returns 0, or < 0 if gnuplot could not
 * run or failed. */
int kv_report_plot(const char *path, const struct kv_report_row *rows, size_t n,
                   const char *workload);
/* Prints <rows> as one JSON document. */
void kv_report_json(FILE *out, const struct kv_report_row *rows, size_t n, const char *workload);

#endif /* KV_BENCH_REPORT_H */
