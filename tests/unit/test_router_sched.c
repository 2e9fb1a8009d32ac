/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_sched.c - the scheduler pipeline: filter errors, pick without side
 * effects then commit, the explanation and its JSON, the utilization estimate, config checks,
 * and a randomized property (the choice always passes the filters). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/rand.h"
#include "prefix/index.h"
#include "router/sched.h"
#include "router/session.h"

#define S 1000000000ull

static void backends(struct kv_sched_backend *bk, uint32_t n, const char *const *names)
{
    for (uint32_t i = 0; i < n; i++)
        bk[i] = (struct kv_sched_backend){.id = i, .name = names[i], .healthy = true};
}

static void test_filter_errors(void **state)
{
    const char *const names[] = {"a", "b", "c"};
    const char *const llama[] = {"llama"}, *const qwen[] = {"qwen"};
    struct kv_sched_backend bk[3];
    struct kv_sched_config cfg;
    struct kv_sched_request req = {.model = "qwen", .model_len = 4};
    struct kv_sched_result res;
    struct kv_sched_explain ex;
    struct kv_rand rnd;
    struct kv_sched *s;
    (void)state;
    kv_rand_seed(&rnd, 1);
    kv_sched_config_default(&cfg);
    s = kv_sched_new(&cfg, NULL, NULL, 8);
    assert_non_null(s);
    kv_sched_explain_init(&ex, 3);
    backends(bk, 3, names);
    bk[0].models = bk[1].models = llama;
    bk[2].models = qwen;
    bk[0].nmodels = bk[1].nmodels = bk[2].nmodels = 1;
    assert_int_equal(kv_sched_pick(s, &req, bk, 0, &rnd, &res, NULL), KV_ENOBACKEND);
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), 2);
    assert_string_equal(ex.b[0].filtered, "model");
    assert_null(ex.b[2].filtered);
    bk[2].healthy = false; /* served, but only by a backend that is down: 503, not 404 */
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), KV_ENOBACKEND);
    assert_string_equal(ex.b[2].filtered, "unhealthy");
    assert_int_equal(ex.err, KV_ENOBACKEND);
    assert_int_equal(ex.chosen, -1);
    req.model = "gpt";
    req.model_len = 3;
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), KV_ENOMODEL);
    req.model = NULL;
    bk[0].max_inflight = bk[1].max_inflight = 4;
    bk[0].inflight = bk[1].inflight = 4;
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), KV_EOVERLOAD);
    assert_string_equal(ex.b[0].filtered, "load-bound");
    bk[1].inflight = 3;
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), 1);
    /* Bad input. */
    bk[1].id = 8;
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), -EINVAL);
    bk[1].id = 1;
    assert_int_equal(kv_sched_pick(s, &req, bk, 9, &rnd, &res, NULL), -EINVAL);
    kv_sched_explain_cleanup(&ex);
    kv_sched_explain_init(&ex, 2);
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), -EINVAL);
    kv_sched_explain_cleanup(&ex);
    kv_sched_free(s);
}

static void test_pick_then_commit(void **state)
{
    const char *const names[] = {"a", "b"};
    struct kv_index *ix = kv_index_new(1000, 4, 1000, 0);
    struct kv_session *ss = kv_session_new(10, 0, 3);
    struct kv_sched_backend bk[2];
    struct kv_sched_config cfg;
    uint64_t h[10];
    struct kv_sched_request req = {.hashes = h, .nblocks = 10, .prompt_tokens = 170,
                                   .max_tokens = 50, .session_key = "u1", .session_len = 2,
                                   .now_ns = 5 * S};
    struct kv_sched_result res;
    struct kv_rand rnd;
    struct kv_sched *s;
    (void)state;
    for (int i = 0; i < 10; i++)
        h[i] = 1000 + (uint64_t)i;
    kv_rand_seed(&rnd, 2);
    kv_sched_config_default(&cfg);
    s = kv_sched_new(&cfg, ix, ss, 4);
    backends(bk, 2, names);
    bk[0].inflight = 1; /* cold request: b wins */
    for (int i = 0; i < 3; i++)
        assert_int_equal(kv_sched_pick(s, &req, bk, 2, &rnd, &res, NULL), 1);
    /* Picking changed nothing. */
    assert_int_equal(kv_index_entries(ix), 0);
    assert_int_equal(kv_session_count(ss), 0);
    assert_int_equal(res.session_backend, -1);
    assert_int_equal(res.matched, 0);
    assert_int_equal(res.uncached_tokens, 170);
    assert_true(res.work == 170 + 2 * 50); /* decode_token_cost 2 */
    kv_sched_commit(s, &req, bk, 2, &res);
    assert_int_equal(kv_index_blocks(ix, 1), 10);
    assert_int_equal(kv_session_get(ss, "u1", 2, 5 * S), 1);
    /* The next pick sees its own history. */
    bk[1].inflight = 1;
    assert_int_equal(kv_sched_pick(s, &req, bk, 2, &rnd, &res, NULL), 1);
    assert_int_equal(res.matched, 10);
    assert_int_equal(res.best_matched, 10);
    assert_int_equal(res.uncached_tokens, 10);
    assert_int_equal(res.session_backend, 1);
    /* A commit of a failed pick is ignored. */
    res.pos = -1;
    kv_sched_commit(s, &req, bk, 2, &res);
    kv_sched_free(s);
    kv_session_free(ss);
    kv_index_free(ix);
}

