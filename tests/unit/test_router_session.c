/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_session.c - session table: lookup, TTL expiry, refresh, the LRU bound
 * under a flood of new keys, expiry sweeps, backend removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/session.h"

#define S 1000000000ull

static int get(struct kv_session *t, const char *k, uint64_t now)
{
    return kv_session_get(t, k, strlen(k), now);
}

static void set(struct kv_session *t, const char *k, uint32_t b, uint64_t now)
{
    kv_session_set(t, k, strlen(k), b, now);
}

static void test_ttl(void **state)
{
    struct kv_session *t = kv_session_new(10, 100 * S, 99);
    (void)state;
    assert_int_equal(get(t, "alice", 0), -1);
    set(t, "alice", 3, 10 * S);
    set(t, "bob", 5, 20 * S);
    assert_int_equal(get(t, "alice", 10 * S), 3);
    assert_int_equal(get(t, "alice", 110 * S), 3);     /* exactly ttl: still alive */
    assert_int_equal(get(t, "alice", 110 * S + 1), -1); /* past ttl */
    assert_int_equal(get(t, "bob", 110 * S + 1), 5);
    /* A lookup does not refresh; a set does, and may move the session. */
    set(t, "bob", 6, 100 * S);
    assert_int_equal(get(t, "bob", 200 * S), 6);
    assert_int_equal(get(t, "bob", 200 * S + 1), -1);
    assert_int_equal(kv_session_count(t), 2); /* expired entries stay until swept or reused */
    assert_int_equal(kv_session_expire(t, 200 * S + 1, 0), 2);
    assert_int_equal(kv_session_count(t), 0);
    kv_session_free(t);
    /* Default TTL is two hours. */
    t = kv_session_new(10, 0, 1);
    set(t, "x", 1, 0);
    assert_int_equal(get(t, "x", 7200 * S), 1);
    assert_int_equal(get(t, "x", 7200 * S + 1), -1);
    kv_session_free(t);
    assert_null(kv_session_new(0, 0, 0));
    kv_session_free(NULL);
}

static void test_flood_lru_bound(void **state)
{
    struct kv_session *t = kv_session_new(100, 0, 7);
    size_t bytes = kv_session_bytes(t);
    char k[32];
    (void)state;
    set(t, "vip", 9, 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "flood-%d", i);
        set(t, k, (uint32_t)(i % 4), (uint64_t)i + 1);
        if (i % 50 == 0) /* a live session that keeps coming back is never evicted */
            set(t, "vip", 9, (uint64_t)i + 1);
        assert_true(kv_session_count(t) <= 100);
    }
    assert_int_equal(kv_session_count(t), 100);
    assert_int_equal(kv_session_bytes(t), bytes);
    assert_int_equal(get(t, "vip", 20000), 9);
    /* The most recent 99 flood keys survive, everything older was evicted in LRU order. */
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "flood-%d", i);
        assert_int_equal(get(t, k, 20000), i >= 10000 - 99 ? i % 4 : -1);
    }
    kv_session_free(t);
}

static void test_expire_and_remove(void **state)
{
    struct kv_session *t = kv_session_new(16, 10 * S, 7);
    char k[16];
    (void)state;
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "s%d", i);
        set(t, k, (uint32_t)(i % 3), (uint64_t)i * S);
    }
    /* At 15 s + 1 ns, sessions seen at 0..5 s are past their 10 s. A cap of 2 stops early. */
    assert_int_equal(kv_session_expire(t, 15 * S + 1, 2), 2);
    assert_int_equal(kv_session_count(t), 8);
    assert_int_equal(kv_session_expire(t, 15 * S + 1, 0), 4);
    assert_int_equal(kv_session_count(t), 4);
    assert_int_equal(get(t, "s5", 15 * S + 1), -1);
    assert_int_equal(get(t, "s6", 15 * S + 1), 0);
    /* s6..s9 map to backends 0, 1, 2, 0. */
    assert_int_equal(kv_session_remove_backend(t, 0), 2);
    assert_int_equal(get(t, "s6", 15 * S), -1);
    assert_int_equal(get(t, "s7", 15 * S), 1);
    assert_int_equal(kv_session_del(t, "s7", 2), 1);
    assert_int_equal(kv_session_del(t, "s7", 2), 0);
    assert_int_equal(kv_session_count(t), 1);
    /* Keys are bytes: embedded NULs and the empty key work. */
    kv_session_set(t, "a\0b", 3, 4, 16 * S);
    kv_session_set(t, "a\0c", 3, 5, 16 * S);
    kv_session_set(t, "", 0, 6, 16 * S);
    assert_int_equal(kv_session_get(t, "a\0b", 3, 16 * S), 4);
    assert_int_equal(kv_session_get(t, "a\0c", 3, 16 * S), 5);
    assert_int_equal(kv_session_get(t, "", 0, 16 * S), 6);
    kv_session_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_flood_lru_bound),
        cmocka_unit_test(test_expire_and_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
