/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_scrape.c - parsing vLLM /metrics text into backend figures, and the
 * index capacity derived from vllm:cache_config_info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "router/backend.h"
#include "router/scrape.h"

/* Shaped like vLLM v0.10 output (prometheus_client): HELP/TYPE lines, model_name labels,
 * _created samples, histograms we do not use. */
static const char vllm_text[] =
    "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{engine=\"0\",model_name=\"meta-llama/Llama-3.2-1B\"} 3.0\n"
    "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{engine=\"0\",model_name=\"meta-llama/Llama-3.2-1B\"} 7.0\n"
    "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"meta-llama/Llama-3.2-1B\"} 0.25\n"
    "# TYPE vllm:prefix_cache_queries counter\n"
    "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m\"} 1.2e+06\n"
    "vllm:prefix_cache_queries_created{engine=\"0\",model_name=\"m\"} 1.7e+09\n"
    "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"m\"} 900000.0\n"
    "vllm:time_to_first_token_seconds_bucket{le=\"0.001\",model_name=\"m\"} 0.0\n"
    "vllm:num_requests_waiting_extra 99\n"
    "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n"
    "# TYPE vllm:cache_config_info gauge\n"
    "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
    "gpu_memory_utilization=\"0.9\",num_cpu_blocks=\"None\",num_gpu_blocks=\"80000\","
    "prefix_caching_hash_algo=\"builtin\",sliding_window=\"None\"} 1.0\n";

static void test_vllm_text(void **state)
{
    struct kv_backend_stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(kv_scrape_parse(vllm_text, strlen(vllm_text), &st), 6);
    assert_true(st.scraped);
    assert_true(st.running == 3);
    assert_true(st.waiting == 7); /* the _extra family is a different metric */
    assert_true(st.kv_usage == 0.25);
    assert_true(st.prefix_queries == 1.2e6);
    assert_true(st.prefix_hits == 900000);
    assert_int_equal(st.block_size, 16);
    assert_int_equal(st.gpu_blocks, 80000);
    /* 80000 blocks of 16 tokens, in index blocks of 16 tokens (64 bytes of text). */
    assert_int_equal(kv_scrape_capacity(st.gpu_blocks, st.block_size, 16), 80000);
    assert_int_equal(kv_scrape_capacity(1000, 32, 16), 2000);
    assert_int_equal(kv_scrape_capacity(0, 16, 16), 0);
    assert_int_equal(kv_scrape_capacity(1000, 0, 16), 0);
    assert_int_equal(kv_scrape_capacity(UINT64_MAX, 16, 16), 0);
    assert_int_equal(kv_scrape_capacity(1ull << 40, 16, 16), UINT32_MAX);
}

static void test_sums_and_old_names(void **state)
{
    static const char text[] = "vllm:num_requests_waiting{model_name=\"a\"} 1\n"
                               "vllm:num_requests_waiting{model_name=\"b\"} 2.5\n"
                               "vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.5\n"
                               "vllm:gpu_cache_usage_perc{model_name=\"b\"} 0.25\r\n"
                               "vllm:num_requests_running 4";
    struct kv_backend_stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    st.prefix_hits = 42; /* absent families keep their value */
    assert_int_equal(kv_scrape_parse(text, strlen(text), &st), 3);
    assert_true(st.waiting == 3.5);
    assert_true(st.kv_usage == 0.375);
    assert_true(st.running == 4);
    assert_true(st.prefix_hits == 42);
}

/* vLLM before 0.9 names the prefix-cache counters gpu_prefix_cache_*; 0.9-0.10 export both
 * names with the same values, which must not be added up. */
static void test_old_prefix_counter_names(void **state)
{
    static const char old[] = "vllm:gpu_prefix_cache_queries_total{model_name=\"a\"} 80\n"
                              "vllm:gpu_prefix_cache_hits_total{model_name=\"a\"} 32\n";
    static const char both[] = "vllm:gpu_prefix_cache_queries_total{model_name=\"a\"} 80\n"
                               "vllm:prefix_cache_queries_total{model_name=\"a\"} 80\n"
                               "vllm:gpu_prefix_cache_hits_total{model_name=\"a\"} 32\n"
                               "vllm:prefix_cache_hits_total{model_name=\"a\"} 32\n";
    struct kv_backend_stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(kv_scrape_parse(old, strlen(old), &st), 2);
    assert_true(st.prefix_queries == 80 && st.prefix_hits == 32);
    memset(&st, 0, sizeof(st));
    assert_int_equal(kv_scrape_parse(both, strlen(both), &st), 4);
    assert_true(st.prefix_queries == 80 && st.prefix_hits == 32);
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "not prometheus at all\n\x01\x02",
        "vllm:num_requests_waiting{model_name=\"a\" 3\n",      /* unclosed labels */
        "vllm:num_requests_waiting{model_name=\"}\"} \n",      /* no value */
        "vllm:num_requests_waiting NaN\nvllm:num_requests_running +Inf\n",
        "vllm:cache_config_info{block_size=16} 1\n",           /* unquoted: malformed line */
        "# vllm:num_requests_waiting 5\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kv_backend_stats st;
        memset(&st, 0, sizeof(st));
        st.waiting = 9;
        int n = kv_scrape_parse(bad[i], strlen(bad[i]), &st);
        assert_int_equal(n, 0);
        assert_false(st.scraped);
        assert_true(st.waiting == 9);
    }
}

static void test_info_labels(void **state)
{
    /* vLLM writes "None" for unset numbers: unknown, not 0-parsed garbage. */
    static const char text[] =
        "vllm:cache_config_info{block_size=\"32\",num_gpu_blocks=\"None\"} 1.0\n";
    struct kv_backend_stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(kv_scrape_parse(text, strlen(text), &st), 1);
    assert_int_equal(st.block_size, 32);
    assert_int_equal(st.gpu_blocks, 0);
    assert_false(st.scraped); /* no gauge seen */
}

static void test_quoted_braces(void **state)
{
    /* A '}' inside a quoted label value does not end the label block. */
    static const char text[] = "vllm:num_requests_running{model_name=\"x}y\\\"z\"} 6\n";
    struct kv_backend_stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    assert_int_equal(kv_scrape_parse(text, strlen(text), &st), 1);
    assert_true(st.running == 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vllm_text),
        cmocka_unit_test(test_sums_and_old_names),
        cmocka_unit_test(test_old_prefix_counter_names),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_info_labels),
        cmocka_unit_test(test_quoted_braces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
