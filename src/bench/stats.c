/* SPDX-License-Identifier: MIT */
/* src/bench/stats.c - percentiles, hit rates, balance figures. */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void kv_stats_init(struct kv_stats *s)
{
    memset(s, 0, sizeof(*s));
}

void kv_stats_cleanup(struct kv_stats *s)
{
    KV_FREE(&s->v);
    s->n = s->cap = 0;
}

void kv_stats_add(struct kv_stats *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = kv_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = v;
    s->sorted = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double kv_stats_pct(struct kv_stats *s, double p)
{
    double rank, frac;
    size_t lo;

    if (s->n == 0)
        return 0;
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof(*s->v), cmp_double);
        s->sorted = 1;
    }
    p = p < 0 ? 0 : p > 100 ? 100 : p;
    rank = p / 100.0 * (double)(s->n - 1);
    lo = (size_t)floor(rank);
    frac = rank - (double)lo;
    if (lo + 1 >= s->n)
        return s->v[s->n - 1];
    return s->v[lo] + (s->v[lo + 1] - s->v[lo]) * frac;
}

double kv_stats_mean(const struct kv_stats *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return s->n ? sum / (double)s->n : 0;
}

double kv_stats_hit_rate(double hits, double queries)
{
    return queries > 0 ? hits / queries : 0;
}

double kv_stats_max_over_mean(const double *v, size_t n)
{
    double sum = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        max = v[i] > max ? v[i] : max;
    }
    return sum > 0 ? max / (sum / (double)n) : 0;
}

double kv_stats_cv(const double *v, size_t n)
{
    double sum = 0, mean, var = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    mean = sum / (double)n;
    if (mean <= 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        var += (v[i] - mean) * (v[i] - mean);
    return sqrt(var / (double)n) / mean;
}
