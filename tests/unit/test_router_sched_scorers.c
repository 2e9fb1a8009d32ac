/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_sched_scorers.c - each scorer and each filter alone, on hand-made
 * inputs, with the exact values llm-d's normalizations give. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "router/filter.h"
#include "router/scorer.h"

#define N 4

struct in_fx {
    struct kv_sched_config cfg;
    struct kv_sched_request req;
    struct kv_sched_backend bk[N];
    uint32_t cand[N];
    uint32_t matched[8];
    struct kv_scorer_in in;
    double out[N];
};

static void setup(struct in_fx *f)
{
    memset(f, 0, sizeof(*f));
    kv_sched_config_default(&f->cfg);
    for (uint32_t i = 0; i < N; i++) {
        f->bk[i].id = 7 - i; /* ids differ from positions */
        f->bk[i].healthy = true;
        f->cand[i] = i;
    }
    f->req.nblocks = 10;
    f->in = (struct kv_scorer_in){&f->cfg, &f->req, f->bk, f->cand, N, f->matched, -1};
}

static void run(struct in_fx *f, const char *name)
{
    const struct kv_scorer_ops *ops = kv_scorer_find(name);
    assert_non_null(ops);
    assert_string_equal(ops->name, name);
    for (int k = 0; k < N; k++)
        f->out[k] = -1;
    ops->score(&f->in, f->out);
}

static void expect(const struct in_fx *f, double a, double b, double c, double d)
{
    double want[N] = {a, b, c, d};
    for (int k = 0; k < N; k++)
        if (fabs(f->out[k] - want[k]) > 1e-12)
            fail_msg("candidate %d: %g, want %g", k, f->out[k], want[k]);
}

static void test_prefix_scorer(void **state)
{
    struct in_fx f;
    (void)state;
    setup(&f);
    f.matched[7] = 10;
    f.matched[6] = 5;
    f.matched[4] = 1;
    run(&f, "prefix-cache-scorer");
    expect(&f, 1.0, 0.5, 0.0, 0.1);
    f.req.nblocks = 0;
    run(&f, "prefix-cache-scorer");
    expect(&f, 0, 0, 0, 0);
    f.req.nblocks = 10;
    f.in.matched = NULL;
    run(&f, "prefix-cache-scorer");
    expect(&f, 0, 0, 0, 0);
}

static void test_queue_scorer(void **state)
{
    struct in_fx f;
    (void)state;
    setup(&f);
    f.bk[0].waiting = 4;
    f.bk[1].waiting = 0;
    f.bk[2].waiting = 2;
    f.bk[3].waiting = 3;
    run(&f, "queue-scorer");
    expect(&f, 0.0, 1.0, 0.5, 0.25);
    for (int i = 0; i < N; i++)
        f.bk[i].waiting = 7;
    run(&f, "queue-scorer");
    expect(&f, 1, 1, 1, 1);
    /* Only candidates count: drop the longest queue from the range. */
    f.bk[0].waiting = 100;
    f.bk[1].waiting = 0;
    f.bk[2].waiting = 2;
    f.cand[0] = 3;
    f.bk[3].waiting = 4;
    run(&f, "queue-scorer");
    expect(&f, 0.0, 1.0, 0.5, 0.0);
}

static void test_kv_scorer(void **state)
{
    struct in_fx f;
    (void)state;
    setup(&f);
    f.bk[0].kv_usage = 0.8;
    f.bk[1].kv_usage = 0.25;
    f.bk[2].kv_usage = 1.5; /* out of range: clamped */
    f.bk[3].kv_usage = -1;
    run(&f, "kv-cache-utilization-scorer");
    expect(&f, 0.2, 0.75, 0.0, 1.0);
}

