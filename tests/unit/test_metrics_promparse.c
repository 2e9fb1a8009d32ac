/* SPDX-License-Identifier: MIT */
/* tests/unit/test_metrics_promparse.c - the Prometheus text parser on real vLLM v0.10.0 output,
 * on the format's edge cases and garbage, fed whole and in pieces, and on the registry's own
 * output (round trip).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "metrics/promparse.h"
#include "metrics/registry.h"

#define SAMPLE KV_SOURCE_DIR "/tests/data/vllm_metrics_v0_10.txt"
#define GLM "zai-org/GLM-4.5"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

static double sum_of(const char *t, size_t n, const char *name, const char *l, const char *v,
                     int want_count)
{
    double s = -1;
    assert_int_equal(kv_promparse_sum(t, n, name, l, v, &s), want_count);
    return s;
}

/* Collects every sample as "name{l=v,...} value" text, for exact comparisons. */
struct collect {
    char out[1 << 17];
    size_t len;
    int stop_after;
};

static int on_collect(const struct kv_promparse_sample *s, void *ud)
{
    struct collect *c = ud;
    char *o = c->out + c->len;
    size_t room = sizeof(c->out) - c->len;
    int k = snprintf(o, room, "%.*s{", (int)s->name_len, s->name);

    for (size_t i = 0; i < s->nlabels; i++)
        k += snprintf(o + k, room - (size_t)k, "%s%.*s=%.*s", i ? "," : "",
                      (int)s->labels[i].name_len, s->labels[i].name,
                      (int)s->labels[i].value_len, s->labels[i].value);
    k += snprintf(o + k, room - (size_t)k, "} %.17g", s->value);
    if (s->has_ts)
        k += snprintf(o + k, room - (size_t)k, " @%lld", (long long)s->ts_ms);
    k += snprintf(o + k, room - (size_t)k, "\n");
    c->len += (size_t)k;
    return --c->stop_after == 0 ? 7 : 0;
}

static void test_real_vllm_sample(void **state)
{
    size_t n;
    char *t = slurp(SAMPLE, &n);
    char v[64];
    struct kv_promparse_stats st;
    struct collect c = {.stop_after = -1};
    (void)state;

    assert_true(sum_of(t, n, "vllm:num_requests_running", "model_name", GLM, 1) == 0.0);
    assert_true(sum_of(t, n, "vllm:num_requests_waiting", NULL, NULL, 1) == 0.0);
    assert_true(sum_of(t, n, "vllm:kv_cache_usage_perc", "model_name", GLM, 1) ==
                1.0 - 102562.0 / 102563.0);
    assert_true(sum_of(t, n, "vllm:kv_cache_usage_perc", "model_name", "other", 0) == 0.0);
    assert_true(sum_of(t, n, "vllm:prefix_cache_queries_total", "engine", "0", 1) == 32.0);
    assert_true(sum_of(t, n, "vllm:prefix_cache_hits_total", NULL, NULL, 1) == 0.0);
    assert_true(sum_of(t, n, "vllm:prompt_tokens_total", NULL, NULL, 1) == 32.0);
    assert_true(sum_of(t, n, "vllm:generation_tokens_total", NULL, NULL, 1) == 1396.0);
    assert_true(sum_of(t, n, "vllm:request_success_total", NULL, NULL, 3) == 4.0);
    assert_true(sum_of(t, n, "vllm:request_success_total", "finished_reason", "length", 1) == 0);
    assert_true(sum_of(t, n, "vllm:time_to_first_token_seconds_sum", NULL, NULL, 1) ==
                2.1043688);
    assert_true(sum_of(t, n, "vllm:time_to_first_token_seconds_bucket", "le", "0.1", 1) == 3.0);
    assert_true(sum_of(t, n, "vllm:time_per_output_token_seconds_count", NULL, NULL, 1) ==
                1392.0);
    assert_true(sum_of(t, n, "vllm:gpu_prefix_cache_queries_created", NULL, NULL, 1) ==
                1753795326.9352946);
    assert_true(sum_of(t, n, "process_virtual_memory_bytes", NULL, NULL, 1) == 14431748096.0);
    assert_true(sum_of(t, n, "process_max_fds", NULL, NULL, 1) == 1048576.0);
    assert_true(sum_of(t, n, "http_requests_total", "handler", "/v1/chat/completions", 1) == 4);
    assert_true(sum_of(t, n, "vllm:no_such_metric", NULL, NULL, 0) == 0.0);
    assert_int_equal(kv_promparse_label(t, n, "vllm:cache_config_info", "block_size", v,
                                        sizeof(v)), 2);
    assert_string_equal(v, "16");
    assert_int_equal(kv_promparse_label(t, n, "vllm:cache_config_info", "num_gpu_blocks", v,
                                        sizeof(v)), 6);
    assert_string_equal(v, "102563");
    assert_int_equal(kv_promparse_label(t, n, "vllm:cache_config_info", "nope", v, sizeof(v)),
                     KV_ENOTFOUND);
    assert_int_equal(kv_promparse_label(t, n, "vllm:cache_config_info", "num_gpu_blocks", v, 6),
                     KV_ETOOBIG);
    assert_int_equal(kv_promparse_label(t, n, "vllm:nope", "block_size", v, sizeof(v)),
                     KV_ENOTFOUND);

    assert_int_equal(kv_promparse_parse(t, n, on_collect, NULL, &c, &st), 0);
    assert_int_equal(st.lines, 521);   /* 510 lines of output + 11 of source comment */
    assert_int_equal(st.samples, 376);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.too_long, 0);
    assert_int_equal(st.filtered, 0);
    free(t);
}

