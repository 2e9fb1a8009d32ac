/* SPDX-License-Identifier: MIT */
/* src/sim/engine.c - vLLM v1 scheduler and KV cache manager over the block pool.
 *
 * The waiting queue is an intrusive doubly linked list (prepend for preemptions, pop at the
 * head, O(1) abort); running is an array in admission order (preemption pops its tail, finished
 * requests are compacted out keeping order, as vLLM's remove_all). Block hashes of a request
 * are computed lazily, block by block, and kept for its life (vLLM's req_to_block_hashes), so a
 * preempted request does not hash again.
 */
#include "sim/engine.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/rand.h"
#include "sim/tokenizer.h"

enum req_state { REQ_WAITING = 0, REQ_RUNNING };

struct kv_engine_req {
    struct kv_engine_req *prev, *next; /* waiting list links */
    void *user;
    uint32_t *tokens;
    uint32_t num_prompt, num_tokens, cap_tokens;
    uint32_t max_tokens;
    uint32_t num_computed;
    int64_t num_cached; /* -1 until first scheduled */
    uint32_t *blocks;
    uint32_t nblocks, cap_blocks;
    uint64_t *hashes;
    uint32_t nhashes, cap_hashes;
    uint32_t num_cached_blocks; /* blocks whose hash is set (vLLM num_cached_block) */
    enum req_state state;
    bool in_step;
    bool aborted;  /* aborted while part of the step in flight: freed when it finishes */
    bool finished; /* finished in this finish_step: dropped from running, then freed */
    struct kv_rand gen;
    char *salt;
    size_t salt_len;
    uint32_t preemptions;
    double arrival, first_scheduled, first_token, finish;
};

struct sched_entry {
    struct kv_engine_req *req;
    uint32_t num_tokens;
};

struct kv_engine {
    struct kv_engine_config cfg;
    struct kv_blockpool pool;
    struct kv_engine_req *wait_head, *wait_tail;
    uint32_t num_waiting;
    struct kv_engine_req **running;
    uint32_t num_running, cap_running;
    struct sched_entry *sched;
    uint32_t nsched, cap_sched;
    bool in_step;
    uint32_t *scratch; /* hit block ids, max_model_len / block_size + 1 */
    struct kv_engine_event *events;
    uint32_t cap_events;
    struct kv_engine_stats stats;
};

void kv_engine_config_default(struct kv_engine_config *c)
{
    memset(c, 0, sizeof(*c));
    c->block_size = 16;
    c->max_num_seqs = 1024;
    c->max_num_batched_tokens = 8192;
    c->enable_prefix_caching = true;
    c->enable_chunked_prefill = true;
    c->step_base_ms = 3.0;
    c->prefill_ms_per_token = 0.01;
    c->decode_ms_per_seq = 0.02;
    c->ctx_ms_per_ktoken = 0.01;
}

int kv_engine_new(const struct kv_engine_config *c, struct kv_engine **out)
{
    struct kv_engine *e;

    *out = NULL;
    if (c->block_size == 0 || c->max_num_seqs == 0 || c->max_num_batched_tokens == 0 ||
        c->max_model_len == 0 || c->hash == NULL || c->num_blocks < 2)
        return -EINVAL;
    if (!c->enable_chunked_prefill && c->max_num_batched_tokens < c->max_model_len)
        return -EINVAL;
    e = kv_calloc(1, sizeof(*e));
    e->cfg = *c;
    if (kv_blockpool_init(&e->pool, c->num_blocks, c->enable_prefix_caching) < 0) {
        free(e);
        return -EINVAL;
    }
    e->scratch = kv_malloc(sizeof(uint32_t) * (c->max_model_len / c->block_size + 1));
    *out = e;
    return 0;
}

static void req_free(struct kv_engine_req *r)
{
    free(r->tokens);
    free(r->blocks);
    free(r->hashes);
    free(r->salt);
    free(r);
}

