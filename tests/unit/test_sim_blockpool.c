/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_blockpool.c - the vLLM v1 block pool: null block, LRU free queue, reverse
 * free order, lazy eviction, ref-counted sharing, the last-token rule and query/hit counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/blockpool.h"

static void assert_order(const struct kv_blockpool *p, const uint32_t *want, uint32_t n)
{
    uint32_t got[64];
    assert_int_equal(kv_blockpool_free_order(p, got, 64), n);
    assert_memory_equal(got, want, n * sizeof(uint32_t));
}

static void test_init_null_block(void **state)
{
    struct kv_blockpool p;
    static const uint32_t order[] = {1, 2, 3, 4, 5, 6, 7};
    (void)state;
    assert_int_equal(kv_blockpool_init(&p, 1, true), -22);
    assert_int_equal(kv_blockpool_init(&p, 8, true), 0);
    assert_int_equal(kv_blockpool_num_free(&p), 7);
    assert_order(&p, order, 7);
    assert_true(kv_blockpool_usage(&p) == 1.0 - 7.0 / 8.0);
    assert_int_equal(kv_blockpool_memory(&p), 9 * 24 + 8 * 4);
    kv_blockpool_cleanup(&p);
}

static void test_reverse_free_and_lru(void **state)
{
    struct kv_blockpool p;
    uint32_t a[3], b[2], c[5];
    (void)state;
    kv_blockpool_init(&p, 8, true);
    assert_int_equal(kv_blockpool_alloc(&p, 3, a), 0);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[2], 3);
    assert_int_equal(kv_blockpool_alloc(&p, 2, b), 0);
    assert_int_equal(b[0], 4);
    for (int i = 0; i < 3; i++)
        kv_blockpool_cache(&p, a[i], 100 + (uint64_t)i);
    kv_blockpool_free(&p, a, 3); /* request A ends: its tail block is evicted first */
    {
        static const uint32_t want[] = {6, 7, 3, 2, 1};
        assert_order(&p, want, 5);
    }
    kv_blockpool_free(&p, b, 2);
    {
        static const uint32_t want[] = {6, 7, 3, 2, 1, 5, 4};
        assert_order(&p, want, 7);
    }
    /* Freed blocks keep their hash until popped. */
    assert_int_equal(kv_blockpool_lookup(&p, 102), 3);
    assert_int_equal(p.num_cached, 3);
    assert_int_equal(kv_blockpool_alloc(&p, 3, c), 0); /* pops 6, 7, then 3: evicts hash 102 */
    assert_int_equal(c[2], 3);
    assert_int_equal(kv_blockpool_lookup(&p, 102), KV_BLOCKPOOL_NONE);
    assert_int_equal(kv_blockpool_lookup(&p, 101), 2);
    assert_int_equal(p.num_cached, 2);
    assert_int_equal(kv_blockpool_alloc(&p, 5, c), -28); /* ENOSPC: 4 left */
    assert_int_equal(kv_blockpool_num_free(&p), 4);
    kv_blockpool_cleanup(&p);
}

static void test_touch_and_sharing(void **state)
{
    struct kv_blockpool p;
    uint32_t a[2], hit[2];
    uint64_t h;
    (void)state;
    kv_blockpool_init(&p, 6, true);
    kv_blockpool_alloc(&p, 2, a);
    kv_blockpool_cache(&p, a[0], 11);
    kv_blockpool_cache(&p, a[1], 12);
    hit[0] = kv_blockpool_lookup(&p, 11);
    hit[1] = kv_blockpool_lookup(&p, 12);
    assert_int_equal(kv_blockpool_count_evictable(&p, hit, 2), 0); /* still held by A */
    kv_blockpool_touch(&p, hit, 2);                                /* B shares them */
    assert_int_equal(kv_blockpool_ref(&p, 1), 2);
    kv_blockpool_free(&p, a, 2);
    assert_int_equal(kv_blockpool_ref(&p, 1), 1);
    assert_int_equal(kv_blockpool_num_free(&p), 3); /* still in use by B */
    kv_blockpool_free(&p, hit, 2);
    assert_int_equal(kv_blockpool_num_free(&p), 5);
    {
        static const uint32_t want[] = {3, 4, 5, 2, 1};
        assert_order(&p, want, 5);
    }
    /* A hit on a freed block takes it out of the free queue (and counts as evictable). */
    assert_int_equal(kv_blockpool_count_evictable(&p, hit, 2), 2);
    kv_blockpool_touch(&p, hit, 1);
    assert_int_equal(kv_blockpool_num_free(&p), 4);
    {
        static const uint32_t want[] = {3, 4, 5, 2};
        assert_order(&p, want, 4);
    }
    assert_true(kv_blockpool_hash_of(&p, 1, &h));
    assert_true(h == 11);
    assert_false(kv_blockpool_hash_of(&p, 3, &h));
    kv_blockpool_cleanup(&p);
}