static void test_edge_cases(void **state)
{
    static const char text[] =
        "# HELP m help \\\\ \\n text\n"
        "#TYPE m gauge\n"
        "\n"
        "   \t \n"
        "m{path=\"a\\\\b\\\"c\\nd\",x=\"\\t\"} 1\n"
        "m{ a = \"1\" , b=\"2\", } -1.5E-3\r\n"
        "m_nan NaN\n"
        "m_inf{} +Inf 1712345678901\n"
        "m_ninf -Inf -5\n"
        "m_lower inf\n"
        "m_exp 1e3\n"
        "m_plus +2\n"
        "m_big 123456789012345678901234567890\n"
        "m_tiny 4.9406564584124654e-324\n"
        "m:colon_name\t7 \t\n"
        "m_dot .5\n"
        "m_last{a=\"}\"} 42";
    struct collect c = {.stop_after = -1};
    struct kv_promparse_stats st;
    (void)state;
    assert_int_equal(kv_promparse_parse(text, sizeof(text) - 1, on_collect, NULL, &c, &st), 0);
    assert_string_equal(c.out,
        "m{path=a\\b\"c\nd,x=\\t} 1\n"
        "m{a=1,b=2} -0.0015\n"
        "m_nan{} nan\n"
        "m_inf{} inf @1712345678901\n"
        "m_ninf{} -inf @-5\n"
        "m_lower{} inf\n"
        "m_exp{} 1000\n"
        "m_plus{} 2\n"
        "m_big{} 1.2345678901234568e+29\n"
        "m_tiny{} 4.9406564584124654e-324\n"
        "m:colon_name{} 7\n"
        "m_dot{} 0.5\n"
        "m_last{a=}} 42\n");
    assert_int_equal(st.lines, 17);
    assert_int_equal(st.samples, 13);
    assert_int_equal(st.bad, 0);
}

static void test_garbage_counted(void **state)
{
    static const char *const bad[] = {
        "foo",                  /* no value */
        "foo{a=\"b\" 1",        /* unclosed braces */
        "{a=\"b\"} 1",          /* no name */
        "foo bar",              /* not a number */
        "foo 1 2 3",            /* junk after timestamp */
        "foo 1 1.5",            /* float timestamp */
        "foo{a=b} 1",           /* unquoted value */
        "9foo 1",               /* name starts with a digit */
        "foo 0x10",             /* hex */
        "foo{a=\"b\",,} 1",     /* empty label */
        "foo{a=\"b\\\"} 1",     /* escaped closing quote, unterminated */
        "foo{1a=\"b\"} 1",      /* bad label name */
        "foo{a:b=\"c\"} 1",     /* colon in label name */
        "foo 1e",               /* bad exponent */
        "foo -",                /* sign only */
        "foo +NaN",             /* NaN takes no sign */
        "foo 12345678901234567890123", /* valid: a long integer value, no timestamp */
        "foo 1 12345678901234567890",  /* timestamp beyond int64 ms */
        "foo\x01 1",            /* control character in the name */
        "foo{a=\"b\"}}1",       /* stray brace */
    };
    struct collect c = {.stop_after = -1};
    struct kv_promparse_stats st;
    char text[2048];
    size_t n = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\nok %zu\n", bad[i], i);
    assert_int_equal(kv_promparse_parse(text, n, on_collect, NULL, &c, &st), 0);
    /* every line but the long-integer one is skipped; the "ok" lines between all survive */
    assert_int_equal(st.bad, 19);
    assert_int_equal(st.samples, 21);
    assert_non_null(strstr(c.out, "foo{} 1.2345678901234568e+22\n"));
    assert_non_null(strstr(c.out, "ok{} 19\n"));
}

