/* SPDX-License-Identifier: MIT */
/* src/prefix/blockhash.h - keyed, chained block hashes of a prompt (text bytes or token ids).
 *
 * A prompt is cut into fixed-size blocks; block i's hash covers block i and, through the chain,
 * every block before it: h_i = XXH3_64(block_i, seed ^ h_{i-1}), with h_{-1} = <root>
 * (0, or kv_blockhash_root() of a salt such as the model name, so two models never share a
 * chain). Equal hashes at position i therefore mean equal prefixes up to block i, as in vLLM's
 * prefix cache. A trailing partial block is never hashed (vLLM only caches full blocks).
 * The chain enters through XXH3's seed rather than as 8 more input bytes, so a block is hashed
 * in place, where it lies in the caller's text, with no copy: 5.6 ns instead of 8.9 ns a
 * 64-byte block (docs/benchmarks.md "Routing decision").
 *
 * Two modes: text mode hashes block_size bytes of the canonical prompt text (default 64 bytes,
 * about one 16-token vLLM block at ~4 bytes a token); token mode hashes block_size token ids,
 * each as 4 little-endian bytes, chained the same way.
 *
 * Keying: the seed is a per-process secret (kv_blockhash_seed() draws it from the OS), so a
 * client cannot craft prompts whose blocks collide in the router's tables (hash flooding).
 * Replicas that must agree on hashes share a configured seed instead.
 *
 * Data: a struct kv_blockhash is the incremental state: the chain value, the carried partial
 * block, and the caller's output array. Feed text as it arrives in any pieces; the result is the
 * same as one-shot hashing of the concatenation. Output is capped at the caller's <max>: blocks
 * past the cap are counted (total_blocks) but not hashed, so a huge prompt costs nothing beyond
 * the cap. Cost: one XXH3 of block_size bytes per block (a block split across two feeds is
 * copied once), no allocation. Pure: no I/O.
 */
#ifndef KV_PREFIX_BLOCKHASH_H
#define KV_PREFIX_BLOCKHASH_H

#include <stddef.h>
#include <stdint.h>

#define KV_BLOCKHASH_DEFAULT_BYTES 64
#define KV_BLOCKHASH_DEFAULT_TOKENS 16
/* Largest block, in bytes (text mode) or 4 * tokens (token mode). */
#define KV_BLOCKHASH_MAX_BYTES 4096

enum kv_blockhash_mode {
    KV_BLOCKHASH_TEXT = 0, /* block_size bytes of text */
    KV_BLOCKHASH_TOKENS,   /* block_size int32 token ids */
};

struct kv_blockhash {
    uint64_t seed;
    uint64_t chain;        /* h_{i-1}: the last hash produced, or the root */
    uint64_t *out;         /* caller's array, borrowed */
    uint32_t max;          /* capacity of out */
    uint32_t n;            /* hashes written to out */
    uint64_t total_blocks; /* full blocks seen, hashed or past the cap */
    uint32_t block_bytes;  /* bytes per block */
    uint32_t fill;         /* bytes of the partial block held in buf */
    enum kv_blockhash_mode mode;
    unsigned char buf[KV_BLOCKHASH_MAX_BYTES]; /* a block split across feeds */
};

/* Draws a fresh secret seed from the OS entropy source into *<seed>. Returns 0 or -errno. */
int kv_blockhash_seed(uint64_t *seed);
/* The chain root for a salt (e.g. the model name): XXH3_64(salt, seed). */
uint64_t kv_blockhash_root(uint64_t seed, const void *salt, size_t len);

/* Starts an incremental hash. <block_size> is in bytes (TEXT) or token ids (TOKENS);
 * 0 means the default (64 bytes / 16 tokens). <out> (borrowed until the last feed) receives at
 * most <max> hashes (<max> may be 0: only count blocks). Returns 0, or -EINVAL if the block is
 * larger than KV_BLOCKHASH_MAX_BYTES or the mode is unknown (h is then unusable). */
int kv_blockhash_init(struct kv_blockhash *h, enum kv_blockhash_mode mode, uint32_t block_size,
                      uint64_t seed, uint64_t root, uint64_t *out, uint32_t max);
/* Feeds <len> bytes of text (TEXT mode; in TOKENS mode the bytes are taken as little-endian
 * int32 ids, so a caller may also feed raw id bytes). Never fails. */
void kv_blockhash_feed(struct kv_blockhash *h, const void *data, size_t len);
/* Feeds <n> token ids (TOKENS mode). */
void kv_blockhash_feed_tokens(struct kv_blockhash *h, const int32_t *ids, size_t n);
/* Hashes written so far (= min(total_blocks, max)). */
uint32_t kv_blockhash_count(const struct kv_blockhash *h);

/* One-shot: hashes <len> bytes of <text> in <block_bytes>-byte blocks (0 = 64) into <out> (at
 * most <max>). Returns the number of hashes written, or -EINVAL for a bad block size. */
int kv_blockhash_text(uint64_t seed, uint64_t root, uint32_t block_bytes, const void *text,
                      size_t len, uint64_t *out, uint32_t max);
/* One-shot for <n> token ids in <block_tokens>-id blocks (0 = 16). Same returns. */
int kv_blockhash_tokens(uint64_t seed, uint64_t root, uint32_t block_tokens, const int32_t *ids,
                        size_t n, uint64_t *out, uint32_t max);

#endif /* KV_PREFIX_BLOCKHASH_H */
