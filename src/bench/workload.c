/* SPDX-License-Identifier: MIT */
/* src/bench/workload.c - workload builders, the chat and shared-prefix generators, rendering.
 *
 * Text of a segment is a stream of words drawn by a PRNG seeded from the segment's block id, cut
 * at exactly <bytes>: the same id always gives the same stream, so equal ids share text and a
 * shorter segment of an id is a prefix of a longer one. Words are plain ASCII, so rendered text
 * needs no JSON escaping beyond what kv_json_escape does anyway.
 */
#include "bench/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/rand.h"
#include "openai/json.h"

static const char *const words[] = {
    "the",    "cache",  "block",  "prefix", "token",   "model",  "server", "route",  "queue",
    "batch",  "prompt", "reply",  "answer", "context", "system", "user",   "agent",  "tool",
    "file",   "code",   "test",   "build",  "value",  "field",  "range",  "index",  "table",
    "search", "result", "error",  "memory", "layer",  "head",   "key",    "store",  "load",
    "write",  "read",   "check",  "point",  "graph",  "node",   "edge",   "path",   "time",
    "rate",   "share",  "turn",   "chat",   "data",   "trace",  "hash",   "page",   "pool",
    "free",   "list",   "map",    "set",    "and",    "of",     "to",     "in",     "for",
    "with",
};

/* Stable 64-bit mix of the ids that name a block (splitmix64 finalizer over a running state). */
static uint64_t block_id(uint64_t seed, uint64_t kind, uint64_t a, uint64_t b)
{
    uint64_t parts[4] = {seed, kind, a, b};
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 4; i++) {
        h ^= parts[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h;
}

#define GROW(arr, n, cap)                                                                         \
    do {                                                                                          \
        if ((n) == (cap)) {                                                                       \
            (cap) = (cap) ? (cap) * 2 : 64;                                                       \
            (arr) = kv_realloc((arr), (cap) * sizeof(*(arr)));                                    \
        }                                                                                         \
    } while (0)

void kv_workload_init(struct kv_workload *w, const char *name, bool chat, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->chat = chat;
    w->seed = seed;
    snprintf(w->name, sizeof(w->name), "%s", name);
}

void kv_workload_cleanup(struct kv_workload *w)
{
    KV_FREE(&w->reqs);
    KV_FREE(&w->msgs);
    KV_FREE(&w->segs);
    w->n_reqs = w->n_msgs = w->n_segs = 0;
    w->cap_reqs = w->cap_msgs = w->cap_segs = 0;
}

uint32_t kv_workload_add_req(struct kv_workload *w, uint32_t session, double arrival_s,
                             double think_s, uint32_t max_tokens)
{
    struct kv_workload_req *r;
    uint32_t turn = 0;

    /* Sessions are built one after another, so the previous request tells the turn. */
    if (w->n_reqs > 0 && w->reqs[w->n_reqs - 1].session == session)
        turn = w->reqs[w->n_reqs - 1].turn + 1;
    GROW(w->reqs, w->n_reqs, w->cap_reqs);
    r = &w->reqs[w->n_reqs];
    memset(r, 0, sizeof(*r));
    r->session = session;
    r->turn = turn;
    r->arrival_s = arrival_s;
    r->think_s = think_s;
    r->max_tokens = max_tokens;
    r->msg_first = (uint32_t)w->n_msgs;
    if (session + 1 > w->n_sessions)
        w->n_sessions = session + 1;
    return (uint32_t)w->n_reqs++;
}

uint32_t kv_workload_add_msg(struct kv_workload *w, enum kv_workload_role role)
{
    struct kv_workload_msg *m;

    GROW(w->msgs, w->n_msgs, w->cap_msgs);
    m = &w->msgs[w->n_msgs];
    m->role = role;
    m->seg_first = (uint32_t)w->n_segs;
    m->seg_count = 0;
    w->reqs[w->n_reqs - 1].msg_count++;
    return (uint32_t)w->n_msgs++;
}

void kv_workload_add_seg(struct kv_workload *w, uint64_t block, uint32_t bytes)
{
    GROW(w->segs, w->n_segs, w->cap_segs);
    w->segs[w->n_segs].block = block;
    w->segs[w->n_segs].bytes = bytes;
    w->n_segs++;
    w->msgs[w->n_msgs - 1].seg_count++;
    w->reqs[w->n_reqs - 1].prompt_bytes += bytes;
}

/* Adds one message made of one segment. */
static void add_text_msg(struct kv_workload *w, enum kv_workload_role role, uint64_t block,
                         uint32_t tokens)
{
    kv_workload_add_msg(w, role);
    kv_workload_add_seg(w, block, tokens * KV_WORKLOAD_BYTES_PER_TOKEN);
}

enum { BLK_SYSTEM = 1, BLK_USER, BLK_ANSWER, BLK_PREFIX, BLK_QUESTION };

/* Messages of turn <t> of user <u>: system, the t earlier exchanges, then the new question. */
static void chat_turn(struct kv_workload *w, const struct kv_workload_chat_params *p, uint32_t u,
                      uint32_t t)
{
    uint32_t groups = p->groups ? p->groups : 1;

    add_text_msg(w, KV_ROLE_SYSTEM, block_id(p->seed, BLK_SYSTEM, u % groups, 0), p->system_tokens);
    for (uint32_t k = 0; k < t; k++) {
        add_text_msg(w, KV_ROLE_USER, block_id(p->seed, BLK_USER, u, k), p->user_tokens);
        add_text_msg(w, KV_ROLE_ASSISTANT, block_id(p->seed, BLK_ANSWER, u, k), p->answer_tokens);
    }
    add_text_msg(w, KV_ROLE_USER, block_id(p->seed, BLK_USER, u, t), p->user_tokens);
}

void kv_workload_chat(struct kv_workload *w, const struct kv_workload_chat_params *p)
{
    struct kv_rand rnd;

    kv_rand_seed(&rnd, p->seed);
    for (uint32_t u = 0; u < p->users; u++) {
        double start = p->ramp_s > 0 ? kv_rand_double(&rnd) * p->ramp_s : 0;
        for (uint32_t t = 0; t < p->turns; t++) {
            double think = t == 0 || p->think_s <= 0 ? 0 : kv_rand_exp(&rnd, p->think_s);
            kv_workload_add_req(w, u, start, think, p->answer_tokens);
            chat_turn(w, p, u, t);
        }
    }
}

void kv_workload_shared_prefix(struct kv_workload *w, const struct kv_workload_shared_params *p)
{
    uint32_t n = p->groups * p->prompts;
    uint32_t *order = kv_malloc((size_t)(n ? n : 1) * sizeof(*order));
    struct kv_rand rnd;
    double t = 0;

    kv_rand_seed(&rnd, p->seed);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) { /* Fisher-Yates: groups interleave as real traffic does */
        uint32_t j = (uint32_t)kv_rand_below(&rnd, i);
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = order[i] / p->prompts, q = order[i] % p->prompts;
        if (p->rate > 0 && i > 0)
            t += kv_rand_exp(&rnd, 1.0 / p->rate);
        kv_workload_add_req(w, i, t, 0, p->output_tokens);
        kv_workload_add_msg(w, KV_ROLE_USER);
        kv_workload_add_seg(w, block_id(p->seed, BLK_PREFIX, g, 0),
                            p->prefix_tokens * KV_WORKLOAD_BYTES_PER_TOKEN);
        kv_workload_add_seg(w, block_id(p->seed, BLK_QUESTION, g, q),
                            p->question_tokens * KV_WORKLOAD_BYTES_PER_TOKEN);
    }
    free(order);
}