static void test_limits(void **state)
{
    size_t big = KV_PROMPARSE_MAX_LINE + 10, n = 0;
    char *text = malloc(big + 4096);
    struct collect c = {.stop_after = -1};
    struct kv_promparse_stats st;
    (void)state;
    n += (size_t)sprintf(text + n, "a 1\nlong{v=\"");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)sprintf(text + n, "\"} 2\nb 3\nmany{");
    for (int i = 0; i <= KV_PROMPARSE_MAX_LABELS; i++)
        n += (size_t)sprintf(text + n, "l%d=\"v\",", i);
    n += (size_t)sprintf(text + n, "} 4\nc 5\n");
    assert_int_equal(kv_promparse_parse(text, n, on_collect, NULL, &c, &st), 0);
    assert_string_equal(c.out, "a{} 1\nb{} 3\nc{} 5\n");
    assert_int_equal(st.too_long, 1);
    assert_int_equal(st.bad, 1);
    free(text);
}

static void test_stop_and_filter(void **state)
{
    static const char text[] = "a 1\nb 2\nc 3\nd 4\n";
    struct collect c = {.stop_after = 2};
    struct kv_promparse_query q[2] = {{.name = "c"}, {.name = "a"}};
    struct kv_promparse_stats st;
    (void)state;
    assert_int_equal(kv_promparse_parse(text, sizeof(text) - 1, on_collect, NULL, &c, &st), 7);
    assert_string_equal(c.out, "a{} 1\nb{} 2\n");
    assert_int_equal(kv_promparse_query(text, sizeof(text) - 1, q, 2, &st), 0);
    assert_true(q[0].sum == 3 && q[0].count == 1 && q[1].sum == 1 && q[1].count == 1);
    assert_int_equal(st.samples, 2);
    assert_int_equal(st.filtered, 2);
}

/* Feeding in pieces of every size gives what one parse of the whole gives. */
static void test_streaming(void **state)
{
    size_t n;
    char *t = slurp(SAMPLE, &n);
    struct collect whole = {.stop_after = -1};
    struct kv_promparse_stats st;
    static const char tail[] = "x 1\r\ny{a=\"q\"} 2";
    (void)state;
    assert_int_equal(kv_promparse_parse(t, n, on_collect, NULL, &whole, &st), 0);
    for (size_t piece = 1; piece < 4000; piece = piece * 3 + 1) {
        struct kv_promparse p;
        struct collect c = {.stop_after = -1};
        kv_promparse_init(&p, on_collect, NULL, &c);
        for (size_t off = 0; off < n; off += piece)
            assert_int_equal(kv_promparse_feed(&p, t + off, KV_MIN(piece, n - off)), 0);
        assert_int_equal(kv_promparse_finish(&p), 0);
        assert_int_equal(p.stats.samples, st.samples);
        assert_int_equal(p.stats.lines, st.lines);
        assert_int_equal(c.len, whole.len);
        assert_memory_equal(c.out, whole.out, c.len);
        kv_promparse_cleanup(&p);
    }
    for (size_t piece = 1; piece < sizeof(tail); piece++) {
        struct kv_promparse p;
        struct collect c = {.stop_after = -1};
        kv_promparse_init(&p, on_collect, NULL, &c);
        for (size_t off = 0; off < sizeof(tail) - 1; off += piece)
            kv_promparse_feed(&p, tail + off, KV_MIN(piece, sizeof(tail) - 1 - off));
        kv_promparse_finish(&p);
        assert_string_equal(c.out, "x{} 1\ny{a=q} 2\n");
        kv_promparse_cleanup(&p);
    }
    free(t);
}

