/* SPDX-License-Identifier: MIT */
/* src/router/scorer.h - the scheduler's scorers as an ops table, named as llm-d's plugin types
 * (and one of ours).
 *
 * A scorer rates every candidate in [0, 1], higher is better; a weighted profile (the "prefix"
 * policy) sums weight * score and the max-score picker takes the best. Normalizations mirror
 * llm-d / gateway-api-inference-extension, so a profile reads and behaves like theirs:
 *   prefix-cache-scorer          matched leading blocks / blocks in the request (0 if none)
 *   queue-scorer                 (max q - q) / (max q - min q) over candidates on scraped
 *                                waiting requests; 1 for all when every queue is equal
 *   kv-cache-utilization-scorer  1 - scraped KV usage
 *   load-aware-scorer            llm-d: 0.5 with an empty queue, else
 *                                0.5 * (1 - min(q, threshold) / threshold)
 *   session-affinity-scorer      1 for the session's backend, 0 for the others
 *   active-request-scorer        (max n - n) / max n over router-counted in-flight requests;
 *                                1 for all when nothing is in flight
 *   inflight-prefill-scorer      (ours) the same over router-counted prompt tokens sent and
 *                                not yet prefilled (the request's head has not come back)
 * Each is pure (reads its inputs, writes out[]), allocates nothing and is unit-tested alone.
 */
#ifndef KV_ROUTER_SCORER_H
#define KV_ROUTER_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "router/sched.h"

/* What a scorer sees: the candidates are bk[cand[k]] for k < ncand. */
struct kv_scorer_in {
    const struct kv_sched_config *cfg;
    const struct kv_sched_request *req;
    const struct kv_sched_backend *bk;
    const uint32_t *cand;
    uint32_t ncand;
    const uint32_t *matched; /* matched blocks by backend id; NULL: no prefix information */
    int session_k;           /* candidate index of the session's backend, or -1 */
};

struct kv_scorer_ops {
    const char *name;
    /* Writes out[k] in [0, 1] for every k < in->ncand. */
    void (*score)(const struct kv_scorer_in *in, double *out);
};

/* The scorer named <name> (an llm-d plugin type above), or NULL. */
const struct kv_scorer_ops *kv_scorer_find(const char *name);
/* Every scorer; sets *<n>. */
const struct kv_scorer_ops *const *kv_scorer_all(size_t *n);

#endif /* KV_ROUTER_SCORER_H */
