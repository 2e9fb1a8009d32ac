/* SPDX-License-Identifier: MIT */
/* src/router/sched.h - the scheduler: request features + backend states in, a choice out.
 *
 * Pipeline (DESIGN.md, data flow step 4): filters (serves the model, healthy, under its load
 * bound: filter.h) -> the policy (policy.h), which scores the candidates with weighted scorers
 * (scorer.h) or its own rule -> a pick, ties broken at random with the caller's kv_rand. The
 * policies are ops tables (HAProxy lb_ops style): round-robin, least-load, session, prefix (the
 * llm-d default profile: prefix 3, queue 2, kv-cache 2, or any weighted profile), sglang
 * (SGLang's cache_aware router), chwbl (KubeAI's consistent hashing with bounded loads) and
 * cache-aware, our default: a TTFT cost model (ROUTING-NOTES.md).
 *
 * Two steps, so /debug/route can explain without recording anything:
 *   kv_sched_pick()   decides and, if asked, fills an explanation (every backend's filter
 *                     verdict, per-column scores and total). It reads the prefix index and the
 *                     session table and changes no routing state.
 *   kv_sched_commit() records the decision: the chain into the prefix index as held by the
 *                     chosen backend, the session key -> backend, the round-robin cursor, and
 *                     the fleet utilization estimate.
 *
 * Units: work is in prefill-token equivalents (one token of prompt computed = 1). The daemon
 * owns the live figures in struct kv_sched_backend: in-flight counts and tokens it adds at
 * dispatch (kv_sched_result.uncached_tokens) and removes at the first response byte / at
 * completion, scraped vLLM gauges, and the cumulative work (add kv_sched_result.work per
 * request; decay it as you like, the guard compares backends with each other).
 *
 * Ownership: the scheduler copies its config; it borrows the index and session table (either
 * may be NULL: no prefix or session information) for its lifetime. All per-decision scratch is
 * allocated at creation for max_backends, so a decision allocates nothing (chwbl allocates its
 * ring when the backend set changes). Cost: O(backends + prompt blocks) per decision. Pure: no
 * I/O, no uv.h; not thread-safe.
 */
#ifndef KV_ROUTER_SCHED_H
#define KV_ROUTER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_buf;
struct kv_index;
struct kv_rand;
struct kv_session;

/* Columns of an explanation, and scorers in one weighted profile. */
#define KV_SCHED_MAX_COLS 8

enum kv_sched_policy {
    KV_SCHED_ROUND_ROBIN = 0,
    KV_SCHED_LEAST_LOAD,
    KV_SCHED_SESSION,
    KV_SCHED_PREFIX,
    KV_SCHED_SGLANG,
    KV_SCHED_CHWBL,
    KV_SCHED_CACHE_AWARE,
    KV_SCHED_NPOLICIES
};

/* One scorer of a weighted profile: <scorer> is an llm-d plugin type (scorer.h lists them). */
struct kv_sched_weight {
    const char *scorer; /* borrowed: string literals or the daemon's config */
    double weight;
};

/* Every knob, with its default in brackets (kv_sched_config_default). */
struct kv_sched_config {
    enum kv_sched_policy policy; /* [KV_SCHED_CACHE_AWARE] */
    uint32_t block_tokens;       /* tokens per hashed block (64 bytes of text ~ 16 tokens) [16] */

    /* prefix: weighted scorers, max-score picker. [prefix-cache-scorer 3, queue-scorer 2,
     * kv-cache-utilization-scorer 2] (llm-d's default profile) */
    struct kv_sched_weight weights[KV_SCHED_MAX_COLS];
    uint32_t nweights;
    double load_aware_threshold; /* load-aware-scorer: waiting queue scoring 0 [128] */

    /* sglang: imbalanced when max - min > abs AND max > rel * min (in-flight counts): least
     * load; else best match ratio > threshold: that backend; else the smallest index tree. */
    double sglang_cache_threshold; /* [0.3] */
    double sglang_balance_abs;     /* [64] */
    double sglang_balance_rel;     /* [1.5] */

    /* chwbl: ring of <replication> virtual nodes per backend; the key is the chain hash of the
     * first <prefix_blocks> blocks; a backend takes the request if (load + 1) <= (total + 1) /
     * candidates * load_factor (KubeAI's test; load = in-flight requests). */
    double chwbl_load_factor;     /* [1.25] */
    uint32_t chwbl_replication;   /* [256] */
    uint32_t chwbl_prefix_blocks; /* [2] (KubeAI hashes the first 100 characters) */

