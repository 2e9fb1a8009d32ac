/* SPDX-License-Identifier: MIT */
/* src/bench/stats.h - the arithmetic of kvbench's report: percentiles, hit rates, balance.
 *
 * Samples are kept whole (a run has at most a few hundred thousand requests) and sorted once for
 * percentiles, which are the nearest-rank kind (the value below which p% of samples fall,
 * interpolated linearly between the two nearest ranks, as numpy's default does).
 */
#ifndef KV_BENCH_STATS_H
#define KV_BENCH_STATS_H

#include <stddef.h>

struct kv_stats {
    double *v;
    size_t n, cap;
    int sorted;
};

void kv_stats_init(struct kv_stats *s);
void kv_stats_cleanup(struct kv_stats *s);
void kv_stats_add(struct kv_stats *s, double v);
/* Percentile <p> in [0, 100], linear interpolation between closest ranks; 0 when empty. */
double kv_stats_pct(struct kv_stats *s, double p);
double kv_stats_mean(const struct kv_stats *s);

/* Hit rate of token counter deltas: hits / queries, 0 when no query. */
double kv_stats_hit_rate(double hits, double queries);
/* max/mean of <n> values (1 = perfectly even); 0 when the mean is 0. */
double kv_stats_max_over_mean(const double *v, size_t n);
/* Coefficient of variation (population stddev / mean); 0 when the mean is 0. */
double kv_stats_cv(const double *v, size_t n);

#endif /* KV_BENCH_STATS_H */
