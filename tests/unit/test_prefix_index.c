/* SPDX-License-Identifier: MIT */
/* tests/unit/test_prefix_index.c - the approximate prefix index: per-backend matching, LRU
 * eviction at capacity, recency refresh, backend removal, the global cap, slot overflow, tail age,
 * and random operations against a brute-force model of per-backend LRU caches. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rand.h"
#include "prefix/index.h"

#define MS 1000000ull
#define NB 8

/* A chain of n hashes: chain(c, i) for c a chain id; chains share nothing unless built so. */
static void make_chain(uint64_t *h, uint32_t n, uint64_t c)
{
    for (uint32_t i = 0; i < n; i++)
        h[i] = (c << 32) | (i + 1);
}

static void test_lookup_per_backend(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 100, 0);
    uint64_t a[10], b[10], a2[10];
    uint32_t m[NB];
    (void)state;
    make_chain(a, 10, 1);
    make_chain(b, 10, 2);
    memcpy(a2, a, sizeof(a));
    make_chain(a2 + 4, 6, 3); /* shares a's first 4 blocks */
    assert_int_equal(kv_index_lookup(ix, a, 10, m), 0);
    assert_int_equal(kv_index_record(ix, 0, a, 10, 1 * MS), 10);
    assert_int_equal(kv_index_record(ix, 1, a, 5, 1 * MS), 5);
    assert_int_equal(kv_index_record(ix, 2, b, 10, 1 * MS), 10);
    assert_int_equal(kv_index_lookup(ix, a, 10, m), 10);
    assert_int_equal(m[0], 10);
    assert_int_equal(m[1], 5);
    assert_int_equal(m[2], 0);
    assert_int_equal(m[3], 0);
    assert_int_equal(kv_index_lookup(ix, a2, 10, m), 4);
    assert_int_equal(m[0], 4);
    assert_int_equal(m[1], 4);
    assert_int_equal(kv_index_lookup(ix, b, 3, m), 3);
    assert_int_equal(m[2], 3);
    assert_int_equal(m[0], 0);
    assert_int_equal(kv_index_lookup(ix, a, 0, m), 0);
    /* The sparse form writes only the backends it credits. */
    for (int k = 0; k < NB; k++)
        m[k] = 77;
    assert_int_equal(kv_index_lookup_into(ix, a2, 10, m), 4);
    assert_int_equal(m[0], 4);
    assert_int_equal(m[1], 4);
    assert_int_equal(m[2], 77);
    assert_int_equal(m[NB - 1], 77);
    assert_int_equal(kv_index_entries(ix), 20);
    assert_int_equal(kv_index_blocks(ix, 0), 10);
    assert_int_equal(kv_index_blocks(ix, 1), 5);
    kv_index_free(ix);
}

/* A backend holding a block of a chain holds its prefix: where the index does not show it
 * holding an earlier block, a fifth holder took its slot there. The lookup credits the deepest
 * holding. */
static void test_deepest_holding_counts(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 100, 0);
    uint64_t a[10];
    uint32_t m[NB];
    (void)state;
    make_chain(a, 10, 1);
    for (uint32_t b = 0; b < 4; b++)
        kv_index_record(ix, b, a, 10, (1 + b) * MS);
    /* Backend 4 records the first 3 blocks: the run splits there and backend 0, the stalest,
     * loses its slot on blocks 0..2 but keeps 3..9. */
    assert_int_equal(kv_index_record(ix, 4, a, 3, 10 * MS), 3);
    assert_int_equal(kv_index_lookup(ix, a, 10, m), 10);
    assert_int_equal(m[0], 10);
    assert_int_equal(m[1], 10);
    assert_int_equal(m[4], 3);
    assert_int_equal(kv_index_blocks(ix, 0), 7);
    assert_int_equal(kv_index_blocks(ix, 4), 3);
    assert_int_equal(kv_index_check(ix), 0);
    assert_int_equal(kv_index_entries(ix), 10);
    /* A lookup may start at any run: the continuation's holders. */
    assert_int_equal(kv_index_lookup(ix, a + 3, 7, m), 7);
    assert_int_equal(m[0], 7);
    assert_int_equal(m[4], 0);
    /* ... but not inside one: runs are found by their first block. */
    assert_int_equal(kv_index_lookup(ix, a + 4, 6, m), 0);
    /* Once nobody holds the first run, the walk still follows the chain. */
    for (uint32_t b = 1; b < 5; b++)
        kv_index_remove_backend(ix, b);
    assert_int_equal(kv_index_entries(ix), 10);
    assert_int_equal(kv_index_lookup(ix, a, 10, m), 10);
    assert_int_equal(m[0], 10);
    kv_index_remove_backend(ix, 0);
    assert_int_equal(kv_index_entries(ix), 0);
    assert_int_equal(kv_index_lookup(ix, a, 10, m), 0);
    kv_index_free(ix);
}

