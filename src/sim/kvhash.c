/* SPDX-License-Identifier: MIT */
/* src/sim/kvhash.c - block hashes: canonical CBOR + SHA-256, fixed-layout SHA-256, builtin mix.
 *
 * The CBOR writer covers only what vLLM's block-hash tuple holds: unsigned integers (shortest
 * head, RFC 8949 section 4.2.1), bignums (tag 2 over the minimal big-endian bytes, as cbor2
 * writes ints >= 2^64), arrays (tuples), text strings and None (0xf6).
 */
#include "sim/kvhash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/mem.h"
#include "base/rand.h"

/* CBOR for up to this many tokens fits the stack buffer (9 bytes a token at most). */
#define STACK_TOKENS 512

struct cbor {
    uint8_t *out;
    size_t cap;
    size_t len;
};

static void put(struct cbor *c, uint8_t byte)
{
    if (c->len < c->cap)
        c->out[c->len] = byte;
    c->len++;
}

/* Major type <major> (0..7) with argument <v> in its shortest form. */
static void put_head(struct cbor *c, unsigned major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    int bytes;

    if (v < 24) {
        put(c, mt | (uint8_t)v);
        return;
    }
    if (v <= 0xff) {
        put(c, mt | 24);
        bytes = 1;
    } else if (v <= 0xffff) {
        put(c, mt | 25);
        bytes = 2;
    } else if (v <= 0xffffffffu) {
        put(c, mt | 26);
        bytes = 4;
    } else {
        put(c, mt | 27);
        bytes = 8;
    }
    for (int i = bytes - 1; i >= 0; i--)
        put(c, (uint8_t)(v >> (8 * i)));
}

/* A non-negative integer given big-endian: a plain uint when it fits 64 bits, else tag 2. */
static void put_bigint(struct cbor *c, const uint8_t *be, size_t len)
{
    while (len > 0 && be[0] == 0) {
        be++;
        len--;
    }
    if (len <= 8) {
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++)
            v = (v << 8) | be[i];
        put_head(c, 0, v);
        return;
    }
    put_head(c, 6, 2);
    put_head(c, 2, len);
    for (size_t i = 0; i < len; i++)
        put(c, be[i]);
}

static void put_text(struct cbor *c, const char *s, size_t n)
{
    put_head(c, 3, n);
    for (size_t i = 0; i < n; i++)
        put(c, (uint8_t)s[i]);
}

size_t kv_kvhash_cbor(uint8_t *out, size_t cap, const uint8_t *parent_be, size_t parent_len,
                      const uint32_t *tokens, size_t n, const char *extra, size_t extra_len)
{
    struct cbor c = {out, cap, 0};

    put_head(&c, 4, 3);
    put_bigint(&c, parent_be, parent_len);
    put_head(&c, 4, n);
    for (size_t i = 0; i < n; i++)
        put_head(&c, 0, tokens[i]);
    if (extra == NULL) {
        put(&c, 0xf6);
    } else {
        put_head(&c, 4, 1);
        put_text(&c, extra, extra_len);
    }
    return c.len;
}

/* int.from_bytes(sha256(data), "big") & (2**64 - 1): the digest's last 8 bytes. */
static uint64_t sha256_low64(const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t v = 0;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort(); /* SHA-256 is always available in libcrypto; failure is an environment bug */
    for (int i = 24; i < 32; i++)
        v = (v << 8) | md[i];
    return v;
}

static uint64_t cbor_hash(const uint8_t *parent_be, size_t parent_len, const uint32_t *tokens,
                          size_t n, const char *extra, size_t extra_len)
{
    uint8_t stack[16 + STACK_TOKENS * 5 + 64];
    uint8_t *buf = stack;
    size_t len;
    uint64_t v;

    len = kv_kvhash_cbor(buf, sizeof(stack), parent_be, parent_len, tokens, n, extra, extra_len);
    if (len > sizeof(stack)) {
        buf = kv_malloc(len);
        kv_kvhash_cbor(buf, len, parent_be, parent_len, tokens, n, extra, extra_len);
    }
    v = sha256_low64(buf, len);
    if (buf != stack)
        free(buf);
    return v;
}

static uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t fmix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define P0 0xa0761d6478bd642full
#define P1 0xe7037ed1a0b428dbull
#define P2 0x8ebc6af09c88c6e3ull

static uint64_t mix_bytes(uint64_t h, const char *s, size_t n)
{
    while (n > 0) {
        uint64_t w = 0;
        size_t k = KV_MIN(n, (size_t)8);
        memcpy(&w, s, k);
        h = mum(h ^ w ^ P1, P2 ^ k);
        s += k;
        n -= k;
    }
    return h;
}