void kv_engine_free(struct kv_engine *e)
{
    if (e == NULL)
        return;
    for (uint32_t i = 0; i < e->nsched; i++)
        if (e->sched[i].req->aborted)
            req_free(e->sched[i].req);
    while (e->wait_head) {
        struct kv_engine_req *r = e->wait_head;
        e->wait_head = r->next;
        req_free(r);
    }
    for (uint32_t i = 0; i < e->num_running; i++)
        req_free(e->running[i]);
    free(e->running);
    free(e->sched);
    free(e->scratch);
    free(e->events);
    kv_blockpool_cleanup(&e->pool);
    free(e);
}

/* --- waiting queue --- */

static void wait_unlink(struct kv_engine *e, struct kv_engine_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        e->wait_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        e->wait_tail = r->prev;
    r->prev = r->next = NULL;
    e->num_waiting--;
}

static void wait_append(struct kv_engine *e, struct kv_engine_req *r)
{
    r->next = NULL;
    r->prev = e->wait_tail;
    if (e->wait_tail)
        e->wait_tail->next = r;
    else
        e->wait_head = r;
    e->wait_tail = r;
    e->num_waiting++;
    r->state = REQ_WAITING;
}

static void wait_prepend(struct kv_engine *e, struct kv_engine_req *r)
{
    r->prev = NULL;
    r->next = e->wait_head;
    if (e->wait_head)
        e->wait_head->prev = r;
    else
        e->wait_tail = r;
    e->wait_head = r;
    e->num_waiting++;
    r->state = REQ_WAITING;
}

/* --- per-request arrays --- */

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    uint32_t c = *cap ? *cap : 8;

    if (need <= *cap)
        return p;
    while (c < need)
        c *= 2;
    *cap = c;
    return kv_realloc(p, (size_t)c * elem);
}

static void push_running(struct kv_engine *e, struct kv_engine_req *r)
{
    e->running = grow(e->running, &e->cap_running, e->num_running + 1, sizeof(*e->running));
    e->running[e->num_running++] = r;
    r->state = REQ_RUNNING;
}

static void remove_running(struct kv_engine *e, struct kv_engine_req *r)
{
    for (uint32_t i = 0; i < e->num_running; i++) {
        if (e->running[i] == r) {
            memmove(&e->running[i], &e->running[i + 1],
                    sizeof(*e->running) * (e->num_running - i - 1));
            e->num_running--;
            return;
        }
    }
    assert(0 && "request not running");
}

/* Hashes of the request's first <nfull> full blocks (hash_request_tokens, incrementally). */
static void ensure_hashes(struct kv_engine *e, struct kv_engine_req *r, uint32_t nfull)
{
    uint32_t bs = e->cfg.block_size;

    if (nfull <= r->nhashes)
        return;
    r->hashes = grow(r->hashes, &r->cap_hashes, nfull, sizeof(*r->hashes));
    for (uint32_t k = r->nhashes; k < nfull; k++) {
        uint64_t parent = k ? r->hashes[k - 1] : 0;
        const char *salt = k == 0 ? r->salt : NULL;
        r->hashes[k] = kv_kvhash_block(e->cfg.hash, parent, r->tokens + (size_t)k * bs, bs, salt,
                                       r->salt_len);
    }
    r->nhashes = nfull;
}

/* KVCacheManager.free(): blocks back to the pool, tail first. */
static void free_blocks(struct kv_engine *e, struct kv_engine_req *r)
{
    kv_blockpool_free(&e->pool, r->blocks, r->nblocks);
    r->nblocks = 0;
    r->num_cached_blocks = 0;
}

/* KVCacheManager.allocate_slots() for one full-attention group. <hit>[0, <nhit>) are blocks
 * from get_computed (only for a request being admitted). Returns false when the pool cannot
 * supply the blocks (nothing changed then). */