    /* cache-aware: cost(b) = queued(b) + w * (uncached(b) + balance(b)) + evict(b), where
     *   w           = 1 / (1 - min(u, util_cap)), u the fleet's busy fraction
     *   queued(b)   = inflight_prefill + decode_cost * inflight
     *                 + waiting_cost * max(0, waiting - inflight)   (others' queued requests)
     *   uncached(b) = prompt tokens not covered by b's matched blocks
     *   balance(b)  = balance_weight * max(0, work(b) - (1 + balance_slack) * mean work of the
 *                 candidates - balance_services * mean work of a recent request)
     *   evict(b)    = evict_weight * (blocks b must evict to take the new ones) * block_tokens
     *                 * exp(-tail_age(b) / mean tail age of the full candidates)
     * min cost wins. balance() is what keeps a shared prefix from collapsing the fleet onto one
     * backend: a hit is only worth taking on a backend that is not already ahead of the others
     * by more than the hit saves, so a backend runs ahead of the mean by at most about one
     * typical hit, and a session (whose hit grows with its history) stays put while new ones
     * (which gain only the shared head) go to the backends behind. Both terms are weighted by
     * w, so the trade between hits and balance does not drift with load. The session's own backend
     * (the session table's), while it holds the longest match, gets balance_sticky more services
     * of run-ahead: moving a session for balance loses its history at every move, while steering
     * new sessions (which gain only a shared head) costs one head's prefill, once per backend.
     * With work_guard, backends whose work > guard_ratio * mean work + guard_services * mean
     * service are skipped first (unless that skips all). */
    double balance_weight;    /* per token of work above the slack; 0 disables [1] */
    double balance_slack;     /* free run-ahead as a fraction of the mean work [0] ... */
    double balance_services;  /* ... plus this many mean requests' work: within it a session is
                                 never moved for balance alone (one request's work is a typical
                                 gap between backends, while the gain of staying with an early
                                 chat turn is only its last message) [1] */
    double balance_sticky;    /* a session's backend, while it holds the session's longest
                                 match, runs this many more mean requests' work ahead before its
                                 balance term starts: sessions stay, new ones spread [2] */
    double decode_cost;       /* per in-flight request [16] */
    double waiting_cost;      /* per scraped waiting request not routed by us [256] */
    double util_cap;          /* [0.9] */
    double util_fixed;        /* >= 0: use this utilization instead of the measured one [-1] */
    uint64_t util_tau_ns;     /* time constant of the measured busy fraction [10 s] */
    double evict_weight;      /* 0 disables the eviction-aware term [1] */
    bool work_guard;          /* [false] */
    double guard_ratio;       /* [1.10] */
    double guard_services;    /* [3] */
    double decode_token_cost; /* work of one output token (max_tokens) for kv_sched_result.work:
                                 kvsim's default timing has a decode token cost 0.02 ms and a
                                 prefill token 0.01 ms [2] */
};

/* What the scheduler needs to know of one backend, filled by the daemon per decision. */
struct kv_sched_backend {
    uint32_t id;                 /* index / session id, < max_backends */
    const char *name;            /* for explanations; borrowed */
    bool healthy;                /* routable */
    const char *const *models;   /* models served; borrowed */
    uint32_t nmodels;            /* 0: not known yet, serves any model */
    uint32_t max_inflight;       /* load bound: at most this many in flight; 0 = none */
    uint32_t inflight;           /* router-counted requests in flight */
    uint64_t inflight_prefill;   /* router-counted prompt tokens still to prefill (exact) */
    double waiting;              /* scraped vllm:num_requests_waiting */
    double running;              /* scraped vllm:num_requests_running */
    double kv_usage;             /* scraped vllm:kv_cache_usage_perc, 0..1 */
    double work;                 /* cumulative assigned work (token equivalents) */
};

/* One request's features. */
struct kv_sched_request {
    const char *model;       /* NULL: the default model, served by all; borrowed */
    size_t model_len;
    const uint64_t *hashes;  /* chained block hashes (blockhash.h); borrowed */
    uint32_t nblocks;
    uint32_t prompt_tokens;  /* estimate (bytes / 4); raised to nblocks * block_tokens */
    uint32_t max_tokens;     /* 0: unknown */
    const void *session_key; /* NULL: no session; borrowed */
    size_t session_len;
    uint64_t now_ns;         /* monotonic */
};

struct kv_sched_result {
    int pos;                   /* chosen position in the backend array */
    uint32_t id;               /* its id */
    uint32_t matched;          /* leading blocks it is believed to hold */
    uint32_t best_matched;     /* longest match over all backends */
    uint32_t uncached_tokens;  /* prompt tokens it will have to prefill */
    int session_backend;       /* the session's backend id before this decision, or -1 */
    double work;               /* uncached_tokens + decode_token_cost * max_tokens */
    const char *reason;        /* static text */
};

