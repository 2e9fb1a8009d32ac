/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_report.c - per-backend work, hit rate and balance of a report row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/report.h"

static void test_finish(void **state)
{
    struct kv_report_row row;
    struct kv_runner_result res;
    (void)state;
    memset(&row, 0, sizeof(row));
    kv_runner_result_init(&res);
    row.n_backends = 2;
    row.time_scale = 10;
    row.be[0] = (struct kv_report_backend){.queries = 1000, .hits = 800, .prompt_tokens = 1000,
                                           .gen_tokens = 100, .requests = 3};
    row.be[1] = (struct kv_report_backend){.queries = 1000, .hits = 200, .prompt_tokens = 1000,
                                           .gen_tokens = 100, .requests = 1};
    kv_stats_add(&res.ttft, 0.1);
    kv_stats_add(&res.ttft, 0.3);
    res.ok = 4;
    res.wall_s = 2;
    kv_report_finish(&row, &res, 0.01, 0.02);
    assert_float_equal(row.hit_rate, 0.5, 1e-12);
    /* work: 200*0.01 + 100*0.02 = 4 ms and 800*0.01 + 2 = 10 ms: max/mean = 10/7 */
    assert_float_equal(row.be[0].work_ms, 4, 1e-12);
    assert_float_equal(row.be[1].work_ms, 10, 1e-12);
    assert_float_equal(row.work_max_mean, 10.0 / 7.0, 1e-12);
    assert_float_equal(row.req_max_mean, 1.5, 1e-12);
    assert_float_equal(row.ttft_mean, 0.2, 1e-12);
    assert_float_equal(row.ttft_p50, 0.2, 1e-12);
    assert_float_equal(row.req_per_s, 4.0 / 20.0, 1e-12); /* model time: 2 s x 10 */
    assert_float_equal(row.tok_per_s, 200.0 / 20.0, 1e-12);
    assert_float_equal(row.ttft_q[0], 0.1, 1e-12);
    assert_float_equal(row.ttft_q[100], 0.3, 1e-12);
    kv_runner_result_cleanup(&res);

    /* --plot: gnuplot (installed by scripts/install-deps.sh) writes a PNG. */
    char path[] = "/tmp/kvbench_plot_XXXXXX";
    unsigned char magic[8] = {0};
    int fd = mkstemp(path);
    FILE *f;
    assert_true(fd >= 0);
    close(fd);
    snprintf(row.target, sizeof(row.target), "t'1");
    assert_int_equal(kv_report_plot(path, &row, 1, "unit"), 0);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(magic, 1, 8, f), 8);
    fclose(f);
    unlink(path);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
