/* SPDX-License-Identifier: MIT */
/* src/router/route.c - adapter from the daemon's backends and config to the scheduler. */
#include "router/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/rand.h"
#include "base/time.h"
#include "prefix/blockhash.h"
#include "router/backend.h"
#include "router/config.h"
#include "router/daemon.h"
#include "router/scorer.h"

struct kv_route {
    struct kv_sched *sched;
    struct kv_sched_config scfg;
    struct kv_route_prefix pfx;
    struct kv_rand rnd;
    struct kv_sched_backend bk[KV_BACKEND_MAX];
    struct kv_backend *map[KV_BACKEND_MAX]; /* position in bk -> backend */
    struct kv_sched_explain ex;
};

/* Plugin parameter -> a double field of struct kv_sched_config. */
struct param_map {
    const char *type;
    const char *key;
    size_t off;
};

#define PM(t, k, m) {t, k, offsetof(struct kv_sched_config, m)}

static const struct param_map param_maps[] = {
    PM("load-aware-scorer", "threshold", load_aware_threshold),
    PM("sglang-scorer", "cacheThreshold", sglang_cache_threshold),
    PM("sglang-scorer", "balanceAbsThreshold", sglang_balance_abs),
    PM("sglang-scorer", "balanceRelThreshold", sglang_balance_rel),
    PM("chwbl-scorer", "loadFactor", chwbl_load_factor),
    PM("cache-aware-scorer", "decodeCost", decode_cost),
    PM("cache-aware-scorer", "waitingCost", waiting_cost),
    PM("cache-aware-scorer", "utilCap", util_cap),
    PM("cache-aware-scorer", "utilFixed", util_fixed),
    PM("cache-aware-scorer", "evictWeight", evict_weight),
    PM("cache-aware-scorer", "guardRatio", guard_ratio),
    PM("cache-aware-scorer", "guardServices", guard_services),
    PM("cache-aware-scorer", "decodeTokenCost", decode_token_cost),
    PM("cache-aware-scorer", "balanceWeight", balance_weight),
    PM("cache-aware-scorer", "balanceSlack", balance_slack),
    PM("cache-aware-scorer", "balanceServices", balance_services),
    PM("cache-aware-scorer", "balanceSticky", balance_sticky),
};

static void apply_params(const struct kv_config *cfg, struct kv_sched_config *out)
{
    const struct kv_config_plugin *p;

    for (size_t i = 0; i < KV_ARRAY_LEN(param_maps); i++) {
        double *dst = (double *)(void *)((char *)out + param_maps[i].off);
        if ((p = kv_config_plugin_of(cfg, param_maps[i].type)) != NULL)
            *dst = kv_config_param(p, param_maps[i].key, *dst);
    }
    if ((p = kv_config_plugin_of(cfg, "chwbl-scorer")) != NULL) {
        out->chwbl_replication =
            (uint32_t)kv_config_param(p, "replication", out->chwbl_replication);
        out->chwbl_prefix_blocks =
            (uint32_t)kv_config_param(p, "prefixBlocks", out->chwbl_prefix_blocks);
    }
    if ((p = kv_config_plugin_of(cfg, "cache-aware-scorer")) != NULL) {
        out->work_guard = kv_config_param(p, "workGuard", out->work_guard) != 0;
        out->util_tau_ns = (uint64_t)(kv_config_param(p, "utilTauSeconds",
                                                      (double)out->util_tau_ns / 1e9) * 1e9);
    }
}

/* The prefix policy's columns come from the profile when the file has one. */
static int apply_profile(const struct kv_config *cfg, struct kv_sched_config *out, char *err,
                         size_t errlen)
{
    const struct kv_config_profile *pr = kv_config_profile(cfg);

    if (out->policy != KV_SCHED_PREFIX || !pr)
        return 0;
    out->nweights = 0;
    for (size_t i = 0; i < pr->nrefs; i++) {
        const struct kv_config_plugin *p = &cfg->plugins[pr->refs[i].plugin];
        if (!kv_config_is_weighted(p->type) || pr->refs[i].weight <= 0)
            continue;
        if (!kv_scorer_find(p->type)) {
            snprintf(err, errlen, "scheduling.plugins: scorer type '%s' is not implemented",
                     p->type);
            return KV_ECONFIG;
        }
        if (out->nweights == KV_SCHED_MAX_COLS) {
            snprintf(err, errlen, "scheduling.schedulingProfiles: profile '%s' has more than %d "
                                  "weighted scorers", pr->name, KV_SCHED_MAX_COLS);
            return KV_ECONFIG;
        }
        out->weights[out->nweights].scorer = p->type;
        out->weights[out->nweights++].weight = pr->refs[i].weight;
    }
    return 0;
}