static uint64_t builtin_hash(uint64_t parent, const uint32_t *tokens, size_t n, const char *extra,
                             size_t extra_len)
{
    uint64_t h = mum(parent ^ P0, P1 ^ (uint64_t)n);
    size_t i = 0;

    for (; i + 1 < n; i += 2)
        h = mum(h ^ ((uint64_t)tokens[i] | (uint64_t)tokens[i + 1] << 32) ^ P1, P2 ^ i);
    if (i < n)
        h = mum(h ^ tokens[i] ^ P2, P0 ^ i);
    if (extra != NULL)
        h = mix_bytes(h ^ P0 ^ extra_len, extra, extra_len);
    return fmix(h);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t fixed_sha256(const uint8_t parent_be[32], const uint32_t *tokens, size_t n,
                             const char *extra, size_t extra_len)
{
    size_t len = 32 + 4 + 4 * n + 4 + (extra ? extra_len : 0);
    uint8_t *buf = kv_malloc(len);
    uint8_t *p = buf;
    uint64_t v;

    memcpy(p, parent_be, 32);
    p += 32;
    put_le32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++, p += 4)
        put_le32(p, tokens[i]);
    put_le32(p, extra ? (uint32_t)extra_len : 0xffffffffu);
    p += 4;
    if (extra)
        memcpy(p, extra, extra_len);
    v = sha256_low64(buf, len);
    free(buf);
    return v;
}

static void be64(uint8_t out[32], uint64_t v)
{
    memset(out, 0, 32);
    for (int i = 0; i < 8; i++)
        out[31 - i] = (uint8_t)(v >> (8 * i));
}

static uint64_t fold_none(const struct kv_kvhash *h)
{
    uint64_t v = 0;
    for (int i = 0; i < 32; i++)
        v ^= (uint64_t)h->none_hash[i] << (8 * (7 - (i & 7)));
    return v;
}

uint64_t kv_kvhash_block(const struct kv_kvhash *h, uint64_t parent, const uint32_t *tokens,
                         size_t n, const char *extra, size_t extra_len)
{
    uint8_t pbe[32];

    if (parent == 0)
        memcpy(pbe, h->none_hash, 32);
    else
        be64(pbe, parent);
    switch (h->algo) {
    case KV_KVHASH_SHA256_CBOR_64BIT:
        return cbor_hash(pbe, 32, tokens, n, extra, extra_len);
    case KV_KVHASH_SHA256:
        return fixed_sha256(pbe, tokens, n, extra, extra_len);
    case KV_KVHASH_BUILTIN:
    default:
        return builtin_hash(parent == 0 ? fold_none(h) : parent, tokens, n, extra, extra_len);
    }
}

/* hash_fn(seed string) for NONE_HASH, per algorithm. */
static uint64_t hash_seed_string(enum kv_kvhash_algo algo, const char *seed)
{
    size_t n = strlen(seed);

    if (algo == KV_KVHASH_SHA256_CBOR_64BIT) {
        uint8_t stack[64];
        struct cbor c = {stack, sizeof(stack), 0};
        uint8_t *buf;
        uint64_t v;

        put_text(&c, seed, n);
        if (c.len <= sizeof(stack))
            return sha256_low64(stack, c.len);
        buf = kv_malloc(c.len);
        c = (struct cbor){buf, c.len, 0};
        put_text(&c, seed, n);
        v = sha256_low64(buf, c.len);
        free(buf);
        return v;
    }
    if (algo == KV_KVHASH_SHA256)
        return sha256_low64(seed, n);
    return fmix(mix_bytes(P0 ^ n, seed, n));
}

int kv_kvhash_init(struct kv_kvhash *h, enum kv_kvhash_algo algo, const char *pythonhashseed)
{
    memset(h, 0, sizeof(*h));
    h->algo = algo;
    if (pythonhashseed != NULL) {
        be64(h->none_hash, hash_seed_string(algo, pythonhashseed));
        h->none_len = 8;
        return 0;
    }
    h->none_len = 32;
    return kv_rand_secret(h->none_hash, 32);
}

int kv_kvhash_parse_algo(const char *name, enum kv_kvhash_algo *out)
{
    static const char *const names[] = {"builtin", "sha256", "sha256_cbor_64bit"};

    for (size_t i = 0; i < KV_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum kv_kvhash_algo)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *kv_kvhash_algo_name(enum kv_kvhash_algo algo)
{
    switch (algo) {
    case KV_KVHASH_SHA256:
        return "sha256";
    case KV_KVHASH_SHA256_CBOR_64BIT:
        return "sha256_cbor_64bit";
    case KV_KVHASH_BUILTIN:
    default:
        return "builtin";
    }
}