/* Hashes that are not a chain (a block hash met again under another prefix) end the walk where
 * the tree disagrees, and nothing else breaks: the bounds hold and removing every backend frees
 * every block. */
static void test_not_a_chain(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 100, 0);
    const uint64_t xy[] = {1, 2, 3, 4}, zy[] = {9, 2, 3}, xx[] = {1, 1, 1}, yx[] = {3, 4, 1, 2},
                   xz[] = {1, 2, 9};
    uint32_t m[NB];
    (void)state;
    assert_int_equal(kv_index_record(ix, 0, xy, 4, MS), 4);
    assert_int_equal(kv_index_record(ix, 1, zy, 3, MS), 3); /* 2 is inside xy's run */
    assert_int_equal(kv_index_lookup(ix, zy, 3, m), 3);
    assert_int_equal(m[1], 3);
    assert_int_equal(kv_index_record(ix, 2, xx, 3, MS), 1); /* 1's run goes on with 2, not 1 */
    assert_int_equal(kv_index_lookup(ix, xx, 3, m), 1);
    assert_int_equal(m[0], 1);
    assert_int_equal(m[2], 1);
    /* Splitting 2 3 4 before 3 would make 3 the first block of two runs (it starts yx's):
     * refused, so those records stop there. */
    assert_int_equal(kv_index_record(ix, 3, yx, 4, MS), 4);
    assert_int_equal(kv_index_record(ix, 0, xy, 2, 2 * MS), 1);
    assert_int_equal(kv_index_record(ix, 3, xz, 3, 2 * MS), 1);
    assert_int_equal(kv_index_lookup(ix, xy, 4, m), 4);
    assert_int_equal(m[0], 4);
    assert_int_equal(kv_index_blocks(ix, 0), 4);
    assert_int_equal(kv_index_blocks(ix, 1), 3);
    assert_int_equal(kv_index_blocks(ix, 2), 1);
    assert_int_equal(kv_index_blocks(ix, 3), 5); /* yx, and 1 of xz */
    assert_int_equal(kv_index_check(ix), 0);
    for (uint32_t b = 0; b < 4; b++)
        kv_index_remove_backend(ix, b);
    assert_int_equal(kv_index_entries(ix), 0);
    kv_index_free(ix);
}

static void test_capacity_lru_eviction(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 8, 0);
    uint64_t x[4], y[4], z[2];
    uint32_t m[NB];
    (void)state;
    make_chain(x, 4, 1);
    make_chain(y, 4, 2);
    make_chain(z, 2, 3);
    kv_index_record(ix, 0, x, 4, 1 * MS);
    kv_index_record(ix, 0, y, 4, 2 * MS);
    assert_int_equal(kv_index_blocks(ix, 0), 8);
    /* LRU order, head first: y0 y1 y2 y3 x0 x1 x2 x3. Two more blocks evict x3, then x2. */
    kv_index_record(ix, 0, z, 2, 3 * MS);
    assert_int_equal(kv_index_blocks(ix, 0), 8);
    assert_int_equal(kv_index_entries(ix), 8);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 2);
    assert_int_equal(m[0], 2);
    assert_int_equal(kv_index_lookup(ix, y, 4, m), 4);
    /* Another block: x1 goes next. */
    make_chain(z, 1, 4);
    kv_index_record(ix, 0, z, 1, 4 * MS);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 1);
    assert_int_equal(kv_index_lookup(ix, y, 4, m), 4);
    kv_index_free(ix);
}

