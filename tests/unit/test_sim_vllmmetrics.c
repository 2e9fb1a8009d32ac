/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sim_vllmmetrics.c - kvsim's /metrics after real engine steps: exact sample
 * lines (token counters, prefix-cache counters, gauges, TTFT/TPOT/latency histograms in model
 * time, request_success by reason, iteration tokens, cache_config_info, _created series), the
 * family order of vLLM v0.10.0, and malformed cache_config_info labels. */
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
#include "base/mem.h"
#include "sim/engine.h"
#include "sim/kvhash.h"
#include "sim/vllmmetrics.h"

#define CACHE_LABELS "block_size=\"16\",engine=\"0\",num_gpu_blocks=\"11\""
#define L "{engine=\"0\",model_name=\"m\"}"

struct fx {
    struct kv_kvhash hash;
    struct kv_engine_config cfg;
    struct kv_engine *e;
    struct kv_vllmmetrics m;
    struct kv_buf out;
    uint32_t prompt[64];
    uint32_t max_tokens[4]; /* by user tag */
    double last_token[4];
};

static double fixed_clock(void *ud)
{
    (void)ud;
    return 1753795326.5;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct kv_registry_opts opts = {.created = true, .clock = fixed_clock};

    kv_kvhash_init(&f->hash, KV_KVHASH_BUILTIN, "0");
    kv_engine_config_default(&f->cfg);
    f->cfg.num_blocks = 11; /* usage steps of 1/11 */
    f->cfg.max_model_len = 512;
    f->cfg.hash = &f->hash;
    /* 125 ms steps whatever the batch: every model time below is exact in binary. */
    f->cfg.step_base_ms = 125;
    f->cfg.prefill_ms_per_token = 0;
    f->cfg.decode_ms_per_seq = 0;
    f->cfg.ctx_ms_per_ktoken = 0;
    assert_int_equal(kv_engine_new(&f->cfg, &f->e), 0);
    assert_int_equal(kv_vllmmetrics_init(&f->m, "m", 512, CACHE_LABELS, &opts), 0);
    kv_buf_init(&f->out, 1 << 20);
    for (uint32_t i = 0; i < 64; i++)
        f->prompt[i] = 500 + i;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    kv_vllmmetrics_cleanup(&f->m);
    kv_vllmmetrics_cleanup(&f->m); /* twice is harmless */
    kv_engine_free(f->e);
    kv_buf_cleanup(&f->out);
    free(f);
    return 0;
}

static void add(struct fx *f, uintptr_t user, uint32_t n, uint32_t max_tokens, double arrival)
{
    struct kv_engine_params p = {f->prompt, n, max_tokens, 0, NULL, 0, arrival, (void *)user};
    struct kv_engine_req *r;

    f->max_tokens[user] = max_tokens;
    assert_int_equal(kv_engine_add(f->e, &p, &r), 0);
}

/* One engine step from <now>, its events fed to the metrics the way src/sim/api.c does. */
static double step(struct fx *f, double now)
{
    const struct kv_engine_event *ev;
    double ms = kv_engine_schedule(f->e, now);
    size_t n;

    assert_true(ms > 0);
    now += ms / 1000;
    kv_engine_finish_step(f->e, now, &ev, &n);
    kv_vllmmetrics_step(&f->m, ev, n);
    for (size_t i = 0; i < n; i++) {
        uintptr_t u = (uintptr_t)ev[i].user;
        if (ev[i].has_token) {
            kv_vllmmetrics_token(&f->m, &ev[i], now - f->last_token[u]);
            f->last_token[u] = now;
        }
        if (ev[i].finish != KV_ENGINE_RUNNING)
            kv_vllmmetrics_finished(&f->m, &ev[i], f->max_tokens[u]);
    }
    return now;
}

static const char *render(struct fx *f)
{
    kv_buf_reset(&f->out);
    assert_int_equal(kv_vllmmetrics_render(&f->m, f->e, &f->out), 0);
    return f->out.data;
}

/* Fails naming <line> unless it is a whole line of <text>. */
static void has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    }
    fail_msg("missing line: %s", line);
}

