/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_policy.c - every policy on crafted backend states, through the
 * scheduler with a real prefix index and session table: cache-aware (prefix vs queue, cold
 * spread, utilization weighting, eviction awareness, work guard, balance), sglang thresholds,
 * chwbl's bound, round-robin order, least-load, session, and llm-d's weighted profile. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rand.h"
#include "prefix/index.h"
#include "router/sched.h"
#include "router/session.h"

#define S 1000000000ull
#define NB 4
#define MAXB 16
#define BLOCKS 500

struct fx {
    struct kv_index *ix;
    struct kv_session *ss;
    struct kv_sched *s;
    struct kv_sched_config cfg;
    struct kv_sched_backend bk[NB];
    char names[NB][16];
    uint64_t chain[BLOCKS];
    struct kv_sched_request req;
    struct kv_sched_explain ex;
    struct kv_rand rnd;
};

static void chain_of(uint64_t *h, uint32_t n, uint64_t c)
{
    for (uint32_t i = 0; i < n; i++)
        h[i] = (c << 32) | (i + 1);
}

static struct fx *fx_new(enum kv_sched_policy p, uint32_t capacity)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ix = kv_index_new(100000, MAXB, capacity, 0);
    f->ss = kv_session_new(100, 0, 5);
    kv_sched_config_default(&f->cfg);
    f->cfg.policy = p;
    f->cfg.util_fixed = 0;
    for (int i = 0; i < NB; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "b%d", i);
        f->bk[i] = (struct kv_sched_backend){.id = (uint32_t)i, .name = f->names[i],
                                             .healthy = true};
    }
    chain_of(f->chain, BLOCKS, 1);
    f->req = (struct kv_sched_request){.hashes = f->chain, .nblocks = BLOCKS,
                                       .prompt_tokens = BLOCKS * 16, .now_ns = 100 * S};
    kv_sched_explain_init(&f->ex, NB);
    kv_rand_seed(&f->rnd, 1);
    return f;
}

/* (Re)makes the scheduler from f->cfg. */
static void fx_sched(struct fx *f)
{
    kv_sched_free(f->s);
    f->s = kv_sched_new(&f->cfg, f->ix, f->ss, MAXB);
    assert_non_null(f->s);
}

static void fx_free(struct fx *f)
{
    kv_sched_free(f->s);
    kv_index_free(f->ix);
    kv_session_free(f->ss);
    kv_sched_explain_cleanup(&f->ex);
    free(f);
}

static int pick(struct fx *f)
{
    struct kv_sched_result res;
    int pos = kv_sched_pick(f->s, &f->req, f->bk, NB, &f->rnd, &res, &f->ex);
    assert_true(pos >= 0);
    assert_int_equal(res.pos, pos);
    assert_int_equal(f->ex.chosen, pos);
    return pos;
}

static int pick_commit(struct fx *f)
{
    struct kv_sched_result res;
    int pos = kv_sched_pick(f->s, &f->req, f->bk, NB, &f->rnd, &res, NULL);
    assert_true(pos >= 0);
    kv_sched_commit(f->s, &f->req, f->bk, NB, &res);
    return pos;
}

static double col(const struct fx *f, int b, uint32_t j)
{
    return f->ex.b[b].col[j];
}

/* Loads equal: the request goes where its prefix is; a long queue there moves it away. */
static void test_cache_aware_prefix_vs_queue(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 100000);
    (void)state;
    fx_sched(f);
    kv_index_record(f->ix, 2, f->chain, 400, 1 * S);
    for (int i = 0; i < 50; i++)
        assert_int_equal(pick(f), 2);
    assert_string_equal(f->ex.reason, "min estimated TTFT cost");
    assert_true(col(f, 2, 1) == 100 * 16); /* uncached: 100 blocks */
    assert_true(col(f, 0, 1) == 8000);
    /* 7,000 tokens queued on b2 outweigh the 6,400 it would save. */
    f->bk[2].inflight = 2;
    f->bk[2].inflight_prefill = 7000;
    for (int i = 0; i < 50; i++)
        assert_int_not_equal(pick(f), 2);
    assert_true(col(f, 2, 0) == 7000 + 2 * 16);
    /* 6,000 queued: still worth waiting for the hit. */
    f->bk[2].inflight_prefill = 6000;
    assert_int_equal(pick(f), 2);
    fx_free(f);
}

