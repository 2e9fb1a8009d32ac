/* SPDX-License-Identifier: MIT */
/* tests/unit/test_prefix_blockhash.c - chained keyed block hashes: chain property, keying, partial
 * blocks, incremental == one-shot, cap, token mode, and the exact byte format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "base/rand.h"
#include "prefix/blockhash.h"

#define SEED 0x1234567890abcdefull

static void fill_text(char *t, size_t n, uint64_t seed)
{
    struct kv_rand r;
    kv_rand_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        t[i] = (char)('a' + kv_rand_below(&r, 26));
}

static void test_exact_format(void **state)
{
    char text[130];
    uint64_t out[4], want;
    (void)state;
    fill_text(text, sizeof(text), 1);
    assert_int_equal(kv_blockhash_text(SEED, 77, 64, text, sizeof(text), out, 4), 2);
    /* h0 = XXH3(block0, seed ^ root); h1 = XXH3(block1, seed ^ h0). */
    want = XXH3_64bits_withSeed(text, 64, SEED ^ 77);
    assert_true(out[0] == want);
    assert_true(out[1] == XXH3_64bits_withSeed(text + 64, 64, SEED ^ want));
}

static void test_partial_block_not_hashed(void **state)
{
    char text[200];
    uint64_t out[8];
    (void)state;
    fill_text(text, sizeof(text), 2);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 0, out, 8), 0);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 63, out, 8), 0);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 64, out, 8), 1);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 127, out, 8), 1);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 128, out, 8), 2);
    assert_int_equal(kv_blockhash_text(SEED, 0, 0, text, 200, out, 8), 3);
    assert_int_equal(kv_blockhash_text(SEED, 0, 10, text, 200, out, 8), 8); /* capped */
}

static void test_chain_prefix_property(void **state)
{
    char a[640], b[640];
    uint64_t ha[10], hp[10], hb[10];
    (void)state;
    fill_text(a, sizeof(a), 3);
    assert_int_equal(kv_blockhash_text(SEED, 0, 64, a, 640, ha, 10), 10);
    /* A prefix (with a partial tail) gives the same leading hashes. */
    assert_int_equal(kv_blockhash_text(SEED, 0, 64, a, 300, hp, 10), 4);
    assert_memory_equal(ha, hp, 4 * sizeof(uint64_t));
    /* One byte changed in block 3: blocks 0..2 keep their hashes, every later one changes. */
    memcpy(b, a, sizeof(a));
    b[3 * 64 + 5] ^= 1;
    assert_int_equal(kv_blockhash_text(SEED, 0, 64, b, 640, hb, 10), 10);
    assert_memory_equal(ha, hb, 3 * sizeof(uint64_t));
    for (int i = 3; i < 10; i++)
        assert_true(ha[i] != hb[i]);
    /* Same block content at a different position hashes differently (the chain). */
    memcpy(b, a + 64, 64);
    assert_int_equal(kv_blockhash_text(SEED, 0, 64, b, 64, hb, 1), 1);
    assert_true(hb[0] != ha[1]);
}

static void test_keying(void **state)
{
    char a[256];
    uint64_t h1[4], h2[4], h3[4];
    (void)state;
    fill_text(a, sizeof(a), 4);
    kv_blockhash_text(SEED, 0, 64, a, 256, h1, 4);
    kv_blockhash_text(SEED + 1, 0, 64, a, 256, h2, 4);
    kv_blockhash_text(SEED, kv_blockhash_root(SEED, "llama", 5), 64, a, 256, h3, 4);
    for (int i = 0; i < 4; i++) {
        assert_true(h1[i] != h2[i]); /* another secret */
        assert_true(h1[i] != h3[i]); /* another model salt */
    }
    assert_true(kv_blockhash_root(SEED, "llama", 5) != kv_blockhash_root(SEED, "qwen", 4));
    uint64_t s1 = 0, s2 = 0;
    assert_int_equal(kv_blockhash_seed(&s1), 0);
    assert_int_equal(kv_blockhash_seed(&s2), 0);
    assert_true(s1 != s2);
}

