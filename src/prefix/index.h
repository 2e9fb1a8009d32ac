/* SPDX-License-Identifier: MIT */
/* src/prefix/index.h - approximate prefix index: which backends probably hold which blocks.
 *
 * Model: each backend's prefix cache is an LRU of at most <capacity> blocks (its
 * vllm:cache_config_info num_gpu_blocks, or a configured default). Every request the router
 * sends to a backend is recorded as that backend now holding the request's chained block hashes
 * (blockhash.h), most recently used; recording past capacity forgets the backend's least
 * recently used block, as vLLM's free queue would evict it. So the index forgets what a backend
 * has surely evicted instead of routing to stale prefixes forever (SGLang's tree does).
 *
 * Data: a global map block hash -> entry (u64map.h) over a preallocated pool of entries. An
 * entry holds up to KV_INDEX_SLOTS backends, each with a recency stamp (milliseconds since the
 * index was made) and the links of that backend's LRU list; one entry is one 64-byte cache line.
 * A fifth backend recording a block takes the slot of the entry's stalest holder. Per backend:
 * LRU head and tail, block count and capacity. The pool has a hard cap (max_entries): when it is
 * full, the globally stalest holding (the oldest of the backends' LRU tails) is dropped until an
 * entry frees (a scan of the backends ever recorded: ids are dense, as the daemon allocates
 * them). An entry is freed as soon as no backend holds it.
 *
 * Invariants: a backend's count <= its capacity; its LRU list links exactly the slots naming it,
 * stamps non-increasing from head to tail; between calls, entries in use == map items <=
 * max_entries (a freed entry's map slot is removed lazily, within the call that freed it, so
 * that the cold slot's fetch overlaps the call's other work).
 *
 * Cost: lookup is O(blocks) with at most KV_INDEX_SLOTS candidate backends ever alive (all must
 * hold block 0), one map probe per block, no allocation; record is O(blocks) plus the evictions
 * it causes; remove_backend is O(that backend's blocks). The entry pool is allocated at creation
 * (64 bytes an entry, touched only as entries are first used); the map grows with the entries in
 * use, 32-64 bytes each (at most 64 bytes per max_entries), so the hot path probes a map sized to
 * the live working set, not to the bound. Record may reallocate the map while it first grows,
 * without a stall (the items move over a few slots per insert; the slowest record while filling
 * 4Mi entries took 1.2 ms, against 67 ms for a rehash at once);
 * nothing else allocates. Stamps are 32-bit milliseconds, so ages are exact up to 49 days.
 * Pure: no I/O, not thread-safe.
 */
#ifndef KV_PREFIX_INDEX_H
#define KV_PREFIX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define KV_INDEX_SLOTS 4
/* Backend ids are 0 .. max_backends - 1, max_backends <= KV_INDEX_MAX_BACKENDS. */
#define KV_INDEX_MAX_BACKENDS 4096
/* Largest max_entries (entry references keep two bits for the slot). */
#define KV_INDEX_MAX_ENTRIES (1u << 29)

struct kv_index;

/* Makes an index of at most <max_entries> distinct blocks (1..KV_INDEX_MAX_ENTRIES) for backend
 * ids below <max_backends> (1..KV_INDEX_MAX_BACKENDS), each starting with <default_capacity>
 * blocks. <now_ns> (monotonic) is the origin of the recency stamps. Allocates the entry pool and
 * a small map (which grows as entries are used). Returns NULL if a size is out of range. */
struct kv_index *kv_index_new(uint32_t max_entries, uint32_t max_backends,
                              uint32_t default_capacity, uint64_t now_ns);
/* Frees the index; NULL is a no-op. */
void kv_index_free(struct kv_index *ix);

/* Sets backend <b>'s capacity in blocks (e.g. from num_gpu_blocks); shrinking below its count
 * forgets its least recently used blocks first. 0 makes it remember nothing. Returns 0 or
 * -EINVAL for a bad id. */
int kv_index_set_capacity(struct kv_index *ix, uint32_t b, uint32_t blocks);

/* For each backend, counts the leading blocks of the chain <h>[0..n) it holds: the walk starts at
 * block 0 and a backend's run ends at its first missing block; the walk stops at the first block
 * no candidate holds. Writes matched[b] for every b < max_backends (zero for most), so <matched>
 * must hold kv_index_max_backends() elements. Returns the longest match. Reads only: recency is
 * not refreshed (kv_index_record does that). */
uint32_t kv_index_lookup(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                         uint32_t *matched);
/* Records that backend <b> now holds blocks <h>[0..n), all most recently used, block 0 the most
 * (vLLM frees a request's blocks tail first, so its prefix is evicted last). Only the first
 * <capacity> blocks are recorded if the chain is longer. May evict <b>'s oldest blocks, a stale
 * holder of a shared entry, or globally stale blocks when the pool is full. <now_ns> is
 * monotonic. Returns the blocks recorded, or -EINVAL for a bad id. */
int kv_index_record(struct kv_index *ix, uint32_t b, const uint64_t *h, uint32_t n,
                    uint64_t now_ns);
/* Forgets every block of backend <b> (ejected or restarted); keeps its capacity. */
void kv_index_remove_backend(struct kv_index *ix, uint32_t b);

/* Blocks backend <b> is believed to hold (0 for a bad id): kvroute_index_blocks{backend}. */
uint32_t kv_index_blocks(const struct kv_index *ix, uint32_t b);
/* Backend <b>'s capacity in blocks (0 for a bad id). */
uint32_t kv_index_capacity(const struct kv_index *ix, uint32_t b);
/* How long ago (ns, millisecond resolution) backend <b>'s least recently used block was last
 * recorded: what its next eviction would throw away. 0 if it holds nothing. */
uint64_t kv_index_tail_age_ns(const struct kv_index *ix, uint32_t b, uint64_t now_ns);
/* Distinct blocks held by any backend (entries in use). */
uint32_t kv_index_entries(const struct kv_index *ix);
uint32_t kv_index_max_entries(const struct kv_index *ix);
uint32_t kv_index_max_backends(const struct kv_index *ix);
/* Bytes allocated by the index now (pool, map at its current size, per-backend state). */
size_t kv_index_bytes(const struct kv_index *ix);

#endif /* KV_PREFIX_INDEX_H */