static void test_recency_refresh(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 8, 0);
    uint64_t x[4], y[4], z[2];
    uint32_t m[NB];
    (void)state;
    make_chain(x, 4, 1);
    make_chain(y, 4, 2);
    make_chain(z, 2, 3);
    kv_index_record(ix, 0, x, 4, 1 * MS);
    kv_index_record(ix, 0, y, 4, 2 * MS);
    kv_index_record(ix, 0, x, 4, 3 * MS); /* a hit refreshes x: y is now the LRU end */
    assert_int_equal(kv_index_blocks(ix, 0), 8);
    kv_index_record(ix, 0, z, 2, 4 * MS);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 4);
    assert_int_equal(kv_index_lookup(ix, y, 4, m), 2);
    /* A chain longer than the capacity keeps its first <capacity> blocks. */
    uint64_t l[20];
    make_chain(l, 20, 9);
    assert_int_equal(kv_index_record(ix, 0, l, 20, 5 * MS), 8);
    assert_int_equal(kv_index_lookup(ix, l, 20, m), 8);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 0);
    assert_int_equal(kv_index_entries(ix), 8);
    kv_index_free(ix);
}

static void test_remove_backend_and_capacity(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 100, 0);
    uint64_t a[6];
    uint32_t m[NB];
    (void)state;
    make_chain(a, 6, 1);
    kv_index_record(ix, 0, a, 6, MS);
    kv_index_record(ix, 1, a, 6, MS);
    assert_int_equal(kv_index_entries(ix), 6);
    kv_index_remove_backend(ix, 0);
    assert_int_equal(kv_index_blocks(ix, 0), 0);
    assert_int_equal(kv_index_entries(ix), 6);
    assert_int_equal(kv_index_lookup(ix, a, 6, m), 6);
    assert_int_equal(m[0], 0);
    assert_int_equal(m[1], 6);
    /* Shrinking keeps the most recent blocks: a0..a2. */
    assert_int_equal(kv_index_set_capacity(ix, 1, 3), 0);
    assert_int_equal(kv_index_capacity(ix, 1), 3);
    assert_int_equal(kv_index_entries(ix), 3);
    assert_int_equal(kv_index_lookup(ix, a, 6, m), 3);
    kv_index_remove_backend(ix, 1);
    assert_int_equal(kv_index_entries(ix), 0);
    /* Capacity 0 remembers nothing. */
    kv_index_set_capacity(ix, 2, 0);
    assert_int_equal(kv_index_record(ix, 2, a, 6, MS), 0);
    assert_int_equal(kv_index_entries(ix), 0);
    /* Bad ids. */
    assert_int_equal(kv_index_record(ix, NB, a, 6, MS), -EINVAL);
    assert_int_equal(kv_index_set_capacity(ix, NB, 1), -EINVAL);
    assert_int_equal(kv_index_blocks(ix, NB), 0);
    kv_index_remove_backend(ix, NB);
    /* The entries freed above are reused. */
    kv_index_record(ix, 3, a, 6, MS);
    assert_int_equal(kv_index_entries(ix), 6);
    kv_index_free(ix);
}

static void test_global_cap(void **state)
{
    struct kv_index *ix = kv_index_new(10, NB, 100, 0);
    uint64_t a[6], b[6], c[3];
    uint32_t m[NB];
    (void)state;
    make_chain(a, 6, 1);
    make_chain(b, 6, 2);
    make_chain(c, 3, 3);
    kv_index_record(ix, 0, a, 6, 1 * MS);
    kv_index_record(ix, 1, b, 6, 2 * MS);
    /* 12 blocks, 10 entries: the globally oldest (backend 0's tail, a5 then a4) went. */
    assert_int_equal(kv_index_entries(ix), 10);
    assert_int_equal(kv_index_lookup(ix, a, 6, m), 4);
    assert_int_equal(kv_index_lookup(ix, b, 6, m), 6);
    kv_index_record(ix, 0, a, 2, 3 * MS); /* refresh a0, a1 */
    kv_index_record(ix, 2, c, 3, 4 * MS);
    /* Oldest now: a3, a2 (stamp 1), then b5 (stamp 2). */
    assert_int_equal(kv_index_entries(ix), 10);
    assert_int_equal(kv_index_lookup(ix, a, 6, m), 2);
    assert_int_equal(kv_index_lookup(ix, b, 6, m), 5);
    assert_int_equal(kv_index_lookup(ix, c, 3, m), 3);
    assert_int_equal(kv_index_blocks(ix, 0) + kv_index_blocks(ix, 1) + kv_index_blocks(ix, 2),
                     10);
    kv_index_free(ix);
}

