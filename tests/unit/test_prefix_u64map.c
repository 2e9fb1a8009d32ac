/* SPDX-License-Identifier: MIT */
/* tests/unit/test_prefix_u64map.c - the hash -> index map: basics, the bound, and random churn
 * against a brute-force reference (exercises backward-shift deletion), also across the doublings
 * of a growing map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "base/rand.h"
#include "prefix/u64map.h"

static void test_basic(void **state)
{
    struct kv_u64map m;
    (void)state;
    assert_int_equal(kv_u64map_init(&m, 0), -EINVAL);
    assert_int_equal(kv_u64map_init(&m, KV_U64MAP_MAX_ITEMS + 1), -EINVAL);
    assert_int_equal(kv_u64map_init(&m, 3), 0);
    assert_int_equal(kv_u64map_bytes(&m), 8 * sizeof(struct kv_u64map_slot));
    assert_int_equal(kv_u64map_get(&m, 0), KV_U64MAP_NONE);
    assert_int_equal(kv_u64map_put(&m, 0, 10), 0); /* key 0 is a valid key */
    assert_int_equal(kv_u64map_put(&m, 5, 11), 0);
    assert_int_equal(kv_u64map_put(&m, UINT64_MAX, 12), 0);
    assert_int_equal(kv_u64map_put(&m, 6, 13), -ENOSPC);
    assert_int_equal(kv_u64map_put(&m, 5, 14), 0); /* replace is fine when full */
    assert_int_equal(m.count, 3);
    assert_int_equal(kv_u64map_get(&m, 0), 10);
    assert_int_equal(kv_u64map_get(&m, 5), 14);
    assert_int_equal(kv_u64map_get(&m, UINT64_MAX), 12);
    assert_int_equal(kv_u64map_get(&m, 6), KV_U64MAP_NONE);
    assert_true(kv_u64map_del(&m, 5));
    assert_false(kv_u64map_del(&m, 5));
    assert_int_equal(kv_u64map_put(&m, 6, 13), 0);
    assert_int_equal(kv_u64map_get(&m, 6), 13);
    kv_u64map_cleanup(&m);
    kv_u64map_cleanup(&m);
}

/* Random puts (<put_num> in <put_den> ops) and deletes of <nkeys> keys (half of them small
 * integers, which crowd a few homes) into map <m> bounded to <max> items, checked against a plain
 * array after every op batch. */
static void churn(struct kv_u64map *m, uint32_t max, int nkeys, int ops, uint32_t put_num,
                  uint32_t put_den)
{
    uint32_t *ref = kv_malloc((size_t)nkeys * sizeof(*ref));
    uint64_t *keys = kv_malloc((size_t)nkeys * sizeof(*keys));
    struct kv_rand r;
    uint32_t count = m->count;

    kv_rand_seed(&r, 42);
    for (int i = 0; i < nkeys; i++) {
        keys[i] = i < nkeys / 2 ? (uint64_t)i : kv_rand_next(&r);
        ref[i] = KV_U64MAP_NONE;
    }
    for (int op = 0; op < ops; op++) {
        int k = (int)kv_rand_below(&r, (uint64_t)nkeys);
        if (kv_rand_below(&r, put_den) < put_num) {
            uint32_t v = (uint32_t)op;
            int rc = kv_u64map_put(m, keys[k], v);
            if (ref[k] == KV_U64MAP_NONE && count == max) {
                assert_int_equal(rc, -ENOSPC);
            } else {
                assert_int_equal(rc, 0);
                count += ref[k] == KV_U64MAP_NONE;
                ref[k] = v;
            }
        } else {
            assert_int_equal(kv_u64map_del(m, keys[k]), ref[k] != KV_U64MAP_NONE);
            count -= ref[k] != KV_U64MAP_NONE;
            ref[k] = KV_U64MAP_NONE;
        }
        assert_int_equal(m->count, count);
        /* Load stays <= 0.5 whatever the size reached. */
        assert_true(2ull * m->count <= (uint64_t)m->mask + 1);
        if (op % 997 == 0 || op == ops - 1)
            for (int i = 0; i < nkeys; i++)
                assert_int_equal(kv_u64map_get(m, keys[i]), ref[i]);
    }
    free(ref);
    free(keys);
}

