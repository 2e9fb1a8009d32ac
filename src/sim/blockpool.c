/* SPDX-License-Identifier: MIT */
/* src/sim/blockpool.c - vLLM v1 block pool: LRU free queue, lazy-evicting hash table, refs. */
#include "sim/blockpool.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define CACHED 0x80000000u
#define REFS 0x7fffffffu

/* Fibonacci hashing: spreads keys that are not well mixed (sequential test keys) over buckets. */
static uint32_t bucket(const struct kv_blockpool *p, uint64_t hash)
{
    return (uint32_t)((hash * 0x9e3779b97f4a7c15ull) >> 32) & p->mask;
}

static uint32_t refs(const struct kv_blockpool_block *b)
{
    return b->ref & REFS;
}

/* The free queue is circular through the sentinel at index N (vLLM's fake head and tail). */
static void queue_unlink(struct kv_blockpool *p, uint32_t id)
{
    struct kv_blockpool_block *b = &p->blocks[id];

    p->blocks[b->prev].next = b->next;
    p->blocks[b->next].prev = b->prev;
    b->prev = b->next = KV_BLOCKPOOL_NONE;
    p->num_free--;
}

static void queue_append(struct kv_blockpool *p, uint32_t id)
{
    uint32_t s = p->num_blocks;
    uint32_t last = p->blocks[s].prev;

    p->blocks[id].prev = last;
    p->blocks[id].next = s;
    p->blocks[last].next = id;
    p->blocks[s].prev = id;
    p->num_free++;
}

static void table_insert(struct kv_blockpool *p, uint32_t id)
{
    uint32_t *link = &p->buckets[bucket(p, p->blocks[id].hash)];

    /* Tail insertion keeps duplicates of one hash in insertion order (first one wins). */
    while (*link != KV_BLOCKPOOL_NONE)
        link = &p->blocks[*link].hnext;
    *link = id;
    p->blocks[id].hnext = KV_BLOCKPOOL_NONE;
    p->num_cached++;
}

static void table_remove(struct kv_blockpool *p, uint32_t id)
{
    uint32_t *link = &p->buckets[bucket(p, p->blocks[id].hash)];

    while (*link != id) {
        assert(*link != KV_BLOCKPOOL_NONE);
        link = &p->blocks[*link].hnext;
    }
    *link = p->blocks[id].hnext;
    p->blocks[id].hnext = KV_BLOCKPOOL_NONE;
    p->num_cached--;
}

int kv_blockpool_init(struct kv_blockpool *p, uint32_t num_blocks, bool enable_caching)
{
    uint32_t nb = 1;

    memset(p, 0, sizeof(*p));
    if (num_blocks < 2 || num_blocks >= REFS)
        return -EINVAL;
    while (nb < num_blocks)
        nb <<= 1;
    p->blocks = kv_malloc(sizeof(*p->blocks) * ((size_t)num_blocks + 1));
    p->buckets = kv_malloc(sizeof(*p->buckets) * nb);
    memset(p->buckets, 0xff, sizeof(*p->buckets) * nb);
    p->mask = nb - 1;
    p->num_blocks = num_blocks;
    p->enable_caching = enable_caching;
    p->blocks[num_blocks] = (struct kv_blockpool_block){0, num_blocks, num_blocks,
                                                        KV_BLOCKPOOL_NONE, 0};
    for (uint32_t i = 0; i < num_blocks; i++) {
        p->blocks[i] = (struct kv_blockpool_block){0, 0, 0, KV_BLOCKPOOL_NONE, 0};
        queue_append(p, i);
    }
    /* Block 0 is vLLM's null block: popped once, never cached, never freed. */
    queue_unlink(p, 0);
    p->blocks[0].ref = 1;
    return 0;
}

void kv_blockpool_cleanup(struct kv_blockpool *p)
{
    KV_FREE(&p->blocks);
    KV_FREE(&p->buckets);
}

