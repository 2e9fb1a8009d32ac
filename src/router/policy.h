/* SPDX-License-Identifier: MIT */
/* src/router/policy.h - the scheduler's policies as an ops table (HAProxy lb_ops style).
 *
 * A policy sees the filtered candidates and everything the scheduler gathered for them (prefix
 * matches from the index, the session's backend, the fleet utilization) in a struct
 * kv_policy_ctx, and returns the chosen candidate. It also fills the per-candidate columns and
 * totals that explanations show, and may exclude candidates with a reason (the work guard).
 * Policies keep no state of their own: the round-robin cursor and the chwbl ring live in the
 * scheduler and reach the policy through the context, so a policy is a pure function of its
 * context plus the random draws for ties, and is unit-tested with hand-made contexts.
 *
 *   round-robin  the candidate with the next id after the last one chosen, cyclically
 *   least-load   fewest in-flight requests, then fewest in-flight prefill tokens
 *   session      the session's backend if it is a candidate; else least-load
 *   prefix       weighted scorers (scorer.h), max total; llm-d's default profile by default
 *   sglang       SGLang's cache_aware: least load if imbalanced, else the best match if its
 *                ratio > threshold, else the backend with the smallest tree (fewest blocks)
 *   chwbl        KubeAI's consistent hashing with bounded loads on a prefix key
 *   cache-aware  min estimated TTFT cost (sched.h has the formula)
 * Ties are broken uniformly at random among equal totals.
 */
#ifndef KV_ROUTER_POLICY_H
#define KV_ROUTER_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "router/sched.h"

struct kv_index;
struct kv_rand;
struct kv_scorer_ops;

/* The chwbl hash ring: <replication> points per backend, sorted by hash. */
struct kv_policy_ring_point {
    uint64_t hash;
    uint32_t id;
};

struct kv_policy_ring {
    struct kv_policy_ring_point *pts;
    uint32_t n;
    uint32_t cap;
    uint32_t replication;
    uint64_t sig; /* hash of the (id, name) set the ring was built from */
};

struct kv_policy_ctx {
    /* Inputs. Candidates are bk[cand[k]] for k < ncand (ncand >= 1). */
    const struct kv_sched_config *cfg;
    const struct kv_sched_request *req;
    const struct kv_sched_backend *bk;
    const uint32_t *cand;
    uint32_t ncand;
    const struct kv_index *index; /* NULL: no prefix information */
    const uint32_t *matched;      /* matched blocks by backend id; NULL: none */
    uint32_t best_matched;
    int session_k;                /* candidate index of the session's backend, or -1 */
    const int32_t *k_by_id;       /* candidate index by backend id, -1 if not a candidate */
    double util;                  /* fleet busy fraction, before util_cap */
    double mean_service;          /* mean work of recent requests, 0 if unknown */
    uint32_t rr_last;             /* id round-robin chose last, UINT32_MAX if none */
    const struct kv_policy_ring *ring;
    const struct kv_scorer_ops *const *scorers; /* the prefix policy's profile */
    const double *scorer_weights;
    uint32_t nscorers;
    struct kv_rand *rnd;
    double *tmp; /* scratch, ncand doubles */

    /* Outputs, for explanations. */
    uint32_t ncols;
    const char *cols[KV_SCHED_MAX_COLS];
    double weights[KV_SCHED_MAX_COLS];
    bool minimize;
    double *val;           /* val[k * KV_SCHED_MAX_COLS + j]: column j of candidate k */
    double *total;         /* total[k] */
    const char **excluded; /* excluded[k]: NULL, or why the policy skipped candidate k */
    const char *reason;    /* static text */
};

struct kv_policy_ops {
    const char *name;
    bool needs_prefix; /* reads matched blocks (the scheduler may skip the index lookup) */
    bool needs_ring;
    /* Returns the chosen candidate index (0 <= k < ncand). */
    uint32_t (*pick)(struct kv_policy_ctx *c);
};

/* The ops of policy <p>, or NULL if out of range. */
const struct kv_policy_ops *kv_policy_get(enum kv_sched_policy p);

/* Rebuilds <r> from backends <bk>[0..nb) if their (id, name) set or <replication> changed since
 * the last build: point i of backend b hashes "<name><i>" (XXH3, unkeyed, so every router
 * replica builds the same ring). Allocates only on a rebuild. */
void kv_policy_ring_update(struct kv_policy_ring *r, const struct kv_sched_backend *bk,
                           uint32_t nb, uint32_t replication);
void kv_policy_ring_cleanup(struct kv_policy_ring *r);

#endif /* KV_ROUTER_POLICY_H */
