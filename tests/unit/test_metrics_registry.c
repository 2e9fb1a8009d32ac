/* SPDX-License-Identifier: MIT */
/* tests/unit/test_metrics_registry.c - the registry renders exactly what prometheus_client
 * renders. The expected texts were produced by prometheus_client 0.16's generate_latest() for
 * the same metrics, with time.time() pinned to the clock used here; they are compared whole.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "metrics/registry.h"

#define T0 1753795326.9352946

static const char *const LN[] = {"model_name", "engine"};

static double fixed_clock(void *ud)
{
    (void)ud;
    return T0;
}

static struct kv_registry *reg(bool created)
{
    struct kv_registry_opts o = {.created = created, .clock = fixed_clock};
    return kv_registry_new(&o);
}

static void expect_render(struct kv_registry *r, const char *want)
{
    struct kv_buf b;
    kv_buf_init(&b, 1 << 20);
    assert_int_equal(kv_registry_render(r, &b), 0);
    assert_string_equal(b.data ? b.data : "", want);
    kv_buf_cleanup(&b);
}

static struct kv_metric *add(struct kv_registry *r, const char *name, const char *help,
                             enum kv_registry_type t, const char *const *labels, size_t nl,
                             const double *b, size_t nb)
{
    struct kv_registry_desc d = {name, help, t, labels, nl, b, nb};
    struct kv_metric *m = NULL;
    assert_int_equal(kv_registry_add(r, &d, &m), 0);
    assert_non_null(m);
    return m;
}

static void test_counter(void **state)
{
    struct kv_registry *r = reg(true);
    struct kv_metric *q = add(r, "vllm:prefix_cache_queries",
                              "Prefix cache queries, in terms of number of queried tokens.",
                              KV_REGISTRY_COUNTER, LN, 2, NULL, 0);
    struct kv_metric_child *c = kv_registry_labels(q, "m", "0");
    (void)state;
    kv_registry_inc(c, 100);
    kv_registry_inc(c, 23);
    kv_registry_inc(c, -5);     /* ignored: counters never go down */
    kv_registry_set(c, 50);     /* ignored likewise */
    kv_registry_inc(kv_registry_labels(q, "other/model", "1"), 7.25);
    assert_ptr_equal(kv_registry_labels(q, "m", "0"), c);
    assert_true(kv_registry_value(c) == 123.0);
    expect_render(r,
        "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of "
        "queried tokens.\n"
        "# TYPE vllm:prefix_cache_queries_total counter\n"
        "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m\"} 123.0\n"
        "vllm:prefix_cache_queries_total{engine=\"1\",model_name=\"other/model\"} 7.25\n"
        "# HELP vllm:prefix_cache_queries_created Prefix cache queries, in terms of number of "
        "queried tokens.\n"
        "# TYPE vllm:prefix_cache_queries_created gauge\n"
        "vllm:prefix_cache_queries_created{engine=\"0\",model_name=\"m\"} "
        "1.7537953269352946e+09\n"
        "vllm:prefix_cache_queries_created{engine=\"1\",model_name=\"other/model\"} "
        "1.7537953269352946e+09\n");
    kv_registry_free(r);
}

static void test_counter_total_name_no_created(void **state)
{
    struct kv_registry *r = reg(false);
    struct kv_metric *x = add(r, "x_total", "help", KV_REGISTRY_COUNTER, NULL, 0, NULL, 0);
    (void)state;
    add(r, "unused", "u", KV_REGISTRY_COUNTER, LN, 2, NULL, 0);
    kv_registry_inc(kv_registry_labels(x), 1.5);
    assert_ptr_equal(kv_registry_find(r, "x_total"), x);
    assert_ptr_equal(kv_registry_find(r, "x"), x);
    assert_null(kv_registry_find(r, "y"));
    expect_render(r, "# HELP x_total help\n# TYPE x_total counter\nx_total 1.5\n"
                     "# HELP unused_total u\n# TYPE unused_total counter\n");
    kv_registry_free(r);
}