/* A head shared by more backends than an index node has slots: the backend that lost the head's
 * slot still gets credit for its session's chain (the index credits the deepest holding). */
static void test_lookup_credits_past_shared_head(void **state)
{
    const char *const names[] = {"a", "b", "c", "d", "e"};
    struct kv_index *ix = kv_index_new(1000, 8, 1000, 0);
    struct kv_sched_backend bk[5];
    struct kv_sched_config cfg;
    uint64_t h[20];
    struct kv_sched_request req = {.hashes = h, .nblocks = 20, .prompt_tokens = 320};
    struct kv_sched_result res;
    struct kv_sched_explain ex;
    struct kv_rand rnd;
    struct kv_sched *s;
    (void)state;
    for (int i = 0; i < 20; i++)
        h[i] = 500 + (uint64_t)i;
    kv_rand_seed(&rnd, 4);
    kv_sched_config_default(&cfg);
    cfg.util_fixed = 0;
    s = kv_sched_new(&cfg, ix, NULL, 8);
    backends(bk, 5, names);
    kv_index_record(ix, 0, h, 20, 1 * S);          /* a's session: head + its own 10 blocks */
    for (uint32_t b = 1; b <= 4; b++)
        kv_index_record(ix, b, h, 10, (1 + b) * S); /* four more take the head's 4 slots */
    assert_int_equal(kv_index_lookup(ix, h, 20, (uint32_t[8]){0}), 20);
    kv_sched_explain_init(&ex, 5);
    assert_int_equal(kv_sched_pick(s, &req, bk, 5, &rnd, &res, &ex), 0);
    assert_int_equal(res.matched, 20);
    assert_int_equal(res.best_matched, 20);
    assert_int_equal(res.uncached_tokens, 0);
    assert_int_equal(ex.b[0].matched, 20);
    assert_int_equal(ex.b[1].matched, 10);
    /* The chain leaves a's run two blocks past the head: a matches 12, the others the head. */
    h[12] = 9999;
    assert_int_equal(kv_sched_pick(s, &req, bk, 5, &rnd, &res, &ex), 0);
    assert_int_equal(res.matched, 12);
    assert_int_equal(ex.b[2].matched, 10);
    kv_sched_explain_cleanup(&ex);
    kv_sched_free(s);
    kv_index_free(ix);
}

static void test_explain_json(void **state)
{
    const char *const names[] = {"b0", "b1", "b\"2"};
    struct kv_index *ix = kv_index_new(1000, 4, 1000, 0);
    struct kv_sched_backend bk[3];
    struct kv_sched_config cfg;
    uint64_t h[2] = {11, 12};
    struct kv_sched_request req = {.hashes = h, .nblocks = 2, .prompt_tokens = 40};
    struct kv_sched_result res;
    struct kv_sched_explain ex;
    struct kv_rand rnd;
    struct kv_buf out;
    struct kv_sched *s;
    (void)state;
    kv_rand_seed(&rnd, 3);
    kv_sched_config_default(&cfg);
    cfg.util_fixed = 0.5;
    s = kv_sched_new(&cfg, ix, NULL, 4);
    kv_index_record(ix, 0, h, 2, 0);
    backends(bk, 3, names);
    bk[0].inflight = 1;
    bk[0].inflight_prefill = 10;
    bk[2].healthy = false;
    kv_sched_explain_init(&ex, 3);
    assert_int_equal(kv_sched_pick(s, &req, bk, 3, &rnd, &res, &ex), 0);
    kv_buf_init(&out, 1 << 16);
    assert_int_equal(kv_sched_explain_json(&ex, &out), 0);
    assert_string_equal(
        out.data,
        "{\"policy\":\"cache-aware\",\"chosen\":\"b0\",\"reason\":\"min estimated TTFT cost\","
        "\"blocks\":2,\"prompt_tokens\":40,\"best_matched\":2,\"util\":0.5,"
        "\"session_backend\":null,\"objective\":\"min\",\"columns\":["
        "{\"name\":\"queued\",\"weight\":1},{\"name\":\"uncached\",\"weight\":2},"
        "{\"name\":\"balance\",\"weight\":2},{\"name\":\"evict\",\"weight\":1}],"
        "\"backends\":["
        "{\"id\":0,\"name\":\"b0\",\"filtered\":null,\"matched\":2,"
        "\"scores\":{\"queued\":26,\"uncached\":8,\"balance\":0,\"evict\":0},\"total\":42},"
        "{\"id\":1,\"name\":\"b1\",\"filtered\":null,\"matched\":0,"
        "\"scores\":{\"queued\":0,\"uncached\":40,\"balance\":0,\"evict\":0},\"total\":80},"
        "{\"id\":2,\"name\":\"b\\\"2\",\"filtered\":\"unhealthy\",\"matched\":0,"
        "\"scores\":{\"queued\":null,\"uncached\":null,\"balance\":null,\"evict\":null},"
        "\"total\":null}]}");
    kv_buf_cleanup(&out);
    kv_buf_init(&out, 100);
    assert_int_equal(kv_sched_explain_json(&ex, &out), KV_ETOOBIG);
    kv_buf_cleanup(&out);
    kv_sched_explain_cleanup(&ex);
    kv_sched_free(s);
    kv_index_free(ix);
}

