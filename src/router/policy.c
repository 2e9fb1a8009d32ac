/* SPDX-License-Identifier: MIT */
/* src/router/policy.c - round-robin, least-load, session, weighted profile, SGLang cache-aware,
 * CHWBL and the TTFT cost model.
 *
 * References (facts, not code): gateway-api-inference-extension's scorers and max-score picker;
 * SGLang's sgl-router policies/cache_aware.rs (imbalance test with both thresholds, match rate
 * strictly above cache_threshold, else the smallest tree); KubeAI's loadbalancer/balance_chwbl.go
 * (256 replicas, chwblLoadOK: (load + 1) <= (total + 1) / n * factor, the first endpoint
 * walked as the fallback); ROUTING-NOTES.md for the cost model.
 */
#include "router/policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/mem.h"
#include "base/rand.h"
#include "prefix/index.h"
#include "router/scorer.h"

static const struct kv_sched_backend *cb(const struct kv_policy_ctx *c, uint32_t k)
{
    return &c->bk[c->cand[k]];
}

static double *val(struct kv_policy_ctx *c, uint32_t k, uint32_t j)
{
    return &c->val[k * KV_SCHED_MAX_COLS + j];
}

static void set_cols(struct kv_policy_ctx *c, bool minimize, uint32_t n, const char *const *names)
{
    c->ncols = n;
    c->minimize = minimize;
    for (uint32_t j = 0; j < n; j++) {
        c->cols[j] = names[j];
        c->weights[j] = 1.0;
    }
}

