/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_workload.c - workload generators: determinism and sharing structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "bench/workload.h"

static char *render_req(const struct kv_workload *w, size_t i)
{
    struct kv_buf b;
    const struct kv_workload_req *r = &w->reqs[i];
    kv_buf_init(&b, 1 << 24);
    for (uint32_t m = 0; m < r->msg_count; m++)
        assert_int_equal(kv_workload_render_msg(w, &w->msgs[r->msg_first + m], &b), 0);
    return kv_buf_detach(&b, NULL);
}

static void test_segment_text(void **state)
{
    struct kv_workload_seg a = {42, 100}, b = {42, 37}, c = {43, 100};
    struct kv_buf x, y, z;
    (void)state;
    kv_buf_init(&x, 1000);
    kv_buf_init(&y, 1000);
    kv_buf_init(&z, 1000);
    assert_int_equal(kv_workload_render_seg(&a, &x), 0);
    assert_int_equal(kv_workload_render_seg(&b, &y), 0);
    assert_int_equal(kv_workload_render_seg(&c, &z), 0);
    assert_int_equal(x.len, 100);
    assert_int_equal(y.len, 37);
    assert_memory_equal(x.data, y.data, 37); /* same id: shorter is a prefix of longer */
    assert_int_not_equal(memcmp(x.data, z.data, 100), 0);
    for (size_t i = 0; i < x.len; i++)
        assert_true(x.data[i] == ' ' || (x.data[i] >= 'a' && x.data[i] <= 'z'));
    kv_buf_cleanup(&x);
    kv_buf_cleanup(&y);
    kv_buf_cleanup(&z);
}

static void test_chat_structure(void **state)
{
    struct kv_workload_chat_params p = {.users = 4, .turns = 3, .groups = 2, .system_tokens = 100,
                                        .user_tokens = 20, .answer_tokens = 30, .think_s = 1.0,
                                        .ramp_s = 5.0, .seed = 7};
    struct kv_workload w;
    (void)state;
    kv_workload_init(&w, "chat", true, 7);
    kv_workload_chat(&w, &p);
    assert_int_equal(w.n_reqs, 12);
    assert_int_equal(w.n_sessions, 4);
    for (size_t i = 0; i < w.n_reqs; i++) {
        const struct kv_workload_req *r = &w.reqs[i];
        assert_int_equal(r->session, i / 3);
        assert_int_equal(r->turn, i % 3);
        assert_int_equal(r->msg_count, 2 + 2 * r->turn);
        assert_int_equal(r->prompt_bytes, 4 * (100 + 20 + r->turn * 50));
        assert_int_equal(r->max_tokens, 30);
        assert_true(r->arrival_s >= 0 && r->arrival_s < 5.0);
        if (r->turn == 0)
            assert_true(r->think_s == 0);
    }
    /* Turn n+1's prompt extends turn n's; the system prompt is shared within a group only. */
    char *t0 = render_req(&w, 0), *t1 = render_req(&w, 1), *u1 = render_req(&w, 3),
         *u2 = render_req(&w, 6);
    assert_memory_equal(t0, t1, strlen(t0));
    assert_memory_equal(t0, u2, 400);      /* users 0 and 2: group 0 */
    assert_memory_not_equal(t0, u1, 400);  /* user 1: group 1 */
    assert_memory_not_equal(t0 + 400, u2 + 400, 80);
    free(t0), free(t1), free(u1), free(u2);
    kv_workload_cleanup(&w);
}

static void test_determinism(void **state)
{
    struct kv_workload_shared_params p = {.groups = 3, .prompts = 5, .prefix_tokens = 200,
                                          .question_tokens = 10, .output_tokens = 8, .rate = 10,
                                          .seed = 99};
    struct kv_workload a, b;
    (void)state;
    kv_workload_init(&a, "sp", false, 99);
    kv_workload_init(&b, "sp", false, 99);
    kv_workload_shared_prefix(&a, &p);
    kv_workload_shared_prefix(&b, &p);
    assert_int_equal(a.n_reqs, 15);
    assert_int_equal(a.n_segs, 30);
    assert_memory_equal(a.reqs, b.reqs, a.n_reqs * sizeof(*a.reqs));
    assert_memory_equal(a.segs, b.segs, a.n_segs * sizeof(*a.segs));
    /* Every group's prefix appears in exactly 5 requests; questions are all distinct. */
    for (size_t i = 0; i < a.n_reqs; i++) {
        int same = 0;
        for (size_t j = 0; j < a.n_reqs; j++)
            same += a.segs[2 * i].block == a.segs[2 * j].block;
        assert_int_equal(same, 5);
        for (size_t j = 0; j < a.n_reqs; j++)
            if (j != i)
                assert_true(a.segs[2 * i + 1].block != a.segs[2 * j + 1].block);
        if (i > 0)
            assert_true(a.reqs[i].arrival_s >= a.reqs[i - 1].arrival_s);
    }
    kv_workload_cleanup(&a);
    kv_workload_cleanup(&b);
}

static void test_render_body(void **state)
{
    struct kv_workload w;
    struct kv_buf b;
    (void)state;
    kv_workload_init(&w, "x", true, 1);
    kv_workload_add_req(&w, 0, 0, 0, 5);
    kv_workload_add_msg(&w, KV_ROLE_SYSTEM);
    kv_workload_add_seg(&w, 1, 3);
    kv_workload_add_msg(&w, KV_ROLE_USER);
    kv_workload_add_seg(&w, 2, 2);
    kv_buf_init(&b, 4096);
    assert_int_equal(kv_workload_render_body(&w, &w.reqs[0], "m\"1", true, &b), 0);
    /* The texts are fixed by the block ids; check the envelope around them. */
    assert_non_null(strstr(b.data, "{\"model\":\"m\\\"1\",\"messages\":[{\"role\":\"system\","
                                   "\"content\":\""));
    assert_non_null(strstr(b.data, "\"max_tokens\":5,\"ignore_eos\":true,\"temperature\":0,"
                                   "\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
    kv_buf_cleanup(&b);
    kv_workload_cleanup(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_text),
        cmocka_unit_test(test_chat_structure),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_render_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