static void test_get_computed_last_token_rule(void **state)
{
    struct kv_blockpool p;
    uint32_t a[3], out[4];
    uint64_t hashes[4] = {21, 22, 23, 24};
    (void)state;
    kv_blockpool_init(&p, 10, true);
    kv_blockpool_alloc(&p, 3, a);
    for (int i = 0; i < 3; i++)
        kv_blockpool_cache(&p, a[i], hashes[i]);
    /* 48 tokens = 3 full cached blocks, but the last token is recomputed: 47 / 16 = 2 blocks. */
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 3, 48, 16, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    /* 49 tokens: all three. */
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 3, 49, 16, out), 3);
    /* 100 tokens, 4 hashes: stops at the first miss (24). */
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 4, 100, 16, out), 3);
    /* A miss in the middle ends the walk even if later blocks are cached. */
    hashes[1] = 99;
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 3, 100, 16, out), 1);
    /* 1 token: never a hit. */
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 0, 1, 16, out), 0);
    assert_int_equal(p.stats.requests, 5);
    assert_int_equal(p.stats.queries, 48 + 49 + 100 + 100 + 1);
    assert_int_equal(p.stats.hits, 16 * (2 + 3 + 3 + 1));
    kv_blockpool_cleanup(&p);
}

static void test_duplicate_hashes(void **state)
{
    struct kv_blockpool p;
    uint32_t a[1], b[1], c[5];
    (void)state;
    kv_blockpool_init(&p, 4, true);
    kv_blockpool_alloc(&p, 1, a);
    kv_blockpool_alloc(&p, 1, b);
    kv_blockpool_cache(&p, a[0], 7);
    kv_blockpool_cache(&p, b[0], 7); /* two requests computed the same block in one step */
    assert_int_equal(kv_blockpool_lookup(&p, 7), a[0]);
    kv_blockpool_free(&p, a, 1);
    kv_blockpool_free(&p, b, 1);
    assert_int_equal(kv_blockpool_alloc(&p, 2, c), 0); /* pops 3 then a[0]: evicts first copy */
    assert_int_equal(c[1], a[0]);
    assert_int_equal(kv_blockpool_lookup(&p, 7), b[0]);
    kv_blockpool_cleanup(&p);
}

static void test_caching_off(void **state)
{
    struct kv_blockpool p;
    uint32_t out[2];
    uint64_t hashes[2] = {1, 2};
    (void)state;
    kv_blockpool_init(&p, 4, false);
    assert_int_equal(kv_blockpool_get_computed(&p, hashes, 2, 100, 16, out), 0);
    assert_int_equal(p.stats.requests, 0);
    assert_int_equal(p.stats.queries, 0);
    kv_blockpool_cleanup(&p);
}

static void test_large_pool_hash_table(void **state)
{
    struct kv_blockpool p;
    enum { N = 5000 };
    static uint32_t ids[N];
    (void)state;
    kv_blockpool_init(&p, N + 1, true);
    assert_int_equal(kv_blockpool_alloc(&p, N, ids), 0);
    for (uint32_t i = 0; i < N; i++)
        kv_blockpool_cache(&p, ids[i], (uint64_t)i * 8192); /* poorly mixed keys */
    assert_int_equal(kv_blockpool_lookup(&p, 4999ull * 8192), ids[4999]);
    kv_blockpool_free(&p, ids, N);
    assert_int_equal(kv_blockpool_alloc(&p, N, ids), 0); /* evicts all, tail first */
    assert_int_equal(ids[0], N);
    assert_int_equal(p.num_cached, 0);
    assert_int_equal(kv_blockpool_lookup(&p, 0), KV_BLOCKPOOL_NONE);
    kv_blockpool_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_null_block),
        cmocka_unit_test(test_reverse_free_and_lru),
        cmocka_unit_test(test_touch_and_sharing),
        cmocka_unit_test(test_get_computed_last_token_rule),
        cmocka_unit_test(test_duplicate_hashes),
        cmocka_unit_test(test_caching_off),
        cmocka_unit_test(test_large_pool_hash_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