/* The pool is full and another backend's oldest holding is the prefix being recorded (pinned):
 * that backend's next oldest holding goes, not a newer one elsewhere, and the record is whole. */
static void test_global_cap_past_pinned(void **state)
{
    struct kv_index *ix = kv_index_new(12, NB, 100, 0);
    uint64_t s[6], x[4], y[4];
    uint32_t m[NB];
    (void)state;
    make_chain(s, 6, 1);
    make_chain(x, 4, 2);
    make_chain(y, 4, 3);
    kv_index_record(ix, 1, s, 4, 1 * MS); /* backend 1: the shared prefix, then its own x */
    kv_index_record(ix, 1, x, 4, 2 * MS);
    kv_index_record(ix, 2, y, 4, 3 * MS); /* backend 2: newer than x */
    assert_int_equal(kv_index_entries(ix), 12);
    assert_int_equal(kv_index_record(ix, 0, s, 6, 4 * MS), 6);
    assert_int_equal(kv_index_check(ix), 0);
    assert_int_equal(kv_index_entries(ix), 12);
    assert_int_equal(kv_index_lookup(ix, s, 6, m), 6);
    assert_int_equal(m[0], 6);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 2); /* x, the oldest unpinned, lost 2 */
    assert_int_equal(kv_index_lookup(ix, y, 4, m), 4); /* y, newer, kept */
    kv_index_free(ix);
    /* With room only in the other backend's newer holding, the record is still whole. */
    ix = kv_index_new(8, NB, 100, 0);
    kv_index_record(ix, 1, s, 4, 1 * MS);
    kv_index_record(ix, 1, x, 4, 2 * MS);
    assert_int_equal(kv_index_record(ix, 0, s, 6, 3 * MS), 6);
    assert_int_equal(kv_index_check(ix), 0);
    assert_int_equal(kv_index_lookup(ix, x, 4, m), 2);
    kv_index_free(ix);
}

static void test_slot_overflow(void **state)
{
    struct kv_index *ix = kv_index_new(100, NB, 100, 0);
    uint64_t a[2];
    uint32_t m[NB];
    (void)state;
    make_chain(a, 2, 1);
    for (uint32_t b = 0; b < 4; b++)
        kv_index_record(ix, b, a, 2, (1 + b) * MS);
    kv_index_record(ix, 0, a, 1, 10 * MS); /* backend 0 refreshes block 0 only */
    kv_index_record(ix, 4, a, 2, 11 * MS);
    /* Block 1: the stalest holder was backend 0 (stamp 1). Block 0: backend 1 (stamp 2), which
     * still holds block 1 and so is credited with both. */
    assert_int_equal(kv_index_lookup(ix, a, 2, m), 2);
    assert_int_equal(m[0], 1);
    assert_int_equal(m[1], 2);
    assert_int_equal(m[2], 2);
    assert_int_equal(m[3], 2);
    assert_int_equal(m[4], 2);
    assert_int_equal(kv_index_blocks(ix, 0), 1);
    assert_int_equal(kv_index_blocks(ix, 1), 1);
    assert_int_equal(kv_index_entries(ix), 2);
    kv_index_free(ix);
}

