/* SPDX-License-Identifier: MIT */
/* src/prefix/u64map.h - fixed-capacity open-addressing map from a 64-bit hash to a 32-bit index.
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
 * valid; a slot is empty when its val is KV_U64MAP_NONE. Cost: one allocation at init, none
 * after; get/put/del are O(1) expected. Not thread-safe.
 */
#ifndef KV_PREFIX_U64MAP_H
#define KV_PREFIX_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_U64MAP_NONE UINT32_MAX
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
uint32_t kv_u64map_get(const struct kv_u64map *m, uint64_t key);
/* Stores <val> (!= KV_U64MAP_NONE) under <key>, replacing any value there. Returns 0, or
 * -ENOSPC if the key is new and the map already holds max_items (nothing changes). */
int kv_u64map_put(struct kv_u64map *m, uint64_t key, uint32_t val);
/* Removes <key>; returns true if it was there. */
bool kv_u64map_del(struct kv_u64map *m, uint64_t key);
/* Hints the CPU to fetch the slot where <key>'s probe starts (lookups of a known key sequence
 * issue this a few keys ahead, so the cache misses overlap). No effect on the map. */
void kv_u64map_prefetch(const struct kv_u64map *m, uint64_t key);
/* Bytes allocated for slots. */
size_t kv_u64map_bytes(const struct kv_u64map *m);

#endif /* KV_PREFIX_U64MAP_H */