static void test_incremental_equals_oneshot(void **state)
{
    enum { LEN = 5000, MAXB = 100 };
    char *text = malloc(LEN);
    uint64_t one[MAXB], inc[MAXB];
    struct kv_blockhash h;
    struct kv_rand r;
    (void)state;
    fill_text(text, LEN, 5);
    assert_int_equal(kv_blockhash_text(SEED, 9, 64, text, LEN, one, MAXB), 78);
    kv_rand_seed(&r, 6);
    for (int round = 0; round < 20; round++) {
        size_t off = 0;
        assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, 64, SEED, 9, inc, MAXB), 0);
        while (off < LEN) {
            size_t k = 1 + kv_rand_below(&r, round < 10 ? 7 : 300);
            if (k > LEN - off)
                k = LEN - off;
            kv_blockhash_feed(&h, text + off, k);
            off += k;
        }
        assert_int_equal(kv_blockhash_count(&h), 78);
        assert_int_equal(h.total_blocks, 78);
        assert_int_equal(h.fill, LEN - 78 * 64);
        assert_memory_equal(one, inc, 78 * sizeof(uint64_t));
    }
    free(text);
}

static void test_cap(void **state)
{
    char text[64 * 10 + 3];
    uint64_t all[10], capped[3] = {0};
    struct kv_blockhash h;
    (void)state;
    fill_text(text, sizeof(text), 7);
    kv_blockhash_text(SEED, 0, 64, text, sizeof(text), all, 10);
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, 64, SEED, 0, capped, 3), 0);
    kv_blockhash_feed(&h, text, 100);
    kv_blockhash_feed(&h, text + 100, sizeof(text) - 100);
    assert_int_equal(kv_blockhash_count(&h), 3);
    assert_int_equal(h.total_blocks, 10);
    assert_memory_equal(all, capped, sizeof(capped));
    /* max 0: count only. */
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, 64, SEED, 0, NULL, 0), 0);
    kv_blockhash_feed(&h, text, sizeof(text));
    assert_int_equal(kv_blockhash_count(&h), 0);
    assert_int_equal(h.total_blocks, 10);
}

static void test_tokens(void **state)
{
    int32_t ids[40];
    unsigned char le[160];
    uint64_t ht[3], hx[3], hi[3];
    struct kv_blockhash h;
    (void)state;
    for (int i = 0; i < 40; i++) {
        ids[i] = i * 1000 - 7;
        for (int k = 0; k < 4; k++)
            le[4 * i + k] = (unsigned char)((uint32_t)ids[i] >> (8 * k));
    }
    /* 40 ids in blocks of 16: two full blocks, 8 ids left over. */
    assert_int_equal(kv_blockhash_tokens(SEED, 0, 16, ids, 40, ht, 3), 2);
    assert_int_equal(kv_blockhash_text(SEED, 0, 64, le, 160, hx, 3), 2);
    assert_memory_equal(ht, hx, 2 * sizeof(uint64_t));
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TOKENS, 16, SEED, 0, hi, 3), 0);
    kv_blockhash_feed_tokens(&h, ids, 5);
    kv_blockhash_feed_tokens(&h, ids + 5, 30);
    kv_blockhash_feed_tokens(&h, ids + 35, 5);
    assert_int_equal(kv_blockhash_count(&h), 2);
    assert_memory_equal(ht, hi, 2 * sizeof(uint64_t));
    assert_int_equal(kv_blockhash_tokens(SEED, 0, 0, ids, 40, hi, 3), 2); /* default 16 */
    assert_memory_equal(ht, hi, 2 * sizeof(uint64_t));
}

static void test_bad_sizes(void **state)
{
    struct kv_blockhash h;
    uint64_t out[1];
    (void)state;
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, KV_BLOCKHASH_MAX_BYTES + 1, 0, 0,
                                       out, 1),
                     -EINVAL);
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TOKENS, KV_BLOCKHASH_MAX_BYTES / 4 + 1,
                                       0, 0, out, 1),
                     -EINVAL);
    assert_int_equal(kv_blockhash_init(&h, (enum kv_blockhash_mode)7, 16, 0, 0, out, 1), -EINVAL);
    assert_int_equal(kv_blockhash_text(0, 0, 1u << 20, "x", 1, out, 1), -EINVAL);
    assert_int_equal(kv_blockhash_init(&h, KV_BLOCKHASH_TEXT, KV_BLOCKHASH_MAX_BYTES, 0, 0, out,
                                       1),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_format),
        cmocka_unit_test(test_partial_block_not_hashed),
        cmocka_unit_test(test_chain_prefix_property),
        cmocka_unit_test(test_keying),
        cmocka_unit_test(test_incremental_equals_oneshot),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
