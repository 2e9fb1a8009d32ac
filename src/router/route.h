/* SPDX-License-Identifier: MIT */
/* src/router/route.h - the daemon's adapter to the pure scheduler (sched.h).
 *
 * kv_route_sched_config() turns kvroute's configuration (policy name, llm-d style plugins and
 * profile) into the scheduler's struct kv_sched_config. Per request, the proxy hands over what
 * it learnt (model, block hashes, token estimates, session key, the backends already tried);
 * kv_route_choose() builds the scheduler's view of every live backend (health, in-flight
 * counts, scraped queue and KV usage, models), asks for a choice, and with <commit> records it
 * (prefix index, session table, policy state). /debug/route calls it with commit off and an
 * <explain> buffer to show every backend's scores without changing anything.
 *
 * Data: the adapter owns the scheduler and, preallocated for KV_BACKEND_MAX backends, the
 * array of backend views and the explanation, so a decision allocates nothing. Ownership: the
 * query's pointers are borrowed for the call; the choice points at a live backend of the
 * router's set (valid until the loop runs again). Cost: O(backends + blocks).
 */
#ifndef KV_ROUTER_ROUTE_H
#define KV_ROUTER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "router/sched.h"

struct kv_router;
struct kv_backend;
struct kv_config;
struct kv_index;
struct kv_session;
struct kv_route;

#define KV_ROUTE_MAX_EXCLUDED 16

struct kv_route_query {
    const char *model; /* NULL: the servers' default model */
    size_t model_len;
    const uint64_t *hashes; /* chained block hashes of the prompt */
    uint32_t nhashes;
    uint32_t prompt_tokens; /* estimate */
    uint32_t max_tokens;    /* 0: unknown */
    const char *session;    /* affinity key, NULL if none */
    size_t session_len;
    uint32_t excluded[KV_ROUTE_MAX_EXCLUDED]; /* backend ids that already failed */
    unsigned nexcluded;
};

struct kv_route_choice {
    struct kv_backend *backend;
    uint32_t matched;         /* leading blocks the index thinks the backend holds */
    uint32_t uncached_tokens; /* prompt tokens it will prefill */
    double work;              /* work assigned (sched.h units) */
    const char *affinity;     /* kvroute_session_affinity_total result: hit, miss, new,
                               * overridden, or none (no session key) */
};

/* Text block size, hashed-block cap and per-backend index capacity the config asks for
 * (prefix-cache-scorer's hashBlockSize, maxPrefixBlocksToMatch, lruCapacityPerServer). */
struct kv_route_prefix {
    uint32_t block_bytes;
    uint32_t max_blocks;
    uint32_t default_capacity;
};

/* Fills <out> from <cfg> (defaults: sched.h's, then the policy and the plugins' parameters) and
 * <pfx>. Returns 0 or KV_ECONFIG with a message naming the plugin parameter in <err>. */
int kv_route_sched_config(const struct kv_config *cfg, struct kv_sched_config *out,
                          struct kv_route_prefix *pfx, char *err, size_t errlen);
/* Makes the adapter: the scheduler for <cfg>, borrowing <index> and <sessions> (either may be
 * NULL) for its lifetime. Returns 0 or KV_ECONFIG with a message in <err>. */
int kv_route_new(const struct kv_config *cfg, struct kv_index *index, struct kv_session *sessions,
                 struct kv_route **out, char *err, size_t errlen);
void kv_route_free(struct kv_route *rt);
/* Chooses a backend for <q> among <r>'s live backends. Returns 0 with *<out> set;
 * KV_ENOBACKEND if none is routable (after exclusions) or KV_ENOMODEL if none serves the
 * model. With <commit>, records the decision; with <explain> (may be NULL), appends the
 * scheduler's JSON explanation (sched.h, kv_sched_explain_json). */
int kv_route_choose(struct kv_router *r, const struct kv_route_query *q, bool commit,
                    struct kv_route_choice *out, struct kv_buf *explain);
/* Feeds the scheduler's utilization estimate from the current backend states (a timer). */
void kv_route_observe(struct kv_router *r);
/* The policy in use and the prefix settings. */
const char *kv_route_policy(const struct kv_route *rt);
const struct kv_route_prefix *kv_route_prefix(const struct kv_route *rt);

#endif /* KV_ROUTER_ROUTE_H */
