/* SPDX-License-Identifier: MIT */
/* src/prefix/u64map.h - bounded open-addressing map from a 64-bit hash to a 32-bit index.
 *
 * The map holds no values of its own: callers keep their records in a preallocated pool and
 * store the pool index here, so records never move when the map reshuffles (the prefix index
 * and the session table link their records into LRU lists by index). Keys are already
 * well-mixed hashes (keyed XXH3), but a Fibonacci multiply still spreads them over the slots, so
 * an unkeyed or low-entropy key cannot pile into one run.
 *
 * Layout: a power-of-two array of {key, val} slots, at least twice the item bound, so the load
 * factor stays <= 0.5 and a probe averages about 1.5 slots. Linear probing; deletion shifts the
 * following run back (no tombstones), so lookups never slow down with churn. Any 64-bit key is
 * valid; a slot is empty when its val is KV_U64MAP_NONE. The array is allocated for the item
 * bound at init (the session table's use: a bound it fills). Cost: one allocation at init, none
 * after; get/put/del O(1) expected. Not thread-safe.
 *
 * struct kv_u64map_ref (below) is the growing map for callers whose records hold their own keys
 * and whose bound is far above what they usually hold (the prefix index: a map sized for a 4Mi
 * bound is 128 MB of slots that 200k live items would spread over, missing the caches and the
 * TLB on every probe). 8-byte {tag, val} slots at load <= 0.25, the bytes a {key, val} map
 * spends at 0.5; measured on the index's record path (micro_prefix_index), 20% faster than a
 * growing {key, val} map, as nearly every probe, hit or miss, ends at its home slot.
 */
#ifndef KV_PREFIX_U64MAP_H
#define KV_PREFIX_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_U64MAP_NONE UINT32_MAX
/* Fibonacci hashing: a key's home slot is the top log2(slots) bits of key * this. */
#define KV_U64MAP_MUL 0x9e3779b97f4a7c15ull
/* Largest item bound accepted by kv_u64map_init (keeps the slot array under 2^31 slots). */
#define KV_U64MAP_MAX_ITEMS (1u << 30)

struct kv_u64map_slot {
    uint64_t key;
    uint32_t val; /* KV_U64MAP_NONE: empty */
    uint32_t pad;
};

struct kv_u64map {
    struct kv_u64map_slot *slots;
    uint32_t mask;  /* slot count - 1 */
    uint32_t count; /* items stored */
    uint32_t max;   /* item bound given at init */
    unsigned shift; /* 64 - log2(slot count) */
};

/* Prepares a map for at most <max_items> items (1..KV_U64MAP_MAX_ITEMS) and allocates its slots
 * (about 32 bytes an item). Returns 0 or -EINVAL for a bound out of range. */
int kv_u64map_init(struct kv_u64map *m, uint32_t max_items);
/* Frees the slots; the map must be initialized again before reuse. Safe on a zeroed map. */
void kv_u64map_cleanup(struct kv_u64map *m);
/* Returns the value stored under <key>, or KV_U64MAP_NONE. */
static inline uint32_t kv_u64map_get(const struct kv_u64map *m, uint64_t key)
{
    uint32_t i = (uint32_t)((key * KV_U64MAP_MUL) >> m->shift);

    for (;;) {
        const struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return KV_U64MAP_NONE;
        if (s->key == key)
            return s->val;
        i = (i + 1) & m->mask;
    }
}
/* Stores <val> (!= KV_U64MAP_NONE) under <key>, replacing any value there. Returns 0, or
 * -ENOSPC if the key is new and the map already holds max_items (nothing changes). */
int kv_u64map_put(struct kv_u64map *m, uint64_t key, uint32_t val);
/* Removes <key>; returns true if it was there. */
bool kv_u64map_del(struct kv_u64map *m, uint64_t key);
/* Bytes allocated for slots. */
size_t kv_u64map_bytes(const struct kv_u64map *m);

/* A growing map whose keys live in the caller's records, not in the map: record v's key is the
 * (8-byte aligned) uint64_t at <keys> + v * <stride> bytes. A slot is 8 bytes, {tag, val}: tag
 * is the top 32 bits of key * KV_U64MAP_MUL, so its home slot is the tag's top bits and growth
 * and deletion never read the records; a tag match is confirmed on the record (which the prefix
 * index reads next anyway). The array doubles to keep the load <= 0.25: 32-64 bytes an item
 * stored, at most 64 bytes per max_items. The records must not move, and a record's key must be
 * in place from its put to its del.
 *
 * Growth never stalls: the doubled array comes zeroed from calloc (0 is an empty slot, so no
 * pass initializes it) and, past 2^16 slots, the items move over incrementally, a few slots of
 * the old array per put, whole runs at a time, so every key is in exactly one array and a run is never split.
 * Until the move is done, a probe that misses the new array tries the old one. The move ends
 * before the next doubling could be needed (8 old slots a put, against at least an eighth of
 * the new slot count of puts); the old array goes back to the kernel 2 MiB at a time as the move
 * passes it. Rehashing 2M items at once took 67 ms here; the slowest insert now takes ~1 ms. */