static void test_gauge_and_info(void **state)
{
    struct kv_registry *r = reg(true);
    struct kv_metric *g = add(r, "vllm:num_requests_running",
                              "Number of requests in model execution batches.",
                              KV_REGISTRY_GAUGE, LN, 2, NULL, 0);
    const char *il[] = {"block_size", "num_gpu_blocks", "engine", "cache_dtype"};
    const char *iv[] = {"16", "81767", "0", "auto"};
    struct kv_metric_child *c = kv_registry_labels(g, "m", "0");
    (void)state;
    kv_registry_set(c, 5);
    kv_registry_inc(c, -2);
    assert_int_equal(kv_registry_info(r, "vllm:cache_config_info",
                                      "Information of the LLMEngine CacheConfig", il, iv, 4), 0);
    expect_render(r,
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n"
        "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n"
        "# TYPE vllm:cache_config_info gauge\n"
        "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",engine=\"0\","
        "num_gpu_blocks=\"81767\"} 1.0\n");
    kv_registry_free(r);
}

static void test_histogram(void **state)
{
    struct kv_registry *r = reg(true);
    const double b[] = {1, 2.5, 1e6};
    const char *zl[] = {"zone", "a"};
    struct kv_metric *h = add(r, "plain_hist", "h", KV_REGISTRY_HISTOGRAM, NULL, 0, b, 3);
    struct kv_metric *z = add(r, "zh", "z", KV_REGISTRY_HISTOGRAM, zl, 2, b, 3);
    struct kv_metric_child *c = kv_registry_labels(h);
    (void)state;
    kv_registry_observe(c, 2);
    kv_registry_observe(c, 1);   /* le is inclusive */
    kv_registry_observe(c, 0.5);
    kv_registry_observe(c, NAN); /* ignored */
    kv_registry_observe(kv_registry_labels(z, "z1", "a1"), 1e7);
    assert_int_equal(kv_registry_count(c), 3);
    assert_true(kv_registry_value(c) == 3.5);
    expect_render(r,
        "# HELP plain_hist h\n# TYPE plain_hist histogram\n"
        "plain_hist_bucket{le=\"1.0\"} 2.0\n"
        "plain_hist_bucket{le=\"2.5\"} 3.0\n"
        "plain_hist_bucket{le=\"1e+06\"} 3.0\n"
        "plain_hist_bucket{le=\"+Inf\"} 3.0\n"
        "plain_hist_count 3.0\n"
        "plain_hist_sum 3.5\n"
        "# HELP plain_hist_created h\n# TYPE plain_hist_created gauge\n"
        "plain_hist_created 1.7537953269352946e+09\n"
        "# HELP zh z\n# TYPE zh histogram\n"
        "zh_bucket{a=\"a1\",le=\"1.0\",zone=\"z1\"} 0.0\n"
        "zh_bucket{a=\"a1\",le=\"2.5\",zone=\"z1\"} 0.0\n"
        "zh_bucket{a=\"a1\",le=\"1e+06\",zone=\"z1\"} 0.0\n"
        "zh_bucket{a=\"a1\",le=\"+Inf\",zone=\"z1\"} 1.0\n"
        "zh_count{a=\"a1\",zone=\"z1\"} 1.0\n"
        "zh_sum{a=\"a1\",zone=\"z1\"} 1e+07\n"
        "# HELP zh_created z\n# TYPE zh_created gauge\n"
        "zh_created{a=\"a1\",zone=\"z1\"} 1.7537953269352946e+09\n");
    kv_registry_free(r);
}

static void test_histogram_vllm_labels(void **state)
{
    struct kv_registry *r = reg(false);
    const double b[] = {0.001, 0.5, 2560.0, INFINITY};
    struct kv_metric *h = add(r, "vllm:time_to_first_token_seconds",
                              "Histogram of time to first token in seconds.",
                              KV_REGISTRY_HISTOGRAM, LN, 2, b, 4);
    struct kv_metric_child *c = kv_registry_labels(h, "m", "0");
    (void)state;
    kv_registry_observe(c, 0.05);
    kv_registry_observe(c, 0.3);
    kv_registry_observe(c, 3000);
    kv_registry_observe(c, 0.001);
    expect_render(r,
        "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.\n"
        "# TYPE vllm:time_to_first_token_seconds histogram\n"
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.001\",model_name=\"m\"} 1.0\n"
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.5\",model_name=\"m\"} 3.0\n"
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"2560.0\",model_name=\"m\"} 3.0\n"
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 4.0\n"
        "vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\"} 4.0\n"
        "vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m\"} 3000.351\n");
    kv_registry_free(r);
}

