/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_engine.c - the vLLM v1 scheduler: FCFS with head-of-line blocking,
 * max_num_seqs, the token budget, chunked prefill on/off, preemption of the latest admitted,
 * prefix hits, aborts, and the step-time formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/err.h"
#include "sim/engine.h"
#include "sim/kvhash.h"

struct fx {
    struct kv_kvhash hash;
    struct kv_engine_config cfg;
    struct kv_engine *e;
    uint32_t prompt[512];
};

static struct fx *fx_new(uint32_t blocks, uint32_t seqs, uint32_t budget, bool chunked)
{
    struct fx *f = calloc(1, sizeof(*f));
    kv_kvhash_init(&f->hash, KV_KVHASH_BUILTIN, "0");
    kv_engine_config_default(&f->cfg);
    f->cfg.num_blocks = blocks;
    f->cfg.max_num_seqs = seqs;
    f->cfg.max_num_batched_tokens = budget;
    f->cfg.max_model_len = 512;
    f->cfg.enable_chunked_prefill = chunked;
    f->cfg.hash = &f->hash;
    for (uint32_t i = 0; i < 512; i++)
        f->prompt[i] = 1000 + i;
    assert_int_equal(kv_engine_new(&f->cfg, &f->e), 0);
    return f;
}

static void fx_free(struct fx *f)
{
    kv_engine_free(f->e);
    free(f);
}

/* Adds a request whose prompt is <n> tokens of family <base> (same base, same tokens). */
static struct kv_engine_req *add_base(struct fx *f, uint32_t n, uint32_t max_tokens,
                                      uintptr_t user, uint32_t base)
{
    struct kv_engine_params p = {f->prompt, n, max_tokens, 0, NULL, 0, 0.0, (void *)user};
    struct kv_engine_req *r;
    for (uint32_t i = 0; i < n; i++)
        f->prompt[i] = base * 1000 + i;
    assert_int_equal(kv_engine_add(f->e, &p, &r), 0);
    return r;
}

/* Adds a request with a prompt of its own (no prefix shared with others). */
static struct kv_engine_req *add(struct fx *f, uint32_t n, uint32_t max_tokens, uintptr_t user)
{
    return add_base(f, n, max_tokens, user, (uint32_t)user);
}

/* Runs one step at <now>; returns the events' user tags in order into <users>. */
static size_t step(struct fx *f, double now, double *ms, uintptr_t *users,
                   const struct kv_engine_event **evs)
{
    const struct kv_engine_event *ev = NULL;
    size_t n;
    *ms = kv_engine_schedule(f->e, now);
    if (*ms == 0)
        return 0;
    kv_engine_finish_step(f->e, now + *ms / 1000, &ev, &n);
    for (size_t i = 0; users && i < n; i++)
        users[i] = (uintptr_t)ev[i].user;
    if (evs)
        *evs = ev;
    return n;
}

static void test_timing_and_lifecycle(void **state)
{
    struct fx *f = fx_new(100, 16, 8192, true);
    const struct kv_engine_event *ev = NULL;
    struct kv_engine_stats st;
    double ms;
    (void)state;
    add(f, 100, 3, 1);
    assert_int_equal(step(f, 1.0, &ms, NULL, &ev), 1);
    assert_true(ms == 3.0 + 0.01 * 100 + 0.01 * 100 / 1000.0); /* prefill 100, ctx 100 */
    assert_true(ev[0].first_token && ev[0].has_token && ev[0].finish == KV_ENGINE_RUNNING);
    assert_true(ev[0].first_scheduled == 1.0);
    assert_true(ev[0].first_token_time == 1.0 + ms / 1000);
    assert_int_equal(ev[0].num_output, 1);
    assert_int_equal(step(f, 2.0, &ms, NULL, &ev), 1);
    assert_true(ms == 3.0 + 0.02 * 1 + 0.01 * 101 / 1000.0); /* one decode, ctx 101 */
    assert_false(ev[0].first_token);
    assert_int_equal(step(f, 3.0, &ms, NULL, &ev), 1);
    assert_int_equal(ev[0].finish, KV_ENGINE_FINISH_LENGTH);
    assert_int_equal(ev[0].num_output, 3);
    assert_int_equal(ev[0].num_prompt, 100);
    assert_true(ev[0].finish_time == 3.0 + ms / 1000);
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.num_running + st.num_waiting, 0);
    assert_int_equal(st.steps, 3);
    assert_false(kv_engine_has_work(f->e));
    assert_true(kv_engine_schedule(f->e, 4.0) == 0);
    /* All 99 blocks free again; the 6 full prompt blocks are still cached. */
    assert_int_equal(kv_blockpool_num_free(kv_engine_pool(f->e)), 99);
    assert_int_equal(kv_engine_pool(f->e)->num_cached, 6);
    fx_free(f);
}