static void test_cache_aware_cold_spread(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 100000);
    int seen[NB] = {0};
    (void)state;
    fx_sched(f);
    f->bk[0] = (struct kv_sched_backend){0, "b0", true, NULL, 0, 0, 3, 3000, 0, 3, 0.5, 0};
    f->bk[1].inflight = 1;
    f->bk[1].inflight_prefill = 500;
    f->bk[3].inflight = 2;
    f->bk[3].inflight_prefill = 100;
    assert_int_equal(pick(f), 2); /* the idle one */
    /* Others' waiting requests (scraped, beyond ours in flight) count as queued work. */
    f->bk[2].waiting = 3;
    assert_int_equal(pick(f), 3);
    assert_true(col(f, 2, 0) == 3 * 256);
    /* All idle: cold requests spread at random over all four. */
    memset(f->bk, 0, sizeof(f->bk));
    for (int i = 0; i < NB; i++)
        f->bk[i] = (struct kv_sched_backend){.id = (uint32_t)i, .name = f->names[i],
                                             .healthy = true};
    for (int i = 0; i < 400; i++)
        seen[pick(f)]++;
    for (int i = 0; i < NB; i++)
        assert_in_range(seen[i], 60, 140);
    fx_free(f);
}

/* Lesson 3: weighting uncached prefill by 1/(1-u) keeps hits as load rises. */
static void test_cache_aware_utilization(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 100000);
    (void)state;
    kv_index_record(f->ix, 0, f->chain, 250, 1 * S); /* 4,000 of 8,000 tokens cached on b0 */
    f->bk[0].inflight = 1;
    f->bk[0].inflight_prefill = 5000;
    f->bk[2].healthy = f->bk[3].healthy = false;
    fx_sched(f);
    assert_int_equal(pick(f), 1); /* 5016 + 4000 > 8000 */
    assert_true(f->ex.b[0].total == 9016);
    assert_true(f->ex.b[1].total == 8000);
    f->cfg.util_fixed = 0.8;
    fx_sched(f);
    assert_int_equal(pick(f), 0); /* 5016 + 5 * 4000 < 5 * 8000 */
    assert_true(fabs(f->ex.weights[1] - 5) < 1e-9);
    assert_true(fabs(f->ex.b[0].total - 25016) < 1e-6);
    /* The cap: u = 0.99 is taken as 0.9. */
    f->cfg.util_fixed = 0.99;
    fx_sched(f);
    pick(f);
    assert_true(fabs(f->ex.weights[1] - 10) < 1e-9);
    fx_free(f);
}

/* Lesson 4: a cold prefix goes where the LRU tail is stalest when caches are full. */
static void test_cache_aware_eviction_aware(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 10);
    uint64_t x[10], y[10], z[5];
    double typical = (100.0 + 1.0) / 2;
    (void)state;
    f->bk[2].healthy = f->bk[3].healthy = false;
    fx_sched(f);
    chain_of(x, 10, 7);
    chain_of(y, 10, 8);
    chain_of(z, 5, 9);
    kv_index_record(f->ix, 0, x, 10, 0);
    kv_index_record(f->ix, 1, y, 10, 99 * S);
    f->req.hashes = z;
    f->req.nblocks = 5;
    f->req.prompt_tokens = 80;
    for (int i = 0; i < 20; i++)
        assert_int_equal(pick(f), 0);
    assert_true(fabs(col(f, 0, 3) - 80 * exp(-100.0 / typical)) < 1e-9);
    assert_true(fabs(col(f, 1, 3) - 80 * exp(-1.0 / typical)) < 1e-9);
    /* Off: a tie, broken at random. */
    f->cfg.evict_weight = 0;
    fx_sched(f);
    int seen[2] = {0};
    for (int i = 0; i < 100; i++)
        seen[pick(f)]++;
    assert_true(seen[0] > 20 && seen[1] > 20);
    /* A cache with room evicts nothing: no penalty. */
    f->cfg.evict_weight = 1;
    fx_sched(f);
    kv_index_set_capacity(f->ix, 1, 100);
    assert_int_equal(pick(f), 1);
    assert_true(col(f, 1, 3) == 0);
    fx_free(f);
}

