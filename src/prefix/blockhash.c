/* SPDX-License-Identifier: MIT */
/* src/prefix/blockhash.c - chained XXH3 block hashing with a carried partial block. */
#include "prefix/blockhash.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "base/mem.h"
#include "base/rand.h"

int kv_blockhash_seed(uint64_t *seed)
{
    unsigned char b[8];
    int rc = kv_rand_secret(b, sizeof(b));

    if (rc < 0)
        return rc;
    *seed = 0;
    for (int i = 0; i < 8; i++)
        *seed |= (uint64_t)b[i] << (8 * i);
    return 0;
}

uint64_t kv_blockhash_root(uint64_t seed, const void *salt, size_t len)
{
    return XXH3_64bits_withSeed(salt, len, seed);
}

int kv_blockhash_init(struct kv_blockhash *h, enum kv_blockhash_mode mode, uint32_t block_size,
                      uint64_t seed, uint64_t root, uint64_t *out, uint32_t max)
{
    uint64_t bytes;

    if (mode == KV_BLOCKHASH_TEXT)
        bytes = block_size ? block_size : KV_BLOCKHASH_DEFAULT_BYTES;
    else if (mode == KV_BLOCKHASH_TOKENS)
        bytes = 4ull * (block_size ? block_size : KV_BLOCKHASH_DEFAULT_TOKENS);
    else
        return -EINVAL;
    if (bytes > KV_BLOCKHASH_MAX_BYTES)
        return -EINVAL;
    h->seed = seed;
    h->chain = root;
    h->out = out;
    h->max = out ? max : 0;
    h->n = 0;
    h->total_blocks = 0;
    h->block_bytes = (uint32_t)bytes;
    h->fill = 0;
    h->mode = mode;
    return 0;
}

/* Hashes one full block, in place: the chain enters through the seed, so no copy is needed. */
static void emit(struct kv_blockhash *h, const void *block)
{
    h->total_blocks++;
    if (h->n >= h->max)
        return;
    h->chain = XXH3_64bits_withSeed(block, h->block_bytes, h->seed ^ h->chain);
    h->out[h->n++] = h->chain;
}

void kv_blockhash_feed(struct kv_blockhash *h, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (h->fill) { /* top up the carried partial block first */
        size_t take = KV_MIN((size_t)(h->block_bytes - h->fill), len);
        if (h->n < h->max)
            memcpy(h->buf + h->fill, p, take);
        h->fill += (uint32_t)take;
        p += take;
        len -= take;
        if (h->fill < h->block_bytes)
            return;
        emit(h, h->buf);
        h->fill = 0;
    }
    for (; len >= h->block_bytes; p += h->block_bytes, len -= h->block_bytes)
        emit(h, p);
    /* Past the cap only whole blocks are counted: the tail's bytes are not needed. */
    if (len && h->n < h->max)
        memcpy(h->buf, p, len);
    h->fill = (uint32_t)len;
}

void kv_blockhash_feed_tokens(struct kv_blockhash *h, const int32_t *ids, size_t n)
{
    unsigned char le[4 * 256];

    /* Ids are hashed as little-endian bytes whatever the host order, so hashes are portable. */
    while (n > 0) {
        size_t k = KV_MIN(n, sizeof(le) / 4);
        for (size_t i = 0; i < k; i++) {
            uint32_t v = (uint32_t)ids[i];
            le[4 * i] = (unsigned char)v;
            le[4 * i + 1] = (unsigned char)(v >> 8);
            le[4 * i + 2] = (unsigned char)(v >> 16);
            le[4 * i + 3] = (unsigned char)(v >> 24);
        }
        kv_blockhash_feed(h, le, 4 * k);
        ids += k;
        n -= k;
    }
}

uint32_t kv_blockhash_count(const struct kv_blockhash *h)
{
    return h->n;
}

int kv_blockhash_text(uint64_t seed, uint64_t root, uint32_t block_bytes, const void *text,
                      size_t len, uint64_t *out, uint32_t max)
{
    struct kv_blockhash h;
    int rc = kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, block_bytes, seed, root, out, max);

    if (rc < 0)
        return rc;
    h.max = KV_MIN(h.max, (uint32_t)INT32_MAX);
    kv_blockhash_feed(&h, text, len);
    return (int)h.n;
}

int kv_blockhash_tokens(uint64_t seed, uint64_t root, uint32_t block_tokens, const int32_t *ids,
                        size_t n, uint64_t *out, uint32_t max)
{
    struct kv_blockhash h;
    int rc = kv_blockhash_init(&h, KV_BLOCKHASH_TOKENS, block_tokens, seed, root, out, max);

    if (rc < 0)
        return rc;
    h.max = KV_MIN(h.max, (uint32_t)INT32_MAX);
    kv_blockhash_feed_tokens(&h, ids, n);
    return (int)h.n;
}
