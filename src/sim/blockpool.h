/* SPDX-License-Identifier: MIT */
/* src/sim/blockpool.h - the KV block pool of vLLM v1 (v0.10.0): free queue, hash table, ref counts.
 *
 * Follows vllm/v1/core/block_pool.py and kv_cache_utils.py (FreeKVCacheBlockQueue):
 *  - N blocks; block 0 is the null block, popped at start and never freed, so N - 1 are usable.
 *  - The free queue is an intrusive doubly linked list (indices, with a sentinel at index N) in
 *    eviction order: it starts in block-id order, allocation pops from the head, and freed
 *    blocks are appended at the tail. A request's blocks are freed in REVERSE order (the caller
 *    passes them in request order; kv_blockpool_free() walks backwards), so that of blocks freed
 *    together the chain's tail is evicted first.
 *  - A full block is keyed by its chained 64-bit hash (src/sim/kvhash.h) in a chained hash
 *    table (power-of-two buckets >= N). Several blocks may hold the same hash (two requests that
 *    computed the same block in the same step); lookup returns the one inserted first, as
 *    vLLM's dict of {block_id: block} per hash does.
 *  - A freed block keeps its hash and can still be hit (touch takes it off the free queue and
 *    increments its ref count) until it is popped for reuse: eviction is lazy, the hash entry is
 *    dropped only then.
 *  - Prefix-cache stats count as KVCacheManager.get_computed_blocks() does: per call (a new
 *    request, or a preempted one being rescheduled, every time the scheduler tries it while its
 *    num_computed_tokens is 0), requests += 1, queries += the request's num_tokens (prompt plus
 *    tokens generated before a preemption), hits += cached tokens found. With prefix caching
 *    off nothing is counted (vLLM returns before counting).
 *  - Usage is 1 - free / N (N counts the null block), as BlockPool.get_usage().
 *
 * Memory: 24 bytes a block + 4 bytes a bucket (about 28-32 bytes a block); no allocation after
 * init. All operations are O(1) per block touched. Request block tables belong to the caller.
 */
#ifndef KV_SIM_BLOCKPOOL_H
#define KV_SIM_BLOCKPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_BLOCKPOOL_NONE UINT32_MAX

struct kv_blockpool_block {
    uint64_t hash;  /* meaningful while the CACHED bit of ref is set */
    uint32_t prev;  /* free-queue links (block ids; the sentinel is id N) */
    uint32_t next;
    uint32_t hnext; /* next block in the same hash bucket, or KV_BLOCKPOOL_NONE */
    uint32_t ref;   /* low 31 bits: reference count; top bit: has a hash (in the table) */
};

struct kv_blockpool_stats {
    uint64_t requests;
    uint64_t queries; /* tokens queried */
    uint64_t hits;    /* tokens found cached */
};

struct kv_blockpool {
    struct kv_blockpool_block *blocks; /* N + 1 entries */
    uint32_t *buckets;
    uint32_t mask;
    uint32_t num_blocks; /* N, null block included */
    uint32_t num_free;
    uint32_t num_cached; /* blocks holding a hash */
    bool enable_caching;
    struct kv_blockpool_stats stats;
};

/* Sets up a pool of <num_blocks> (>= 2, < 2^31) blocks. Returns 0 or -EINVAL. */
int kv_blockpool_init(struct kv_blockpool *p, uint32_t num_blocks, bool enable_caching);
void kv_blockpool_cleanup(struct kv_blockpool *p);

/* Bytes the pool allocated (blocks and buckets), for the memory report. */
size_t kv_blockpool_memory(const struct kv_blockpool *p);
static inline uint32_t kv_blockpool_num_free(const struct kv_blockpool *p)
{
    return p->num_free;
}
/* 1 - free / N, as vLLM's kv_cache_usage_perc. */
double kv_blockpool_usage(const struct kv_blockpool *p);

/* The cached block with <hash> (first inserted), or KV_BLOCKPOOL_NONE. */
uint32_t kv_blockpool_lookup(const struct kv_blockpool *p, uint64_t hash);

/* get_computed_blocks(): walks <hashes>[0, <nhashes>) (the request's full-block hashes in chain
 * order) and stops at the first miss, covering at most (num_tokens - 1) / block_size blocks so
 * the last token is always recomputed. Writes the hit block ids to <out> (room for <nhashes>) and
 * returns their count; counts the stats (above). Returns 0 without counting when caching is off.
 * The blocks are not touched: the caller does that once it decides to allocate. */
uint32_t kv_blockpool_get_computed(struct kv_blockpool *p, const uint64_t *hashes,
                                   uint32_t nhashes, uint32_t num_tokens, uint32_t block_size,
                                   uint32_t *out);

/* How many of <ids>[0, <n>) sit in the free queue (ref 0): touching them takes free blocks,
 * so allocation must count them (vLLM's num_evictable_computed_blocks). */
uint32_t kv_blockpool_count_evictable(const struct kv_blockpool *p, const uint32_t *ids,
                                      uint32_t n);
/* Takes a reference on each of <ids>, removing those with ref 0 from the free queue. */
void kv_blockpool_touch(struct kv_blockpool *p, const uint32_t *ids, uint32_t n);
/* Pops <n> blocks from the free queue head into <out> with ref 1, dropping any hash they held
 * (lazy eviction). Returns 0, or -ENOSPC (nothing changed) when fewer than <n> are free. */
int kv_blockpool_alloc(struct kv_blockpool *p, uint32_t n, uint32_t *out);
/* Marks full block <id> (held by the caller, no hash yet) as holding <hash>. */
void kv_blockpool_cache(struct kv_blockpool *p, uint32_t id, uint64_t hash);
/* Drops one reference on each of <ids>[0, <n>) walking from the LAST to the first; blocks
 * reaching 0 are appended to the free-queue tail in that order, keeping their hash. */
void kv_blockpool_free(struct kv_blockpool *p, const uint32_t *ids, uint32_t n);

/* Introspection for tests and metrics. */
uint32_t kv_blockpool_ref(const struct kv_blockpool *p, uint32_t id);
bool kv_blockpool_hash_of(const struct kv_blockpool *p, uint32_t id, uint64_t *hash);
/* Writes up to <max> free-queue ids, head first; returns how many were written. */
uint32_t kv_blockpool_free_order(const struct kv_blockpool *p, uint32_t *out, uint32_t max);

#endif /* KV_SIM_BLOCKPOOL_H */