/* Lesson 5: the work guard skips a backend far above the mean accumulated work. */
static void test_cache_aware_work_guard(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 100000);
    (void)state;
    kv_index_record(f->ix, 0, f->chain, 60, 1 * S); /* 60 of 62 blocks */
    f->req.nblocks = 62;
    f->req.prompt_tokens = 1000;
    f->bk[0].work = 10000;
    f->bk[1].work = f->bk[2].work = f->bk[3].work = 1000;
    f->cfg.balance_weight = 0; /* the guard alone */
    fx_sched(f);
    assert_int_equal(pick(f), 0);
    assert_null(f->ex.b[0].filtered);
    /* bound = 1.10 * 3250 + 3 * 1000 (this request's work: no history) = 6575 < 10000. */
    f->cfg.work_guard = true;
    fx_sched(f);
    assert_int_not_equal(pick(f), 0);
    assert_string_equal(f->ex.b[0].filtered, "work-guard");
    /* Under the bound (5200 <= 1.10 * 2050 + 3000 = 5255): back home. */
    f->bk[0].work = 5200;
    assert_int_equal(pick(f), 0);
    /* Everyone above it (impossible with a mean, but with one candidate): guard lifted. */
    f->bk[1].healthy = f->bk[2].healthy = f->bk[3].healthy = false;
    f->bk[0].work = 1e9;
    assert_int_equal(pick(f), 0);
    fx_free(f);
}

/* The collapse trap: a shared head makes the backend holding it the best match for every new
 * session. The balance term charges work beyond the mean plus one service (this request's 1,000
 * tokens: no history yet) against the hit; a session's own backend gets 2 services more. */
static void test_cache_aware_balance(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CACHE_AWARE, 100000);
    (void)state;
    kv_index_record(f->ix, 0, f->chain, 60, 1 * S); /* the head: 960 of 1,000 tokens */
    f->req.nblocks = 62;
    f->req.prompt_tokens = 1000;
    f->bk[0].work = 2000;
    fx_sched(f);
    /* mean 500: b0 costs 40 + (2000 - 500 - 1000) = 540 < 1000 elsewhere. */
    assert_int_equal(pick(f), 0);
    assert_true(col(f, 0, 1) == 40);
    assert_true(col(f, 0, 2) == 500);
    assert_true(f->ex.b[0].total == 540);
    assert_true(col(f, 1, 2) == 0);
    assert_string_equal(f->ex.reason, "min estimated TTFT cost");
    /* mean 750: 40 + 1250 > 1000: a backend behind takes the new session. */
    f->bk[0].work = 3000;
    assert_int_not_equal(pick(f), 0);
    assert_true(f->ex.b[0].total == 1290);
    /* The same request from a session living on b0: 2,000 more of run-ahead, it stays. */
    f->req.session_key = "s1";
    f->req.session_len = 2;
    kv_session_set(f->ss, "s1", 2, 0, 1 * S);
    assert_int_equal(pick(f), 0);
    assert_true(col(f, 0, 2) == 0);
    assert_string_equal(f->ex.reason, "min estimated TTFT cost (session home)");
    /* ... up to a point: mean 1,500, 6,000 - 2,500 - 2,000 = 1,500 ahead: it moves. */
    f->bk[0].work = 6000;
    assert_int_not_equal(pick(f), 0);
    assert_true(col(f, 0, 2) == 1500);
    /* A session whose backend lost its history is placed like a new one. */
    kv_session_set(f->ss, "s1", 2, 1, 2 * S);
    f->bk[0].work = 3000;
    assert_int_not_equal(pick(f), 0);
    assert_true(col(f, 0, 2) == 1250);
    assert_string_equal(f->ex.reason, "min estimated TTFT cost");
    /* The trade does not drift with load: both terms are weighted by 1 / (1 - u). */
    f->cfg.util_fixed = 0.5;
    fx_sched(f);
    assert_int_not_equal(pick(f), 0);
    assert_true(f->ex.b[0].total == 2 * 1290);
    assert_true(f->ex.weights[2] == 2);
    /* Off: the head wins again. */
    f->cfg.balance_weight = 0;
    fx_sched(f);
    assert_int_equal(pick(f), 0);
    fx_free(f);
}