static int apply_prefix(const struct kv_config *cfg, struct kv_sched_config *out,
                        struct kv_route_prefix *pfx, char *err, size_t errlen)
{
    const struct kv_config_plugin *p = kv_config_plugin_of(cfg, "prefix-cache-scorer");
    double bytes = p ? kv_config_param(p, "hashBlockSize", KV_BLOCKHASH_DEFAULT_BYTES)
                     : KV_BLOCKHASH_DEFAULT_BYTES;

    if ((uint32_t)bytes % 4 != 0 || bytes < 16 || bytes > KV_BLOCKHASH_MAX_BYTES) {
        snprintf(err, errlen, "scheduling.plugins: prefix-cache-scorer hashBlockSize %.0f must "
                              "be a multiple of 4 in [16, %d] (bytes of text)", bytes,
                 KV_BLOCKHASH_MAX_BYTES);
        return KV_ECONFIG;
    }
    pfx->block_bytes = (uint32_t)bytes;
    /* About 4 bytes a token: the 64-byte default is one 16-token vLLM block. */
    out->block_tokens = pfx->block_bytes / 4;
    pfx->max_blocks = KV_ROUTER_MAX_BLOCKS;
    pfx->default_capacity = (uint32_t)KV_MIN(cfg->index_default_capacity, (size_t)UINT32_MAX);
    if (p) {
        pfx->max_blocks = (uint32_t)KV_MIN(kv_config_param(p, "maxPrefixBlocksToMatch",
                                                           KV_ROUTER_MAX_BLOCKS),
                                           (double)KV_ROUTER_MAX_BLOCKS);
        pfx->default_capacity = (uint32_t)KV_MIN(
            kv_config_param(p, "lruCapacityPerServer", pfx->default_capacity), UINT32_MAX);
    }
    return 0;
}

int kv_route_sched_config(const struct kv_config *cfg, struct kv_sched_config *out,
                          struct kv_route_prefix *pfx, char *err, size_t errlen)
{
    char inner[200];

    kv_sched_config_default(out);
    if (kv_sched_policy_parse(cfg->policy, &out->policy) < 0) {
        snprintf(err, errlen, "scheduling.policy: unknown policy '%s'", cfg->policy);
        return KV_ECONFIG;
    }
    apply_params(cfg, out);
    if (apply_profile(cfg, out, err, errlen) < 0 || apply_prefix(cfg, out, pfx, err, errlen) < 0)
        return KV_ECONFIG;
    if (kv_sched_config_check(out, inner, sizeof(inner)) < 0) {
        snprintf(err, errlen, "scheduling: %s", inner);
        return KV_ECONFIG;
    }
    return 0;
}

int kv_route_new(const struct kv_config *cfg, struct kv_index *index, struct kv_session *sessions,
                 struct kv_route **out, char *err, size_t errlen)
{
    struct kv_route *rt = kv_calloc(1, sizeof(*rt));
    uint64_t seed;

    if (kv_route_sched_config(cfg, &rt->scfg, &rt->pfx, err, errlen) < 0)
        goto fail;
    rt->sched = kv_sched_new(&rt->scfg, index, sessions, KV_BACKEND_MAX);
    if (!rt->sched || kv_sched_explain_init(&rt->ex, KV_BACKEND_MAX) < 0) {
        snprintf(err, errlen, "scheduling: the scheduler rejected the configuration");
        goto fail;
    }
    if (kv_rand_secret(&seed, sizeof(seed)) < 0)
        seed = kv_time_ns();
    kv_rand_seed(&rt->rnd, seed);
    *out = rt;
    return 0;
fail:
    kv_route_free(rt);
    return KV_ECONFIG;
}