static bool allocate_slots(struct kv_engine *e, struct kv_engine_req *r, uint32_t num_new,
                           const uint32_t *hit, uint32_t nhit)
{
    uint32_t bs = e->cfg.block_size;
    uint32_t num_computed = r->num_computed + nhit * bs;
    uint32_t need = KV_MIN(num_computed + num_new, e->cfg.max_model_len);
    int64_t num_new_blocks = (int64_t)((need + bs - 1) / bs) - nhit - r->nblocks;
    uint32_t evictable = kv_blockpool_count_evictable(&e->pool, hit, nhit);

    if (num_new_blocks + evictable > (int64_t)kv_blockpool_num_free(&e->pool))
        return false;
    if (nhit > 0)
        kv_blockpool_touch(&e->pool, hit, nhit);
    r->blocks = grow(r->blocks, &r->cap_blocks,
                     r->nblocks + nhit + (uint32_t)KV_MAX(num_new_blocks, 0),
                     sizeof(*r->blocks));
    if (r->nblocks == 0) {
        /* A request new to the manager (first admission, or resumed after preemption). */
        memcpy(r->blocks, hit, sizeof(*hit) * nhit);
        r->nblocks = nhit;
        r->num_cached_blocks = nhit;
    }
    if (num_new_blocks > 0) {
        int rc = kv_blockpool_alloc(&e->pool, (uint32_t)num_new_blocks, r->blocks + r->nblocks);
        assert(rc == 0);
        (void)rc;
        r->nblocks += (uint32_t)num_new_blocks;
    }
    if (e->cfg.enable_prefix_caching) {
        uint32_t nfull = (num_computed + num_new) / bs;
        ensure_hashes(e, r, nfull);
        for (uint32_t k = r->num_cached_blocks; k < nfull; k++)
            kv_blockpool_cache(&e->pool, r->blocks[k], r->hashes[k]);
        if (nfull > r->num_cached_blocks)
            r->num_cached_blocks = nfull;
    }
    return true;
}

int kv_engine_add(struct kv_engine *e, const struct kv_engine_params *p,
                  struct kv_engine_req **out)
{
    struct kv_engine_req *r;

    *out = NULL;
    if (p->num_prompt == 0 || p->max_tokens == 0 || p->prompt == NULL)
        return -EINVAL;
    if ((uint64_t)p->num_prompt + p->max_tokens > e->cfg.max_model_len)
        return KV_ETOOLONG;
    r = kv_calloc(1, sizeof(*r));
    r->user = p->user;
    r->cap_tokens = p->num_prompt + KV_MIN(p->max_tokens, 256u);
    r->tokens = kv_malloc(sizeof(uint32_t) * r->cap_tokens);
    memcpy(r->tokens, p->prompt, sizeof(uint32_t) * p->num_prompt);
    r->num_prompt = r->num_tokens = p->num_prompt;
    r->max_tokens = p->max_tokens;
    r->num_cached = -1;
    if (p->cache_salt) {
        r->salt = kv_memdup(p->cache_salt, p->cache_salt_len);
        r->salt_len = p->cache_salt_len;
    }
    r->arrival = p->arrival;
    kv_tokenizer_gen_seed(&r->gen, p->prompt, p->num_prompt, p->seed);
    wait_append(e, r);
    *out = r;
    return 0;
}

void kv_engine_abort(struct kv_engine *e, struct kv_engine_req *r)
{
    if (r->state == REQ_WAITING)
        wait_unlink(e, r);
    else
        remove_running(e, r);
    free_blocks(e, r);
    if (r->in_step)
        r->aborted = true; /* freed when the step it is part of finishes */
    else
        req_free(r);
}

bool kv_engine_has_work(const struct kv_engine *e)
{
    return e->num_waiting > 0 || e->num_running > 0;
}

static void add_sched(struct kv_engine *e, struct kv_engine_req *r, uint32_t n)
{
    e->sched = grow(e->sched, &e->cap_sched, e->nsched + 1, sizeof(*e->sched));
    e->sched[e->nsched++] = (struct sched_entry){r, n};
    r->in_step = true;
}

static void preempt(struct kv_engine *e, struct kv_engine_req *r)
{
    free_blocks(e, r);
    r->num_computed = 0;
    r->preemptions++;
    e->stats.num_preemptions++;
    wait_prepend(e, r);
}