static void test_tail_age_and_memory(void **state)
{
    struct kv_index *ix = kv_index_new(1000, NB, 100, 5 * MS);
    uint64_t a[3], b[3];
    (void)state;
    make_chain(a, 3, 1);
    make_chain(b, 3, 2);
    assert_int_equal(kv_index_tail_age_ns(ix, 0, 100 * MS), 0);
    kv_index_record(ix, 0, a, 3, 1005 * MS);
    kv_index_record(ix, 0, b, 3, 3005 * MS);
    assert_int_equal(kv_index_tail_age_ns(ix, 0, 5005 * MS), 4000 * MS);
    kv_index_record(ix, 0, a, 3, 4005 * MS);
    assert_int_equal(kv_index_tail_age_ns(ix, 0, 5005 * MS), 2000 * MS);
    assert_int_equal(kv_index_tail_age_ns(ix, NB, 5005 * MS), 0);
    assert_int_equal(kv_index_max_entries(ix), 1000);
    assert_int_equal(kv_index_max_backends(ix), NB);
    /* A node is 76 bytes and a 128-byte row, max_entries / 4 + 16 of them (266); the map starts
     * at 2048 slots of 8 bytes for that bound (4096 for larger ones); 16 bytes a backend; a few
     * hundred for the index itself. */
    assert_in_range(kv_index_bytes(ix), 266 * 204 + 2048 * 8 + NB * 16,
                    266 * 204 + 2048 * 8 + NB * 16 + 256);
    kv_index_free(ix);
    /* A bound far above the nodes in use: the map grows with them, not with the bound. */
    ix = kv_index_new(1u << 20, NB, 1u << 20, 0);
    size_t small = kv_index_bytes(ix);
    assert_in_range(small, ((1u << 18) + 16) * 204 + 4096 * 8 + NB * 16,
                    ((1u << 18) + 16) * 204 + 4096 * 8 + NB * 16 + 256);
    uint64_t *many = malloc(40000 * sizeof(*many));
    make_chain(many, 40000, 9);
    assert_int_equal(kv_index_record(ix, 0, many, 40000, MS), 40000);
    /* 2,500 runs of 16: the map doubled twice. */
    assert_int_equal(kv_index_bytes(ix), small + (16384 - 4096) * 8);
    uint32_t m5[NB];
    assert_int_equal(kv_index_lookup(ix, many, 40000, m5), 40000);
    assert_int_equal(m5[0], 40000);
    free(many);
    kv_index_free(ix);
    assert_null(kv_index_new(0, NB, 1, 0));
    assert_null(kv_index_new(10, 0, 1, 0));
    assert_null(kv_index_new(10, KV_INDEX_MAX_BACKENDS + 1, 1, 0));
    kv_index_free(NULL);
}

/* Brute-force model: each backend an MRU-first array of at most cap hashes. */
struct model {
    uint64_t h[4][64];
    uint32_t n[4];
    uint32_t cap[4];
};

static void model_touch(struct model *md, int b, uint64_t h)
{
    uint32_t i, n = md->n[b];
    for (i = 0; i < n && md->h[b][i] != h; i++)
        ;
    if (i == n) {
        if (n == md->cap[b])
            i = n - 1; /* drop the LRU end */
        else
            md->n[b] = ++n;
    }
    memmove(&md->h[b][1], &md->h[b][0], i * sizeof(uint64_t));
    md->h[b][0] = h;
}

static uint32_t model_match(const struct model *md, int b, const uint64_t *h, uint32_t n)
{
    uint32_t k;
    for (k = 0; k < n; k++) {
        uint32_t i;
        for (i = 0; i < md->n[b] && md->h[b][i] != h[k]; i++)
            ;
        if (i == md->n[b])
            break;
    }
    return k;
}

/* test_random_vs_model's chains: the key of block i is the root (i < 4), root * 3 + br1
 * (i < 10), then (root * 3 + br1) * 3 + br2, so a block's hash gives its whole prefix. Writes
 * the chain ending at <hash> to <out> and returns its length. */
static uint32_t chain_to(uint64_t hash, uint64_t *out)
{
    uint64_t key = hash >> 32;
    uint32_t n = (uint32_t)hash + 1;
    for (uint32_t i = n; i-- > 0;) {
        if ((i == 9 && n > 10) || (i == 3 && n > 4))
            key /= 3;
        out[i] = (key << 32) | i;
    }
    return n;
}

/* Pins backend <b>'s exact LRU order against the model by shrinking its capacity one block at a
 * time: each step must evict the model's least recently used block and nothing else (the block
 * is looked up with its prefix: the backend's match must end just before it). Leaves <b>
 * empty. */
static void check_lru_order(struct kv_index *ix, struct model *md, int b)
{
    uint32_t m[4], len;
    uint64_t chain[24];

    assert_int_equal(kv_index_blocks(ix, (uint32_t)b), md->n[b]);
    for (uint32_t n = md->n[b]; n-- > 0;) {
        len = chain_to(md->h[b][n], chain);
        kv_index_lookup(ix, chain, len, m);
        assert_int_equal(m[b], len);
        kv_index_set_capacity(ix, (uint32_t)b, n);
        kv_index_lookup(ix, chain, len, m);
        assert_int_equal(m[b], len - 1);
        if (n > 0) {
            len = chain_to(md->h[b][n - 1], chain);
            kv_index_lookup(ix, chain, len, m);
            assert_int_equal(m[b], len);
        }
    }
    md->n[b] = 0;
}

