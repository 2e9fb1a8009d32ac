/* SPDX-License-Identifier: MIT */
/* src/prefix/u64map.c - linear-probing hash -> index map with backward-shift deletion. */
#include "prefix/u64map.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "base/mem.h"

static inline uint32_t home(const struct kv_u64map *m, uint64_t key)
{
    return (uint32_t)((key * KV_U64MAP_MUL) >> m->shift);
}

/* Log2 of the slot count that keeps <items> at load <= 0.5 (at least 2 slots). */
static unsigned bits_for(uint32_t items)
{
    unsigned bits = 1;

    while ((1ull << bits) < 2ull * items)
        bits++;
    return bits;
}

static void alloc_slots(struct kv_u64map *m, unsigned bits)
{
    uint64_t nslots = 1ull << bits;

    m->slots = kv_malloc(nslots * sizeof(*m->slots));
    for (uint64_t i = 0; i < nslots; i++)
        m->slots[i].val = KV_U64MAP_NONE;
    m->mask = (uint32_t)(nslots - 1);
    m->shift = 64 - bits;
}

int kv_u64map_init_grow(struct kv_u64map *m, uint32_t max_items, uint32_t start_items)
{
    if (max_items == 0 || max_items > KV_U64MAP_MAX_ITEMS)
        return -EINVAL;
    alloc_slots(m, bits_for(KV_MAX(KV_MIN(start_items, max_items), 1u)));
    m->count = 0;
    m->max = max_items;
    m->max_mask = (uint32_t)((1ull << bits_for(max_items)) - 1);
    return 0;
}

int kv_u64map_init(struct kv_u64map *m, uint32_t max_items)
{
    return kv_u64map_init_grow(m, max_items, max_items);
}

void kv_u64map_cleanup(struct kv_u64map *m)
{
    KV_FREE(&m->slots);
    m->count = 0;
    m->mask = 0;
}

/* Doubles the slot array and reinserts every item (no key is present twice, so each goes to the
 * first empty slot of its probe). */