void kv_route_free(struct kv_route *rt)
{
    if (!rt)
        return;
    kv_sched_free(rt->sched);
    kv_sched_explain_cleanup(&rt->ex);
    free(rt);
}

const char *kv_route_policy(const struct kv_route *rt)
{
    return kv_sched_policy_name(rt->scfg.policy);
}

const struct kv_route_prefix *kv_route_prefix(const struct kv_route *rt)
{
    return &rt->pfx;
}

static bool is_excluded(const struct kv_route_query *q, uint32_t id)
{
    for (unsigned i = 0; i < q->nexcluded; i++)
        if (q->excluded[i] == id)
            return true;
    return false;
}

/* The scheduler's view of every live backend; a backend already tried counts as unhealthy. */
static uint32_t fill_view(struct kv_router *r, const struct kv_route_query *q)
{
    struct kv_route *rt = r->route;
    uint32_t nb = 0;

    for (size_t i = 0; i < r->backends.n && nb < KV_BACKEND_MAX; i++) {
        struct kv_backend *b = r->backends.items[i];
        struct kv_sched_backend *v = &rt->bk[nb];
        v->id = b->id;
        v->name = b->name;
        v->healthy = kv_backend_is_routable(b) && !(q && is_excluded(q, b->id));
        v->models = (const char *const *)b->models;
        v->nmodels = b->models_known ? (uint32_t)b->nmodels : 0;
        v->max_inflight = r->cfg->max_inflight;
        v->inflight = b->inflight;
        v->inflight_prefill = b->inflight_prefill;
        v->waiting = b->stats.waiting;
        v->running = b->stats.running;
        v->kv_usage = b->stats.kv_usage;
        v->work = b->work;
        rt->map[nb++] = b;
    }
    return nb;
}

static const char *affinity_result(struct kv_router *r, const struct kv_route_query *q,
                                   const struct kv_sched_result *res)
{
    if (!q->session)
        return "none";
    if (res->session_backend < 0)
        return "new";
    if ((uint32_t)res->session_backend == res->id)
        return "hit";
    /* The session's backend is gone or down: a miss; else the policy chose to move it. */
    for (size_t i = 0; i < r->backends.n; i++)
        if (r->backends.items[i]->id == (uint32_t)res->session_backend)
            return kv_backend_is_routable(r->backends.items[i]) ? "overridden" : "miss";
    return "miss";
}

int kv_route_choose(struct kv_router *r, const struct kv_route_query *q, bool commit,
                    struct kv_route_choice *out, struct kv_buf *explain)
{
    struct kv_route *rt = r->route;
    struct kv_sched_request req;
    struct kv_sched_result res;
    uint32_t nb = fill_view(r, q);
    int rc;

    memset(&req, 0, sizeof(req));
    req.model = q->model;
    req.model_len = q->model_len;
    req.hashes = q->hashes;
    req.nblocks = q->nhashes;
    req.prompt_tokens = q->prompt_tokens;
    req.max_tokens = q->max_tokens;
    req.session_key = q->session;
    req.session_len = q->session_len;
    req.now_ns = kv_time_ns();
    memset(&res, 0, sizeof(res));
    rc = nb ? kv_sched_pick(rt->sched, &req, rt->bk, nb, &rt->rnd, &res,
                            explain ? &rt->ex : NULL)
            : KV_ENOBACKEND;
    if (explain && nb)
        kv_sched_explain_json(&rt->ex, explain);
    if (rc < 0)
        return rc == KV_ENOMODEL || rc == KV_EOVERLOAD ? rc : KV_ENOBACKEND;
    out->backend = rt->map[rc];
    out->matched = res.matched;
    out->uncached_tokens = res.uncached_tokens;
    out->work = res.work;
    out->affinity = affinity_result(r, q, &res);
    if (commit)
        kv_sched_commit(rt->sched, &req, rt->bk, nb, &res);
    return 0;
}

void kv_route_observe(struct kv_router *r)
{
    uint32_t nb = fill_view(r, NULL);
    if (nb)
        kv_sched_observe(r->route->sched, r->route->bk, nb, kv_time_ns());
}
