/* SPDX-License-Identifier: MIT */
/* tests/unit/test_metrics_vllmdefs.c - the vLLM v0.10.0 metric table against real output: a
 * registry built from the table renders the same HELP, TYPE and series lines (values aside) as
 * tests/data/vllm_metrics_v0_10.txt, and covers every vllm: family in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/mem.h"
#include "metrics/promparse.h"
#include "metrics/registry.h"
#include "metrics/vllmdefs.h"

#define SAMPLE KV_SOURCE_DIR "/tests/data/vllm_metrics_v0_10.txt"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    p = calloc(1, (size_t)n + 2);
    p[0] = '\n'; /* so every line, the first included, is found as "\n<line>" */
    assert_int_equal(fread(p + 1, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return p;
}

static void test_buckets_125(void **state)
{
    double b[32];
    (void)state;
    assert_int_equal(kv_vllmdefs_buckets_125(100, b, 32), 7);
    assert_true(b[0] == 1 && b[1] == 2 && b[2] == 5 && b[3] == 10 && b[6] == 100);
    assert_int_equal(kv_vllmdefs_buckets_125(131072, b, 32), 16);
    assert_true(b[15] == 100000);
    assert_int_equal(kv_vllmdefs_buckets_125(131072, b, 4), 4);
    assert_int_equal(kv_vllmdefs_buckets_125(0.5, b, 32), 0);
}

/* Each rendered line (up to its value, for samples) is a line of the real output. */
static void test_matches_real_output(void **state)
{
    struct kv_registry *r = kv_registry_new(NULL);
    struct kv_metric *m[KV_VLLMDEFS_COUNT];
    struct kv_buf out;
    char *real = slurp(SAMPLE), *line, *save = NULL;
    size_t checked = 0;
    (void)state;
    assert_int_equal(kv_vllmdefs_register(r, 131072, "zai-org/GLM-4.5", "0", m), 0);
    kv_buf_init(&out, 1 << 20);
    assert_int_equal(kv_registry_render(r, &out), 0);
    for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[512];
        size_t k = line[0] == '#' ? strlen(line) : (size_t)(strrchr(line, ' ') - line + 1);
        snprintf(key, sizeof(key), "\n%.*s", (int)k, line);
        if (!strstr(real, key))
            fail_msg("not in the real output: %s", line);
        checked++;
    }
    /* 25 HELP+TYPE pairs; 4 gauges; 7 + 3 counter series; histograms: bounds + Inf + count +
     * sum: four 1-2-5 (16 bounds), iteration 13, n 5, TTFT 22, TPOT 19, five latency 21 */
    assert_int_equal(checked, 50 + 4 + 10 + 4 * 19 + 16 + 8 + 25 + 22 + 5 * 24);
    kv_buf_cleanup(&out);
    kv_registry_free(r);
    free(real);
}

/* Every vllm: family of the real output is in the table (cache_config_info aside). */
static void test_table_is_complete(void **state)
{
    char *real = slurp(SAMPLE);
    size_t fams = 0;
    (void)state;
    for (char *p = strstr(real, "\n# HELP vllm:"); p; p = strstr(p + 1, "\n# HELP vllm:")) {
        char name[128];
        size_t n = strcspn(p + 8, " ");
        bool found = false;
        snprintf(name, sizeof(name), "%.*s", (int)n, p + 8);
        if (strstr(name, "_created") || strcmp(name, KV_VLLMDEFS_CACHE_CONFIG_INFO) == 0)
            continue;
        for (size_t i = 0; i < KV_VLLMDEFS_COUNT; i++) {
            const char *d = kv_vllmdefs_metrics[i].desc.name;
            size_t dl = strlen(d);
            if (strncmp(name, d, dl) == 0 && (name[dl] == '\0' || strcmp(name + dl, "_total") == 0))
                found = true;
        }
        if (!found)
            fail_msg("missing from kv_vllmdefs_metrics: %s", name);
        fams++;
    }
    assert_int_equal(fams, KV_VLLMDEFS_COUNT);
    free(real);
}

static void test_cache_config_labels(void **state)
{
    char *real = slurp(SAMPLE);
    char v[64];
    (void)state;
    for (size_t i = 0; i < KV_ARRAY_LEN(kv_vllmdefs_cache_config_labels); i++)
        assert_true(kv_promparse_label(real, strlen(real), KV_VLLMDEFS_CACHE_CONFIG_INFO,
                                       kv_vllmdefs_cache_config_labels[i], v, sizeof(v)) > 0);
    free(real);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_125),
        cmocka_unit_test(test_matches_real_output),
        cmocka_unit_test(test_table_is_complete),
        cmocka_unit_test(test_cache_config_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