/* The RUNNING pass; returns true if anything was preempted. */
static bool schedule_running(struct kv_engine *e, uint32_t *budget)
{
    bool preempted = false;
    uint32_t i = 0;

    while (i < e->num_running && *budget > 0) {
        struct kv_engine_req *r = e->running[i];
        uint32_t n = KV_MIN(r->num_tokens - r->num_computed, *budget);
        bool can = true;

        n = KV_MIN(n, e->cfg.max_model_len - 1 - r->num_computed);
        if (n == 0) {
            i++;
            continue;
        }
        while (!allocate_slots(e, r, n, NULL, 0)) {
            struct kv_engine_req *victim = e->running[--e->num_running];
            preempt(e, victim);
            preempted = true;
            if (victim == r) {
                can = false;
                break;
            }
        }
        if (!can)
            break;
        add_sched(e, r, n);
        *budget -= n;
        i++;
    }
    return preempted;
}

/* Puts the set-aside requests (a list built by prepending) back at the queue front, in the
 * list's order, as vLLM's waiting.prepend_requests(skipped_waiting_requests). */
static void restore_skipped(struct kv_engine *e, struct kv_engine_req *skipped)
{
    struct kv_engine_req *last = skipped;

    if (skipped == NULL)
        return;
    while (last->next)
        last = last->next;
    for (struct kv_engine_req *r = last; r != NULL;) {
        struct kv_engine_req *prev = r->prev;
        wait_prepend(e, r);
        r = prev;
    }
}

/* Takes the queue head off into the front of the local <skipped> list. */
static void skip_head(struct kv_engine *e, struct kv_engine_req **skipped)
{
    struct kv_engine_req *r = e->wait_head;

    wait_unlink(e, r);
    r->next = *skipped;
    r->prev = NULL;
    if (*skipped)
        (*skipped)->prev = r;
    *skipped = r;
}

static void schedule_waiting(struct kv_engine *e, uint32_t *budget, double now)
{
    uint32_t bs = e->cfg.block_size;
    struct kv_engine_req *skipped = NULL;

    while (e->wait_head && *budget > 0 && e->num_running < e->cfg.max_num_seqs) {
        struct kv_engine_req *r = e->wait_head;
        uint32_t nhit = 0, num_computed, n;

        if (e->cfg.enable_prefix_caching) {
            ensure_hashes(e, r, r->num_tokens / bs);
            nhit = kv_blockpool_get_computed(&e->pool, r->hashes, r->nhashes, r->num_tokens, bs,
                                             e->scratch);
        }
        num_computed = nhit * bs;
        n = r->num_tokens - num_computed;
        if (!e->cfg.enable_chunked_prefill && n > *budget) {
            skip_head(e, &skipped);
            continue;
        }
        n = KV_MIN(n, *budget);
        if (!allocate_slots(e, r, n, e->scratch, nhit))
            break;
        wait_unlink(e, r);
        push_running(e, r);
        if (r->num_cached < 0) {
            r->num_cached = num_computed;
            r->first_scheduled = now;
        }
        r->num_computed = num_computed;
        add_sched(e, r, n);
        *budget -= n;
    }
    restore_skipped(e, skipped);
}

double kv_engine_schedule(struct kv_engine *e, double now)
{
    uint32_t budget = e->cfg.max_num_batched_tokens;
    uint32_t prefill = 0, decodes = 0;
    uint64_t ctx = 0;
    double ms;

    assert(!e->in_step);
    e->nsched = 0;
    if (!schedule_running(e, &budget))
        schedule_waiting(e, &budget, now);
    if (e->nsched == 0)
        return 0;
    for (uint32_t i = 0; i < e->nsched; i++) {
        struct kv_engine_req *r = e->sched[i].req;
        uint32_t n = e->sched[i].num_tokens;
        bool decode = n == 1 && r->num_tokens > r->num_prompt &&
                      r->num_computed == r->num_tokens - 1;

        if (decode)
            decodes++;
        else
            prefill += n;
        ctx += (uint64_t)r->num_computed + n;
        /* vLLM advances num_computed_tokens right after scheduling (_update_after_schedule). */
        r->num_computed += n;
    }
    ms = e->cfg.step_base_ms + e->cfg.prefill_ms_per_token * prefill +
         e->cfg.decode_ms_per_seq * decodes + e->cfg.ctx_ms_per_ktoken * (double)ctx / 1000.0;
    e->in_step = true;
    e->stats.steps++;
    e->stats.step_prefill_tokens = prefill;
    e->stats.step_decode_seqs = decodes;
    e->stats.step_context_tokens = ctx;
    e->stats.step_ms = ms;
    return ms;
}