struct kv_u64map_ref_slot {
    uint32_t tag;
    uint32_t val; /* value + 1; 0: empty */
};

struct kv_u64map_ref {
    struct kv_u64map_ref_slot *slots;
    const char *keys;
    size_t stride;
    uint32_t mask;     /* slot count - 1 */
    uint32_t count;    /* items stored, in both arrays */
    uint32_t max;      /* item bound given at init */
    uint32_t max_mask; /* mask at the bound: growth stops there */
    unsigned shift;    /* 64 - log2(slot count) */
    /* The array being emptied into <slots> after a doubling (NULL when none): */
    struct kv_u64map_ref_slot *old;
    uint32_t old_mask, mig_pos, mig_left; /* next old slot to move; old slots left to visit */
    uint32_t mig_start;                   /* where the move started (an empty slot) */
    unsigned old_shift;
};

/* Prepares a map for at most <max_items> items (1..KV_U64MAP_MAX_ITEMS) with slots for
 * min(<start_items>, <max_items>) to start (at least 1); keys are read at <keys> (borrowed for
 * the map's life) + val * <stride>. Returns 0 or -EINVAL for a bound out of range. */
int kv_u64map_ref_init(struct kv_u64map_ref *m, uint32_t max_items, uint32_t start_items,
                       const uint64_t *keys, size_t stride);
/* Frees the slots (both arrays while growing). Safe on a zeroed map. */
void kv_u64map_ref_cleanup(struct kv_u64map_ref *m);

static inline uint64_t kv_u64map_ref_key(const struct kv_u64map_ref *m, uint32_t val)
{
    return *(const uint64_t *)(const void *)(m->keys + (size_t)val * m->stride);
}

/* The probe of the old array while a doubling is being moved over (u64map.c). */
uint32_t kv__u64map_ref_get_old(const struct kv_u64map_ref *m, uint64_t key);

/* Returns the value stored under <key>, or KV_U64MAP_NONE. */
static inline uint32_t kv_u64map_ref_get(const struct kv_u64map_ref *m, uint64_t key)
{
    uint64_t p = key * KV_U64MAP_MUL;
    uint32_t tag = (uint32_t)(p >> 32), i = (uint32_t)(p >> m->shift);

    for (;;) {
        const struct kv_u64map_ref_slot *s = &m->slots[i];
        if (s->val == 0)
            return m->old ? kv__u64map_ref_get_old(m, key) : KV_U64MAP_NONE;
        if (s->tag == tag && kv_u64map_ref_key(m, s->val - 1) == key)
            return s->val - 1;
        i = (i + 1) & m->mask;
    }
}
/* Stores <val> (!= KV_U64MAP_NONE, whose record holds <key>) under <key>, replacing any value
 * there; may start a doubling or move part of one. Returns 0, or -ENOSPC if the key is new and the map already
 * holds max_items (nothing changes). */
int kv_u64map_ref_put(struct kv_u64map_ref *m, uint64_t key, uint32_t val);
/* Removes <key> (its record must still hold it); returns true if it was there. */
bool kv_u64map_ref_del(struct kv_u64map_ref *m, uint64_t key);
/* Removes the slot that maps <key>'s tag to <val>, without reading the record (which may hold
 * another key by now: a caller that unmaps lazily, after reusing the record); returns true if
 * it was there. */
bool kv_u64map_ref_del_val(struct kv_u64map_ref *m, uint64_t key, uint32_t val);
/* The tag a slot keeps for <key>. */
static inline uint32_t kv_u64map_ref_tag(uint64_t key)
{
    return (uint32_t)((key * KV_U64MAP_MUL) >> 32);
}
/* Hints the CPU to fetch <key>'s home slot. No effect on the map. */
static inline void kv_u64map_ref_prefetch(const struct kv_u64map_ref *m, uint64_t key)
{
    __builtin_prefetch(&m->slots[(key * KV_U64MAP_MUL) >> m->shift]);
}
/* Bytes allocated for slots now. */
size_t kv_u64map_ref_bytes(const struct kv_u64map_ref *m);

#endif /* KV_PREFIX_U64MAP_H */