/* Mostly puts, against a bound of 4,000 that 6,000 keys keep running into (-ENOSPC). */
static void test_churn_at_the_bound(void **state)
{
    struct kv_u64map m;
    (void)state;
    assert_int_equal(kv_u64map_init(&m, 4000), 0);
    churn(&m, 4000, 6000, 60000, 2, 3);
    assert_int_equal(kv_u64map_bytes(&m), 8192 * sizeof(struct kv_u64map_slot));
    kv_u64map_cleanup(&m);
}

/* Half puts, half deletes, 200 keys against a bound of 64. */
static void test_churn_vs_reference(void **state)
{
    struct kv_u64map m;
    (void)state;
    assert_int_equal(kv_u64map_init(&m, 64), 0);
    churn(&m, 64, 200, 200000, 1, 2);
    kv_u64map_cleanup(&m);
}

/* Inverse of KV_U64MAP_MUL mod 2^64 (Newton), to build keys with a chosen product. */
static uint64_t mul_inverse(void)
{
    uint64_t x = KV_U64MAP_MUL;

    for (int i = 0; i < 6; i++)
        x *= 2 - KV_U64MAP_MUL * x;
    return x;
}

/* Keys inside larger records (stride 24). */
struct rec {
    uint64_t pad[2];
    uint64_t key;
};

static void test_ref_basic(void **state)
{
    struct rec r[8] = {{{0, 0}, 0}};
    struct kv_u64map_ref m;
    uint64_t inv = mul_inverse();
    (void)state;
    assert_int_equal(KV_U64MAP_MUL * inv, 1);
    assert_int_equal(kv_u64map_ref_init(&m, 0, 1, &r[0].key, sizeof(r[0])), -EINVAL);
    assert_int_equal(kv_u64map_ref_init(&m, KV_U64MAP_MAX_ITEMS + 1, 1, &r[0].key, sizeof(r[0])),
                     -EINVAL);
    assert_int_equal(kv_u64map_ref_init(&m, 5, 1, &r[0].key, sizeof(r[0])), 0);
    /* One item at load <= 0.25: 4 slots of 8 bytes. */
    assert_int_equal(kv_u64map_ref_bytes(&m), 4 * 8);
    /* Keys 1..4 share their tag (top 32 bits of key * MUL) and their home slot. */
    for (int v = 1; v <= 4; v++)
        r[v].key = ((0xabcdef12ull << 32) | (uint64_t)v) * inv;
    r[5].key = 0;
    r[6].key = UINT64_MAX;
    for (uint32_t v = 1; v <= 4; v++)
        assert_int_equal(kv_u64map_ref_put(&m, r[v].key, v), 0);
    assert_int_equal(kv_u64map_ref_bytes(&m), 16 * 8);
    assert_int_equal(kv_u64map_ref_put(&m, r[5].key, 5), 0);
    assert_int_equal(kv_u64map_ref_bytes(&m), 32 * 8);
    assert_int_equal(kv_u64map_ref_put(&m, r[6].key, 6), -ENOSPC);
    assert_int_equal(kv_u64map_ref_put(&m, r[2].key, 2), 0); /* replace is fine when full */
    assert_int_equal(m.count, 5);
    for (uint32_t v = 1; v <= 5; v++)
        assert_int_equal(kv_u64map_ref_get(&m, r[v].key), v);
    assert_int_equal(kv_u64map_ref_get(&m, r[6].key), KV_U64MAP_NONE);
    /* Same tag, not stored: the record check rejects every tag match. */
    assert_int_equal(kv_u64map_ref_get(&m, ((0xabcdef12ull << 32) | 99) * inv), KV_U64MAP_NONE);
    assert_true(kv_u64map_ref_del(&m, r[1].key));
    assert_false(kv_u64map_ref_del(&m, r[1].key));
    for (uint32_t v = 2; v <= 5; v++)
        assert_int_equal(kv_u64map_ref_get(&m, r[v].key), v);
    assert_int_equal(kv_u64map_ref_put(&m, r[6].key, 6), 0);
    assert_int_equal(kv_u64map_ref_get(&m, r[6].key), 6);
    kv_u64map_ref_cleanup(&m);
    kv_u64map_ref_cleanup(&m);
}

/* Random puts and deletes against a plain array, across the doublings from 4 slots to the
 * bound's; a third of the keys come in groups sharing a tag, a third are small integers. Record
 * k holds key k for good, so the value stored for key k is k. */