static void grow(struct kv_u64map *m)
{
    struct kv_u64map_slot *old = m->slots;
    uint32_t old_mask = m->mask;

    alloc_slots(m, 64 - m->shift + 1);
    for (uint64_t j = 0; j <= old_mask; j++) {
        if (old[j].val == KV_U64MAP_NONE)
            continue;
        uint32_t i = home(m, old[j].key);
        while (m->slots[i].val != KV_U64MAP_NONE)
            i = (i + 1) & m->mask;
        m->slots[i] = old[j];
    }
    free(old);
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
    if (m->count >= m->max)
        return -ENOSPC;
    /* Load <= 0.5 after the insert; at max_mask it always holds, as count < max there. */
    if (2ull * (m->count + 1) > (uint64_t)m->mask + 1) {
        assert(m->mask < m->max_mask);
        grow(m);
        i = home(m, key);
        while (m->slots[i].val != KV_U64MAP_NONE)
            i = (i + 1) & m->mask;
    }
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

size_t kv_u64map_bytes(const struct kv_u64map *m)
{
    return m->slots ? ((size_t)m->mask + 1) * sizeof(*m->slots) : 0;
}

/* The ref map: slots hold {tag, val}; tag = top 32 bits of key * MUL, so a slot's home is
 * tag >> (32 - log2(slots)) and growth or deletion need no key. */

static inline uint32_t ref_home(const struct kv_u64map_ref *m, uint32_t tag)
{
    return (uint32_t)(((uint64_t)tag << 32) >> m->shift);
}

static void ref_alloc(struct kv_u64map_ref *m, unsigned bits)
{
    uint64_t nslots = 1ull << bits;

    m->slots = kv_malloc(nslots * sizeof(*m->slots));
    for (uint64_t i = 0; i < nslots; i++)
        m->slots[i].val = KV_U64MAP_NONE;
    m->mask = (uint32_t)(nslots - 1);
    m->shift = 64 - bits;
}

/* Log2 of the slots keeping <items> at load <= 0.25, at least 4 slots, at most 2^32 (a bound of
 * 2^30 items then sits at 0.25 too). */
static unsigned ref_bits(uint32_t items)
{
    unsigned bits = 2;

    while (bits < 32 && (1ull << bits) < 4ull * items)
        bits++;
    return bits;
}

int kv_u64map_ref_init(struct kv_u64map_ref *m, uint32_t max_items, uint32_t start_items,
                       const uint64_t *keys, size_t stride)
{
    if (max_items == 0 || max_items > KV_U64MAP_MAX_ITEMS)
        return -EINVAL;
    ref_alloc(m, ref_bits(KV_MAX(KV_MIN(start_items, max_items), 1u)));
    m->keys = (const char *)keys;
    m->stride = stride;
    m->count = 0;
    m->max = max_items;
    m->max_mask = (uint32_t)((1ull << ref_bits(max_items)) - 1);
    return 0;
}

void kv_u64map_ref_cleanup(struct kv_u64map_ref *m)
{
    KV_FREE(&m->slots);
    m->count = 0;
    m->mask = 0;
}

static void ref_grow(struct kv_u64map_ref *m)
{
    struct kv_u64map_ref_slot *old = m->slots;
    uint64_t old_n = (uint64_t)m->mask + 1;

    ref_alloc(m, 64 - m->shift + 1);
    for (uint64_t j = 0; j < old_n; j++) {
        if (old[j].val == KV_U64MAP_NONE)
            continue;
        uint32_t i = ref_home(m, old[j].tag);
        while (m->slots[i].val != KV_U64MAP_NONE)
            i = (i + 1) & m->mask;
        m->slots[i] = old[j];
    }
    free(old);
}

int kv_u64map_ref_put(struct kv_u64map_ref *m, uint64_t key, uint32_t val)
{
    uint32_t tag = (uint32_t)((key * KV_U64MAP_MUL) >> 32), i = ref_home(m, tag);

    for (;; i = (i + 1) & m->mask) {
        struct kv_u64map_ref_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            break;
        if (s->tag == tag && kv_u64map_ref_key(m, s->val) == key) {
            s->val = val;
            return 0;
        }
    }
    if (m->count >= m->max)
        return -ENOSPC;
    if (4ull * (m->count + 1) > (uint64_t)m->mask + 1 && m->mask < m->max_mask) {
        ref_grow(m);
        for (i = ref_home(m, tag); m->slots[i].val != KV_U64MAP_NONE; i = (i + 1) & m->mask)
            ;
    }
    m->slots[i] = (struct kv_u64map_ref_slot){tag, val};
    m->count++;
    return 0;
}

/* Empties slot <i> and shifts the rest of its run back, as close_hole. */
static void ref_remove_at(struct kv_u64map_ref *m, uint32_t i)
{
    uint32_t hole = i, j = i;

    m->slots[i].val = KV_U64MAP_NONE;
    m->count--;
    for (;;) {
        j = (j + 1) & m->mask;
        struct kv_u64map_ref_slot *s = &m->slots[j];
        if (s->val == KV_U64MAP_NONE)
            return;
        uint32_t h = ref_home(m, s->tag);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays)
            continue;
        m->slots[hole] = *s;
        s->val = KV_U64MAP_NONE;
        hole = j;
    }
}

bool kv_u64map_ref_del(struct kv_u64map_ref *m, uint64_t key)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = ref_home(m, tag);

    for (;; i = (i + 1) & m->mask) {
        const struct kv_u64map_ref_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return false;
        if (s->tag == tag && kv_u64map_ref_key(m, s->val) == key)
            break;
    }
    ref_remove_at(m, i);
    return true;
}

bool kv_u64map_ref_del_val(struct kv_u64map_ref *m, uint64_t key, uint32_t val)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = ref_home(m, tag);

    for (;; i = (i + 1) & m->mask) {
        const struct kv_u64map_ref_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return false;
        if (s->tag == tag && s->val == val)
            break;
    }
    ref_remove_at(m, i);
    return true;
}

size_t kv_u64map_ref_bytes(const struct kv_u64map_ref *m)
{
    return m->slots ? ((size_t)m->mask + 1) * sizeof(*m->slots) : 0;
}
