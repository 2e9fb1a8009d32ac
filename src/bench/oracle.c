/* SPDX-License-Identifier: MIT */
/* src/bench/oracle.c - offline ideal and pooled hit rates through kvsim's own block pool.
 *
 * Order: a run sends a session's first request at its arrival time and each later one after the
 * previous completed plus a think time; offline, completion is taken as instant, so request k of
 * a session is placed at arrival + the sum of its think times. Ties keep workload order.
 * Each request allocates blocks for its prompt and its output (vLLM keeps both in the cache),
 * caches its full prompt blocks, and frees everything at once, tail first.
 */
#include "bench/oracle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "openai/chat.h"
#include "sim/blockpool.h"
#include "sim/kvhash.h"
#include "sim/tokenizer.h"

#define MAX_PROMPT (512u << 20)

struct order {
    double t;
    uint32_t idx;
};

static int cmp_order(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Send order of the workload's requests (see the file comment). Caller frees. */
static struct order *send_order(const struct kv_workload *w)
{
    struct order *o = kv_malloc(w->n_reqs * sizeof(*o));
    double t = 0;
    for (size_t i = 0; i < w->n_reqs; i++) {
        const struct kv_workload_req *r = &w->reqs[i];
        t = r->turn == 0 ? r->arrival_s : t + r->think_s;
        o[i].t = t;
        o[i].idx = (uint32_t)i;
    }
    qsort(o, w->n_reqs, sizeof(*o), cmp_order);
    return o;
}

/* The prompt text the server sees: the chat template over the messages, or their contents. */
static int prompt_text(const struct kv_workload *w, const struct kv_workload_req *r,
                       struct kv_buf *text, struct kv_buf *scratch)
{
    static const char *const roles[] = {"system", "user", "assistant"};
    struct kv_chat_message m;
    int rc = 0;

    kv_buf_reset(text);
    for (uint32_t i = 0; rc == 0 && i < r->msg_count; i++) {
        const struct kv_workload_msg *msg = &w->msgs[r->msg_first + i];
        if (!w->chat) {
            rc = kv_workload_render_msg(w, msg, text);
            continue;
        }
        kv_buf_reset(scratch);
        rc = kv_workload_render_msg(w, msg, scratch);
        m = (struct kv_chat_message){roles[msg->role], strlen(roles[msg->role]), scratch->data,
                                     scratch->len};
        rc = rc ? rc : kv_chat_append_message(text, i == 0, &m);
    }
    if (rc == 0 && w->chat)
        rc = kv_chat_append_generation_prompt(text);
    return rc;
}

struct cache {
    struct kv_blockpool pool;
    uint32_t *ids;
    size_t cap;
};

/* One request through one cache: returns the tokens that hit. */
static uint64_t replay(struct cache *c, const uint64_t *hashes, uint32_t nfull, uint32_t ntok,
                       uint32_t nout, uint32_t bs)
{
    uint32_t total = (ntok + nout + bs - 1) / bs, hit, need;

    if (total > c->cap) {
        c->cap = total * 2;
        c->ids = kv_realloc(c->ids, c->cap * sizeof(*c->ids));
    }
    hit = kv_blockpool_get_computed(&c->pool, hashes, nfull, ntok, bs, c->ids);
    kv_blockpool_touch(&c->pool, c->ids, hit);
    need = total - hit;
    if (need > kv_blockpool_num_free(&c->pool) ||
        kv_blockpool_alloc(&c->pool, need, c->ids + hit) < 0) {
        kv_blockpool_free(&c->pool, c->ids, hit); /* larger than the whole cache: no caching */
        return (uint64_t)hit * bs;
    }
    for (uint32_t i = hit; i < nfull; i++)
        kv_blockpool_cache(&c->pool, c->ids[i], hashes[i]);
    kv_blockpool_free(&c->pool, c->ids, total);
    return (uint64_t)hit * bs;
}

/* Upper bound on the blocks the workload can ever hold, for the unbounded cache. */
static uint64_t total_blocks(const struct kv_workload *w, uint32_t bs)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->n_reqs; i++)
        n += (w->reqs[i].prompt_bytes + 4096) / KV_TOKENIZER_PIECE / bs + 2 +
             w->reqs[i].max_tokens / bs + 1;
    return n + 2;
}

static int cache_init(struct cache *c, uint64_t blocks)
{
    memset(c, 0, sizeof(*c));
    if (blocks > UINT32_MAX - 2)
        blocks = UINT32_MAX - 2;
    return kv_blockpool_init(&c->pool, (uint32_t)blocks + 1, true);
}

static void cache_cleanup(struct cache *c)
{
    kv_blockpool_cleanup(&c->pool);
    KV_FREE(&c->ids);
}

int kv_oracle_run(const struct kv_workload *w, uint32_t bs, uint64_t pooled_blocks,
                  struct kv_oracle_result *out)
{
    struct kv_buf text, scratch;
    struct cache ideal, pooled;
    struct kv_kvhash h;
    struct order *order;
    uint32_t *tok = NULL;
    uint64_t *hashes = NULL;
    size_t cap = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (bs == 0 || w->n_reqs == 0)
        return w->n_reqs == 0 ? 0 : -EINVAL;
    if ((rc = kv_kvhash_init(&h, KV_KVHASH_BUILTIN, "0")) < 0)
        return rc;
    if ((rc = cache_init(&ideal, total_blocks(w, bs))) < 0)
        return rc;
    if ((rc = cache_init(&pooled, pooled_blocks)) < 0) {
        cache_cleanup(&ideal);
        return rc;
    }
    kv_buf_init(&text, MAX_PROMPT);
    kv_buf_init(&scratch, MAX_PROMPT);
    order = send_order(w);
    for (size_t k = 0; k < w->n_reqs && rc == 0; k++) {
        const struct kv_workload_req *r = &w->reqs[order[k].idx];
        size_t ntok, nfull;
        if ((rc = prompt_text(w, r, &text, &scratch)) < 0)
            break;
        ntok = kv_tokenizer_count(text.len);
        if (ntok + 1 > cap) {
            cap = (ntok + 1) * 2;
            tok = kv_realloc(tok, cap * sizeof(*tok));
            hashes = kv_realloc(hashes, (cap / bs + 1) * sizeof(*hashes));
        }
        kv_tokenizer_encode(text.data, text.len, tok);
        nfull = ntok / bs;
        for (size_t b = 0; b < nfull; b++)
            hashes[b] = kv_kvhash_block(&h, b ? hashes[b - 1] : 0, tok + b * bs, bs, NULL, 0);
        out->queries += ntok;
        out->ideal_hits += replay(&ideal, hashes, (uint32_t)nfull, (uint32_t)ntok, r->max_tokens, bs);
        out->pooled_hits += replay(&pooled, hashes, (uint32_t)nfull, (uint32_t)ntok, r->max_tokens, bs);
    }
    out->ideal = out->queries ? (double)out->ideal_hits / (double)out->queries : 0;
    out->pooled = out->queries ? (double)out->pooled_hits / (double)out->queries : 0;
    free(order);
    free(tok);
    free(hashes);
    kv_buf_cleanup(&text);
    kv_buf_cleanup(&scratch);
    cache_cleanup(&ideal);
    cache_cleanup(&pooled);
    return rc;
}