static void lines(const char *text, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        has_line(text, want[i]);
}

/* Request 1 (40 prompt tokens, max_tokens 3) arrives at 0 and runs alone; request 2 (same
 * prompt, max_tokens 2) arrives at 0.375, is scheduled at 0.5 and hits 2 full blocks. */
static void run_two(struct fx *f)
{
    double t;

    add(f, 1, 40, 3, 0.0);
    t = step(f, 0.0);
    t = step(f, t);
    t = step(f, t);
    assert_true(t == 0.375);
    add(f, 2, 40, 2, 0.375);
    t = step(f, 0.5);
    step(f, t);
    assert_false(kv_engine_has_work(f->e));
}

static void test_counters_and_gauges(void **state)
{
    struct fx *f = *state;
    static const char *const want[] = {
        "vllm:num_requests_running" L " 0.0",
        "vllm:num_requests_waiting" L " 0.0",
        /* Idle: only the null block is in use, 1 - 10/11 as vLLM computes it. */
        "vllm:kv_cache_usage_perc" L " 0.09090909090909094",
        "vllm:gpu_cache_usage_perc" L " 0.09090909090909094",
        "vllm:prefix_cache_queries_total" L " 80.0",
        "vllm:prefix_cache_hits_total" L " 32.0",
        "vllm:gpu_prefix_cache_queries_total" L " 80.0",
        "vllm:gpu_prefix_cache_hits_total" L " 32.0",
        "vllm:num_preemptions_total" L " 0.0",
        "vllm:prompt_tokens_total" L " 80.0",
        "vllm:generation_tokens_total" L " 5.0",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\",model_name=\"m\"} 0.0",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"length\",model_name=\"m\"} 2.0",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"abort\",model_name=\"m\"} 0.0",
        "vllm:cache_config_info{" CACHE_LABELS "} 1.0",
        "vllm:prompt_tokens_created" L " 1.7537953265e+09",
        ("vllm:request_success_created{engine=\"0\",finished_reason=\"abort\",model_name=\"m\"} "
         "1.7537953265e+09"),
    };

    run_two(f);
    lines(render(f), want, KV_ARRAY_LEN(want));
}

static void test_gauges_mid_request(void **state)
{
    struct fx *f = *state;
    static const char *const want[] = {
        "vllm:num_requests_running" L " 1.0",
        "vllm:num_requests_waiting" L " 1.0",
        /* 40 tokens in 3 blocks, plus the null block: 1 - 7/11. */
        "vllm:kv_cache_usage_perc" L " 0.36363636363636365",
        "vllm:gpu_cache_usage_perc" L " 0.36363636363636365",
        "vllm:prompt_tokens_total" L " 40.0",
        "vllm:generation_tokens_total" L " 1.0",
        "vllm:prefix_cache_queries_total" L " 40.0",
        "vllm:time_to_first_token_seconds_count" L " 1.0",
        "vllm:time_per_output_token_seconds_count" L " 0.0",
    };

    f->cfg.max_num_seqs = 1;
    kv_engine_free(f->e);
    assert_int_equal(kv_engine_new(&f->cfg, &f->e), 0);
    add(f, 1, 40, 3, 0.0);
    add(f, 2, 20, 3, 0.0);
    step(f, 0.0);
    lines(render(f), want, KV_ARRAY_LEN(want));
}

