/* SPDX-License-Identifier: MIT */
/* src/prefix/u64map.c - linear-probing hash -> index map with backward-shift deletion. */
#include "prefix/u64map.h"

#include <errno.h>
#include <stdlib.h>

#include "base/mem.h"

static inline uint32_t home(const struct kv_u64map *m, uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> m->shift);
}

int kv_u64map_init(struct kv_u64map *m, uint32_t max_items)
{
    uint64_t nslots = 2;
    unsigned bits = 1;

    if (max_items == 0 || max_items > KV_U64MAP_MAX_ITEMS)
        return -EINVAL;
    while (nslots < 2ull * max_items) {
        nslots <<= 1;
        bits++;
    }
    m->slots = kv_malloc(nslots * sizeof(*m->slots));
    for (uint64_t i = 0; i < nslots; i++)
        m->slots[i].val = KV_U64MAP_NONE;
    m->mask = (uint32_t)(nslots - 1);
    m->count = 0;
    m->max = max_items;
    m->shift = 64 - bits;
    return 0;
}

void kv_u64map_cleanup(struct kv_u64map *m)
{
    KV_FREE(&m->slots);
    m->count = 0;
    m->mask = 0;
}

uint32_t kv_u64map_get(const struct kv_u64map *m, uint64_t key)
{
    uint32_t i = home(m, key);

    for (;;) {
        const struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return KV_U64MAP_NONE;
        if (s->key == key)
            return s->val;
        i = (i + 1) & m->mask;
    }
}

int kv_u64map_put(struct kv_u64map *m, uint64_t key, uint32_t val)
{
    uint32_t i = home(m, key);

    for (;;) {
        struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            break;
        if (s->key == key) {
            s->val = val;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    /* The load factor stays <= 0.5 because count <= max and slots >= 2 * max. */
    if (m->count >= m->max)
        return -ENOSPC;
    m->slots[i].key = key;
    m->slots[i].val = val;
    m->count++;
    return 0;
}

/* Knuth 6.4 algorithm R: after emptying slot <hole>, move back every later item of the run whose
 * home does not lie cyclically in (hole, j], so no lookup ever stops early at the hole. */
static void close_hole(struct kv_u64map *m, uint32_t hole)
{
    uint32_t j = hole;

    for (;;) {
        j = (j + 1) & m->mask;
        struct kv_u64map_slot *s = &m->slots[j];
        if (s->val == KV_U64MAP_NONE)
            break;
        uint32_t h = home(m, s->key);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays)
            continue;
        m->slots[hole] = *s;
        s->val = KV_U64MAP_NONE;
        hole = j;
    }
}

bool kv_u64map_del(struct kv_u64map *m, uint64_t key)
{
    uint32_t i = home(m, key);

    for (;;) {
        struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return false;
        if (s->key == key)
            break;
        i = (i + 1) & m->mask;
    }
    m->slots[i].val = KV_U64MAP_NONE;
    m->count--;
    close_hole(m, i);
    return true;
}

void kv_u64map_prefetch(const struct kv_u64map *m, uint64_t key)
{
    __builtin_prefetch(&m->slots[home(m, key)]);
}

size_t kv_u64map_bytes(const struct kv_u64map *m)
{
    return m->slots ? ((size_t)m->mask + 1) * sizeof(*m->slots) : 0;
}
