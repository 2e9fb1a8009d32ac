/* SPDX-License-Identifier: MIT */
/* src/router/session.c - pool of session records in one LRU list, found through a u64map. */
#include "router/session.h"

#include <stdbool.h>
#include <stdlib.h>
#include <xxhash.h>

#include "base/mem.h"
#include "prefix/u64map.h"

#define NIL UINT32_MAX

struct rec {
    uint64_t hash;
    uint64_t seen_ns;
    uint32_t backend;
    uint32_t prev; /* toward the head (more recent) */
    uint32_t next; /* toward the tail; free list link */
};

struct kv_session {
    struct kv_u64map map;
    struct rec *recs;
    uint32_t max;
    uint32_t used; /* records handed out so far */
    uint32_t free_head;
    uint32_t head;
    uint32_t tail;
    uint64_t ttl_ns;
    uint64_t seed;
};

struct kv_session *kv_session_new(uint32_t max_entries, uint64_t ttl_ns, uint64_t seed)
{
    struct kv_session *t;

    if (max_entries == 0 || max_entries > KV_U64MAP_MAX_ITEMS)
        return NULL;
    t = kv_calloc(1, sizeof(*t));
    if (kv_u64map_init(&t->map, max_entries) < 0) {
        free(t);
        return NULL;
    }
    t->recs = kv_malloc((size_t)max_entries * sizeof(*t->recs));
    t->max = max_entries;
    t->free_head = t->head = t->tail = NIL;
    t->ttl_ns = ttl_ns ? ttl_ns : KV_SESSION_DEFAULT_TTL_NS;
    t->seed = seed;
    return t;
}

void kv_session_free(struct kv_session *t)
{
    if (!t)
        return;
    kv_u64map_cleanup(&t->map);
    free(t->recs);
    free(t);
}

static bool expired(const struct kv_session *t, const struct rec *r, uint64_t now_ns)
{
    return now_ns > r->seen_ns && now_ns - r->seen_ns > t->ttl_ns;
}

static void unlink_rec(struct kv_session *t, uint32_t i)
{
    struct rec *r = &t->recs[i];

    if (r->prev != NIL)
        t->recs[r->prev].next = r->next;
    else
        t->head = r->next;
    if (r->next != NIL)
        t->recs[r->next].prev = r->prev;
    else
        t->tail = r->prev;
}

static void link_head(struct kv_session *t, uint32_t i)
{
    struct rec *r = &t->recs[i];

    r->prev = NIL;
    r->next = t->head;
    if (t->head != NIL)
        t->recs[t->head].prev = i;
    else
        t->tail = i;
    t->head = i;
}

static void drop(struct kv_session *t, uint32_t i)
{
    unlink_rec(t, i);
    kv_u64map_del(&t->map, t->recs[i].hash);
    t->recs[i].next = t->free_head;
    t->free_head = i;
}

int kv_session_get(const struct kv_session *t, const void *key, size_t len, uint64_t now_ns)
{
    uint32_t i = kv_u64map_get(&t->map, XXH3_64bits_withSeed(key, len, t->seed));

    if (i == KV_U64MAP_NONE || expired(t, &t->recs[i], now_ns))
        return -1;
    return (int)t->recs[i].backend;
}

void kv_session_set(struct kv_session *t, const void *key, size_t len, uint32_t backend,
                    uint64_t now_ns)
{
    uint64_t h = XXH3_64bits_withSeed(key, len, t->seed);
    uint32_t i = kv_u64map_get(&t->map, h);

    if (i != KV_U64MAP_NONE) {
        unlink_rec(t, i);
    } else {
        if (t->free_head == NIL && t->used == t->max)
            drop(t, t->tail);
        if (t->free_head != NIL) {
            i = t->free_head;
            t->free_head = t->recs[i].next;
        } else {
            i = t->used++;
        }
        t->recs[i].hash = h;
        /* Cannot fail: records in use < max, the map's bound. */
        (void)kv_u64map_put(&t->map, h, i);
    }
    t->recs[i].backend = backend;
    /* Callers' clocks are monotonic; keep the list ordered even if one is not. */
    if (t->head != NIL && now_ns < t->recs[t->head].seen_ns)
        now_ns = t->recs[t->head].seen_ns;
    t->recs[i].seen_ns = now_ns;
    link_head(t, i);
}

int kv_session_del(struct kv_session *t, const void *key, size_t len)
{
    uint32_t i = kv_u64map_get(&t->map, XXH3_64bits_withSeed(key, len, t->seed));

    if (i == KV_U64MAP_NONE)
        return 0;
    drop(t, i);
    return 1;
}

uint32_t kv_session_expire(struct kv_session *t, uint64_t now_ns, uint32_t max)
{
    uint32_t n = 0;

    while (t->tail != NIL && expired(t, &t->recs[t->tail], now_ns) && (max == 0 || n < max)) {
        drop(t, t->tail);
        n++;
    }
    return n;
}

uint32_t kv_session_remove_backend(struct kv_session *t, uint32_t backend)
{
    uint32_t n = 0, i = t->head;

    while (i != NIL) {
        uint32_t next = t->recs[i].next;
        if (t->recs[i].backend == backend) {
            drop(t, i);
            n++;
        }
        i = next;
    }
    return n;
}

uint32_t kv_session_count(const struct kv_session *t)
{
    return t->map.count;
}

size_t kv_session_bytes(const struct kv_session *t)
{
    return sizeof(*t) + kv_u64map_bytes(&t->map) + (size_t)t->max * sizeof(struct rec);
}