/* A block evicted early in a record call and recorded again later in the same call: its map
 * slot is still waiting for removal (removals are deferred to the call's end) and points to a
 * free entry. The block must come back as a new holding in a properly allocated entry, and
 * after the call the map must hold exactly the live blocks. */
static void test_evicted_and_readded_in_one_call(void **state)
{
    struct kv_index *ix = kv_index_new(64, NB, 3, 0);
    uint32_t m[NB];
    const uint64_t a = 0xa, b = 0xb, abc[] = {0xa, 0xb, 0xc}, cy[] = {0xc, 0x11};
    (void)state;
    assert_int_equal(kv_index_record(ix, 0, abc, 3, 1 * MS), 3);
    /* LRU a b c; y (recorded first) evicts c, then c comes back and evicts b: c y a */
    assert_int_equal(kv_index_record(ix, 0, cy, 2, 2 * MS), 2);
    assert_int_equal(kv_index_blocks(ix, 0), 3);
    assert_int_equal(kv_index_entries(ix), 3);
    assert_int_equal(kv_index_lookup(ix, cy, 2, m), 2);
    assert_int_equal(m[0], 2);
    assert_int_equal(kv_index_lookup(ix, &a, 1, m), 1);
    assert_int_equal(kv_index_lookup(ix, &b, 1, m), 0);
    /* more churn through the same entries keeps the pool and the map consistent */
    for (uint64_t k = 0; k < 50; k++) {
        const uint64_t chain[] = {0xc, 0x100 + k, 0x200 + k};
        assert_int_equal(kv_index_record(ix, (uint32_t)(k % 2), chain, 3, (3 + k) * MS), 3);
        assert_int_equal(kv_index_check(ix), 0);
        assert_int_equal(kv_index_lookup(ix, chain, 3, m), 3);
        assert_int_equal(m[k % 2], 3);
    }
    assert_int_equal(kv_index_entries(ix), 5); /* c shared, two more blocks on each backend */
    kv_index_remove_backend(ix, 0);
    kv_index_remove_backend(ix, 1);
    assert_int_equal(kv_index_entries(ix), 0);
    assert_int_equal(kv_index_lookup(ix, cy, 2, m), 0);
    assert_int_equal(kv_index_record(ix, 2, abc, 3, 100 * MS), 3);
    assert_int_equal(kv_index_lookup(ix, abc, 3, m), 3);
    assert_int_equal(m[2], 3);
    kv_index_free(ix);
}

static void test_random_vs_model(void **state)
{
    struct kv_index *ix = kv_index_new(4096, 4, 1, 0);
    struct model md = {.n = {0}};
    struct kv_rand r;
    uint64_t h[24];
    uint32_t m[4];
    (void)state;
    kv_rand_seed(&r, 7);
    for (int b = 0; b < 4; b++) {
        md.cap[b] = 20 + 10 * (uint32_t)b;
        kv_index_set_capacity(ix, (uint32_t)b, md.cap[b]);
    }
    for (int op = 0; op < 20000; op++) {
        /* Chains from a small prefix tree: 8 roots, branches at block 4 and 10. */
        uint64_t root = kv_rand_below(&r, 8), br1 = kv_rand_below(&r, 3),
                 br2 = kv_rand_below(&r, 3);
        uint32_t n = 1 + (uint32_t)kv_rand_below(&r, 24);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t key = i < 4 ? root : i < 10 ? root * 3 + br1 : (root * 3 + br1) * 3 + br2;
            h[i] = (key << 32) | i;
        }
        uint32_t b = (uint32_t)kv_rand_below(&r, 4);
        if (kv_rand_below(&r, 500) == 0) {
            kv_index_remove_backend(ix, b);
            md.n[b] = 0;
            continue;
        }
        uint32_t best = kv_index_lookup(ix, h, n, m), want_best = 0;
        for (int k = 0; k < 4; k++) {
            uint32_t want = model_match(&md, k, h, n);
            assert_int_equal(m[k], want);
            want_best = want > want_best ? want : want_best;
        }
        assert_int_equal(best, want_best);
        kv_index_record(ix, b, h, n, (uint64_t)op * MS);
        assert_int_equal(kv_index_check(ix), 0);
        for (uint32_t k = n < md.cap[b] ? n : md.cap[b]; k-- > 0;)
            model_touch(&md, (int)b, h[k]);
        assert_int_equal(kv_index_blocks(ix, b), md.n[b]);
        if (op % 5000 == 4999) { /* the exact order, then start that backend over */
            check_lru_order(ix, &md, (int)b);
            kv_index_set_capacity(ix, b, md.cap[b]);
        }
    }
    for (int b = 0; b < 4; b++)
        check_lru_order(ix, &md, b);
    assert_int_equal(kv_index_entries(ix), 0);
    kv_index_free(ix);
}

