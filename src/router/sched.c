/* SPDX-License-Identifier: MIT */
/* src/router/sched.c - filters, context building, the policy call, explanation and commit.
 *
 * Scratch arrays sized for max_backends are allocated once: a decision writes candidates,
 * matched blocks, per-candidate columns and totals there, so it allocates nothing. k_by_id is
 * all -1 between decisions (each decision resets the entries it set).
 */
#include "router/sched.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "prefix/index.h"
#include "router/filter.h"
#include "router/policy.h"
#include "router/scorer.h"
#include "router/session.h"

#define NS 1000000000ull
/* Weight of one request in the mean service EWMA. */
#define SERVICE_ALPHA (1.0 / 64)

struct kv_sched {
    struct kv_sched_config cfg;
    const struct kv_policy_ops *policy;
    const struct kv_scorer_ops *scorers[KV_SCHED_MAX_COLS];
    double scorer_weights[KV_SCHED_MAX_COLS];
    uint32_t nscorers;
    struct kv_index *index;
    struct kv_session *sessions;
    uint32_t max_backends;
    uint32_t rr_last;
    bool util_init;
    double util;
    uint64_t util_ns;
    double mean_service;
    struct kv_policy_ring ring;
    /* Per-decision scratch. */
    uint32_t *matched;    /* [max_backends] by id */
    int32_t *k_by_id;     /* [max_backends] */
    uint32_t *cand;       /* [max_backends] positions */
    double *val;          /* [max_backends * KV_SCHED_MAX_COLS] */
    double *total;        /* [max_backends] */
    double *tmp;          /* [max_backends] */
    const char **excluded; /* [max_backends] */
    const char **filtered; /* [max_backends] by position */
};

static const char *const policy_names[KV_SCHED_NPOLICIES] = {
    "round-robin", "least-load", "session", "prefix", "sglang", "chwbl", "cache-aware"};

void kv_sched_config_default(struct kv_sched_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = KV_SCHED_CACHE_AWARE;
    cfg->block_tokens = 16;
    cfg->weights[0] = (struct kv_sched_weight){"prefix-cache-scorer", 3};
    cfg->weights[1] = (struct kv_sched_weight){"queue-scorer", 2};
    cfg->weights[2] = (struct kv_sched_weight){"kv-cache-utilization-scorer", 2};
    cfg->nweights = 3;
    cfg->load_aware_threshold = 128;
    cfg->sglang_cache_threshold = 0.3;
    cfg->sglang_balance_abs = 64;
    cfg->sglang_balance_rel = 1.5;
    cfg->chwbl_load_factor = 1.25;
    cfg->chwbl_replication = 256;
    cfg->chwbl_prefix_blocks = 2;
    cfg->decode_cost = 16;
    cfg->waiting_cost = 256;
    cfg->util_cap = 0.9;
    cfg->util_fixed = -1;
    cfg->util_tau_ns = 10 * NS;
    cfg->evict_weight = 1;
    cfg->work_guard = false;
    cfg->guard_ratio = 1.10;
    cfg->guard_services = 3;
    cfg->decode_token_cost = 2;
    cfg->balance_weight = 1;
    cfg->balance_slack = 0;
    cfg->balance_services = 1;
    cfg->balance_sticky = 2;
}

static int errf(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return KV_ECONFIG;
}