int kv_workload_render_seg(const struct kv_workload_seg *s, struct kv_buf *out)
{
    struct kv_rand rnd;
    uint32_t left = s->bytes;
    int rc;

    kv_rand_seed(&rnd, s->block);
    /* The text is the stream "word word word ..." cut after <bytes> bytes, so a shorter segment
     * of the same block is always a prefix of a longer one. */
    while (left > 0) {
        const char *word = words[kv_rand_below(&rnd, KV_ARRAY_LEN(words))];
        size_t n = strlen(word);
        if (n >= left) {
            rc = kv_buf_append(out, word, left);
            left = 0;
        } else {
            rc = kv_buf_append(out, word, n);
            rc = rc ? rc : kv_buf_appendc(out, ' ');
            left -= (uint32_t)(n + 1);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kv_workload_render_msg(const struct kv_workload *w, const struct kv_workload_msg *m,
                           struct kv_buf *out)
{
    for (uint32_t i = 0; i < m->seg_count; i++) {
        int rc = kv_workload_render_seg(&w->segs[m->seg_first + i], out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Appends the text of every message of <r> as one escaped JSON string body (no quotes). */
static int render_prompt(const struct kv_workload *w, const struct kv_workload_req *r,
                         struct kv_buf *out)
{
    int rc = kv_buf_appendc(out, '"');
    for (uint32_t i = 0; rc == 0 && i < r->msg_count; i++)
        rc = kv_workload_render_msg(w, &w->msgs[r->msg_first + i], out);
    return rc < 0 ? rc : kv_buf_appendc(out, '"');
}

static int render_messages(const struct kv_workload *w, const struct kv_workload_req *r,
                           struct kv_buf *out)
{
    static const char *const roles[] = {"system", "user", "assistant"};
    int rc = kv_json_open(out, '[');

    for (uint32_t i = 0; rc == 0 && i < r->msg_count; i++) {
        const struct kv_workload_msg *m = &w->msgs[r->msg_first + i];
        rc = kv_json_open(out, '{');
        rc = rc ? rc : kv_json_key(out, "role");
        rc = rc ? rc : kv_json_strz(out, roles[m->role]);
        rc = rc ? rc : kv_json_key(out, "content");
        rc = rc ? rc : kv_buf_appendc(out, '"');
        rc = rc ? rc : kv_workload_render_msg(w, m, out);
        rc = rc ? rc : kv_buf_appends(out, "\"}");
    }
    return rc ? rc : kv_buf_appendc(out, ']');
}

int kv_workload_render_body(const struct kv_workload *w, const struct kv_workload_req *r,
                            const char *model, bool stream, struct kv_buf *out)
{
    int rc = kv_json_open(out, '{');

    rc = rc ? rc : kv_json_key(out, "model");
    rc = rc ? rc : kv_json_strz(out, model);
    rc = rc ? rc : kv_json_key(out, w->chat ? "messages" : "prompt");
    rc = rc ? rc : (w->chat ? render_messages(w, r, out) : render_prompt(w, r, out));
    rc = rc ? rc : kv_json_key(out, "max_tokens");
    rc = rc ? rc : kv_json_int(out, r->max_tokens);
    rc = rc ? rc : kv_json_key(out, "ignore_eos");
    rc = rc ? rc : kv_json_bool(out, true);
    rc = rc ? rc : kv_json_key(out, "temperature");
    rc = rc ? rc : kv_json_int(out, 0);
    if (stream) {
        rc = rc ? rc : kv_json_key(out, "stream");
        rc = rc ? rc : kv_json_bool(out, true);
        rc = rc ? rc : kv_buf_appends(out, ",\"stream_options\":{\"include_usage\":true}");
    }
    return rc ? rc : kv_buf_appendc(out, '}');
}
