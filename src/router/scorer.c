/* SPDX-License-Identifier: MIT */
/* src/router/scorer.c - prefix, queue, KV usage, load-aware, session and in-flight scorers. */
#include "router/scorer.h"

#include <string.h>

#include "base/mem.h"

static const struct kv_sched_backend *cand_at(const struct kv_scorer_in *in, uint32_t k)
{
    return &in->bk[in->cand[k]];
}

static void score_prefix(const struct kv_scorer_in *in, double *out)
{
    uint32_t n = in->req->nblocks;

    for (uint32_t k = 0; k < in->ncand; k++)
        out[k] = n && in->matched ? (double)in->matched[cand_at(in, k)->id] / n : 0.0;
}

/* gateway-api-inference-extension's queue scorer: min-max normalized, a shorter queue is
 * better, and all equal queues score a neutral 1. */
static void score_queue(const struct kv_scorer_in *in, double *out)
{
    double lo = 0, hi = 0;

    for (uint32_t k = 0; k < in->ncand; k++) {
        double q = cand_at(in, k)->waiting;
        lo = k == 0 || q < lo ? q : lo;
        hi = k == 0 || q > hi ? q : hi;
    }
    for (uint32_t k = 0; k < in->ncand; k++)
        out[k] = hi == lo ? 1.0 : (hi - cand_at(in, k)->waiting) / (hi - lo);
}

static void score_kv(const struct kv_scorer_in *in, double *out)
{
    for (uint32_t k = 0; k < in->ncand; k++) {
        double u = cand_at(in, k)->kv_usage;
        u = u < 0 ? 0 : u > 1 ? 1 : u;
        out[k] = 1.0 - u;
    }
}

/* llm-d's load-aware scorer: an idle queue is only "half good", leaving headroom for a future
 * signal of spare capacity; a queue at the threshold scores 0. */
static void score_load_aware(const struct kv_scorer_in *in, double *out)
{
    double th = in->cfg->load_aware_threshold > 0 ? in->cfg->load_aware_threshold : 128;

    for (uint32_t k = 0; k < in->ncand; k++) {
        double q = cand_at(in, k)->waiting;
        out[k] = q <= 0 ? 0.5 : 0.5 * (1.0 - KV_MIN(q, th) / th);
    }
}

static void score_session(const struct kv_scorer_in *in, double *out)
{
    for (uint32_t k = 0; k < in->ncand; k++)
        out[k] = (int)k == in->session_k ? 1.0 : 0.0;
}

static void score_active(const struct kv_scorer_in *in, double *out)
{
    uint32_t hi = 0;

    for (uint32_t k = 0; k < in->ncand; k++)
        hi = KV_MAX(hi, cand_at(in, k)->inflight);
    for (uint32_t k = 0; k < in->ncand; k++)
        out[k] = hi == 0 ? 1.0 : (double)(hi - cand_at(in, k)->inflight) / hi;
}

/* Prompt tokens the router sent that the backends have not prefilled yet: exact and instant,
 * unlike a scraped queue, and weighs a long prompt over a short one, which a request count
 * does not. */
static void score_prefill(const struct kv_scorer_in *in, double *out)
{
    uint64_t hi = 0;

    for (uint32_t k = 0; k < in->ncand; k++)
        hi = KV_MAX(hi, cand_at(in, k)->inflight_prefill);
    for (uint32_t k = 0; k < in->ncand; k++)
        out[k] = hi == 0 ? 1.0 : (double)(hi - cand_at(in, k)->inflight_prefill) / (double)hi;
}

static const struct kv_scorer_ops prefix_ops = {"prefix-cache-scorer", score_prefix};
static const struct kv_scorer_ops queue_ops = {"queue-scorer", score_queue};
static const struct kv_scorer_ops kv_ops = {"kv-cache-utilization-scorer", score_kv};
static const struct kv_scorer_ops load_ops = {"load-aware-scorer", score_load_aware};
static const struct kv_scorer_ops session_ops = {"session-affinity-scorer", score_session};
static const struct kv_scorer_ops active_ops = {"active-request-scorer", score_active};
static const struct kv_scorer_ops prefill_ops = {"inflight-prefill-scorer", score_prefill};

static const struct kv_scorer_ops *const all[] = {&prefix_ops,  &queue_ops,  &kv_ops,
                                                  &load_ops,    &session_ops, &active_ops,
                                                  &prefill_ops};

const struct kv_scorer_ops *kv_scorer_find(const char *name)
{
    for (size_t i = 0; name && i < KV_ARRAY_LEN(all); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

const struct kv_scorer_ops *const *kv_scorer_all(size_t *n)
{
    *n = KV_ARRAY_LEN(all);
    return all;
}
