/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_metrics_parse.c - cost of one /metrics scrape on the router's side and of
 * one /metrics render on kvsim's: the real vLLM v0.10.0 output (tests/data, 44 KB) parsed whole
 * with every sample handed over, the router's query (7 series, the rest skipped by name), the
 * same fed in 4 KB pieces as a socket delivers it, and a 25-family vLLM registry rendered.
 * The repository is found from __FILE__.
 * Usage: micro_metrics_parse [--smoke] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"
#include "metrics/promparse.h"
#include "metrics/registry.h"
#include "metrics/vllmdefs.h"

static char *load_sample(size_t *len)
{
    const char *me = __FILE__;
    const char *at = strstr(me, "tests/micro/");
    char path[1024];
    FILE *f;
    char *p;
    long n;

    snprintf(path, sizeof(path), "%.*stests/data/vllm_metrics_v0_10.txt",
             at ? (int)(at - me) : 0, me);
    if (!(f = fopen(path, "rb"))) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    p = kv_malloc((size_t)n);
    if (fread(p, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int count(const struct kv_promparse_sample *s, void *ud)
{
    *(double *)ud += s->value;
    return 0;
}

static void report(const char *what, size_t bytes, int iters, uint64_t ns)
{
    double per = (double)ns / iters;
    printf("%-34s %6zu B x %6d: %8.1f MB/s %8.2f us/scrape\n", what, bytes, iters,
           bytes / per * 1e3, per / 1e3);
}

static struct kv_promparse_query queries[] = {
    {.name = KV_VLLMDEFS_NUM_REQUESTS_RUNNING},
    {.name = KV_VLLMDEFS_NUM_REQUESTS_WAITING},
    {.name = KV_VLLMDEFS_KV_CACHE_USAGE_PERC},
    {.name = KV_VLLMDEFS_PREFIX_CACHE_QUERIES_TOTAL},
    {.name = KV_VLLMDEFS_PREFIX_CACHE_HITS_TOTAL},
    {.name = KV_VLLMDEFS_PROMPT_TOKENS_TOTAL},
    {.name = KV_VLLMDEFS_GENERATION_TOKENS_TOTAL},
};

static void bench_parse(const char *t, size_t n, int iters)
{
    double sink = 0;
    uint64_t t0 = kv_time_ns();

    for (int i = 0; i < iters; i++)
        kv_promparse_parse(t, n, count, NULL, &sink, NULL);
    report("parse, every sample", n, iters, kv_time_ns() - t0);
    t0 = kv_time_ns();
    for (int i = 0; i < iters; i++)
        kv_promparse_query(t, n, queries, KV_ARRAY_LEN(queries), NULL);
    report("query 7 series (router scrape)", n, iters, kv_time_ns() - t0);
    t0 = kv_time_ns();
    for (int i = 0; i < iters; i++) {
        struct kv_promparse p;
        kv_promparse_init(&p, count, NULL, &sink);
        for (size_t off = 0; off < n; off += 4096)
            kv_promparse_feed(&p, t + off, KV_MIN((size_t)4096, n - off));
        kv_promparse_finish(&p);
        kv_promparse_cleanup(&p);
    }
    report("parse, fed in 4 KB pieces", n, iters, kv_time_ns() - t0);
    if (sink < 0 || queries[5].sum != 32.0)
        printf("unexpected values\n");
}

static void bench_render(int iters)
{
    struct kv_registry_opts o = {.created = true};
    struct kv_registry *r = kv_registry_new(&o);
    struct kv_metric *m[KV_VLLMDEFS_COUNT];
    struct kv_metric_child *ttft;
    struct kv_buf b;
    uint64_t t0;

    kv_vllmdefs_register(r, 131072, "meta-llama/Llama-3.1-8B-Instruct", "0", m);
    ttft = kv_registry_labels(m[KV_VLLMDEFS_TTFT], "meta-llama/Llama-3.1-8B-Instruct", "0");
    for (int i = 0; i < 1000; i++)
        kv_registry_observe(ttft, 0.01 * (i % 300));
    kv_buf_init(&b, 1 << 20);
    t0 = kv_time_ns();
    for (int i = 0; i < iters; i++) {
        kv_buf_reset(&b);
        kv_registry_render(r, &b);
    }
    report("render vLLM registry (kvsim)", b.len, iters, kv_time_ns() - t0);
    kv_buf_cleanup(&b);
    kv_registry_free(r);
}

int main(int argc, char **argv)
{
    bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    size_t n;
    char *t = load_sample(&n);

    bench_parse(t, n, smoke ? 20 : 5000);
    bench_render(smoke ? 20 : 2000);
    free(t);
    return 0;
}
