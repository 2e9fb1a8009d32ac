/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_oracle.c - ideal and pooled references, counted as vLLM counts hits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench/oracle.h"

/* Two requests with the same 400-byte (100-token) prompt, 8 output tokens each. */
static void same_twice(struct kv_workload *w)
{
    kv_workload_init(w, "t", false, 0);
    for (uint32_t s = 0; s < 2; s++) {
        kv_workload_add_req(w, s, s, 0, 8);
        kv_workload_add_msg(w, KV_ROLE_USER);
        kv_workload_add_seg(w, 77, 400);
    }
}

static void test_ideal_counts_like_vllm(void **state)
{
    struct kv_workload w;
    struct kv_oracle_result r;
    (void)state;
    same_twice(&w);
    assert_int_equal(kv_oracle_run(&w, 16, 1000, &r), 0);
    /* 100 tokens: 6 full blocks; the second request hits all 6 (96 tokens), as
     * (100 - 1) / 16 = 6 allows. */
    assert_int_equal(r.queries, 200);
    assert_int_equal(r.ideal_hits, 96);
    assert_int_equal(r.pooled_hits, 96);
    assert_float_equal(r.ideal, 0.48, 1e-12);
    kv_workload_cleanup(&w);
}

static void test_last_token_rule(void **state)
{
    struct kv_workload w;
    struct kv_oracle_result r;
    (void)state;
    kv_workload_init(&w, "t", false, 0);
    for (uint32_t s = 0; s < 2; s++) { /* exactly 64 tokens: only 3 of 4 blocks may hit */
        kv_workload_add_req(&w, s, s, 0, 1);
        kv_workload_add_msg(&w, KV_ROLE_USER);
        kv_workload_add_seg(&w, 5, 256);
    }
    assert_int_equal(kv_oracle_run(&w, 16, 1000, &r), 0);
    assert_int_equal(r.ideal_hits, 48);
    kv_workload_cleanup(&w);
}

static void test_pooled_capacity(void **state)
{
    struct kv_workload w;
    struct kv_oracle_result r;
    (void)state;
    /* A, B, A with room for one request's blocks only: B evicts A, so only ideal hits A. */
    kv_workload_init(&w, "t", false, 0);
    for (uint32_t s = 0; s < 3; s++) {
        kv_workload_add_req(&w, s, s, 0, 1);
        kv_workload_add_msg(&w, KV_ROLE_USER);
        kv_workload_add_seg(&w, s == 1 ? 9 : 8, 640); /* 160 tokens: 10 full blocks + output */
    }
    assert_int_equal(kv_oracle_run(&w, 16, 12, &r), 0);
    assert_int_equal(r.queries, 480);
    assert_int_equal(r.ideal_hits, 144); /* (160 - 1) / 16 = 9 blocks */
    /* 12 usable blocks, 11 per request. A's blocks were freed tail first, so B's allocation
     * evicts A's output block and blocks 9..1 and leaves A's first block: one block hits. */
    assert_int_equal(r.pooled_hits, 16);
    assert_true(r.pooled < r.ideal);
    kv_workload_cleanup(&w);
}

static void test_chat_history_hits(void **state)
{
    struct kv_workload w;
    struct kv_oracle_result r;
    struct kv_workload_chat_params p = {.users = 1, .turns = 2, .groups = 1, .system_tokens = 200,
                                        .user_tokens = 20, .answer_tokens = 20, .seed = 3};
    (void)state;
    kv_workload_init(&w, "chat", true, 3);
    kv_workload_chat(&w, &p);
    assert_int_equal(kv_oracle_run(&w, 16, 100000, &r), 0);
    /* Turn 1 re-sends turn 0's rendered text (system + user 0) before its new messages: at
     * least those 220+ tokens' full blocks hit, but not the whole prompt. */
    assert_true(r.ideal_hits >= 208);
    assert_true(r.ideal_hits < r.queries / 2);
    kv_workload_cleanup(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ideal_counts_like_vllm),
        cmocka_unit_test(test_last_token_rule),
        cmocka_unit_test(test_pooled_capacity),
        cmocka_unit_test(test_chat_history_hits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
