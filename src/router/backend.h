/* SPDX-License-Identifier: MIT */
/* src/router/backend.h - the backends kvroute routes to: registry, health state, live figures.
 *
 * A struct kv_backend is one upstream server (host:port) with everything the router knows about
 * it: its health state machine, the models it serves (from its /v1/models), the figures scraped
 * from its /metrics, its in-flight count, and two connection pools (data: proxied requests;
 * control: probes and scrapes, so a slow generation never delays a health check). The set
 * (struct kv_backend_set) is an array of pointers in insertion order plus a small id allocator:
 * each live backend has a dense id < KV_BACKEND_MAX, the index the prefix index and the
 * scheduler use, reused after the backend is gone.
 *
 * Health state machine (pure; the probes and the proxy feed it results):
 *     NEW  --probe ok-->  UP        (a fresh backend needs one passing probe)
 *     NEW  --probe fail-> DOWN
 *     UP   --<fall> failing probes in a row, or one passive failure--> DOWN
 *     DOWN --<rise> passing probes in a row--> UP
 * Only UP backends are routable. kv_backend_probe() and kv_backend_passive_fail() return the
 * change they caused, so the caller logs it, updates metrics and clears the prefix index on a
 * fall (a server that failed may have restarted with an empty cache).
 *
 * Lifetime: backends are created by kv_backend_set_add() and retired by kv_backend_set_retire()
 * (DNS removed them); a retired backend is unroutable at once, and freed by the owner once its
 * references (requests in flight, control calls in flight) are gone: kv_backend_ref/unref count
 * them and unref returns true when a retired backend's last reference went. Pools are opaque
 * pointers set by the owner (daemon.c); this file does no I/O and includes no uv.h.
 *
 * Cost: lookups are linear in the number of backends (tens), done per request only to build the
 * scheduler's view, which is O(N) anyway.
 */
#ifndef KV_ROUTER_BACKEND_H
#define KV_ROUTER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_BACKEND_MAX 1024
#define KV_BACKEND_MAX_MODELS 64
#define KV_BACKEND_ERR_MAX 128

struct kv_http_pool;

enum kv_backend_state {
    KV_BACKEND_NEW = 0, /* not probed yet */
    KV_BACKEND_UP,
    KV_BACKEND_DOWN,
};

enum kv_backend_change {
    KV_BACKEND_SAME = 0,
    KV_BACKEND_WENT_UP,
    KV_BACKEND_WENT_DOWN,
};

/* Figures from the backend's /metrics (vLLM names); valid once <scraped> is set. */
struct kv_backend_stats {
    bool scraped;
    uint64_t scraped_ns;   /* monotonic time of the last good scrape */
    double waiting;        /* vllm:num_requests_waiting */
    double running;        /* vllm:num_requests_running */
    double kv_usage;       /* vllm:kv_cache_usage_perc, 0..1 */
    uint64_t block_size;   /* vllm:cache_config_info{block_size}; 0 = unknown */
    uint64_t gpu_blocks;   /* vllm:cache_config_info{num_gpu_blocks}; 0 = unknown */
    double prefix_hits;    /* vllm:prefix_cache_hits_total (tokens) */
    double prefix_queries; /* vllm:prefix_cache_queries_total (tokens) */
    unsigned failures;     /* scrapes failed in a row */
};

struct kv_backend {
    uint32_t id; /* dense, < KV_BACKEND_MAX; index/scheduler slot */
    char *name;  /* label: metrics, headers, logs */
    char *host;
    int port;
    bool from_dns;
    bool retired;   /* removed from the set; freed when refs reach 0 */
    bool seen;      /* scratch for DNS reconciliation */
    unsigned refs;  /* in-flight requests and control calls */
    bool capacity_fixed; /* its index capacity is configured: scrapes do not change it */
    bool probing;   /* a /health (+ /v1/models) probe is in flight */
    bool scraping;  /* a /metrics scrape is in flight */

    enum kv_backend_state state;
    unsigned rise;  /* passing probes in a row */
    unsigned fall;  /* failing probes in a row */
    uint64_t state_ns;
    char last_error[KV_BACKEND_ERR_MAX];