size_t kv_blockpool_memory(const struct kv_blockpool *p)
{
    return sizeof(*p->blocks) * ((size_t)p->num_blocks + 1) +
           sizeof(*p->buckets) * ((size_t)p->mask + 1);
}

double kv_blockpool_usage(const struct kv_blockpool *p)
{
    return 1.0 - (double)p->num_free / (double)p->num_blocks;
}

uint32_t kv_blockpool_lookup(const struct kv_blockpool *p, uint64_t hash)
{
    uint32_t id = p->buckets[bucket(p, hash)];

    while (id != KV_BLOCKPOOL_NONE && p->blocks[id].hash != hash)
        id = p->blocks[id].hnext;
    return id;
}

uint32_t kv_blockpool_get_computed(struct kv_blockpool *p, const uint64_t *hashes,
                                   uint32_t nhashes, uint32_t num_tokens, uint32_t block_size,
                                   uint32_t *out)
{
    uint32_t max_blocks, n = 0;

    if (!p->enable_caching)
        return 0;
    /* The last token is always recomputed: vLLM needs its logits. */
    max_blocks = num_tokens > 0 ? (num_tokens - 1) / block_size : 0;
    while (n < max_blocks && n < nhashes) {
        uint32_t id = kv_blockpool_lookup(p, hashes[n]);
        if (id == KV_BLOCKPOOL_NONE)
            break;
        out[n++] = id;
    }
    p->stats.requests++;
    p->stats.queries += num_tokens;
    p->stats.hits += (uint64_t)n * block_size;
    return n;
}

uint32_t kv_blockpool_count_evictable(const struct kv_blockpool *p, const uint32_t *ids,
                                      uint32_t n)
{
    uint32_t c = 0;

    for (uint32_t i = 0; i < n; i++)
        c += refs(&p->blocks[ids[i]]) == 0 && ids[i] != 0;
    return c;
}

void kv_blockpool_touch(struct kv_blockpool *p, const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct kv_blockpool_block *b = &p->blocks[ids[i]];
        if (refs(b) == 0 && ids[i] != 0)
            queue_unlink(p, ids[i]);
        b->ref++;
    }
}

int kv_blockpool_alloc(struct kv_blockpool *p, uint32_t n, uint32_t *out)
{
    uint32_t s = p->num_blocks;

    if (n > p->num_free)
        return -ENOSPC;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = p->blocks[s].next;
        struct kv_blockpool_block *b = &p->blocks[id];

        queue_unlink(p, id);
        if (b->ref & CACHED) {
            table_remove(p, id);
            b->ref &= ~CACHED;
        }
        assert(refs(b) == 0);
        b->ref = 1;
        out[i] = id;
    }
    return 0;
}

void kv_blockpool_cache(struct kv_blockpool *p, uint32_t id, uint64_t hash)
{
    struct kv_blockpool_block *b = &p->blocks[id];

    assert(!(b->ref & CACHED) && id != 0);
    b->hash = hash;
    b->ref |= CACHED;
    table_insert(p, id);
}

void kv_blockpool_free(struct kv_blockpool *p, const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = n; i-- > 0;) {
        struct kv_blockpool_block *b = &p->blocks[ids[i]];

        if (ids[i] == 0)
            continue;
        assert(refs(b) > 0);
        b->ref--;
        if (refs(b) == 0)
            queue_append(p, ids[i]);
    }
}

uint32_t kv_blockpool_ref(const struct kv_blockpool *p, uint32_t id)
{
    return refs(&p->blocks[id]);
}

bool kv_blockpool_hash_of(const struct kv_blockpool *p, uint32_t id, uint64_t *hash)
{
    if (!(p->blocks[id].ref & CACHED))
        return false;
    *hash = p->blocks[id].hash;
    return true;
}

uint32_t kv_blockpool_free_order(const struct kv_blockpool *p, uint32_t *out, uint32_t max)
{
    uint32_t n = 0;

    for (uint32_t id = p->blocks[p->num_blocks].next; id != p->num_blocks && n < max;
         id = p->blocks[id].next)
        out[n++] = id;
    return n;
}