/* More backends than an entry has slots and a pool smaller than their capacities: stealing and
 * global eviction interleave with record's segment moves. No model of who keeps what, but what
 * must hold: bounds, a chain just recorded is held whole by its backend (its blocks are the
 * newest anywhere), and removing every backend frees every entry (each list links exactly its
 * holdings). */
static void test_random_stress_invariants(void **state)
{
    enum { B = 12, POOL = 300 };
    struct kv_index *ix = kv_index_new(POOL, B, 1, 0);
    struct kv_rand r;
    uint64_t h[24];
    uint32_t m[B];
    (void)state;
    kv_rand_seed(&r, 11);
    for (uint32_t b = 0; b < B; b++)
        kv_index_set_capacity(ix, b, 20 + 10 * b);
    for (int op = 0; op < 20000; op++) {
        uint64_t root = kv_rand_below(&r, 12), br = kv_rand_below(&r, 4);
        uint32_t n = 1 + (uint32_t)kv_rand_below(&r, 24), b = (uint32_t)kv_rand_below(&r, B);
        for (uint32_t i = 0; i < n; i++)
            h[i] = ((i < 8 ? root : root * 4 + br + 100) << 32) | i;
        if (kv_rand_below(&r, 300) == 0)
            kv_index_remove_backend(ix, b);
        uint32_t want = n < 20 + 10 * b ? n : 20 + 10 * b;
        assert_int_equal(kv_index_record(ix, b, h, n, (uint64_t)(op + 1) * MS), (int)want);
        assert_int_equal(kv_index_check(ix), 0);
        kv_index_lookup(ix, h, n, m);
        assert_int_equal(m[b], want);
        uint32_t sum = 0, entries = kv_index_entries(ix);
        for (uint32_t k = 0; k < B; k++) {
            assert_true(kv_index_blocks(ix, k) <= kv_index_capacity(ix, k));
            sum += kv_index_blocks(ix, k);
        }
        assert_true(entries <= POOL);
        assert_true(sum >= entries && sum <= KV_INDEX_SLOTS * entries);
    }
    for (uint32_t b = 0; b < B; b++)
        kv_index_remove_backend(ix, b);
    assert_int_equal(kv_index_entries(ix), 0);
    kv_index_free(ix);
}

/* Chains for test_random_hostile: each shares a random prefix of another and goes on. */
enum { HCH = 32, HMAX = 120 };
struct hostile {
    uint64_t h[HCH][HMAX];
    uint32_t n[HCH];
    uint64_t next;
};

static void hostile_chain(struct hostile *w, struct kv_rand *r, int c)
{
    int src = (int)kv_rand_below(r, HCH);
    uint32_t keep = kv_rand_below(r, 4) ? (uint32_t)kv_rand_below(r, w->n[src] + 1) : 0;
    uint32_t len = keep + 1 + (uint32_t)kv_rand_below(r, kv_rand_below(r, 3) ? 40 : HMAX);

    len = len > HMAX ? HMAX : len;
    keep = keep > len ? len : keep;
    if (src != c)
        memmove(w->h[c], w->h[src], keep * sizeof(uint64_t));
    for (uint32_t i = keep; i < len; i++)
        w->h[c][i] = ++w->next * 0x9e3779b97f4a7c15ull;
    w->n[c] = len;
}

/* Everything at once, against the invariants after every call: pools from a few blocks (node
 * and block bounds both bite), up to 12 backends on 4 slots, capacities down to 0, removals,
 * chains that share prefixes and diverge anywhere, and inputs that are not chains (repeated
 * hashes, a chain entered in the middle, two chains spliced, tiny hash values). A record is
 * never longer than asked, and a chain just recorded whole is found whole. */