static void test_prefix_hit(void **state)
{
    struct fx *f = fx_new(100, 16, 8192, true);
    const struct kv_engine_event *ev = NULL;
    const struct kv_blockpool *pool = kv_engine_pool(f->e);
    double ms;
    (void)state;
    add_base(f, 100, 1, 1, 7);
    assert_int_equal(step(f, 0, &ms, NULL, &ev), 1);
    assert_int_equal(ev[0].num_cached, 0);
    add_base(f, 100, 1, 2, 7);
    assert_int_equal(step(f, 1, &ms, NULL, &ev), 1);
    assert_int_equal(ev[0].num_cached, 96); /* (100 - 1) / 16 = 6 blocks */
    assert_true(ms == 3.0 + 0.01 * 4 + 0.01 * 100 / 1000.0);
    assert_int_equal(pool->stats.requests, 2);
    assert_int_equal(pool->stats.queries, 200);
    assert_int_equal(pool->stats.hits, 96);
    /* 96 tokens exactly: (96 - 1) / 16 = 5 blocks; the 6th is recomputed. */
    add_base(f, 96, 1, 3, 7);
    assert_int_equal(step(f, 2, &ms, NULL, &ev), 1);
    assert_int_equal(ev[0].num_cached, 80);
    /* Two identical prompts admitted in one step: the second hits the blocks the first was
     * just given (vLLM caches full blocks when it schedules them, before the step runs). */
    add_base(f, 64, 1, 4, 8);
    add_base(f, 64, 1, 5, 8);
    assert_int_equal(step(f, 3, &ms, NULL, &ev), 2);
    assert_int_equal(ev[0].num_cached, 0);
    assert_int_equal(ev[1].num_cached, 48);
    fx_free(f);
}

static void test_max_num_seqs_fcfs(void **state)
{
    struct fx *f = fx_new(100, 2, 8192, true);
    struct kv_engine_stats st;
    uintptr_t u[8];
    double ms;
    (void)state;
    add(f, 10, 2, 1);
    add(f, 20, 2, 2);
    add(f, 5, 2, 3);
    assert_int_equal(step(f, 0, &ms, u, NULL), 2);
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], 2);
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.num_running, 2);
    assert_int_equal(st.num_waiting, 1);
    assert_int_equal(st.step_prefill_tokens, 30);
    assert_int_equal(step(f, 1, &ms, u, NULL), 2); /* both finish; 3 still waits this step */
    assert_int_equal(step(f, 2, &ms, u, NULL), 1);
    assert_int_equal(u[0], 3);
    fx_free(f);
}