static void test_sglang(void **state)
{
    struct fx *f = fx_new(KV_SCHED_SGLANG, 100000);
    uint64_t other[300];
    (void)state;
    fx_sched(f);
    chain_of(other, 300, 5);
    kv_index_record(f->ix, 0, other, 300, S);
    kv_index_record(f->ix, 1, f->chain, 200, S); /* match 200/500 = 0.4 > 0.3 */
    kv_index_record(f->ix, 2, other, 50, S);
    kv_index_record(f->ix, 3, other, 100, S);
    assert_int_equal(pick(f), 1);
    assert_string_equal(f->ex.reason, "match above cache threshold");
    assert_true(fabs(col(f, 1, 1) - 0.4) < 1e-12);
    /* 150/500 = 0.3 is not above 0.3: smallest tree (b2, 50 blocks; b1 now has 150). */
    kv_index_set_capacity(f->ix, 1, 150);
    assert_int_equal(pick(f), 2);
    assert_string_equal(f->ex.reason, "match below cache threshold: smallest tree");
    assert_true(col(f, 2, 2) == 50);
    /* Imbalanced (100 - 30 > 64 and 100 > 1.5 * 30): least load, whatever the match. */
    kv_index_record(f->ix, 0, f->chain, 500, 2 * S);
    f->bk[0].inflight = 100;
    f->bk[1].inflight = 30;
    f->bk[2].inflight = 50;
    f->bk[3].inflight = 70;
    assert_int_equal(pick(f), 1);
    assert_string_equal(f->ex.reason, "imbalanced: least load");
    /* max - min = 60 <= 64: balanced, cache wins even at 80 vs 20 in flight. */
    f->bk[0].inflight = 80;
    f->bk[1].inflight = 20;
    f->bk[2].inflight = f->bk[3].inflight = 50;
    assert_int_equal(pick(f), 0);
    /* 300 vs 210: the gap is 90 > 64 but 300 <= 1.5 * 210: still balanced. */
    f->bk[0].inflight = 300;
    f->bk[1].inflight = f->bk[2].inflight = f->bk[3].inflight = 210;
    assert_int_equal(pick(f), 0);
    fx_free(f);
}

static void test_chwbl(void **state)
{
    struct fx *f = fx_new(KV_SCHED_CHWBL, 100000);
    uint64_t other[BLOCKS];
    int owner, next = -1;
    (void)state;
    fx_sched(f);
    owner = pick(f);
    assert_string_equal(f->ex.reason, "ring owner");
    assert_true(f->ex.b[owner].total == 0);
    /* The key is the first 2 blocks: a different tail maps to the same backend. */
    chain_of(other, BLOCKS, 1);
    other[2] = 12345;
    f->req.hashes = other;
    for (int i = 0; i < 20; i++)
        assert_int_equal(pick(f), owner);
    f->req.hashes = f->chain;
    /* Owner at 3, others at 1: total 6, bound (6 + 1) / 4 * 1.25 = 2.1875; 3 + 1 > bound. */
    for (int i = 0; i < NB; i++)
        f->bk[i].inflight = i == owner ? 3 : 1;
    int chosen = pick(f);
    assert_int_not_equal(chosen, owner);
    assert_string_equal(f->ex.reason, "owner over bound: next on ring");
    for (int i = 0; i < NB; i++)
        if (f->ex.b[i].total == 1)
            next = i;
    assert_int_equal(chosen, next);
    assert_true(col(f, owner, 1) == 0);
    assert_true(col(f, chosen, 1) == 1);
    /* One request in flight among four: (0 + 1) <= 2 / 4 * 1.25 fails for all (KubeAI's
     * arithmetic), so the owner takes it. */
    for (int i = 0; i < NB; i++)
        f->bk[i].inflight = i == next ? 1 : 0;
    assert_int_equal(pick(f), owner);
    assert_string_equal(f->ex.reason, "every candidate over bound: ring owner");
    /* A prompt without one full block has no key: least load. */
    f->req.nblocks = 0;
    assert_int_not_equal(pick(f), next);
    assert_string_equal(f->ex.reason, "no full block to hash: least load");
    /* The ring only depends on names: another scheduler agrees. */
    f->req.nblocks = BLOCKS;
    for (int i = 0; i < NB; i++)
        f->bk[i].inflight = 0;
    fx_sched(f);
    assert_int_equal(pick(f), owner);
    fx_free(f);
}

static void test_round_robin(void **state)
{
    struct fx *f = fx_new(KV_SCHED_ROUND_ROBIN, 100000);
    int want[] = {0, 1, 2, 3, 0, 1};
    (void)state;
    fx_sched(f);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(pick_commit(f), want[i]);
    /* Without a commit the cursor stays. */
    assert_int_equal(pick(f), 2);
    assert_int_equal(pick(f), 2);
    f->bk[2].healthy = false;
    assert_int_equal(pick_commit(f), 3);
    assert_int_equal(pick_commit(f), 0);
    assert_int_equal(pick_commit(f), 1);
    assert_int_equal(pick_commit(f), 3);
    fx_free(f);
}