static void test_utilization(void **state)
{
    const char *const names[] = {"a", "b", "c", "d", "e"};
    struct kv_sched_backend bk[5];
    struct kv_sched_config cfg;
    struct kv_sched *s;
    (void)state;
    kv_sched_config_default(&cfg);
    s = kv_sched_new(&cfg, NULL, NULL, 8);
    backends(bk, 5, names);
    assert_true(kv_sched_util(s) == 0);
    bk[0].inflight = 1;
    bk[1].running = 2;
    bk[4].healthy = false; /* busy or not, a down backend does not count */
    bk[4].inflight = 3;
    kv_sched_observe(s, bk, 5, 0);
    assert_true(kv_sched_util(s) == 0.5);
    bk[2].waiting = 1;
    bk[3].inflight = 1;
    kv_sched_observe(s, bk, 5, 10 * S); /* one time constant later */
    assert_true(fabs(kv_sched_util(s) - (0.5 + 0.5 * (1 - exp(-1)))) < 1e-12);
    kv_sched_observe(s, bk, 5, 10 * S); /* no time passed: no weight */
    assert_true(fabs(kv_sched_util(s) - (0.5 + 0.5 * (1 - exp(-1)))) < 1e-12);
    kv_sched_free(s);
    cfg.util_fixed = 0.25;
    s = kv_sched_new(&cfg, NULL, NULL, 8);
    kv_sched_observe(s, bk, 5, 0);
    assert_true(kv_sched_util(s) == 0.25);
    kv_sched_free(s);
}

static void test_config(void **state)
{
    struct kv_sched_config cfg;
    enum kv_sched_policy p;
    char err[128];
    (void)state;
    kv_sched_config_default(&cfg);
    assert_int_equal(cfg.policy, KV_SCHED_CACHE_AWARE);
    assert_true(cfg.balance_weight == 1 && cfg.balance_slack == 0 && cfg.balance_services == 1 &&
                cfg.balance_sticky == 2 && cfg.decode_token_cost == 2);
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), 0);
    for (int i = 0; i < KV_SCHED_NPOLICIES; i++) {
        assert_int_equal(kv_sched_policy_parse(kv_sched_policy_name((enum kv_sched_policy)i), &p),
                         0);
        assert_int_equal(p, i);
    }
    assert_int_equal(kv_sched_policy_parse("random", &p), -EINVAL);
    assert_string_equal(kv_sched_policy_name(KV_SCHED_NPOLICIES), "?");
    cfg.weights[1].scorer = "queue-scorr";
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), KV_ECONFIG);
    assert_string_equal(err, "unknown scorer in the profile");
    assert_null(kv_sched_new(&cfg, NULL, NULL, 4));
    kv_sched_config_default(&cfg);
    cfg.util_cap = 1;
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), KV_ECONFIG);
    kv_sched_config_default(&cfg);
    cfg.balance_weight = -1;
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), KV_ECONFIG);
    cfg.balance_weight = INFINITY;
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), KV_ECONFIG);
    kv_sched_config_default(&cfg);
    cfg.policy = KV_SCHED_PREFIX;
    cfg.nweights = 0;
    assert_int_equal(kv_sched_config_check(&cfg, err, sizeof(err)), KV_ECONFIG);
    kv_sched_config_default(&cfg);
    cfg.weights[0].weight = NAN;
    assert_int_equal(kv_sched_config_check(&cfg, NULL, 0), KV_ECONFIG);
    kv_sched_config_default(&cfg);
    assert_null(kv_sched_new(&cfg, NULL, NULL, 0));
    struct kv_index *ix = kv_index_new(10, 4, 10, 0);
    assert_null(kv_sched_new(&cfg, ix, NULL, 8)); /* the index must cover every id */
    kv_index_free(ix);
    /* An index with room for more backends than the scheduler is fine. */
    const char *const names[] = {"a", "b"};
    struct kv_sched_backend bk[2];
    struct kv_sched_request req = {0};
    struct kv_sched_result res;
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 1);
    backends(bk, 2, names);
    ix = kv_index_new(10, 64, 10, 0);
    struct kv_sched *s = kv_sched_new(&cfg, ix, NULL, 2);
    assert_non_null(s);
    assert_true(kv_sched_pick(s, &req, bk, 2, &rnd, &res, NULL) >= 0);
    kv_sched_free(s);
    kv_index_free(ix);
    kv_sched_free(NULL);
}