static void test_chunked_prefill_budget(void **state)
{
    struct fx *f = fx_new(100, 16, 64, true);
    struct kv_engine_req *c;
    struct kv_engine_stats st;
    uintptr_t u[8];
    double ms;
    (void)state;
    add(f, 100, 4, 1);
    add(f, 10, 4, 2);
    assert_int_equal(step(f, 0, &ms, u, NULL), 0); /* A's first 64-token chunk: no token */
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.step_prefill_tokens, 64);
    assert_int_equal(st.num_waiting, 1); /* budget spent on A */
    c = add(f, 1, 1, 9);
    assert_int_equal(kv_engine_req_num_computed(c), 0);
    assert_int_equal(step(f, 1, &ms, u, NULL), 3); /* A: 36, B: 10, C: 1 */
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.step_prefill_tokens, 47);
    assert_true(ms == 3.0 + 0.01 * 47 + 0.01 * (100 + 10 + 1) / 1000.0);
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], 2);
    fx_free(f);
}

static void test_no_chunked_prefill_skips(void **state)
{
    struct fx *f = fx_new(100, 16, 512, false);
    uintptr_t u[8];
    double ms;
    (void)state;
    /* Budget 512 = max_model_len (required with chunked prefill off). */
    add(f, 400, 2, 1); /* A fits; 112 left */
    add(f, 200, 2, 2); /* B does not fit: set aside */
    add(f, 150, 2, 3); /* C does not fit: set aside */
    add(f, 100, 2, 4); /* D fits */
    assert_int_equal(step(f, 0, &ms, u, NULL), 2);
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], 4);
    /* The set-aside requests return to the front reversed (vLLM's deque): C before B. Budget
     * 510 after two decodes: C (150) then B (200). */
    assert_int_equal(step(f, 1, &ms, u, NULL), 4);
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], 4);
    assert_int_equal(u[2], 3);
    assert_int_equal(u[3], 2);
    fx_free(f);
    {
        struct kv_engine *e;
        struct kv_engine_config c;
        struct kv_kvhash h;
        kv_kvhash_init(&h, KV_KVHASH_BUILTIN, "0");
        kv_engine_config_default(&c);
        c.num_blocks = 10;
        c.max_model_len = 1000;
        c.max_num_batched_tokens = 999;
        c.enable_chunked_prefill = false;
        c.hash = &h;
        assert_int_equal(kv_engine_new(&c, &e), -22);
    }
}

static void test_head_of_line_blocking(void **state)
{
    struct fx *f = fx_new(9, 16, 8192, true); /* 8 usable blocks */
    const struct kv_blockpool *pool = kv_engine_pool(f->e);
    struct kv_engine_stats st;
    double ms;
    (void)state;
    add(f, 100, 1, 1); /* 7 blocks */
    add(f, 40, 1, 2);  /* 3 blocks: does not fit */
    add(f, 10, 1, 3);  /* 1 block would fit, but waits behind B */
    step(f, 0, &ms, NULL, NULL);
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.step_prefill_tokens, 100);
    assert_int_equal(st.num_waiting, 0 + 2);
    /* B was queried (and counted) before its allocation failed; C never was. */
    assert_int_equal(pool->stats.requests, 2);
    assert_int_equal(pool->stats.queries, 140);
    fx_free(f);
}

