/* SPDX-License-Identifier: MIT */
/* tests/unit/test_openai_json.c - JSON escaping (RFC 8259, U+FFFD for bad UTF-8), helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "openai/json.h"

#define FFFD "\xef\xbf\xbd"

/* Escapes <in> (<n> bytes) and compares with <want>. */
static void check_escape(const char *in, size_t n, const char *want)
{
    struct kv_buf b;

    kv_buf_init(&b, 1 << 20);
    assert_int_equal(kv_json_escape(&b, in, n), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data ? b.data : "", want, b.len);
    kv_buf_cleanup(&b);
}

#define ESC(lit, want) check_escape(lit, sizeof(lit) - 1, want)

static void test_escape_ascii(void **state)
{
    (void)state;
    ESC("", "");
    ESC("hello world", "hello world");
    ESC("a\"b\\c/d", "a\\\"b\\\\c/d");
    ESC("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
    ESC("\x01\x0b\x1f\x7f", "\\u0001\\u000b\\u001f\x7f");
    check_escape("a\0b", 3, "a\\u0000b");
    ESC("\"\"", "\\\"\\\"");
}

static void test_escape_utf8(void **state)
{
    (void)state;
    ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    ESC("\xe2\x80\xa8\xe2\x80\xa9", "\xe2\x80\xa8\xe2\x80\xa9"); /* passthrough, like Python */
    ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");                 /* U+10FFFF */
    ESC("\xed\x9f\xbf", "\xed\x9f\xbf");                         /* U+D7FF */
}

/* Expected outputs are Python's bytes.decode('utf-8', 'replace') (maximal subparts). */
static void test_escape_invalid_utf8(void **state)
{
    (void)state;
    ESC("\xff", FFFD);
    ESC("\x80x", FFFD "x");
    ESC("\xe2\x82"
        "A",
        FFFD "A");
    ESC("\xed\xa0\x80", FFFD FFFD FFFD);          /* a surrogate */
    ESC("\xc0\xaf", FFFD FFFD);                   /* overlong '/' */
    ESC("\xe0\x80\xaf", FFFD FFFD FFFD);          /* overlong */
    ESC("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    ESC("\xf0\x9f\x98", FFFD);                    /* truncated at the end */
    ESC("a\xc3", "a" FFFD);
    ESC("\xc3\"", FFFD "\\\"");
    ESC("\xe2\x82"
        "A\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xf0\x9f\x98",
        FFFD "A" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD);
}

static void test_values_and_commas(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 4096);
    assert_int_equal(kv_json_open(&b, '{'), 0);
    assert_int_equal(kv_json_key(&b, "a"), 0);
    assert_int_equal(kv_json_str(&b, "x\ny", 3), 0);
    assert_int_equal(kv_json_key(&b, "b"), 0);
    assert_int_equal(kv_json_int(&b, -42), 0);
    assert_int_equal(kv_json_key(&b, "c"), 0);
    assert_int_equal(kv_json_open(&b, '['), 0);
    assert_int_equal(kv_json_bool(&b, true), 0);
    assert_int_equal(kv_json_null(&b), 0);
    assert_int_equal(kv_json_double(&b, 1.5), 0);
    assert_int_equal(kv_json_bool(&b, false), 0);
    assert_int_equal(kv_json_strz(&b, NULL), 0);
    assert_int_equal(kv_json_open(&b, '{'), 0);
    assert_int_equal(kv_buf_appendc(&b, '}'), 0);
    assert_int_equal(kv_buf_appendc(&b, ']'), 0);
    assert_int_equal(kv_json_key(&b, "d\""), 0);
    assert_int_equal(kv_json_raw(&b, "{\"z\":1}", 7), 0);
    assert_int_equal(kv_json_key(&b, "e"), 0);
    assert_int_equal(kv_json_double(&b, NAN), 0);
    assert_int_equal(kv_json_key(&b, "f"), 0);
    assert_int_equal(kv_json_int(&b, INT64_MIN), 0);
    assert_int_equal(kv_buf_appendc(&b, '}'), 0);
    assert_string_equal(b.data, "{\"a\":\"x\\ny\",\"b\":-42,\"c\":[true,null,1.5,false,null,{}],"
                                "\"d\\\"\":{\"z\":1},\"e\":null,\"f\":-9223372036854775808}");
    /* text that does not end a value never gets a comma */
    kv_buf_reset(&b);
    assert_int_equal(kv_buf_appends(&b, "data: "), 0);
    assert_int_equal(kv_json_open(&b, '{'), 0);
    assert_string_equal(b.data, "data: {");
    kv_buf_cleanup(&b);
}

static void check_double(double v, const char *want)
{
    char t[KV_JSON_DOUBLE_MAX];
    size_t n = kv_json_format_double(t, v);
    assert_string_equal(t, want);
    assert_int_equal(n, strlen(want));
}

/* Expected strings are Python 3's repr(). */
static void test_double_repr(void **state)
{
    (void)state;
    check_double(0.0, "0.0");
    check_double(-0.0, "-0.0");
    check_double(1.0, "1.0");
    check_double(-1.0, "-1.0");
    check_double(0.1, "0.1");
    check_double(0.30000000000000004, "0.30000000000000004");
    check_double(1e16, "1e+16");
    check_double(9999999999999998.0, "9999999999999998.0");
    check_double(1e-5, "1e-05");
    check_double(0.0001, "0.0001");
    check_double(2.5e-7, "2.5e-07");
    check_double(123456789012345680.0, "1.2345678901234568e+17");
    check_double(1e22, "1e+22");
    check_double(1.7976931348623157e308, "1.7976931348623157e+308");
    check_double(5e-324, "5e-324");
    check_double(100.0, "100.0");
    check_double(1234.5, "1234.5");
    check_double(123.456, "123.456");
    check_double(NAN, "nan");
    check_double(-INFINITY, "-inf");
}

static void test_toobig(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 8);
    assert_int_equal(kv_json_str(&b, "123456", 6), 0);
    assert_int_equal(kv_json_str(&b, "x", 1), KV_ETOOBIG);
    kv_buf_reset(&b);
    assert_int_equal(kv_json_escape(&b, "\x01\x02", 2), KV_ETOOBIG);
    kv_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_ascii),        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_invalid_utf8), cmocka_unit_test(test_values_and_commas),
        cmocka_unit_test(test_double_repr),         cmocka_unit_test(test_toobig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
