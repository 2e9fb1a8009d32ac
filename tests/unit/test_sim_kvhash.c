/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_kvhash.c - block hashes against vectors from tests/data/gen_cbor_vectors.py
 * (hashlib + an independent CBOR encoder, following vLLM v0.10.0's sha256_cbor_64bit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/kvhash.h"

static const uint32_t b1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint32_t b3[16] = {0, 23, 24, 255, 256, 65535, 65536, 4294967295u,
                                7, 8,  9,  10,  11,  12,    13,    14};

static void block2(uint32_t out[16])
{
    for (int i = 0; i < 16; i++)
        out[i] = 100000 + (uint32_t)i * 977;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_none_hash_from_seed(void **state)
{
    struct kv_kvhash h;
    (void)state;
    assert_int_equal(kv_kvhash_init(&h, KV_KVHASH_SHA256_CBOR_64BIT, "0"), 0);
    assert_int_equal(h.none_len, 8);
    /* sha256_cbor_64bit("0") */
    assert_memory_equal(h.none_hash + 24, "\xf8\xb5\x5a\xdf\xf2\xe6\x1c\x3e", 8);
    assert_int_equal(kv_kvhash_init(&h, KV_KVHASH_SHA256_CBOR_64BIT, "42"), 0);
    assert_memory_equal(h.none_hash + 24, "\xa7\x4f\xfc\xc4\xf3\x1c\x17\x80", 8);
}

static void test_chain_vectors(void **state)
{
    struct kv_kvhash h;
    uint32_t b2[16];
    uint64_t h1, h2, h3;
    (void)state;
    block2(b2);
    assert_int_equal(kv_kvhash_init(&h, KV_KVHASH_SHA256_CBOR_64BIT, "0"), 0);
    h1 = kv_kvhash_block(&h, 0, b1, 16, NULL, 0);
    assert_true(h1 == 0x548461b2ca3c5e4bull);
    h2 = kv_kvhash_block(&h, h1, b2, 16, NULL, 0);
    assert_true(h2 == 0x4cd1ae11789d4002ull);
    h3 = kv_kvhash_block(&h, h2, b3, 16, NULL, 0);
    assert_true(h3 == 0xea102e79d44a3df8ull);
    /* extra_keys = ("salt",) on the first block */
    assert_true(kv_kvhash_block(&h, 0, b1, 16, "salt", 4) == 0xa24845b198dd664eull);
    assert_int_equal(kv_kvhash_init(&h, KV_KVHASH_SHA256_CBOR_64BIT, "42"), 0);
    assert_true(kv_kvhash_block(&h, 0, b1, 16, NULL, 0) == 0x830ad73c7f3d563cull);
}

static void test_bignum_none_hash(void **state)
{
    struct kv_kvhash h;
    (void)state;
    /* A random (unset PYTHONHASHSEED) NONE_HASH is 256 bits: CBOR tag 2. */
    assert_int_equal(kv_kvhash_init(&h, KV_KVHASH_SHA256_CBOR_64BIT, NULL), 0);
    assert_int_equal(h.none_len, 32);
    for (int i = 0; i < 32; i++)
        h.none_hash[i] = (uint8_t)(i + 1);
    assert_true(kv_kvhash_block(&h, 0, b1, 16, NULL, 0) == 0x19c09a070c05d05bull);
}

static void test_cbor_bytes(void **state)
{
    uint8_t buf[128], none0[8] = {0xf8, 0xb5, 0x5a, 0xdf, 0xf2, 0xe6, 0x1c, 0x3e}, big[32];
    char text[300];
    size_t n;
    (void)state;
    n = kv_kvhash_cbor(buf, sizeof(buf), none0, 8, b1, 16, NULL, 0);
    hex(buf, n, text);
    assert_string_equal(text, "831bf8b55adff2e61c3e900102030405060708090a0b0c0d0e0f10f6");
    for (int i = 0; i < 32; i++)
        big[i] = (uint8_t)(i + 1);
    n = kv_kvhash_cbor(buf, sizeof(buf), big, 32, b1, 2, NULL, 0);
    hex(buf, n, text);
    assert_string_equal(text, "83c258200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
                              "1e1f20820102f6");
    {
        uint8_t p[8] = {0x4c, 0xd1, 0xae, 0x11, 0x78, 0x9d, 0x40, 0x02};
        n = kv_kvhash_cbor(buf, sizeof(buf), p, 8, b3, 16, "salt", 4);
        hex(buf, n, text);
        assert_string_equal(text, "831b4cd1ae11789d4002900017181818ff19010019ffff1a000100001aff"
                                  "ffffff0708090a0b0c0d0e816473616c74");
    }
    /* Too small a buffer: the length is still reported, nothing written past cap. */
    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(kv_kvhash_cbor(buf, 4, none0, 8, b1, 16, NULL, 0), 28);
    assert_int_equal(buf[4], 0xaa);
    /* Leading zero bytes of a parent are not significant. */
    {
        uint8_t z[32] = {0};
        z[31] = 5;
        n = kv_kvhash_cbor(buf, sizeof(buf), z, 32, b1, 0, NULL, 0);
        hex(buf, n, text);
        assert_string_equal(text, "830580f6");
    }
}

static void test_other_algos(void **state)
{
    struct kv_kvhash a, b;
    uint32_t b2[16];
    uint64_t x, y;
    (void)state;
    block2(b2);
    for (int algo = KV_KVHASH_BUILTIN; algo <= KV_KVHASH_SHA256; algo++) {
        assert_int_equal(kv_kvhash_init(&a, (enum kv_kvhash_algo)algo, "7"), 0);
        assert_int_equal(kv_kvhash_init(&b, (enum kv_kvhash_algo)algo, "7"), 0);
        x = kv_kvhash_block(&a, 0, b1, 16, NULL, 0);
        assert_true(x == kv_kvhash_block(&b, 0, b1, 16, NULL, 0)); /* same seed, same hash */
        y = kv_kvhash_block(&a, x, b2, 16, NULL, 0);
        assert_true(y != x);
        assert_true(kv_kvhash_block(&a, 0, b1, 16, "s", 1) != x);
        assert_true(kv_kvhash_block(&a, 0, b1, 15, NULL, 0) != x);
        assert_true(kv_kvhash_block(&a, 0, b2, 16, NULL, 0) != x);
        assert_int_equal(kv_kvhash_init(&b, (enum kv_kvhash_algo)algo, "8"), 0);
        assert_true(kv_kvhash_block(&b, 0, b1, 16, NULL, 0) != x); /* another seed */
    }
}

static void test_parse(void **state)
{
    enum kv_kvhash_algo a;
    (void)state;
    assert_int_equal(kv_kvhash_parse_algo("sha256_cbor_64bit", &a), 0);
    assert_int_equal(a, KV_KVHASH_SHA256_CBOR_64BIT);
    assert_string_equal(kv_kvhash_algo_name(a), "sha256_cbor_64bit");
    assert_int_equal(kv_kvhash_parse_algo("builtin", &a), 0);
    assert_int_equal(a, KV_KVHASH_BUILTIN);
    assert_int_equal(kv_kvhash_parse_algo("sha256", &a), 0);
    assert_int_equal(a, KV_KVHASH_SHA256);
    assert_true(kv_kvhash_parse_algo("xxhash", &a) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_hash_from_seed), cmocka_unit_test(test_chain_vectors),
        cmocka_unit_test(test_bignum_none_hash),    cmocka_unit_test(test_cbor_bytes),
        cmocka_unit_test(test_other_algos),         cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
