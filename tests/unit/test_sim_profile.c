/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_profile.c - KV bytes per token and the derived block count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/profile.h"

static void test_llama_1b(void **state)
{
    const struct kv_profile *p = kv_profile_find("meta-llama/Llama-3.2-1B-Instruct");
    uint64_t n;
    (void)state;
    assert_int_equal(p->layers, 16);
    assert_int_equal(kv_profile_bytes_per_token(p), 32768); /* 2 * 16 * 8 * 64 * 2 */
    n = kv_profile_num_blocks(p, KV_PROFILE_GPU_BYTES, 0.9, 16);
    /* (85520809984 * 0.9 - 2471857152 - 4831838208) / 524288 */
    assert_int_equal(n, 132875);
    assert_int_equal(kv_profile_num_blocks(p, KV_PROFILE_GPU_BYTES, 0.5, 16), 67628);
    assert_int_equal(kv_profile_num_blocks(p, 1ull << 30, 0.9, 16), 0);
}

static void test_lookup(void **state)
{
    (void)state;
    assert_int_equal(kv_profile_find("LLAMA-3.1-8B")->head_dim, 128);
    assert_int_equal(kv_profile_bytes_per_token(kv_profile_find("llama-3.1-8b")), 131072);
    assert_string_equal(kv_profile_find("my-model")->hf_name, "meta-llama/Llama-3.2-1B-Instruct");
    assert_string_equal(kv_profile_find(NULL)->match, "llama-3.2-1b");
    assert_int_equal(kv_profile_find("Qwen/Qwen2.5-7B-Instruct")->max_model_len, 32768);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_1b),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
