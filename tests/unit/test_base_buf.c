/* SPDX-License-Identifier: MIT */
/* tests/unit/test_base_buf.c - kv_buf: growth, the hard maximum, consume, detach. */
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

static void test_append_and_max(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 10);
    assert_int_equal(kv_buf_appends(&b, "hello"), 0);
    assert_int_equal(kv_buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(kv_buf_appends(&b, "xy"), KV_ETOOBIG);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(kv_buf_appendc(&b, '!'), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(kv_buf_appendc(&b, '!'), KV_ETOOBIG);
    assert_int_equal(kv_buf_printf(&b, "%s", "z"), KV_ETOOBIG);
    kv_buf_cleanup(&b);
}

static void test_consume_detach(void **state)
{
    struct kv_buf b;
    size_t len;
    char *s;
    (void)state;
    kv_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kv_buf_printf(&b, "%03d", i % 1000), 0);
    assert_int_equal(b.len, 3000);
    kv_buf_consume(&b, 2997);
    assert_string_equal(b.data, "999");
    s = kv_buf_detach(&b, &len);
    assert_int_equal(len, 3);
    assert_string_equal(s, "999");
    free(s);
    assert_null(b.data);
    kv_buf_cleanup(&b);
}

static void test_u64(void **state)
{
    char num[KV_BUF_U64_MAX];
    struct kv_buf b;
    (void)state;
    assert_int_equal(kv_buf_fmt_u64(num, 0), 1);
    assert_string_equal(num, "0");
    assert_int_equal(kv_buf_fmt_u64(num, 200), 3);
    assert_string_equal(num, "200");
    for (uint64_t v = 0; v < 100000; v += 7) { /* every digit count, and pair boundaries */
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
        assert_int_equal(kv_buf_fmt_u64(num, v), strlen(want));
        assert_string_equal(num, want);
    }
    assert_int_equal(kv_buf_fmt_u64(num, 10), 2);
    assert_string_equal(num, "10");
    assert_int_equal(kv_buf_fmt_u64(num, 100), 3);
    assert_string_equal(num, "100");
    assert_int_equal(kv_buf_fmt_u64(num, 10000000000000000000ull), 20);
    assert_string_equal(num, "10000000000000000000");
    assert_int_equal(kv_buf_fmt_u64(num, UINT64_MAX), 20);
    assert_string_equal(num, "18446744073709551615");
    kv_buf_init(&b, 6);
    assert_int_equal(kv_buf_append_u64(&b, 9216), 0);
    assert_int_equal(kv_buf_append_u64(&b, 10), 0);
    assert_string_equal(b.data, "921610");
    assert_int_equal(kv_buf_append_u64(&b, 1), KV_ETOOBIG);
    assert_string_equal(b.data, "921610");
    kv_buf_cleanup(&b);
}

static void test_reserve(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 8);
    assert_int_equal(kv_buf_appends(&b, "ab"), 0);
    assert_int_equal(kv_buf_reserve(&b, 6), 0);
    assert_true(b.cap >= 9);
    assert_int_equal(b.len, 2);
    memcpy(b.data + b.len, "cdefgh", 6);
    b.len += 6;
    b.data[b.len] = '\0';
    assert_string_equal(b.data, "abcdefgh");
    assert_int_equal(kv_buf_reserve(&b, 1), KV_ETOOBIG);
    assert_int_equal(kv_buf_reserve(&b, 0), 0);
    assert_int_equal(b.len, 8);
    kv_buf_cleanup(&b);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(kv_strerror(KV_ETOOBIG), "too big");
    assert_non_null(kv_strerror(-2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_max),
        cmocka_unit_test(test_consume_detach),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