int kv_sched_config_check(const struct kv_sched_config *c, char *err, size_t errlen)
{
    if ((unsigned)c->policy >= KV_SCHED_NPOLICIES)
        return errf(err, errlen, "unknown policy");
    if (c->block_tokens == 0)
        return errf(err, errlen, "block_tokens must be >= 1");
    if (c->nweights > KV_SCHED_MAX_COLS)
        return errf(err, errlen, "too many scorers in the profile (max 8)");
    if (c->policy == KV_SCHED_PREFIX && c->nweights == 0)
        return errf(err, errlen, "the prefix policy needs at least one scorer");
    for (uint32_t i = 0; i < c->nweights; i++) {
        if (!kv_scorer_find(c->weights[i].scorer))
            return errf(err, errlen, "unknown scorer in the profile");
        if (!(c->weights[i].weight >= 0) || !isfinite(c->weights[i].weight))
            return errf(err, errlen, "scorer weights must be finite and >= 0");
    }
    if (!(c->util_cap >= 0 && c->util_cap < 1))
        return errf(err, errlen, "util_cap must be in [0, 1)");
    if (!(c->chwbl_load_factor >= 1) || c->chwbl_replication == 0 ||
        c->chwbl_replication > 65536)
        return errf(err, errlen, "chwbl: load_factor >= 1, replication in 1..65536");
    if (!(c->sglang_cache_threshold >= 0 && c->sglang_cache_threshold <= 1) ||
        !(c->sglang_balance_abs >= 0) || !(c->sglang_balance_rel >= 1))
        return errf(err, errlen, "sglang: threshold in [0, 1], abs >= 0, rel >= 1");
    if (!(c->decode_cost >= 0) || !(c->waiting_cost >= 0) || !(c->evict_weight >= 0) ||
        !(c->guard_ratio >= 1) || !(c->guard_services >= 0) || !(c->decode_token_cost >= 0) ||
        !(c->balance_weight >= 0) || !isfinite(c->balance_weight) ||
        !(c->balance_slack >= 0) || !isfinite(c->balance_slack) ||
        !(c->balance_services >= 0) || !isfinite(c->balance_services) ||
        !(c->balance_sticky >= 0) || !isfinite(c->balance_sticky) ||
        !(c->util_fixed < 1) || c->util_tau_ns == 0)
        return errf(err, errlen, "cache-aware: a cost parameter is out of range");
    return 0;
}