static void fill_event(struct kv_engine_event *ev, struct kv_engine_req *r)
{
    ev->user = r->user;
    ev->req = r;
    ev->num_prompt = r->num_prompt;
    ev->num_output = r->num_tokens - r->num_prompt;
    ev->num_cached = r->num_cached < 0 ? 0 : (uint32_t)r->num_cached;
    ev->num_preemptions = r->preemptions;
    ev->arrival = r->arrival;
    ev->first_scheduled = r->first_scheduled;
    ev->first_token_time = r->first_token;
    ev->finish_time = r->finish;
}

/* Samples one token for <r>; returns true when that finishes it (check_stop, length only). */
static bool sample(struct kv_engine *e, struct kv_engine_req *r, struct kv_engine_event *ev,
                   double now)
{
    uint32_t tok = kv_tokenizer_gen_next(&r->gen);

    r->tokens = grow(r->tokens, &r->cap_tokens, r->num_tokens + 1, sizeof(*r->tokens));
    r->tokens[r->num_tokens++] = tok;
    ev->token = tok;
    ev->has_token = true;
    ev->first_token = r->num_tokens - r->num_prompt == 1;
    if (ev->first_token)
        r->first_token = now;
    return r->num_tokens - r->num_prompt >= r->max_tokens ||
           r->num_tokens >= e->cfg.max_model_len;
}

void kv_engine_finish_step(struct kv_engine *e, double now, const struct kv_engine_event **events,
                           size_t *n)
{
    uint32_t nev = 0, kept = 0;

    e->events = grow(e->events, &e->cap_events, e->nsched, sizeof(*e->events));
    for (uint32_t i = 0; i < e->nsched; i++) {
        struct kv_engine_req *r = e->sched[i].req;
        struct kv_engine_event *ev = &e->events[nev];

        r->in_step = false;
        if (r->aborted) {
            req_free(r);
            continue;
        }
        if (r->num_computed < r->num_tokens)
            continue; /* a prefill chunk: nothing sampled */
        memset(ev, 0, sizeof(*ev));
        if (sample(e, r, ev, now)) {
            r->finish = now;
            ev->finish = KV_ENGINE_FINISH_LENGTH;
            free_blocks(e, r);
            r->finished = true;
        }
        fill_event(ev, r);
        nev++;
    }
    /* Drop finished requests from running, keeping the order of the others. */
    for (uint32_t i = 0; i < e->num_running; i++)
        if (!e->running[i]->finished)
            e->running[kept++] = e->running[i];
    e->num_running = kept;
    for (uint32_t i = 0; i < nev; i++)
        if (e->events[i].finish != KV_ENGINE_RUNNING)
            req_free(e->events[i].req);
    e->nsched = 0;
    e->in_step = false;
    *events = e->events;
    *n = nev;
}

const uint32_t *kv_engine_req_tokens(const struct kv_engine_req *r, uint32_t *num_tokens)
{
    *num_tokens = r->num_tokens;
    return r->tokens;
}

uint32_t kv_engine_req_num_computed(const struct kv_engine_req *r)
{
    return r->num_computed;
}

void kv_engine_stats(const struct kv_engine *e, struct kv_engine_stats *s)
{
    *s = e->stats;
    s->num_running = e->num_running;
    s->num_waiting = e->num_waiting;
}

const struct kv_blockpool *kv_engine_pool(const struct kv_engine *e)
{
    return &e->pool;
}

const struct kv_engine_config *kv_engine_config(const struct kv_engine *e)
{
    return &e->cfg;
}