static void test_escaping(void **state)
{
    struct kv_registry *r = reg(false);
    const char *pl[] = {"path"};
    struct kv_metric *e = add(r, "esc_gauge", "help with \\ backslash\nand newline \"q\"",
                              KV_REGISTRY_GAUGE, pl, 1, NULL, 0);
    (void)state;
    kv_registry_set(kv_registry_labels(e, "a\\b\"c\nd"), -2.5e-7);
    expect_render(r, "# HELP esc_gauge help with \\\\ backslash\\nand newline \"q\"\n"
                     "# TYPE esc_gauge gauge\n"
                     "esc_gauge{path=\"a\\\\b\\\"c\\nd\"} -2.5e-07\n");
    kv_registry_free(r);
}

static void test_invalid(void **state)
{
    struct kv_registry *r = reg(false);
    const char *bad1[] = {"le"};
    const char *bad2[] = {"a", "a"};
    const char *bad3[] = {"__x"};
    const char *bad4[] = {"a-b"};
    const double down[] = {2, 1};
    const double nan[] = {NAN};
    struct kv_registry_desc d[] = {
        {"1abc", "", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0},
        {"a b", "", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0},
        {"", "", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0},
        {"_total", "", KV_REGISTRY_COUNTER, NULL, 0, NULL, 0},
        {"h", "", KV_REGISTRY_HISTOGRAM, bad1, 1, NULL, 0},
        {"g", "", KV_REGISTRY_GAUGE, bad2, 2, NULL, 0},
        {"g", "", KV_REGISTRY_GAUGE, bad3, 1, NULL, 0},
        {"g", "", KV_REGISTRY_GAUGE, bad4, 1, NULL, 0},
        {"h", "", KV_REGISTRY_HISTOGRAM, NULL, 0, down, 2},
        {"h", "", KV_REGISTRY_HISTOGRAM, NULL, 0, nan, 1},
        {"dup", "", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0},
        {"dup_total", "", KV_REGISTRY_COUNTER, NULL, 0, NULL, 0},
    };
    struct kv_metric *m = NULL;
    (void)state;
    add(r, "dup", "", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0);
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        assert_int_equal(kv_registry_add(r, &d[i], &m), KV_ECONFIG);
    m = add(r, "lab", "", KV_REGISTRY_GAUGE, LN, 2, NULL, 0);
    assert_null(kv_registry_labels(m, "x", NULL));
    kv_registry_free(r);
    kv_registry_free(NULL);
}

static void test_many_children(void **state)
{
    struct kv_registry *r = reg(false);
    const char *l[] = {"id"};
    struct kv_metric *m = add(r, "many", "", KV_REGISTRY_COUNTER, l, 1, NULL, 0);
    struct kv_metric_child *first = NULL, *c;
    char v[16];
    (void)state;
    for (int i = 0; i < KV_REGISTRY_MAX_CHILDREN; i++) {
        snprintf(v, sizeof(v), "%d", i);
        c = kv_registry_labels(m, v);
        assert_non_null(c);
        kv_registry_inc(c, i);
        if (i == 0)
            first = c;
    }
    assert_null(kv_registry_labels(m, "one-more"));
    /* every existing child is still found, after all the table growth */
    for (int i = 0; i < KV_REGISTRY_MAX_CHILDREN; i++) {
        snprintf(v, sizeof(v), "%d", i);
        c = kv_registry_labels(m, v);
        assert_non_null(c);
        assert_true(kv_registry_value(c) == (double)i);
    }
    assert_ptr_equal(kv_registry_labels(m, "0"), first);
    kv_registry_free(r);
}

static void test_render_toobig(void **state)
{
    struct kv_registry *r = reg(false);
    struct kv_buf b;
    (void)state;
    add(r, "some_gauge", "a help text long enough", KV_REGISTRY_GAUGE, NULL, 0, NULL, 0);
    kv_buf_init(&b, 20);
    assert_int_equal(kv_registry_render(r, &b), KV_ETOOBIG);
    assert_true(b.len <= 20);
    kv_buf_cleanup(&b);
    kv_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_counter_total_name_no_created),
        cmocka_unit_test(test_gauge_and_info),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_vllm_labels),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_many_children),
        cmocka_unit_test(test_render_toobig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