static void test_latency_histograms(void **state)
{
    struct fx *f = *state;
    static const char *const want[] = {
        /* TTFT 0.125 (request 1) and 0.25 (request 2: 0.125 queued + one step). */
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.1\",model_name=\"m\"} 0.0",
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.25\",model_name=\"m\"} 2.0",
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 2.0",
        "vllm:time_to_first_token_seconds_count" L " 2.0",
        "vllm:time_to_first_token_seconds_sum" L " 0.375",
        /* Three gaps of one step each. */
        "vllm:time_per_output_token_seconds_bucket{engine=\"0\",le=\"0.1\",model_name=\"m\"} 0.0",
        "vllm:time_per_output_token_seconds_bucket{engine=\"0\",le=\"0.15\",model_name=\"m\"} 3.0",
        "vllm:time_per_output_token_seconds_count" L " 3.0",
        "vllm:time_per_output_token_seconds_sum" L " 0.375",
        "vllm:e2e_request_latency_seconds_sum" L " 0.75",
        "vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.3\",model_name=\"m\"} 0.0",
        "vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.5\",model_name=\"m\"} 2.0",
        "vllm:request_queue_time_seconds_sum" L " 0.125",
        "vllm:request_queue_time_seconds_bucket{engine=\"0\",le=\"0.3\",model_name=\"m\"} 2.0",
        "vllm:request_inference_time_seconds_sum" L " 0.625",
        "vllm:request_prefill_time_seconds_sum" L " 0.25",
        "vllm:request_decode_time_seconds_sum" L " 0.375",
        /* Steps of 41, 1, 1, 41, 1 tokens. */
        "vllm:iteration_tokens_total_bucket{engine=\"0\",le=\"1.0\",model_name=\"m\"} 3.0",
        "vllm:iteration_tokens_total_bucket{engine=\"0\",le=\"32.0\",model_name=\"m\"} 3.0",
        "vllm:iteration_tokens_total_bucket{engine=\"0\",le=\"64.0\",model_name=\"m\"} 5.0",
        "vllm:iteration_tokens_total_count" L " 5.0",
        "vllm:iteration_tokens_total_sum" L " 85.0",
        /* Token histograms bucketed 1-2-5 up to max_model_len 512. */
        "vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"20.0\",model_name=\"m\"} 0.0",
        "vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"50.0\",model_name=\"m\"} 2.0",
        "vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"500.0\",model_name=\"m\"} 2.0",
        "vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 2.0",
        "vllm:request_prompt_tokens_sum" L " 80.0",
        "vllm:request_generation_tokens_bucket{engine=\"0\",le=\"2.0\",model_name=\"m\"} 1.0",
        "vllm:request_generation_tokens_sum" L " 5.0",
        "vllm:request_max_num_generation_tokens_sum" L " 5.0",
        "vllm:request_params_max_tokens_bucket{engine=\"0\",le=\"5.0\",model_name=\"m\"} 2.0",
        "vllm:request_params_n_bucket{engine=\"0\",le=\"1.0\",model_name=\"m\"} 2.0",
        "vllm:request_params_n_sum" L " 2.0",
        "vllm:time_to_first_token_seconds_created" L " 1.7537953265e+09",
    };

    run_two(f);
    lines(render(f), want, KV_ARRAY_LEN(want));
    assert_null(strstr(f->out.data, "le=\"1000.0\"")); /* no bucket past max_model_len */
}

/* The exposition opens exactly as vLLM v0.10.0's engine metrics do. */
static void test_exact_head(void **state)
{
    struct fx *f = *state;
    static const char head[] =
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running" L " 0.0\n"
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        "vllm:num_requests_waiting" L " 0.0\n"
        "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage."
        "DEPRECATED: Use vllm:kv_cache_usage_perc instead.\n"
        "# TYPE vllm:gpu_cache_usage_perc gauge\n"
        "vllm:gpu_cache_usage_perc" L " 0.09090909090909094\n"
        "# HELP vllm:gpu_prefix_cache_queries_total GPU prefix cache queries, in terms of number "
        "of queriedtokens. DEPRECATED: Use vllm:prefix_cache_queries instead.\n"
        "# TYPE vllm:gpu_prefix_cache_queries_total counter\n"
        "vllm:gpu_prefix_cache_queries_total" L " 80.0\n"
        "# HELP vllm:gpu_prefix_cache_queries_created GPU prefix cache queries, in terms of "
        "number of queriedtokens. DEPRECATED: Use vllm:prefix_cache_queries instead.\n"
        "# TYPE vllm:gpu_prefix_cache_queries_created gauge\n"
        "vllm:gpu_prefix_cache_queries_created" L " 1.7537953265e+09\n";
    static const char tail[] =
        "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n"
        "# TYPE vllm:cache_config_info gauge\n"
        "vllm:cache_config_info{" CACHE_LABELS "} 1.0\n";
    const char *out;

    run_two(f);
    out = render(f);
    assert_int_equal(strncmp(out, head, strlen(head)), 0);
    assert_true(f->out.len > strlen(tail));
    assert_string_equal(out + f->out.len - strlen(tail), tail);
    /* Rendering reads the engine again: a second render is the same text. */
    assert_string_equal(render(f) + f->out.len - strlen(tail), tail);
}