    char *models[KV_BACKEND_MAX_MODELS];
    size_t nmodels;
    bool models_known; /* a /v1/models answer was parsed */

    unsigned inflight;         /* proxied requests in flight */
    uint64_t inflight_prefill; /* their prompt tokens not yet prefilled (until first byte) */
    double work;               /* assigned work, token equivalents, decaying (sched.h) */
    uint64_t requests; /* proxied requests started (all attempts) */
    uint64_t failures; /* passive failures (connection errors, 5xx) */
    struct kv_backend_stats stats;

    struct kv_http_pool *pool;    /* data: set and closed by the owner */
    struct kv_http_pool *control; /* probes and scrapes */
    void *owner;                  /* owner's per-backend state */
};

struct kv_backend_set {
    struct kv_backend **items; /* live (not retired) backends, insertion order */
    size_t n;
    size_t cap;
    bool used[KV_BACKEND_MAX]; /* id allocator */
    unsigned rise_needed;
    unsigned fall_needed;
};

/* Prepares an empty set; <rise>/<fall> are the probe thresholds (>= 1). */
void kv_backend_set_init(struct kv_backend_set *set, unsigned rise, unsigned fall);
/* Frees every backend still in the set (pools must already be closed by the owner). */
void kv_backend_set_cleanup(struct kv_backend_set *set);

/* Adds a backend (strings copied) in state NEW with the lowest free id. Returns it, or NULL
 * when KV_BACKEND_MAX backends exist or <name> is already in the set. */
struct kv_backend *kv_backend_set_add(struct kv_backend_set *set, const char *name,
                                      const char *host, int port, bool from_dns);
/* Removes <b> from the set (unroutable at once) and frees its id. Returns true if nothing
 * refers to it any more: the caller then closes its pools and calls kv_backend_free(). Else the
 * last kv_backend_unref() returns true later. */
bool kv_backend_set_retire(struct kv_backend_set *set, struct kv_backend *b);
/* The live backend named <name>, or NULL. */
struct kv_backend *kv_backend_set_find(const struct kv_backend_set *set, const char *name);
/* Live backends that are UP. */
size_t kv_backend_set_up(const struct kv_backend_set *set);

void kv_backend_ref(struct kv_backend *b);
/* Returns true when <b> is retired and this was its last reference (caller frees it). */
bool kv_backend_unref(struct kv_backend *b);
/* Frees <b>'s memory (not its pools). NULL is a no-op. */
void kv_backend_free(struct kv_backend *b);

/* Feeds an active probe's result (<ok>: /health answered 2xx in time; <why>: a reason when not,
 * may be NULL). Returns the state change. <now_ns> is monotonic. */
enum kv_backend_change kv_backend_probe(struct kv_backend_set *set, struct kv_backend *b, bool ok,
                                        const char *why, uint64_t now_ns);
/* A proxied request failed at the connection level or with a 5xx: eject now. */
enum kv_backend_change kv_backend_passive_fail(struct kv_backend_set *set, struct kv_backend *b,
                                               const char *why, uint64_t now_ns);
/* True if <b> takes requests: UP and not retired. */
bool kv_backend_is_routable(const struct kv_backend *b);
/* True if <b> lists <model> (<len> bytes) in its /v1/models; a backend whose models are not
 * known yet serves anything, and a NULL model (the server's default) is served by all. */
bool kv_backend_serves(const struct kv_backend *b, const char *model, size_t len);
/* Static name of a state ("new", "up", "down"). */
const char *kv_backend_state_name(enum kv_backend_state s);

/* Parses a /v1/models answer ({"object":"list","data":[{"id":...},...]}) and replaces <b>'s
 * model list (at most KV_BACKEND_MAX_MODELS ids). Returns the number of models, or KV_EPROTO
 * (list unchanged) if the body is not that shape. */
int kv_backend_set_models_json(struct kv_backend *b, const char *json, size_t len);

#endif /* KV_ROUTER_BACKEND_H */