static bool same(double a, double b)
{
    if (!isfinite(a) || !isfinite(b))
        return a == b;
    return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* Best total among the candidates not excluded; ties uniformly at random (reservoir sampling:
 * the i-th tie replaces the pick with probability 1/i). */
static uint32_t pick_best(struct kv_policy_ctx *c)
{
    uint32_t best = UINT32_MAX, ties = 0;

    for (uint32_t k = 0; k < c->ncand; k++) {
        double t = c->total[k];
        if (c->excluded[k])
            continue;
        if (best == UINT32_MAX) {
            best = k;
            ties = 1;
        } else if (same(t, c->total[best])) {
            if (kv_rand_below(c->rnd, ++ties) == 0)
                best = k;
        } else if (c->minimize ? t < c->total[best] : t > c->total[best]) {
            best = k;
            ties = 1;
        }
    }
    return best;
}

static uint32_t pick_round_robin(struct kv_policy_ctx *c)
{
    uint32_t next = UINT32_MAX, first = UINT32_MAX;

    set_cols(c, true, 0, NULL);
    for (uint32_t k = 0; k < c->ncand; k++) {
        uint32_t id = cb(c, k)->id;
        c->total[k] = id;
        if (c->rr_last != UINT32_MAX && id > c->rr_last &&
            (next == UINT32_MAX || id < cb(c, next)->id))
            next = k;
        if (first == UINT32_MAX || id < cb(c, first)->id)
            first = k;
    }
    c->reason = "round-robin";
    return next != UINT32_MAX ? next : first;
}

/* Fewest in-flight requests, then fewest in-flight prefill tokens: the total is lexicographic. */
static uint32_t least_load(struct kv_policy_ctx *c)
{
    static const char *const cols[] = {"inflight", "inflight_prefill"};

    set_cols(c, true, 2, cols);
    for (uint32_t k = 0; k < c->ncand; k++) {
        *val(c, k, 0) = cb(c, k)->inflight;
        *val(c, k, 1) = (double)cb(c, k)->inflight_prefill;
        c->total[k] = *val(c, k, 0);
    }
    uint32_t fewest = pick_best(c);
    double n = c->total[fewest];
    /* Among the fewest requests, the fewest prefill tokens. */
    for (uint32_t k = 0; k < c->ncand; k++)
        c->total[k] = same(c->total[k], n) ? *val(c, k, 1) : INFINITY;
    uint32_t k = pick_best(c);
    for (uint32_t i = 0; i < c->ncand; i++)
        c->total[i] = *val(c, i, 0) + *val(c, i, 1) / 1e12;
    return k;
}

static uint32_t pick_least_load(struct kv_policy_ctx *c)
{
    c->reason = "least load";
    return least_load(c);
}

static uint32_t pick_session(struct kv_policy_ctx *c)
{
    uint32_t k = least_load(c);

    if (c->session_k >= 0) {
        c->reason = "session affinity";
        return (uint32_t)c->session_k;
    }
    c->reason = c->req->session_key ? "new session: least load" : "no session: least load";
    return k;
}

static uint32_t pick_weighted(struct kv_policy_ctx *c)
{
    struct kv_scorer_in in = {c->cfg, c->req, c->bk, c->cand, c->ncand, c->matched, c->session_k};

    c->ncols = c->nscorers;
    c->minimize = false;
    for (uint32_t k = 0; k < c->ncand; k++)
        c->total[k] = 0;
    for (uint32_t j = 0; j < c->nscorers; j++) {
        c->cols[j] = c->scorers[j]->name;
        c->weights[j] = c->scorer_weights[j];
        c->scorers[j]->score(&in, c->tmp);
        for (uint32_t k = 0; k < c->ncand; k++) {
            *val(c, k, j) = c->tmp[k];
            c->total[k] += c->scorer_weights[j] * c->tmp[k];
        }
    }
    c->reason = "max weighted score";
    return pick_best(c);
}

static uint32_t effective_tokens(const struct kv_policy_ctx *c)
{
    uint64_t blocks = (uint64_t)c->req->nblocks * c->cfg->block_tokens;
    return (uint32_t)KV_MIN(KV_MAX((uint64_t)c->req->prompt_tokens, blocks), UINT32_MAX);
}

/* SGLang cache_aware: the imbalance override, then cache affinity, then the emptiest tree. */
static uint32_t pick_sglang(struct kv_policy_ctx *c)
{
    static const char *const cols[] = {"load", "match", "tree_blocks"};
    double lo = 0, hi = 0, best_ratio = 0, tokens = effective_tokens(c);
    uint32_t k;

    set_cols(c, true, 3, cols);
    for (k = 0; k < c->ncand; k++) {
        const struct kv_sched_backend *b = cb(c, k);
        double m = c->matched ? c->matched[b->id] : 0;
        *val(c, k, 0) = b->inflight;
        *val(c, k, 1) = tokens > 0 ? m * c->cfg->block_tokens / tokens : 0;
        *val(c, k, 2) = c->index ? kv_index_blocks(c->index, b->id) : 0;
        lo = k == 0 || b->inflight < lo ? b->inflight : lo;
        hi = k == 0 || b->inflight > hi ? b->inflight : hi;
        best_ratio = fmax(best_ratio, *val(c, k, 1));
    }
    if (hi - lo > c->cfg->sglang_balance_abs && hi > c->cfg->sglang_balance_rel * lo) {
        c->reason = "imbalanced: least load";
        for (k = 0; k < c->ncand; k++)
            c->total[k] = *val(c, k, 0);
        return pick_best(c);
    }
    if (best_ratio > c->cfg->sglang_cache_threshold) {
        c->reason = "match above cache threshold";
        c->minimize = false;
        for (k = 0; k < c->ncand; k++)
            c->total[k] = *val(c, k, 1);
        return pick_best(c);
    }
    c->reason = "match below cache threshold: smallest tree";
    for (k = 0; k < c->ncand; k++)
        c->total[k] = *val(c, k, 2);
    return pick_best(c);
}

/* KubeAI's chwblLoadOK: with nothing in flight any endpoint is fine; else admit if one more
 * request keeps it within load_factor of the mean including that request. */
static bool chwbl_load_ok(uint64_t load, uint64_t total, uint32_t n, double factor)
{
    if (total == 0)
        return true;
    return (double)load + 1 <= (double)(total + 1) / n * factor;
}

static uint32_t ring_search(const struct kv_policy_ring *r, uint64_t key)
{
    uint32_t lo = 0, hi = r->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->pts[mid].hash < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->n ? 0 : lo;
}

static uint32_t pick_chwbl(struct kv_policy_ctx *c)
{
    static const char *const cols[] = {"load", "load_ok"};
    const struct kv_policy_ring *r = c->ring;
    uint64_t total = 0, key;
    uint32_t i, first = UINT32_MAX, rank = 0, pfx;

    if (c->req->nblocks == 0 || !r || r->n == 0) {
        c->reason = "no full block to hash: least load";
        return least_load(c);
    }
    set_cols(c, true, 2, cols);
    for (uint32_t k = 0; k < c->ncand; k++) {
        total += cb(c, k)->inflight;
        c->total[k] = NAN; /* visit rank on the ring; NaN: not reached */
    }
    for (uint32_t k = 0; k < c->ncand; k++) {
        *val(c, k, 0) = cb(c, k)->inflight;
        *val(c, k, 1) =
            chwbl_load_ok(cb(c, k)->inflight, total, c->ncand, c->cfg->chwbl_load_factor);
    }
    pfx = KV_MAX(1u, KV_MIN(c->cfg->chwbl_prefix_blocks, c->req->nblocks));
    key = c->req->hashes[pfx - 1]; /* chained: it covers the whole prefix */
    i = ring_search(r, key);
    for (uint32_t step = 0; step < r->n; step++, i = (i + 1 == r->n ? 0 : i + 1)) {
        int32_t k = c->k_by_id[r->pts[i].id];
        if (k < 0)
            continue;
        if (isnan(c->total[k]))
            c->total[k] = rank++;
        if (first == UINT32_MAX)
            first = (uint32_t)k;
        if (*val(c, (uint32_t)k, 1) != 0) {
            c->reason = (uint32_t)k == first ? "ring owner" : "owner over bound: next on ring";
            return (uint32_t)k;
        }
    }
    if (first == UINT32_MAX) {
        c->reason = "no candidate on the ring: least load";
        return least_load(c);
    }
    c->reason = "every candidate over bound: ring owner";
    return first;
}

/* The work guard: candidates far above the mean accumulated work sit this one out, unless that
 * would leave nobody. */
static void work_guard(struct kv_policy_ctx *c, double request_work)
{
    double mean = 0, svc, bound;
    uint32_t kept = 0;

    for (uint32_t k = 0; k < c->ncand; k++)
        mean += cb(c, k)->work;
    mean /= c->ncand;
    svc = c->mean_service > 0 ? c->mean_service : request_work;
    bound = c->cfg->guard_ratio * mean + c->cfg->guard_services * svc;
    for (uint32_t k = 0; k < c->ncand; k++) {
        c->excluded[k] = cb(c, k)->work > bound ? "work-guard" : NULL;
        kept += c->excluded[k] == NULL;
    }
    if (kept == 0)
        for (uint32_t k = 0; k < c->ncand; k++)
            c->excluded[k] = NULL;
}

/* Mean LRU-tail age of the candidates whose modeled cache is full (0: none is full). */
static double typical_tail_age(const struct kv_policy_ctx *c)
{
    double sum = 0;
    uint32_t n = 0;

    for (uint32_t k = 0; k < c->ncand; k++) {
        uint32_t id = cb(c, k)->id, cap = kv_index_capacity(c->index, id);
        if (cap > 0 && kv_index_blocks(c->index, id) >= cap) {
            sum += (double)kv_index_tail_age_ns(c->index, id, c->req->now_ns);
            n++;
        }
    }
    return n ? sum / n : 0;
}

/* Blocks backend <id> would evict to take <fresh> new blocks, times how fresh its LRU tail is
 * relative to the fleet's: evicting a stale tail is nearly free, a fresh one costs prefill. */
static double evict_cost(const struct kv_policy_ctx *c, uint32_t id, uint32_t fresh,
                         double typical)
{
    uint32_t cap = kv_index_capacity(c->index, id), have = kv_index_blocks(c->index, id);
    uint64_t over = (uint64_t)have + fresh;
    double evicted, factor;

    if (cap == 0 || over <= cap)
        return 0;
    evicted = (double)KV_MIN((uint64_t)fresh, over - cap);
    factor = typical > 0
                 ? exp(-(double)kv_index_tail_age_ns(c->index, id, c->req->now_ns) / typical)
                 : 1.0;
    return c->cfg->evict_weight * evicted * c->cfg->block_tokens * factor;
}

static double mean_work(const struct kv_policy_ctx *c)
{
    double sum = 0;

    for (uint32_t k = 0; k < c->ncand; k++)
        sum += cb(c, k)->work;
    return sum / c->ncand;
}

/* The candidate with the longer balance run-ahead: the session's own backend while it holds the
 * longest match of any candidate (the session's history), else -1. New sessions and sessions
 * whose backend lost their history are placed with the same balance term on every candidate. */
static int sticky_candidate(const struct kv_policy_ctx *c)
{
    uint32_t best = 0;

    if (c->session_k < 0 || !c->matched)
        return -1;
    for (uint32_t k = 0; k < c->ncand; k++)
        best = KV_MAX(best, c->matched[cb(c, k)->id]);
    return best > 0 && c->matched[cb(c, (uint32_t)c->session_k)->id] == best ? c->session_k : -1;
}

static uint32_t pick_cache_aware(struct kv_policy_ctx *c)
{
    static const char *const cols[] = {"queued", "uncached", "balance", "evict"};
    const struct kv_sched_config *cfg = c->cfg;
    double u = fmin(fmax(c->util, 0.0), cfg->util_cap), load_w = 1.0 / (1.0 - u);
    double tokens = effective_tokens(c), typical = 0, mean = mean_work(c);
    double svc = c->mean_service > 0 ? c->mean_service
                                     : tokens + cfg->decode_token_cost * c->req->max_tokens;
    double ahead = (1 + cfg->balance_slack) * mean + cfg->balance_services * svc;
    double sticky_ahead = cfg->balance_sticky * svc;
    bool evict = c->index && cfg->evict_weight > 0;
    int sticky = sticky_candidate(c);

    set_cols(c, true, 4, cols);
    c->weights[1] = c->weights[2] = load_w;
    if (evict)
        typical = typical_tail_age(c);
    for (uint32_t k = 0; k < c->ncand; k++) {
        const struct kv_sched_backend *b = cb(c, k);
        uint32_t m = c->matched ? c->matched[b->id] : 0;
        double foreign = fmax(0.0, b->waiting - b->inflight);
        *val(c, k, 0) = (double)b->inflight_prefill + cfg->decode_cost * b->inflight +
                        cfg->waiting_cost * foreign;
        *val(c, k, 1) = fmax(0.0, tokens - (double)m * cfg->block_tokens);
        *val(c, k, 2) = cfg->balance_weight *
                        fmax(0.0, b->work - ahead - ((int)k == sticky ? sticky_ahead : 0));
        *val(c, k, 3) = evict ? evict_cost(c, b->id, c->req->nblocks - m, typical) : 0;
        c->total[k] = *val(c, k, 0) + load_w * (*val(c, k, 1) + *val(c, k, 2)) + *val(c, k, 3);
    }
    if (cfg->work_guard)
        work_guard(c, tokens + cfg->decode_token_cost * c->req->max_tokens);
    c->reason = sticky >= 0 ? "min estimated TTFT cost (session home)" : "min estimated TTFT cost";
    return pick_best(c);
}

static const struct kv_policy_ops policies[KV_SCHED_NPOLICIES] = {
    [KV_SCHED_ROUND_ROBIN] = {"round-robin", false, false, pick_round_robin},
    [KV_SCHED_LEAST_LOAD] = {"least-load", false, false, pick_least_load},
    [KV_SCHED_SESSION] = {"session", false, false, pick_session},
    [KV_SCHED_PREFIX] = {"prefix", true, false, pick_weighted},
    [KV_SCHED_SGLANG] = {"sglang", true, false, pick_sglang},
    [KV_SCHED_CHWBL] = {"chwbl", false, true, pick_chwbl},
    [KV_SCHED_CACHE_AWARE] = {"cache-aware", true, false, pick_cache_aware},
};

const struct kv_policy_ops *kv_policy_get(enum kv_sched_policy p)
{
    return (unsigned)p < KV_SCHED_NPOLICIES ? &policies[p] : NULL;
}

static int cmp_point(const void *a, const void *b)
{
    const struct kv_policy_ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static uint64_t ring_signature(const struct kv_sched_backend *bk, uint32_t nb, uint32_t repl)
{
    uint64_t sig = XXH3_64bits_withSeed(&repl, sizeof(repl), nb);

    for (uint32_t i = 0; i < nb; i++) {
        const char *name = bk[i].name ? bk[i].name : "";
        sig = XXH3_64bits_withSeed(name, strlen(name), sig ^ bk[i].id);
    }
    return sig;
}

void kv_policy_ring_update(struct kv_policy_ring *r, const struct kv_sched_backend *bk,
                           uint32_t nb, uint32_t replication)
{
    uint64_t sig = ring_signature(bk, nb, replication);
    char point[256];

    if (r->pts && r->sig == sig && r->replication == replication)
        return;
    if ((uint64_t)nb * replication > r->cap) {
        r->cap = (uint32_t)KV_MIN((uint64_t)nb * replication, UINT32_MAX);
        r->pts = kv_realloc(r->pts, (size_t)r->cap * sizeof(*r->pts));
    }
    r->n = 0;
    for (uint32_t i = 0; i < nb; i++) {
        const char *name = bk[i].name ? bk[i].name : "";
        for (uint32_t j = 0; j < replication && r->n < r->cap; j++) {
            int len = snprintf(point, sizeof(point), "%s%u", name, j);
            len = len < 0 ? 0 : KV_MIN(len, (int)sizeof(point) - 1);
            r->pts[r->n].hash = XXH3_64bits(point, (size_t)len);
            r->pts[r->n++].id = bk[i].id;
        }
    }
    qsort(r->pts, r->n, sizeof(*r->pts), cmp_point);
    r->sig = sig;
    r->replication = replication;
}

void kv_policy_ring_cleanup(struct kv_policy_ring *r)
{
    KV_FREE(&r->pts);
    r->n = r->cap = 0;
}