/* One backend in an explanation. */
struct kv_sched_explain_backend {
    uint32_t id;
    const char *name;       /* borrowed from the backend array */
    const char *filtered;   /* NULL: candidate; else the filter that removed it (static) */
    uint32_t matched;
    double col[KV_SCHED_MAX_COLS];
    double total;
};

/* The full story of one decision: what /debug/route returns. */
struct kv_sched_explain {
    const char *policy;
    uint32_t ncols;
    const char *cols[KV_SCHED_MAX_COLS]; /* column names (static or from the config) */
    double weights[KV_SCHED_MAX_COLS];   /* weight of each column in the total */
    bool minimize;                       /* total is a cost (min wins), else a score */
    uint32_t nblocks;
    uint32_t prompt_tokens;
    uint32_t best_matched;
    double util;
    int session_backend; /* id or -1 */
    int chosen;          /* position in b[], or -1 */
    int err;             /* 0, or the error kv_sched_pick returned */
    const char *reason;
    uint32_t n;   /* backends described */
    uint32_t cap; /* capacity of b */
    struct kv_sched_explain_backend *b;
};

/* Fills <cfg> with the defaults above. */
void kv_sched_config_default(struct kv_sched_config *cfg);
/* Checks ranges and scorer names; returns 0 or KV_ECONFIG with a message in <err>. */
int kv_sched_config_check(const struct kv_sched_config *cfg, char *err, size_t errlen);
/* Parses a policy name ("round-robin", "least-load", "session", "prefix", "sglang", "chwbl",
 * "cache-aware"); returns 0 or -EINVAL. */
int kv_sched_policy_parse(const char *name, enum kv_sched_policy *out);
/* The name of <p> (static), "?" if out of range. */
const char *kv_sched_policy_name(enum kv_sched_policy p);

/* Makes a scheduler for backend ids below <max_backends> (1..4096). <index> and <sessions> are
 * borrowed and may be NULL. Returns NULL if kv_sched_config_check() fails. */
struct kv_sched *kv_sched_new(const struct kv_sched_config *cfg, struct kv_index *index,
                              struct kv_session *sessions, uint32_t max_backends);
/* Frees the scheduler; NULL is a no-op. */
void kv_sched_free(struct kv_sched *s);
/* The copy of the config in use. */
const struct kv_sched_config *kv_sched_config(const struct kv_sched *s);

/* Chooses a backend among <bk>[0..nb) for <req>. <rnd> breaks ties. Fills <res>, and <ex> if
 * not NULL (initialized with kv_sched_explain_init for at least nb backends; else -EINVAL).
 * Returns the chosen position (>= 0), KV_ENOMODEL (no backend serves the model),
 * KV_ENOBACKEND (none healthy, or all at their load bound) or -EINVAL (nb or an id out of
 * range). Changes no routing state: call kv_sched_commit() to record the decision. */
int kv_sched_pick(struct kv_sched *s, const struct kv_sched_request *req,
                  const struct kv_sched_backend *bk, uint32_t nb, struct kv_rand *rnd,
                  struct kv_sched_result *res, struct kv_sched_explain *ex);
/* Records the decision <res> (from kv_sched_pick with the same <req>): the prefix index learns
 * that backend res->id holds the chain, the session key maps to it, the round-robin cursor
 * moves, and the utilization estimate takes a sample from <bk> (the states at decision time). */
void kv_sched_commit(struct kv_sched *s, const struct kv_sched_request *req,
                     const struct kv_sched_backend *bk, uint32_t nb,
                     const struct kv_sched_result *res);
/* Feeds the utilization estimate one sample without a decision (e.g. from a timer): the
 * fraction of healthy backends with requests in flight, running or waiting. */
void kv_sched_observe(struct kv_sched *s, const struct kv_sched_backend *bk, uint32_t nb,
                      uint64_t now_ns);
/* The utilization the cache-aware cost uses now (fixed, or measured), before the cap. */
double kv_sched_util(const struct kv_sched *s);

/* Allocates room to explain decisions over up to <cap> backends. Returns 0 or -EINVAL. */
int kv_sched_explain_init(struct kv_sched_explain *ex, uint32_t cap);
void kv_sched_explain_cleanup(struct kv_sched_explain *ex);
/* Appends <ex> as one JSON object to <out>: {"policy", "chosen", "reason", "blocks",
 * "prompt_tokens", "best_matched", "util", "session_backend", "objective": "max"|"min",
 * "columns": [{"name", "weight"}], "backends": [{"id", "name", "filtered", "matched",
 * "scores": {col: value}, "total"}]}. Returns 0 or KV_ETOOBIG (out's max reached). */
int kv_sched_explain_json(const struct kv_sched_explain *ex, struct kv_buf *out);

#endif /* KV_ROUTER_SCHED_H */