static void test_stop_and_abort(void **state)
{
    struct fx *f = *state;
    struct kv_engine_event e = {
        .finish = KV_ENGINE_FINISH_STOP, .num_prompt = 7, .num_output = 2, .arrival = 1.0,
        .first_scheduled = 1.5, .first_token_time = 2.0, .finish_time = 3.0,
    };
    static const char *const want[] = {
        "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\",model_name=\"m\"} 1.0",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"length\",model_name=\"m\"} 0.0",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"abort\",model_name=\"m\"} 1.0",
        /* The aborted request is in no request histogram. */
        "vllm:e2e_request_latency_seconds_count" L " 1.0",
        "vllm:e2e_request_latency_seconds_sum" L " 2.0",
        "vllm:request_queue_time_seconds_sum" L " 0.5",
        "vllm:request_prefill_time_seconds_sum" L " 0.5",
        "vllm:request_decode_time_seconds_sum" L " 1.0",
        "vllm:request_inference_time_seconds_sum" L " 1.5",
        "vllm:request_max_num_generation_tokens_sum" L " 9.0",
        "vllm:request_prompt_tokens_sum" L " 7.0",
    };

    kv_vllmmetrics_finished(&f->m, &e, 9);
    e.finish = KV_ENGINE_FINISH_ABORT;
    kv_vllmmetrics_finished(&f->m, &e, 9);
    kv_vllmmetrics_step(&f->m, NULL, 0);
    lines(render(f), want, KV_ARRAY_LEN(want));
    has_line(f->out.data, "vllm:iteration_tokens_total_count" L " 0.0");
}

static void test_cache_labels(void **state)
{
    struct kv_vllmmetrics m;
    struct kv_buf out;
    struct fx *f = *state;

    kv_buf_init(&out, 1 << 20);
    assert_int_equal(kv_vllmmetrics_init(&m, "a\"b", 100, "x=\"q\\\"\\\\\",a=\"1\"", NULL), 0);
    assert_int_equal(kv_vllmmetrics_render(&m, f->e, &out), 0);
    has_line(out.data, "vllm:cache_config_info{a=\"1\",x=\"q\\\"\\\\\"} 1.0");
    has_line(out.data, "vllm:num_requests_running{engine=\"0\",model_name=\"a\\\"b\"} 0.0");
    assert_null(strstr(out.data, "le=\"200.0\"")); /* 1-2-5 buckets stop at 100 */
    kv_vllmmetrics_cleanup(&m);

    kv_buf_reset(&out);
    assert_int_equal(kv_vllmmetrics_init(&m, "m", 100, NULL, NULL), 0);
    assert_int_equal(kv_vllmmetrics_render(&m, f->e, &out), 0);
    has_line(out.data, "vllm:cache_config_info 1.0");
    kv_vllmmetrics_cleanup(&m);

    assert_int_equal(kv_vllmmetrics_init(&m, "m", 100, "block_size=16", NULL), KV_ECONFIG);
    assert_null(m.reg);
    kv_vllmmetrics_cleanup(&m);
    assert_int_equal(kv_vllmmetrics_init(&m, "m", 100, "a=\"1\",a=\"2\"", NULL), KV_ECONFIG);
    assert_int_equal(kv_vllmmetrics_init(&m, "m", 100, "a=\"1\"} 2\nb{c=\"3\"", NULL),
                     KV_ECONFIG);
    assert_int_equal(kv_vllmmetrics_init(&m, "m", 100, "__x=\"1\"", NULL), KV_ECONFIG);
    kv_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counters_and_gauges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauges_mid_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_histograms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_labels, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