static void test_random_hostile(void **state)
{
    static struct hostile w;
    struct kv_rand r;
    uint64_t h[2 * HMAX];
    uint32_t m[12];
    (void)state;
    kv_rand_seed(&r, 23);
    for (int inst = 0; inst < 150; inst++) {
        uint32_t maxe = 1 + (uint32_t)kv_rand_below(&r, kv_rand_below(&r, 2) ? 64 : 600);
        uint32_t nb = 1 + (uint32_t)kv_rand_below(&r, 12);
        struct kv_index *ix = kv_index_new(maxe, nb, (uint32_t)kv_rand_below(&r, 300), 0);
        for (int c = 0; c < HCH; c++)
            hostile_chain(&w, &r, c);
        for (int op = 0; op < 300; op++) {
            uint64_t now = (uint64_t)(inst * 1000 + op) * MS;
            uint32_t b = (uint32_t)kv_rand_below(&r, nb), k = (uint32_t)kv_rand_below(&r, 100);
            int c = (int)kv_rand_below(&r, HCH);
            uint32_t n = (uint32_t)kv_rand_below(&r, w.n[c] + 1);
            uint32_t kind = (uint32_t)kv_rand_below(&r, 10);
            if (kv_rand_below(&r, 6) == 0)
                hostile_chain(&w, &r, c);
            n = n > w.n[c] ? w.n[c] : n;
            memcpy(h, w.h[c], n * sizeof(uint64_t));
            if (kind == 0 && n > 1) { /* repeated hashes */
                for (uint32_t i = 1; i < n; i++)
                    if (kv_rand_below(&r, 3) == 0)
                        h[i] = h[kv_rand_below(&r, i)];
            } else if (kind == 1 && n > 0) { /* entered in the middle */
                uint32_t s0 = (uint32_t)kv_rand_below(&r, n);
                memmove(h, h + s0, (n - s0) * sizeof(uint64_t));
                n -= s0;
            } else if (kind == 2) { /* spliced with another chain */
                int c2 = (int)kv_rand_below(&r, HCH);
                memcpy(h + n, w.h[c2], w.n[c2] * sizeof(uint64_t));
                n += w.n[c2];
            } else if (kind == 3) {
                for (uint32_t i = 0; i < n; i++)
                    h[i] = kv_rand_below(&r, 5);
            }
            if (k < 70) {
                uint32_t want = n < kv_index_capacity(ix, b) ? n : kv_index_capacity(ix, b);
                int got = kv_index_record(ix, b, h, n, now);
                want = want < maxe ? want : maxe;
                assert_true(got >= 0 && (uint32_t)got <= want);
                if (kind > 3 && (uint32_t)got == want && want > 0) {
                    kv_index_lookup(ix, h, n, m);
                    assert_true(m[b] >= want);
                }
            } else if (k < 85) {
                uint32_t best = kv_index_lookup(ix, h, n, m), most = 0;
                for (uint32_t i = 0; i < nb; i++)
                    most = m[i] > most ? m[i] : most;
                assert_int_equal(best, most);
                assert_true(best <= n);
            } else if (k < 95) {
                uint32_t cap = (uint32_t)kv_rand_below(&r, kv_rand_below(&r, 3) ? 400 : 4);
                kv_index_set_capacity(ix, b, cap);
            } else {
                kv_index_remove_backend(ix, b);
                assert_int_equal(kv_index_blocks(ix, b), 0);
            }
            assert_int_equal(kv_index_check(ix), 0);
        }
        for (uint32_t b = 0; b < nb; b++)
            kv_index_remove_backend(ix, b);
        assert_int_equal(kv_index_entries(ix), 0);
        assert_int_equal(kv_index_check(ix), 0);
        kv_index_free(ix);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_per_backend),
        cmocka_unit_test(test_deepest_holding_counts),
        cmocka_unit_test(test_not_a_chain),
        cmocka_unit_test(test_capacity_lru_eviction),
        cmocka_unit_test(test_recency_refresh),
        cmocka_unit_test(test_remove_backend_and_capacity),
        cmocka_unit_test(test_global_cap),
        cmocka_unit_test(test_global_cap_past_pinned),
        cmocka_unit_test(test_slot_overflow),
        cmocka_unit_test(test_tail_age_and_memory),
        cmocka_unit_test(test_evicted_and_readded_in_one_call),
        cmocka_unit_test(test_random_vs_model),
        cmocka_unit_test(test_random_stress_invariants),
        cmocka_unit_test(test_random_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
