/* SPDX-License-Identifier: MIT */
/* src/sim/kvhash.h - KV block hashes as vLLM v0.10.0 computes them (--prefix-caching-hash-algo).
 *
 * A block's hash is chained: hash(parent hash, the block's token ids, extra keys), where the first
 * block's parent is NONE_HASH. vLLM v0.10.0 (vllm/v1/core/kv_cache_utils.py, hash_block_tokens and
 * init_none_hash) derives NONE_HASH from the PYTHONHASHSEED environment variable when it is set
 * (hash_fn(the seed string)) and from 32 random bytes (a 256-bit int) when it is not; kvsim does
 * the same, so two kvsim processes (or kvsim and vLLM) agree on block hashes only when both run
 * with the same PYTHONHASHSEED. vLLM also treats a parent hash of 0 as "no parent" (`if not
 * parent_block_hash`), and so does kv_kvhash_block().
 *
 * Algorithms:
 *   sha256_cbor_64bit - bit for bit vLLM v0.10.0: SHA-256 (OpenSSL EVP) over the canonical CBOR
 *       (RFC 8949 deterministic encoding, as cbor2.dumps(..., canonical=True) writes it) of the
 *       tuple (parent, tuple(token ids), extra_keys); the hash is int.from_bytes(digest, "big")
 *       masked to 64 bits, i.e. the digest's LAST 8 bytes read big-endian. A random NONE_HASH
 *       (>= 2^64) is encoded as a tag-2 bignum, as cbor2 does. NONE_HASH from PYTHONHASHSEED is
 *       sha256_cbor_64bit of the seed as a CBOR text string.
 *   sha256 - vLLM hashes pickle.dumps of the tuple and chains full 256-bit ints; reproducing
 *       pickle is impractical, so kvsim deviates: SHA-256 over a fixed little-endian
 *       serialisation (parent as 32 bytes big-endian, u32 token count, u32 token ids, u32 extra
 *       length or 0xffffffff for None, extra bytes) truncated to the low 64 bits.
 *   builtin - vLLM uses Python's hash() of the tuple, which is not reproducible outside CPython;
 *       kvsim uses its own 64-bit multiply-xor mixing hash (wyhash-style 128-bit multiply folds,
 *       splitmix64 finaliser), about 1 ns per token. NONE_HASH is that hash of the seed bytes, or
 *       the xor-fold of 32 random bytes.
 * Block keys are 64-bit in kvsim for every algorithm (vLLM keys its table by the whole
 * (hash, token ids, extra keys) tuple); a 64-bit collision is ignored (probability ~ n^2/2^65).
 *
 * The state is immutable after kv_kvhash_init(); hashing allocates nothing (CBOR is written into
 * a stack buffer, and over 512 tokens into a heap buffer).
 */
#ifndef KV_SIM_KVHASH_H
#define KV_SIM_KVHASH_H

#include <stddef.h>
#include <stdint.h>

enum kv_kvhash_algo {
    KV_KVHASH_BUILTIN = 0,
    KV_KVHASH_SHA256,
    KV_KVHASH_SHA256_CBOR_64BIT
};

struct kv_kvhash {
    enum kv_kvhash_algo algo;
    uint8_t none_hash[32]; /* NONE_HASH big-endian in none_hash[32 - none_len, 32) */
    unsigned none_len;     /* 8 when derived from a seed, 32 when random */
};

/* Parses "builtin", "sha256", "sha256_cbor_64bit"; returns 0 or -EINVAL. */
int kv_kvhash_parse_algo(const char *name, enum kv_kvhash_algo *out);
/* The flag value naming <algo>. */
const char *kv_kvhash_algo_name(enum kv_kvhash_algo algo);

/* Sets up <h> for <algo>. <pythonhashseed> is the value of PYTHONHASHSEED (the caller reads the
 * environment) or NULL, in which case NONE_HASH is 32 random bytes from the OS. Returns 0, or
 * -errno if the OS gave no random bytes. */
int kv_kvhash_init(struct kv_kvhash *h, enum kv_kvhash_algo algo, const char *pythonhashseed);

/* Hash of one full block: <parent> is the previous block's hash, 0 for the first block (NONE_HASH
 * is used, as vLLM does for any falsy parent). <tokens>[0, <n>) are the block's token ids.
 * <extra> (may be NULL = None) is the cache salt: extra_keys = (salt,) as a text string, given
 * for the first block only, as vLLM does for cache_salt. */
uint64_t kv_kvhash_block(const struct kv_kvhash *h, uint64_t parent, const uint32_t *tokens,
                         size_t n, const char *extra, size_t extra_len);

/* Writes the canonical CBOR of (parent, tuple(tokens), extra_keys) into <out> (capacity <cap>),
 * where the parent is the big-endian unsigned integer <parent_be>[0, <parent_len>) (leading zero
 * bytes allowed; over 8 significant bytes it becomes a tag-2 bignum). Returns the encoded length,
 * which may exceed <cap> (then nothing beyond <cap> is written; call again with more room).
 * Exposed for the test vectors. */
size_t kv_kvhash_cbor(uint8_t *out, size_t cap, const uint8_t *parent_be, size_t parent_len,
                      const uint32_t *tokens, size_t n, const char *extra, size_t extra_len);

#endif /* KV_SIM_KVHASH_H */
