/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_stats.c - percentile, hit-rate and balance arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench/stats.h"

static void test_percentiles(void **state)
{
    struct kv_stats s;
    (void)state;
    kv_stats_init(&s);
    assert_true(kv_stats_pct(&s, 50) == 0);
    for (int i = 100; i >= 1; i--) /* 1..100, added out of order */
        kv_stats_add(&s, i);
    assert_float_equal(kv_stats_pct(&s, 0), 1, 1e-12);
    assert_float_equal(kv_stats_pct(&s, 50), 50.5, 1e-12); /* numpy: 50.5 */
    assert_float_equal(kv_stats_pct(&s, 90), 90.1, 1e-9);  /* numpy: 90.1 */
    assert_float_equal(kv_stats_pct(&s, 99), 99.01, 1e-9); /* numpy: 99.01 */
    assert_float_equal(kv_stats_pct(&s, 100), 100, 1e-12);
    assert_float_equal(kv_stats_mean(&s), 50.5, 1e-12);
    kv_stats_add(&s, 1000); /* adding after a sort re-sorts */
    assert_float_equal(kv_stats_pct(&s, 100), 1000, 1e-12);
    kv_stats_cleanup(&s);
}

static void test_rates_and_balance(void **state)
{
    double even[4] = {5, 5, 5, 5}, skew[4] = {10, 2, 2, 2}, zero[3] = {0, 0, 0};
    (void)state;
    assert_float_equal(kv_stats_hit_rate(90, 100), 0.9, 1e-12);
    assert_float_equal(kv_stats_hit_rate(5, 0), 0, 1e-12);
    assert_float_equal(kv_stats_max_over_mean(even, 4), 1.0, 1e-12);
    assert_float_equal(kv_stats_max_over_mean(skew, 4), 10.0 / 4.0, 1e-12);
    assert_float_equal(kv_stats_max_over_mean(zero, 3), 0, 1e-12);
    assert_float_equal(kv_stats_cv(even, 4), 0, 1e-12);
    /* mean 4, deviations 6,-2,-2,-2: variance 48/4 = 12, cv = sqrt(12)/4 */
    assert_float_equal(kv_stats_cv(skew, 4), 0.8660254037844386, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_rates_and_balance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
