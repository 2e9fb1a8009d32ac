/* SPDX-License-Identifier: MIT */
/* tests/unit/test_http_h1scan.c - the strict header-line scanner of the HTTP fast paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/internal.h"

static size_t scan(const char *line, struct kv__h1scan_field *f)
{
    return kv__h1scan_header(line, 0, strlen(line), f);
}

static void test_plain_lines(void **state)
{
    struct kv__h1scan_field f;
    const char *l = "X-A: \t v \t\r\nnext";
    (void)state;
    assert_int_equal(scan(l, &f), 12);
    assert_int_equal(f.name, 0);
    assert_int_equal(f.name_len, 3);
    assert_int_equal(f.value, 7);
    assert_int_equal(f.value_len, 3); /* "v \t": trailing blanks are the caller's to trim */
    assert_int_equal(scan("X-Empty:\r\n", &f), 10);
    assert_int_equal(f.value_len, 0);
    assert_int_equal(scan("a!#$%&'*+-.^_`|~9:x\r\n", &f), 21);
}

static void test_refused_lines(void **state)
{
    static const char *const bad[] = {
        ": v\r\n",          "Bad Name: v\r\n", "X :v\r\n",       "X: v\n",
        "X: caf\xc3\xa9\r\n", "X: a\x01b\r\n",   "X: a\x7f\r\n",   " X: v\r\n",
        "X(y): v\r\n",      "X: v\r",          "X: v",           "X\r\n",
    };
    struct kv__h1scan_field f;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(scan(bad[i], &f), 0);
}

/* Values long enough for the 16-byte steps: a stop byte found in any lane, HTAB let through. */
static void test_long_values(void **state)
{
    char line[128];
    struct kv__h1scan_field f;
    (void)state;
    for (size_t at = 0; at < 40; at++) {
        memset(line, 0, sizeof(line));
        memcpy(line, "X: ", 3);
        memset(line + 3, 'v', 40);
        memcpy(line + 43, "\r\n", 2);
        assert_int_equal(scan(line, &f), 45);
        assert_int_equal(f.value_len, 40);
        line[3 + at] = '\t';
        assert_int_equal(scan(line, &f), 45); /* a leading blank, or an inner HTAB */
        line[3 + at] = (char)0xc3;
        assert_int_equal(scan(line, &f), 0);
        line[3 + at] = 0x7f;
        assert_int_equal(scan(line, &f), 0);
        line[3 + at] = '\n';
        assert_int_equal(scan(line, &f), 0);
    }
}

/* A head's field lines up to the empty line: all of them, or 0 when one is not plain, there are
 * more than the caller can take, or the empty line is missing. */
static void test_fields(void **state)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Y:  b c\r\n\r\nbody";
    struct kv__h1scan_field f[2];
    unsigned n = 99;
    (void)state;
    assert_int_equal(kv__h1scan_fields(head, 16, sizeof(head) - 1, f, 2, &n), 38);
    assert_int_equal(n, 2);
    assert_int_equal(f[0].name, 16);
    assert_int_equal(f[0].name_len, 4);
    assert_int_equal(f[1].value, 31);
    assert_int_equal(f[1].value_len, 3);
    n = 99;
    assert_int_equal(kv__h1scan_fields(head, 16, sizeof(head) - 1, f, 1, &n), 0); /* > max */
    assert_int_equal(kv__h1scan_fields(head, 16, 37, f, 2, &n), 0);              /* cut */
    assert_int_equal(kv__h1scan_fields("\r\n", 0, 2, f, 2, &n), 2);             /* none */
    assert_int_equal(n, 0);
    assert_int_equal(kv__h1scan_fields("X: \x01\r\n\r\n", 0, 8, f, 2, &n), 0); /* not plain */
}

static void test_kinds(void **state)
{
    (void)state;
    assert_int_equal(kv__h1scan_kind("Content-Length", 14), KV__H1SCAN_CONTENT_LENGTH);
    assert_int_equal(kv__h1scan_kind("transfer-ENCODING", 17), KV__H1SCAN_TRANSFER_ENCODING);
    /* http-parser treats a longer name with this prefix as transfer-encoding (fuzz_http) */
    assert_int_equal(kv__h1scan_kind("Transfer-Encodingding", 21), KV__H1SCAN_TRANSFER_ENCODING);
    assert_int_equal(kv__h1scan_kind("transfer-encodin", 16), KV__H1SCAN_OTHER);
    assert_int_equal(kv__h1scan_kind("Connection", 10), KV__H1SCAN_CONNECTION);
    assert_int_equal(kv__h1scan_kind("Proxy-Connection", 16), KV__H1SCAN_CONNECTION);
    assert_int_equal(kv__h1scan_kind("upgrade", 7), KV__H1SCAN_UPGRADE);
    assert_int_equal(kv__h1scan_kind("Expect", 6), KV__H1SCAN_EXPECT);
    assert_int_equal(kv__h1scan_kind("Content-Type", 12), KV__H1SCAN_OTHER);
    assert_int_equal(kv__h1scan_kind("Content-Lengths", 15), KV__H1SCAN_OTHER);
    assert_int_equal(kv__h1scan_kind("Content-Lengtx", 14), KV__H1SCAN_OTHER);
    assert_int_equal(kv__h1scan_kind("Expect", 5), KV__H1SCAN_OTHER);
}

static void test_names_and_lengths(void **state)
{
    uint64_t n = 7;
    (void)state;
    assert_true(KV__H1SCAN_NAME_IS("Content-LENGTH", 14, "content-length"));
    assert_false(KV__H1SCAN_NAME_IS("Content-Lengthx", 15, "content-length"));
    assert_false(KV__H1SCAN_NAME_IS("Content-Lengtx", 14, "content-length"));
    assert_true(kv__h1scan_clen("9216 \t", 6, &n));
    assert_int_equal(n, 9216);
    assert_true(kv__h1scan_clen("0", 1, &n));
    assert_int_equal(n, 0);
    assert_true(kv__h1scan_clen("999999999999999", 15, &n));
    assert_int_equal(n, 999999999999999ull);
    n = 7;
    assert_false(kv__h1scan_clen("1000000000000000", 16, &n));
    assert_false(kv__h1scan_clen("", 0, &n));
    assert_false(kv__h1scan_clen("  ", 2, &n));
    assert_false(kv__h1scan_clen("1 2", 3, &n));
    assert_false(kv__h1scan_clen("+1", 2, &n));
    assert_false(kv__h1scan_clen("0x10", 4, &n));
    assert_int_equal(n, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lines),
        cmocka_unit_test(test_refused_lines),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_names_and_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
