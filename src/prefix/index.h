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
 * Data: a radix tree of runs. Block hashes are chained (a hash names its whole prefix), so the
 * recorded chains form a tree; a node is a run of up to KV_INDEX_RUN consecutive blocks, stored
 * in sequence, and a map (u64map.h) finds a node by the hash of its first block. A walk costs
 * one map probe a node and compares the blocks of a node in sequence, instead of a probe a
 * block. A node keeps up to KV_INDEX_SLOTS holders: a backend, how many of the node's leading
 * blocks it holds, a recency stamp (milliseconds since the index was made) and the links of that
 * backend's LRU list of holdings. Recording links the chain's nodes at the head of the list,
 * root first, so a node's ancestors are always nearer the head than it: the list's tail is a
 * holding with nothing of that backend's below it, and evicting trims the tail's last blocks,
 * exactly the blocks a per-block LRU (block 0 of each chain the most recent) would evict. A
 * record that ends inside a node, or leaves it for another branch, splits it. A fifth backend
 * recording a node takes the slot of its stalest holder. A node with no holders and no children
 * is freed; one with children keeps its blocks for them.
 *
 * Bounds: blocks stored in nodes <= max_entries, nodes <= max_entries / 4 + 16. When either
 * would be exceeded, the globally stalest holding (the oldest of the backends' LRU tails) is
 * trimmed until there is room (a scan of the backends ever recorded: ids are dense, as the
 * daemon allocates them).
 *
 * The chain property is assumed, not trusted: a node found by hash whose parent is not the node
 * the walk came from (hashes that are not a chain) ends the walk; nothing breaks, the answer is
 * only less complete.
 *
 * Cost: lookup and record are O(nodes on the chain's path + blocks compared), no allocation;
 * record adds the evictions it causes; remove_backend is O(that backend's holdings). The node
 * pool is allocated at creation (touched only as nodes are first used); the map grows with the
 * nodes in use. Stamps are 32-bit milliseconds, so ages are exact up to 49 days.
 * Pure: no I/O, not thread-safe.
 */
#ifndef KV_PREFIX_INDEX_H
#define KV_PREFIX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define KV_INDEX_SLOTS 4
/* Blocks a node holds at most. */
#define KV_INDEX_RUN 16
/* Backend ids are 0 .. max_backends - 1, max_backends <= KV_INDEX_MAX_BACKENDS. */
#define KV_INDEX_MAX_BACKENDS 4096
/* Largest max_entries (holding references keep two bits for the slot). */
#define KV_INDEX_MAX_ENTRIES (1u << 29)

struct kv_index;

/* Makes an index of at most <max_entries> distinct blocks (1..KV_INDEX_MAX_ENTRIES) for backend
 * ids below <max_backends> (1..KV_INDEX_MAX_BACKENDS), each starting with <default_capacity>
 * blocks. <now_ns> (monotonic) is the origin of the recency stamps. Allocates the node pool and
 * a small map (which grows as nodes are used). Returns NULL if a size is out of range. */
struct kv_index *kv_index_new(uint32_t max_entries, uint32_t max_backends,
                              uint32_t default_capacity, uint64_t now_ns);
/* Frees the index; NULL is a no-op. */
void kv_index_free(struct kv_index *ix);

/* Sets backend <b>'s capacity in blocks (e.g. from num_gpu_blocks); shrinking below its count
 * forgets its least recently used blocks first. 0 makes it remember nothing. Returns 0 or
 * -EINVAL for a bad id. */
int kv_index_set_capacity(struct kv_index *ix, uint32_t b, uint32_t blocks);

/* For each backend, counts the leading blocks of the chain <h>[0..n) it holds: 1 + the position
 * of the deepest block of the chain it holds, since a backend holding a block of a chain holds
 * its prefix (what the index does not show it holding there, it lost to a fifth holder taking
 * its slot, not to eviction). The walk follows the chain through the tree as far as the tree has
 * it. Writes matched[b] for every b < max_backends (zero for most), so <matched> must hold
 * kv_index_max_backends() elements. Returns the longest match. Reads only: recency is not
 * refreshed (kv_index_record does that). */
uint32_t kv_index_lookup(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                         uint32_t *matched);
/* As kv_index_lookup, but writes only the counts of the backends it credits (at most
 * KV_INDEX_SLOTS a run on the chain's path) and leaves the rest of <matched> as it was: a caller
 * that reads a few entries zeroes those first instead of the whole array. */
uint32_t kv_index_lookup_into(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                              uint32_t *matched);
/* Records that backend <b> now holds blocks <h>[0..n), all most recently used, block 0 the most
 * (vLLM frees a request's blocks tail first, so its prefix is evicted last). Only the first
 * <capacity> blocks are recorded if the chain is longer. May evict <b>'s oldest blocks, a stale
 * holder of a shared node, or globally stale blocks when the pool is full. <now_ns> is
 * monotonic. Returns the blocks recorded (fewer than asked only if the hashes are not a chain,
 * or the bounds cannot hold the chain beside what this call protects), or -EINVAL for a bad
 * id. */
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
/* Blocks stored in the tree (distinct blocks held by some backend, and those kept as the
 * ancestors of held ones). */
uint32_t kv_index_entries(const struct kv_index *ix);
uint32_t kv_index_max_entries(const struct kv_index *ix);
uint32_t kv_index_max_backends(const struct kv_index *ix);
/* Checks the index's invariants (for tests; O(nodes + holdings), allocates): every node in use
 * is mapped by its first block and holds 1..KV_INDEX_RUN blocks, no holder holds more of it
 * than it has, and it is held or has children (counted right); the blocks add up; each
 * backend's list links exactly its holdings, most recent first, and their blocks add up to its
 * count, within its capacity. Returns 0, or minus the source line of the first that fails. */
int kv_index_check(const struct kv_index *ix);
/* Bytes allocated by the index now (node pool, map at its current size, per-backend state). */
size_t kv_index_bytes(const struct kv_index *ix);

#endif /* KV_PREFIX_INDEX_H */