static void test_ref_churn_vs_reference(void **state)
{
    enum { MAX = 3000, KEYS = 4500, OPS = 80000 };
    uint64_t *keys = kv_malloc(KEYS * sizeof(*keys)), inv = mul_inverse();
    bool *in = kv_calloc(KEYS, sizeof(*in));
    struct kv_u64map_ref m;
    struct kv_rand r;
    uint32_t count = 0;
    (void)state;
    kv_rand_seed(&r, 9);
    for (int k = 0; k < KEYS; k++)
        keys[k] = k % 3 == 0   ? (uint64_t)k
                  : k % 3 == 1 ? (((uint64_t)(k / 30) << 32) | (uint64_t)k) * inv
                               : kv_rand_next(&r);
    assert_int_equal(kv_u64map_ref_init(&m, MAX, 1, keys, sizeof(*keys)), 0);
    for (int op = 0; op < OPS; op++) {
        uint32_t k = (uint32_t)kv_rand_below(&r, KEYS);
        if (kv_rand_below(&r, 3) < 2) {
            int rc = kv_u64map_ref_put(&m, keys[k], k);
            assert_int_equal(rc, !in[k] && count == MAX ? -ENOSPC : 0);
            count += rc == 0 && !in[k];
            in[k] = in[k] || rc == 0;
        } else {
            assert_int_equal(kv_u64map_ref_del(&m, keys[k]), in[k]);
            count -= in[k];
            in[k] = false;
        }
        assert_int_equal(m.count, count);
        assert_true(4ull * m.count <= (uint64_t)m.mask + 1);
        if (op % 997 == 0 || op == OPS - 1)
            for (uint32_t i = 0; i < KEYS; i++)
                assert_int_equal(kv_u64map_ref_get(&m, keys[i]), in[i] ? i : KV_U64MAP_NONE);
    }
    assert_int_equal(kv_u64map_ref_bytes(&m), 16384 * 8);
    kv_u64map_ref_cleanup(&m);
    free(keys);
    free(in);
}

/* Doublings past 2^16 slots move the items over a few slots per put: churn against a plain
 * array while the old and the new array are both live, then until the move has ended. */
static void test_ref_incremental_growth(void **state)
{
    enum { MAX = 300000, KEYS = 400000, OPS = 700000 };
    uint64_t *keys = kv_malloc(KEYS * sizeof(*keys));
    bool *in = kv_calloc(KEYS, sizeof(*in));
    struct kv_u64map_ref m;
    struct kv_rand r;
    uint32_t count = 0, moving_ops = 0;
    (void)state;
    kv_rand_seed(&r, 21);
    for (int k = 0; k < KEYS; k++)
        keys[k] = kv_rand_next(&r);
    assert_int_equal(kv_u64map_ref_init(&m, MAX, 1, keys, sizeof(*keys)), 0);
    for (int op = 0; op < OPS; op++) {
        uint32_t k = (uint32_t)kv_rand_below(&r, KEYS);
        uint64_t dice = kv_rand_below(&r, 10);
        if (dice < 7) {
            int rc = kv_u64map_ref_put(&m, keys[k], k);
            assert_int_equal(rc, !in[k] && count == MAX ? -ENOSPC : 0);
            count += rc == 0 && !in[k];
            in[k] = in[k] || rc == 0;
        } else if (dice < 9) {
            assert_int_equal(kv_u64map_ref_del(&m, keys[k]), in[k]);
            count -= in[k];
            in[k] = false;
        } else if (in[k]) {
            assert_true(kv_u64map_ref_del_val(&m, keys[k], k));
            count--;
            in[k] = false;
        }
        assert_int_equal(m.count, count);
        assert_int_equal(kv_u64map_ref_get(&m, keys[k]), in[k] ? k : KV_U64MAP_NONE);
        if (m.old) {
            moving_ops++;
            assert_true(m.old_mask + 1 > (1u << 16));
            assert_int_equal(m.mask, 2 * m.old_mask + 1);
        }
        if (op % 100000 == 0 || op == OPS - 1)
            for (uint32_t i = 0; i < KEYS; i++)
                assert_int_equal(kv_u64map_ref_get(&m, keys[i]), in[i] ? i : KV_U64MAP_NONE);
    }
    assert_true(moving_ops > 10000); /* the move was under way for a good while */
    assert_null(m.old);                /* and has ended */
    assert_int_equal(kv_u64map_ref_bytes(&m), (size_t)(m.mask + 1) * 8);
    kv_u64map_ref_cleanup(&m);
    free(keys);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_churn_vs_reference),
        cmocka_unit_test(test_churn_at_the_bound),
        cmocka_unit_test(test_ref_basic),
        cmocka_unit_test(test_ref_churn_vs_reference),
        cmocka_unit_test(test_ref_incremental_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