static void test_load_aware_scorer(void **state)
{
    struct in_fx f;
    (void)state;
    setup(&f);
    f.bk[0].waiting = 0;
    f.bk[1].waiting = 64;
    f.bk[2].waiting = 128;
    f.bk[3].waiting = 500;
    run(&f, "load-aware-scorer");
    expect(&f, 0.5, 0.25, 0.0, 0.0);
    f.cfg.load_aware_threshold = 10;
    f.bk[1].waiting = 1;
    run(&f, "load-aware-scorer");
    expect(&f, 0.5, 0.45, 0.0, 0.0);
}

static void test_session_and_active_scorers(void **state)
{
    struct in_fx f;
    (void)state;
    setup(&f);
    run(&f, "session-affinity-scorer");
    expect(&f, 0, 0, 0, 0);
    f.in.session_k = 2;
    run(&f, "session-affinity-scorer");
    expect(&f, 0, 0, 1, 0);
    run(&f, "active-request-scorer");
    expect(&f, 1, 1, 1, 1);
    f.bk[0].inflight = 4;
    f.bk[1].inflight = 1;
    f.bk[3].inflight = 2;
    run(&f, "active-request-scorer");
    expect(&f, 0, 0.75, 1, 0.5);
    run(&f, "inflight-prefill-scorer");
    expect(&f, 1, 1, 1, 1);
    f.bk[0].inflight_prefill = 8000;
    f.bk[2].inflight_prefill = 2000;
    f.bk[3].inflight_prefill = 6000;
    run(&f, "inflight-prefill-scorer");
    expect(&f, 0, 1, 0.75, 0.25);
}

static void test_scorer_table(void **state)
{
    size_t n;
    const struct kv_scorer_ops *const *all = kv_scorer_all(&n);
    (void)state;
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(kv_scorer_find(all[i]->name), all[i]);
    assert_null(kv_scorer_find("nope"));
    assert_null(kv_scorer_find(NULL));
}

static void test_filters(void **state)
{
    const char *const models[] = {"llama", "qwen-7b"};
    struct kv_sched_backend b = {.healthy = true, .models = models, .nmodels = 2};
    struct kv_sched_request r = {.model = "qwen-7b", .model_len = 7};
    const struct kv_filter_ops *model = kv_filter_find("model");
    const struct kv_filter_ops *healthy = kv_filter_find("unhealthy");
    const struct kv_filter_ops *bound = kv_filter_find("load-bound");
    size_t n;
    const struct kv_filter_ops *const *chain = kv_filter_chain(&n);
    (void)state;
    assert_int_equal(n, 3);
    assert_ptr_equal(chain[0], model);
    assert_ptr_equal(chain[1], healthy);
    assert_ptr_equal(chain[2], bound);
    assert_null(kv_filter_find("x"));
    assert_int_equal(model->err, KV_ENOMODEL);
    assert_int_equal(healthy->err, KV_ENOBACKEND);
    assert_int_equal(bound->err, KV_EOVERLOAD);

    assert_true(model->keep(&r, &b));
    r.model_len = 4; /* "qwen" is a prefix of a listed model, not a listed model */
    assert_false(model->keep(&r, &b));
    r.model = "llama-3";
    r.model_len = 7;
    assert_false(model->keep(&r, &b));
    r.model_len = 5; /* the bytes "llama" */
    assert_true(model->keep(&r, &b));
    r.model = NULL; /* the default model */
    assert_true(model->keep(&r, &b));
    r.model = "anything";
    r.model_len = 8;
    b.nmodels = 0; /* models not known yet */
    assert_true(model->keep(&r, &b));

    assert_true(healthy->keep(&r, &b));
    b.healthy = false;
    assert_false(healthy->keep(&r, &b));

    assert_true(bound->keep(&r, &b)); /* no bound */
    b.max_inflight = 2;
    b.inflight = 1;
    assert_true(bound->keep(&r, &b));
    b.inflight = 2;
    assert_false(bound->keep(&r, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_scorer),
        cmocka_unit_test(test_queue_scorer),
        cmocka_unit_test(test_kv_scorer),
        cmocka_unit_test(test_load_aware_scorer),
        cmocka_unit_test(test_session_and_active_scorers),
        cmocka_unit_test(test_scorer_table),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