/* Whatever the states, every policy picks a backend that passes the filters. */
static void test_random_property(void **state)
{
    enum { N = 12 };
    char names[N][16];
    const char *np[N];
    const char *const m1[] = {"m1"}, *const m2[] = {"m1", "m2"};
    struct kv_sched_backend bk[N];
    struct kv_index *ix = kv_index_new(5000, N, 200, 0);
    struct kv_session *ss = kv_session_new(50, 0, 1);
    uint64_t h[40];
    struct kv_rand r;
    (void)state;
    kv_rand_seed(&r, 9);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "n%d", i);
        np[i] = names[i];
    }
    for (int p = 0; p < KV_SCHED_NPOLICIES; p++) {
        struct kv_sched_config cfg;
        kv_sched_config_default(&cfg);
        cfg.policy = (enum kv_sched_policy)p;
        cfg.work_guard = p == KV_SCHED_CACHE_AWARE;
        struct kv_sched *s = kv_sched_new(&cfg, ix, ss, N);
        for (int it = 0; it < 500; it++) {
            struct kv_sched_result res;
            char key[8];
            uint32_t nb = 1 + (uint32_t)kv_rand_below(&r, N);
            backends(bk, nb, np);
            for (uint32_t i = 0; i < nb; i++) {
                bk[i].healthy = kv_rand_below(&r, 5) != 0;
                bool one = kv_rand_below(&r, 2);
                bk[i].models = one ? m1 : m2;
                bk[i].nmodels = kv_rand_below(&r, 3) == 0 ? 0 : one ? 1 : 2;
                bk[i].max_inflight = (uint32_t)kv_rand_below(&r, 4);
                bk[i].inflight = (uint32_t)kv_rand_below(&r, 6);
                bk[i].inflight_prefill = kv_rand_below(&r, 10000);
                bk[i].waiting = (double)kv_rand_below(&r, 5);
                bk[i].kv_usage = kv_rand_double(&r);
                bk[i].work = kv_rand_double(&r) * 1e5;
            }
            uint32_t n = (uint32_t)kv_rand_below(&r, 40);
            for (uint32_t i = 0; i < n; i++)
                h[i] = (kv_rand_below(&r, 3) << 16) | i;
            snprintf(key, sizeof(key), "k%d", (int)kv_rand_below(&r, 20));
            struct kv_sched_request req = {
                .model = kv_rand_below(&r, 2) ? "m2" : NULL, .model_len = 2, .hashes = h,
                .nblocks = n, .prompt_tokens = n * 16 + 5, .session_key = key,
                .session_len = strlen(key), .now_ns = (uint64_t)it * S};
            int pos = kv_sched_pick(s, &req, bk, nb, &r, &res, NULL);
            if (pos < 0) {
                assert_true(pos == KV_ENOBACKEND || pos == KV_ENOMODEL || pos == KV_EOVERLOAD);
                continue;
            }
            assert_true((uint32_t)pos < nb);
            assert_true(bk[pos].healthy);
            assert_true(bk[pos].max_inflight == 0 || bk[pos].inflight < bk[pos].max_inflight);
            assert_true(!req.model || bk[pos].nmodels == 0 || bk[pos].models == m2);
            kv_sched_commit(s, &req, bk, nb, &res);
        }
        kv_sched_free(s);
    }
    kv_session_free(ss);
    kv_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_errors),
        cmocka_unit_test(test_pick_then_commit),
        cmocka_unit_test(test_lookup_credits_past_shared_head),
        cmocka_unit_test(test_explain_json),
        cmocka_unit_test(test_utilization),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_random_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