int kv_sched_policy_parse(const char *name, enum kv_sched_policy *out)
{
    for (int i = 0; name && i < KV_SCHED_NPOLICIES; i++) {
        if (strcmp(policy_names[i], name) == 0) {
            *out = (enum kv_sched_policy)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *kv_sched_policy_name(enum kv_sched_policy p)
{
    return (unsigned)p < KV_SCHED_NPOLICIES ? policy_names[p] : "?";
}

struct kv_sched *kv_sched_new(const struct kv_sched_config *cfg, struct kv_index *index,
                              struct kv_session *sessions, uint32_t max_backends)
{
    struct kv_sched *s;
    size_t n = max_backends;

    if (max_backends == 0 || max_backends > KV_INDEX_MAX_BACKENDS ||
        kv_sched_config_check(cfg, NULL, 0) < 0)
        return NULL;
    if (index && kv_index_max_backends(index) < max_backends)
        return NULL;
    s = kv_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->policy = kv_policy_get(cfg->policy);
    for (uint32_t i = 0; i < cfg->nweights; i++) {
        s->scorers[i] = kv_scorer_find(cfg->weights[i].scorer);
        s->scorer_weights[i] = cfg->weights[i].weight;
    }
    s->nscorers = cfg->nweights;
    s->index = index;
    s->sessions = sessions;
    s->max_backends = max_backends;
    s->rr_last = UINT32_MAX;
    /* kv_index_lookup writes one count per index backend, which may be more than ours. */
    s->matched = kv_calloc(index ? KV_MAX(n, (size_t)kv_index_max_backends(index)) : n,
                           sizeof(*s->matched));
    s->k_by_id = kv_malloc(n * sizeof(*s->k_by_id));
    for (size_t i = 0; i < n; i++)
        s->k_by_id[i] = -1;
    s->cand = kv_calloc(n, sizeof(*s->cand));
    s->val = kv_calloc(n * KV_SCHED_MAX_COLS, sizeof(*s->val));
    s->total = kv_calloc(n, sizeof(*s->total));
    s->tmp = kv_calloc(n, sizeof(*s->tmp));
    s->excluded = kv_calloc(n, sizeof(*s->excluded));
    s->filtered = kv_calloc(n, sizeof(*s->filtered));
    return s;
}

void kv_sched_free(struct kv_sched *s)
{
    if (!s)
        return;
    kv_policy_ring_cleanup(&s->ring);
    free(s->matched);
    free(s->k_by_id);
    free(s->cand);
    free(s->val);
    free(s->total);
    free(s->tmp);
    free(s->excluded);
    free(s->filtered);
    free(s);
}

const struct kv_sched_config *kv_sched_config(const struct kv_sched *s)
{
    return &s->cfg;
}

double kv_sched_util(const struct kv_sched *s)
{
    if (s->cfg.util_fixed >= 0)
        return s->cfg.util_fixed;
    return s->util_init ? s->util : 0;
}

/* Runs the filter chain; fills s->cand and s->filtered. Returns the candidate count, or the
 * error of the filter that removed the last candidate. */
static int run_filters(struct kv_sched *s, const struct kv_sched_request *req,
                       const struct kv_sched_backend *bk, uint32_t nb)
{
    size_t nf;
    const struct kv_filter_ops *const *chain = kv_filter_chain(&nf);
    uint32_t ncand = 0, alive_after[8] = {0};

    for (uint32_t i = 0; i < nb; i++) {
        size_t f;
        for (f = 0; f < nf && chain[f]->keep(req, &bk[i]); f++)
            alive_after[f]++;
        s->filtered[i] = f < nf ? chain[f]->name : NULL;
        if (f == nf)
            s->cand[ncand++] = i;
    }
    if (ncand > 0)
        return (int)ncand;
    if (nb == 0)
        return KV_ENOBACKEND;
    for (size_t f = 0; f < nf; f++)
        if (alive_after[f] == 0)
            return chain[f]->err;
    return KV_ENOBACKEND;
}

static int session_candidate(const struct kv_sched *s, const struct kv_sched_request *req,
                             int *session_backend)
{
    int id = -1;

    if (s->sessions && req->session_key)
        id = kv_session_get(s->sessions, req->session_key, req->session_len, req->now_ns);
    *session_backend = id;
    return id >= 0 && (uint32_t)id < s->max_backends ? s->k_by_id[id] : -1;
}

static void fill_result(const struct kv_sched *s, const struct kv_sched_request *req,
                        const struct kv_sched_backend *bk, int pos, uint32_t best,
                        int session_backend, struct kv_sched_result *res)
{
    uint64_t tokens = KV_MAX((uint64_t)req->prompt_tokens,
                             (uint64_t)req->nblocks * s->cfg.block_tokens);
    uint64_t cached;

    res->pos = pos;
    res->id = bk[pos].id;
    res->matched = s->matched[bk[pos].id];
    res->best_matched = best;
    cached = KV_MIN((uint64_t)res->matched * s->cfg.block_tokens, tokens);
    res->uncached_tokens = (uint32_t)KV_MIN(tokens - cached, UINT32_MAX);
    res->session_backend = session_backend;
    res->work = res->uncached_tokens + s->cfg.decode_token_cost * req->max_tokens;
}

static void explain_header(const struct kv_sched *s, const struct kv_sched_request *req,
                           struct kv_sched_explain *ex)
{
    ex->policy = s->policy->name;
    ex->ncols = 0;
    ex->minimize = false;
    ex->nblocks = req->nblocks;
    ex->prompt_tokens = req->prompt_tokens;
    ex->best_matched = 0;
    ex->util = kv_sched_util(s);
    ex->session_backend = -1;
    ex->chosen = -1;
    ex->err = 0;
    ex->reason = NULL;
    ex->n = 0;
}

static void explain_backends(const struct kv_sched *s, const struct kv_sched_backend *bk,
                             uint32_t nb, const struct kv_policy_ctx *c,
                             struct kv_sched_explain *ex)
{
    if (c) {
        ex->ncols = c->ncols;
        ex->minimize = c->minimize;
        memcpy(ex->cols, c->cols, sizeof(ex->cols));
        memcpy(ex->weights, c->weights, sizeof(ex->weights));
    }
    ex->n = nb;
    for (uint32_t i = 0; i < nb; i++) {
        struct kv_sched_explain_backend *e = &ex->b[i];
        int32_t k = s->k_by_id[bk[i].id];
        e->id = bk[i].id;
        e->name = bk[i].name;
        e->filtered = s->filtered[i];
        e->matched = s->matched[bk[i].id];
        for (uint32_t j = 0; j < KV_SCHED_MAX_COLS; j++)
            e->col[j] = c && k >= 0 ? s->val[(uint32_t)k * KV_SCHED_MAX_COLS + j] : NAN;
        e->total = c && k >= 0 ? s->total[k] : NAN;
        if (c && k >= 0 && c->excluded[k])
            e->filtered = c->excluded[k];
    }
}

static int check_input(const struct kv_sched *s, const struct kv_sched_backend *bk, uint32_t nb,
                       const struct kv_sched_explain *ex)
{
    if (nb > s->max_backends || (ex && ex->cap < nb))
        return -EINVAL;
    for (uint32_t i = 0; i < nb; i++)
        if (bk[i].id >= s->max_backends)
            return -EINVAL;
    return 0;
}

static void build_ctx(struct kv_sched *s, const struct kv_sched_request *req,
                      const struct kv_sched_backend *bk, uint32_t ncand, uint32_t best,
                      struct kv_rand *rnd, struct kv_policy_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->cfg = &s->cfg;
    c->req = req;
    c->bk = bk;
    c->cand = s->cand;
    c->ncand = ncand;
    c->index = s->index;
    c->matched = s->matched;
    c->best_matched = best;
    c->k_by_id = s->k_by_id;
    c->util = kv_sched_util(s);
    c->mean_service = s->mean_service;
    c->rr_last = s->rr_last;
    c->ring = &s->ring;
    c->scorers = s->scorers;
    c->scorer_weights = s->scorer_weights;
    c->nscorers = s->nscorers;
    c->rnd = rnd;
    c->tmp = s->tmp;
    c->val = s->val;
    c->total = s->total;
    c->excluded = s->excluded;
}

int kv_sched_pick(struct kv_sched *s, const struct kv_sched_request *req,
                  const struct kv_sched_backend *bk, uint32_t nb, struct kv_rand *rnd,
                  struct kv_sched_result *res, struct kv_sched_explain *ex)
{
    struct kv_policy_ctx c;
    int rc = check_input(s, bk, nb, ex), ncand, session_backend, pos;
    uint32_t best = 0, k;

    if (rc < 0)
        return rc;
    if (ex)
        explain_header(s, req, ex);
    ncand = run_filters(s, req, bk, nb);
    /* Every policy gets the lookup: the result's uncached_tokens feed the daemon's in-flight
     * prefill accounting, and explanations show matches whatever the policy. */
    for (k = 0; k < nb; k++) /* all that is read of it (no index: no lookup) */
        s->matched[bk[k].id] = 0;
    if (s->index)
        best = kv_index_lookup_into(s->index, req->hashes, req->nblocks, s->matched);
    if (ncand < 0) {
        if (ex) {
            explain_backends(s, bk, nb, NULL, ex);
            ex->err = ncand;
            ex->best_matched = best;
            ex->reason = kv_strerror(ncand);
        }
        return ncand;
    }
    for (k = 0; k < (uint32_t)ncand; k++) {
        s->k_by_id[bk[s->cand[k]].id] = (int32_t)k;
        s->excluded[k] = NULL;
    }
    if (s->policy->needs_ring)
        kv_policy_ring_update(&s->ring, bk, nb, s->cfg.chwbl_replication);
    build_ctx(s, req, bk, (uint32_t)ncand, best, rnd, &c);
    c.session_k = session_candidate(s, req, &session_backend);
    k = s->policy->pick(&c);
    pos = (int)s->cand[k];
    fill_result(s, req, bk, pos, best, session_backend, res);
    res->reason = c.reason;
    if (ex) {
        explain_backends(s, bk, nb, &c, ex);
        ex->chosen = pos;
        ex->reason = c.reason;
        ex->best_matched = best;
        ex->session_backend = session_backend;
        ex->util = c.util;
    }
    for (k = 0; k < (uint32_t)ncand; k++)
        s->k_by_id[bk[s->cand[k]].id] = -1;
    return pos;
}

void kv_sched_observe(struct kv_sched *s, const struct kv_sched_backend *bk, uint32_t nb,
                      uint64_t now_ns)
{
    uint32_t healthy = 0, busy = 0;
    double x, a;

    for (uint32_t i = 0; i < nb; i++) {
        if (!bk[i].healthy)
            continue;
        healthy++;
        busy += bk[i].inflight > 0 || bk[i].running > 0 || bk[i].waiting > 0;
    }
    if (healthy == 0)
        return;
    x = (double)busy / healthy;
    if (!s->util_init) {
        s->util = x;
        s->util_init = true;
    } else {
        /* Time-weighted EWMA: a sample counts for the time since the previous one. */
        uint64_t dt = now_ns > s->util_ns ? now_ns - s->util_ns : 0;
        a = 1.0 - exp(-(double)dt / (double)s->cfg.util_tau_ns);
        s->util += a * (x - s->util);
    }
    s->util_ns = now_ns;
}

void kv_sched_commit(struct kv_sched *s, const struct kv_sched_request *req,
                     const struct kv_sched_backend *bk, uint32_t nb,
                     const struct kv_sched_result *res)
{
    if (res->pos < 0 || res->id >= s->max_backends)
        return;
    if (s->index && req->nblocks)
        kv_index_record(s->index, res->id, req->hashes, req->nblocks, req->now_ns);
    if (s->sessions && req->session_key)
        kv_session_set(s->sessions, req->session_key, req->session_len, res->id, req->now_ns);
    s->rr_last = res->id;
    kv_sched_observe(s, bk, nb, req->now_ns);
    if (s->mean_service == 0)
        s->mean_service = res->work;
    else
        s->mean_service += SERVICE_ALPHA * (res->work - s->mean_service);
}

int kv_sched_explain_init(struct kv_sched_explain *ex, uint32_t cap)
{
    memset(ex, 0, sizeof(*ex));
    if (cap == 0 || cap > KV_INDEX_MAX_BACKENDS)
        return -EINVAL;
    ex->b = kv_calloc(cap, sizeof(*ex->b));
    ex->cap = cap;
    ex->chosen = -1;
    ex->session_backend = -1;
    return 0;
}

void kv_sched_explain_cleanup(struct kv_sched_explain *ex)
{
    KV_FREE(&ex->b);
    ex->cap = ex->n = 0;
}

/* Writes <s> as a JSON string (NULL as null), escaping quotes, backslashes and controls. */
static int json_str(struct kv_buf *out, const char *s)
{
    int rc = 0;

    if (!s)
        return kv_buf_appends(out, "null");
    rc |= kv_buf_appendc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        if (*p == '"' || *p == '\\')
            rc |= kv_buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc |= kv_buf_printf(out, "\\u%04x", *p);
        else
            rc |= kv_buf_appendc(out, (char)*p);
    }
    rc |= kv_buf_appendc(out, '"');
    return rc ? KV_ETOOBIG : 0;
}

static int json_num(struct kv_buf *out, double v)
{
    if (!isfinite(v))
        return kv_buf_appends(out, "null");
    return kv_buf_printf(out, "%.6g", v);
}

static int json_backend(const struct kv_sched_explain *ex, const struct kv_sched_explain_backend *e,
                        struct kv_buf *out)
{
    int rc = kv_buf_printf(out, "{\"id\":%u,\"name\":", e->id);

    rc |= json_str(out, e->name);
    rc |= kv_buf_appends(out, ",\"filtered\":");
    rc |= json_str(out, e->filtered);
    rc |= kv_buf_printf(out, ",\"matched\":%u,\"scores\":{", e->matched);
    for (uint32_t j = 0; j < ex->ncols; j++) {
        rc |= kv_buf_appends(out, j ? "," : "");
        rc |= json_str(out, ex->cols[j]);
        rc |= kv_buf_appendc(out, ':');
        rc |= json_num(out, e->col[j]);
    }
    rc |= kv_buf_appends(out, "},\"total\":");
    rc |= json_num(out, e->total);
    rc |= kv_buf_appendc(out, '}');
    return rc ? KV_ETOOBIG : 0;
}

int kv_sched_explain_json(const struct kv_sched_explain *ex, struct kv_buf *out)
{
    bool chosen = ex->chosen >= 0 && (uint32_t)ex->chosen < ex->n;
    int rc = kv_buf_appends(out, "{\"policy\":");

    rc |= json_str(out, ex->policy);
    rc |= kv_buf_appends(out, ",\"chosen\":");
    rc |= json_str(out, chosen ? ex->b[ex->chosen].name : NULL);
    rc |= kv_buf_appends(out, ",\"reason\":");
    rc |= json_str(out, ex->reason);
    rc |= kv_buf_printf(out, ",\"blocks\":%u,\"prompt_tokens\":%u,\"best_matched\":%u,\"util\":",
                        ex->nblocks, ex->prompt_tokens, ex->best_matched);
    rc |= json_num(out, ex->util);
    if (ex->session_backend >= 0)
        rc |= kv_buf_printf(out, ",\"session_backend\":%d", ex->session_backend);
    else
        rc |= kv_buf_appends(out, ",\"session_backend\":null");
    rc |= kv_buf_printf(out, ",\"objective\":\"%s\",\"columns\":[", ex->minimize ? "min" : "max");
    for (uint32_t j = 0; j < ex->ncols; j++) {
        rc |= kv_buf_appends(out, j ? ",{\"name\":" : "{\"name\":");
        rc |= json_str(out, ex->cols[j]);
        rc |= kv_buf_appends(out, ",\"weight\":");
        rc |= json_num(out, ex->weights[j]);
        rc |= kv_buf_appendc(out, '}');
    }
    rc |= kv_buf_appends(out, "],\"backends\":[");
    for (uint32_t i = 0; i < ex->n && rc == 0; i++) {
        rc |= kv_buf_appends(out, i ? "," : "");
        rc |= json_backend(ex, &ex->b[i], out);
    }
    rc |= kv_buf_appends(out, "]}");
    return rc ? KV_ETOOBIG : 0;
}