static void test_streaming_long_line(void **state)
{
    struct kv_promparse p;
    struct collect c = {.stop_after = -1};
    char *chunk = malloc(5000);
    (void)state;
    memset(chunk, 'x', 5000);
    kv_promparse_init(&p, on_collect, NULL, &c);
    kv_promparse_feed(&p, "a 1\nlong", 8);
    for (int i = 0; i < 5; i++)
        kv_promparse_feed(&p, chunk, 5000); /* 25,000 bytes without a newline */
    kv_promparse_feed(&p, " 9\nb 2\nc", 8);
    kv_promparse_feed(&p, " 3", 2);
    kv_promparse_finish(&p);
    assert_string_equal(c.out, "a{} 1\nb{} 2\nc{} 3\n");
    assert_int_equal(p.stats.too_long, 1);
    assert_int_equal(p.stats.lines, 4);
    kv_promparse_cleanup(&p);
    free(chunk);
}

static double pinned(void *ud)
{
    (void)ud;
    return 1753795326.9352946;
}

/* What the registry writes, the parser reads back unchanged. */
static void test_round_trip(void **state)
{
    struct kv_registry_opts o = {.created = true, .clock = pinned};
    struct kv_registry *r = kv_registry_new(&o);
    const char *l[] = {"model_name", "engine"};
    const double b[] = {0.001, 1, 1e6};
    struct kv_registry_desc dc = {"rt_c", "c", KV_REGISTRY_COUNTER, l, 2, NULL, 0};
    struct kv_registry_desc dg = {"rt_g", "g", KV_REGISTRY_GAUGE, l, 2, NULL, 0};
    struct kv_registry_desc dh = {"rt_h", "h", KV_REGISTRY_HISTOGRAM, l, 2, b, 3};
    struct kv_metric *mc, *mg, *mh;
    struct kv_buf out;
    const char *odd = "we\"ird\\mo\ndel";
    static const double vals[] = {0.1, 1e-300, 12345678901.5, 6.02214076e23, -0.0, 1.0 / 3};
    double s;
    (void)state;
    assert_int_equal(kv_registry_add(r, &dc, &mc), 0);
    assert_int_equal(kv_registry_add(r, &dg, &mg), 0);
    assert_int_equal(kv_registry_add(r, &dh, &mh), 0);
    kv_registry_inc(kv_registry_labels(mc, odd, "0"), 12345678901.0);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char e[8];
        snprintf(e, sizeof(e), "%zu", i);
        kv_registry_set(kv_registry_labels(mg, "m", e), vals[i]);
    }
    kv_registry_set(kv_registry_labels(mg, "m", "inf"), -INFINITY);
    kv_registry_observe(kv_registry_labels(mh, odd, "0"), 0.5);
    kv_registry_observe(kv_registry_labels(mh, odd, "0"), 5e6);
    kv_buf_init(&out, 1 << 20);
    assert_int_equal(kv_registry_render(r, &out), 0);
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_c_total", "model_name", odd, &s), 1);
    assert_true(s == 12345678901.0);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char e[8];
        snprintf(e, sizeof(e), "%zu", i);
        assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_g", "engine", e, &s), 1);
        assert_true(s == vals[i]); /* exact (a sum turns -0.0 into 0.0, which == accepts) */
    }
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_g", "engine", "inf", &s), 1);
    assert_true(isinf(s) && s < 0);
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_h_bucket", "le", "1.0", &s), 1);
    assert_true(s == 1.0);
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_h_bucket", "le", "+Inf", &s), 1);
    assert_true(s == 2.0);
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_h_sum", NULL, NULL, &s), 1);
    assert_true(s == 5000000.5);
    assert_int_equal(kv_promparse_sum(out.data, out.len, "rt_h_created", NULL, NULL, &s), 1);
    assert_true(s == 1753795326.9352946);
    kv_buf_cleanup(&out);
    kv_registry_free(r);
}

/* Every double printed with 17 digits (and shortest) parses back bit-exact. */
static void test_number_exactness(void **state)
{
    uint64_t x = 88172645463325252ull;
    char line[64];
    (void)state;
    for (int i = 0; i < 20000; i++) {
        double v, got;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        if (i & 1)
            v = (double)(x >> 40) / 1000.0; /* short decimals: the fast path */
        snprintf(line, sizeof(line), "n %.17g\n", v);
        assert_int_equal(kv_promparse_sum(line, strlen(line), "n", NULL, NULL, &got), 1);
        assert_memory_equal(&got, &v, sizeof(v));
        snprintf(line, sizeof(line), "n %.15g\n", v);
        assert_int_equal(kv_promparse_sum(line, strlen(line), "n", NULL, NULL, &got), 1);
        assert_true(got == strtod(line + 2, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_vllm_sample),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_garbage_counted),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stop_and_filter),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_streaming_long_line),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_number_exactness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
