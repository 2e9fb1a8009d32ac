/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_tokenizer.c - 4 bytes a token, prefix stability on random texts,
 * deterministic generation and decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rand.h"
#include "sim/tokenizer.h"

static void test_counts(void **state)
{
    uint32_t ids[4];
    char text[8001];
    uint32_t *big = malloc(sizeof(uint32_t) * 2000);
    (void)state;
    assert_int_equal(kv_tokenizer_encode("", 0, ids), 0);
    assert_int_equal(kv_tokenizer_encode("abcd", 4, ids), 1);
    assert_int_equal(kv_tokenizer_encode("abcde", 5, ids), 2);
    assert_int_equal(kv_tokenizer_count(5), 2);
    memset(text, 'x', 8000);
    assert_int_equal(kv_tokenizer_encode(text, 8000, big), 2000); /* 2,000 tokens = 8,000 B */
    assert_int_equal(big[0], big[1999]);
    /* Ids are a pure function of the piece: "abcd" is the same token anywhere. */
    kv_tokenizer_encode("abcdabcd", 8, ids);
    assert_int_equal(ids[0], ids[1]);
    assert_true(ids[0] < KV_TOKENIZER_TEXT_IDS);
    kv_tokenizer_encode("abc", 3, ids + 2);
    kv_tokenizer_encode("abc\0", 4, ids + 3);
    assert_int_not_equal(ids[2], ids[3]);
    free(big);
}

static void test_prefix_stability(void **state)
{
    struct kv_rand r;
    char text[2000];
    uint32_t full[500], pre[500];
    (void)state;
    kv_rand_seed(&r, 42);
    for (int iter = 0; iter < 200; iter++) {
        size_t len = 1 + kv_rand_below(&r, sizeof(text) - 1), plen, n, m;
        for (size_t i = 0; i < len; i++)
            text[i] = (char)(kv_rand_below(&r, 4) == 0 ? ' ' : 'a' + kv_rand_below(&r, 26));
        n = kv_tokenizer_encode(text, len, full);
        plen = kv_rand_below(&r, len + 1);
        m = kv_tokenizer_encode(text, plen, pre);
        assert_true(m <= n);
        /* tokens(prefix) is a prefix of tokens(text), except its last token at most */
        if (m > 1)
            assert_memory_equal(pre, full, (m - 1) * sizeof(uint32_t));
        if (plen % KV_TOKENIZER_PIECE == 0)
            assert_memory_equal(pre, full, m * sizeof(uint32_t));
    }
}

static void test_generation(void **state)
{
    struct kv_rand a, b, c;
    uint32_t prompt[3] = {5, 6, 7}, x[32], y[32];
    size_t len;
    int same = 0;
    (void)state;
    kv_tokenizer_gen_seed(&a, prompt, 3, 0);
    kv_tokenizer_gen_seed(&b, prompt, 3, 0);
    kv_tokenizer_gen_seed(&c, prompt, 3, 1);
    for (int i = 0; i < 32; i++) {
        x[i] = kv_tokenizer_gen_next(&a);
        y[i] = kv_tokenizer_gen_next(&b);
        same += kv_tokenizer_gen_next(&c) == x[i];
        assert_true(x[i] >= KV_TOKENIZER_TEXT_IDS && x[i] < KV_TOKENIZER_VOCAB);
    }
    assert_memory_equal(x, y, sizeof(x));
    assert_true(same < 8); /* another seed, other text */
    assert_string_equal(kv_tokenizer_decode(KV_TOKENIZER_TEXT_IDS, &len), " the");
    assert_int_equal(len, 4);
    assert_string_equal(kv_tokenizer_decode(KV_TOKENIZER_VOCAB - 1, &len), ".");
    assert_string_equal(kv_tokenizer_decode(17, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(kv_tokenizer_decode(KV_TOKENIZER_VOCAB, &len), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_prefix_stability),
        cmocka_unit_test(test_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