static void test_preempt_latest_admitted(void **state)
{
    struct fx *f = fx_new(5, 16, 8192, true); /* 4 usable blocks */
    const struct kv_blockpool *pool = kv_engine_pool(f->e);
    const struct kv_engine_event *ev = NULL;
    struct kv_engine_stats st;
    uintptr_t u[4];
    double ms;
    (void)state;
    add(f, 31, 4, 1); /* A: 2 blocks */
    add(f, 31, 3, 2); /* B: 2 blocks */
    assert_int_equal(step(f, 0, &ms, u, NULL), 2); /* 31 + 31 prefill, 1 token each */
    assert_int_equal(pool->stats.queries, 62);
    assert_int_equal(step(f, 1, &ms, u, NULL), 2); /* 32 tokens each: still 2 blocks */
    assert_int_equal(kv_blockpool_num_free(pool), 0);
    /* A needs a 3rd block for token 33: B, the last admitted, is preempted. */
    assert_int_equal(step(f, 2, &ms, u, &ev), 1);
    assert_int_equal(u[0], 1);
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.num_preemptions, 1);
    assert_int_equal(st.num_running, 1);
    assert_int_equal(st.num_waiting, 1);
    /* Preempted this step: the waiting pass did not run, nothing more was queried. */
    assert_int_equal(pool->stats.requests, 2);
    /* B's freed blocks were appended tail first; A took B's 2nd block, B's 1st is still
     * cached. Next step B is retried: 33 tokens queried (31 prompt + 2 generated), its first
     * block hits, but 2 new blocks + 1 evictable hit > 1 free: it keeps waiting. */
    assert_int_equal(step(f, 3, &ms, u, &ev), 1);
    assert_int_equal(ev[0].finish, KV_ENGINE_FINISH_LENGTH); /* A: 4 tokens */
    assert_int_equal(pool->stats.requests, 3);
    assert_int_equal(pool->stats.queries, 62 + 33);
    assert_int_equal(pool->stats.hits, 16);
    /* A is gone; B resumes: recomputes 33 - 16 tokens and samples its 3rd (last) token. */
    assert_int_equal(step(f, 4, &ms, u, &ev), 1);
    assert_int_equal(u[0], 2);
    assert_int_equal(ev[0].finish, KV_ENGINE_FINISH_LENGTH);
    assert_int_equal(ev[0].num_output, 3);
    assert_int_equal(ev[0].num_preemptions, 1);
    assert_int_equal(ev[0].num_cached, 0); /* first scheduling had no hit */
    assert_int_equal(pool->stats.requests, 4);
    assert_int_equal(pool->stats.queries, 62 + 33 + 33);
    kv_engine_stats(f->e, &st);
    assert_int_equal(st.step_prefill_tokens, 17);
    assert_int_equal(kv_blockpool_num_free(pool), 4);
    fx_free(f);
}

static void test_abort(void **state)
{
    struct fx *f = fx_new(20, 16, 8192, true);
    struct kv_engine_req *a, *b;
    const struct kv_engine_event *ev = NULL;
    size_t n;
    (void)state;
    a = add(f, 50, 5, 1);
    b = add(f, 50, 5, 2);
    assert_true(kv_engine_schedule(f->e, 0) > 0);
    kv_engine_abort(f->e, a); /* in the step in flight: freed when it ends */
    kv_engine_finish_step(f->e, 0.01, &ev, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].req, b);
    kv_engine_abort(f->e, b); /* running, between steps */
    assert_false(kv_engine_has_work(f->e));
    assert_int_equal(kv_blockpool_num_free(kv_engine_pool(f->e)), 19);
    add(f, 10, 5, 3);
    kv_engine_abort(f->e, add(f, 10, 5, 4)); /* waiting */
    assert_true(kv_engine_has_work(f->e));
    fx_free(f); /* frees the waiting request 3 */
}

static void test_add_validation(void **state)
{
    struct fx *f = fx_new(20, 16, 8192, true);
    struct kv_engine_params p = {f->prompt, 500, 13, 0, NULL, 0, 0, NULL};
    struct kv_engine_req *r;
    (void)state;
    assert_int_equal(kv_engine_add(f->e, &p, &r), KV_ETOOLONG);
    assert_null(r);
    p.max_tokens = 12;
    assert_int_equal(kv_engine_add(f->e, &p, &r), 0);
    p.num_prompt = 0;
    assert_int_equal(kv_engine_add(f->e, &p, &r), -22);
    p.num_prompt = 1;
    p.max_tokens = 0;
    assert_int_equal(kv_engine_add(f->e, &p, &r), -22);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_and_lifecycle),
        cmocka_unit_test(test_prefix_hit),
        cmocka_unit_test(test_max_num_seqs_fcfs),
        cmocka_unit_test(test_chunked_prefill_budget),
        cmocka_unit_test(test_no_chunked_prefill_skips),
        cmocka_unit_test(test_head_of_line_blocking),
        cmocka_unit_test(test_preempt_latest_admitted),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_add_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