static void test_least_load(void **state)
{
    struct fx *f = fx_new(KV_SCHED_LEAST_LOAD, 100000);
    (void)state;
    fx_sched(f);
    kv_index_record(f->ix, 0, f->chain, 500, S); /* ignored by this policy */
    f->bk[0].inflight = 2;
    f->bk[0].inflight_prefill = 100;
    f->bk[1].inflight = 1;
    f->bk[1].inflight_prefill = 5000;
    f->bk[2].inflight = 1;
    f->bk[2].inflight_prefill = 300;
    f->bk[3].inflight = 3;
    for (int i = 0; i < 20; i++)
        assert_int_equal(pick(f), 2);
    assert_int_equal(f->ex.b[0].matched, 500); /* still explained */
    f->bk[1].inflight_prefill = 300;
    int seen[NB] = {0};
    for (int i = 0; i < 200; i++)
        seen[pick(f)]++;
    assert_int_equal(seen[0] + seen[3], 0);
    assert_true(seen[1] > 50 && seen[2] > 50);
    fx_free(f);
}

static void test_session(void **state)
{
    struct fx *f = fx_new(KV_SCHED_SESSION, 100000);
    (void)state;
    fx_sched(f);
    f->req.session_key = "alice";
    f->req.session_len = 5;
    f->bk[0].inflight = f->bk[1].inflight = f->bk[2].inflight = 1;
    assert_int_equal(pick_commit(f), 3); /* new session: least load */
    f->bk[3].inflight = 10;
    assert_int_equal(pick(f), 3);
    assert_string_equal(f->ex.reason, "session affinity");
    assert_int_equal(f->ex.session_backend, 3);
    f->bk[3].healthy = false;
    int p = pick_commit(f);
    assert_int_not_equal(p, 3);
    f->bk[3].healthy = true;
    assert_int_equal(pick(f), p); /* the session moved with the commit */
    f->req.session_key = NULL;
    pick(f);
    assert_string_equal(f->ex.reason, "no session: least load");
    fx_free(f);
}

static void test_llmd_profile(void **state)
{
    struct fx *f = fx_new(KV_SCHED_PREFIX, 100000);
    double want[NB] = {2.5, 2.2, 2.6, 2.0};
    (void)state;
    fx_sched(f);
    kv_index_record(f->ix, 0, f->chain, 250, S);
    f->bk[0].waiting = 4;
    f->bk[2].waiting = 2;
    f->bk[3].waiting = 4;
    f->bk[0].kv_usage = 0.5;
    f->bk[1].kv_usage = 0.9;
    f->bk[2].kv_usage = 0.2;
    assert_int_equal(pick(f), 2);
    assert_false(f->ex.minimize);
    assert_int_equal(f->ex.ncols, 3);
    assert_string_equal(f->ex.cols[0], "prefix-cache-scorer");
    assert_true(f->ex.weights[0] == 3 && f->ex.weights[1] == 2 && f->ex.weights[2] == 2);
    for (int i = 0; i < NB; i++)
        assert_true(fabs(f->ex.b[i].total - want[i]) < 1e-12);
    kv_index_record(f->ix, 0, f->chain, 500, 2 * S); /* full match: 3 + 0 + 1 = 4 */
    assert_int_equal(pick(f), 0);
    assert_true(fabs(f->ex.b[0].total - 4) < 1e-12);
    /* Any profile: session affinity 1 + active requests 2. */
    f->cfg.weights[0] = (struct kv_sched_weight){"session-affinity-scorer", 1};
    f->cfg.weights[1] = (struct kv_sched_weight){"active-request-scorer", 2};
    f->cfg.nweights = 2;
    fx_sched(f);
    f->req.session_key = "k";
    f->req.session_len = 1;
    kv_session_set(f->ss, "k", 1, 1, 100 * S);
    f->bk[0].inflight = 4;
    f->bk[1].inflight = 2;
    f->bk[2].inflight = 1;
    f->bk[3].inflight = 4;
    assert_int_equal(pick(f), 1); /* 1 + 2 * 0.5 = 2 > 2 * 0.75 */
    assert_true(fabs(f->ex.b[2].total - 1.5) < 1e-12);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_aware_prefix_vs_queue),
        cmocka_unit_test(test_cache_aware_cold_spread),
        cmocka_unit_test(test_cache_aware_utilization),
        cmocka_unit_test(test_cache_aware_eviction_aware),
        cmocka_unit_test(test_cache_aware_work_guard),
        cmocka_unit_test(test_cache_aware_balance),
        cmocka_unit_test(test_sglang),
        cmocka_unit_test(test_chwbl),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_least_load),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_llmd_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
