/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_router_route.c - routing decision latency: hash an 8,000-token prompt
 * (32,000 bytes -> 500 blocks), look it up in a warm prefix index, score 64 backends and pick,
 * per policy; p50/p99 over many decisions. Also the cost of recording a decision (commit).
 *
 * Usage: micro_router_route [--smoke] [--decisions N]
 * The warm index holds 256 distinct prompts (16 shared 8,000-byte system prompts, so prompts
 * share their first 125 blocks in groups), each recorded on a home backend and on up to three
 * others; backend loads are random and change every 64 decisions. Each decision draws one of
 * the 256 prompts at random, so lookups touch a working set larger than L2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/rand.h"
#include "base/time.h"
#include "prefix/blockhash.h"
#include "prefix/index.h"
#include "router/sched.h"
#include "router/session.h"

#define NB 64
#define PROMPTS 256
#define SYSTEMS 16
#define BYTES 32000
#define SYS_BYTES 8000
#define MAX_BLOCKS 512

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void fill(char *p, size_t n, struct kv_rand *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(' ' + kv_rand_below(r, 95));
}

static void report(const char *what, uint64_t *ns, uint32_t n)
{
    qsort(ns, n, sizeof(*ns), cmp_u64);
    printf("%-14s %9u %9llu %9llu %9llu %9llu\n", what, n, (unsigned long long)ns[n / 2],
           (unsigned long long)ns[(uint64_t)n * 99 / 100],
           (unsigned long long)ns[(uint64_t)n * 999 / 1000], (unsigned long long)ns[n - 1]);
}

static void randomize_loads(struct kv_sched_backend *bk, struct kv_rand *r)
{
    for (int i = 0; i < NB; i++) {
        bk[i].inflight = (uint32_t)kv_rand_below(r, 4);
        bk[i].inflight_prefill = bk[i].inflight * kv_rand_below(r, 4000);
        bk[i].waiting = (double)kv_rand_below(r, 3);
        bk[i].running = bk[i].inflight;
        bk[i].kv_usage = kv_rand_double(r);
        bk[i].work = 1e6 + kv_rand_double(r) * 1e5;
    }
}

struct bench {
    char *text;            /* PROMPTS * BYTES */
    uint64_t *chains;      /* PROMPTS * MAX_BLOCKS */
    uint32_t nblocks[PROMPTS];
    struct kv_index *ix;
    struct kv_sched_backend bk[NB];
    char names[NB][24];
    uint64_t seed;
};

static void warm(struct bench *b, struct kv_rand *r)
{
    char *sys = kv_malloc((size_t)SYSTEMS * SYS_BYTES);

    fill(sys, (size_t)SYSTEMS * SYS_BYTES, r);
    b->text = kv_malloc((size_t)PROMPTS * BYTES);
    b->chains = kv_malloc((size_t)PROMPTS * MAX_BLOCKS * sizeof(uint64_t));
    for (int p = 0; p < PROMPTS; p++) {
        char *t = b->text + (size_t)p * BYTES;
        memcpy(t, sys + (size_t)(p % SYSTEMS) * SYS_BYTES, SYS_BYTES);
        fill(t + SYS_BYTES, BYTES - SYS_BYTES, r);
        b->nblocks[p] = (uint32_t)kv_blockhash_text(b->seed, 0, 64, t, BYTES,
                                                    b->chains + (size_t)p * MAX_BLOCKS, 500);
        uint32_t home = (uint32_t)kv_rand_below(r, NB), copies = (uint32_t)kv_rand_below(r, 4);
        for (uint32_t c = 0; c <= copies; c++)
            kv_index_record(b->ix, (home + c * 17) % NB, b->chains + (size_t)p * MAX_BLOCKS,
                            b->nblocks[p], (uint64_t)p * 1000000);
    }
    free(sys);
}

/* Runs <n> decisions of policy <p>; returns a checksum so nothing is optimized away. */
static uint64_t run(struct bench *b, enum kv_sched_policy p, uint32_t n, uint64_t *ns,
                    bool hash_only)
{
    struct kv_sched_config cfg;
    struct kv_sched *s;
    struct kv_rand r;
    uint64_t sum = 0, h[MAX_BLOCKS];

    kv_sched_config_default(&cfg);
    cfg.policy = p;
    s = kv_sched_new(&cfg, b->ix, NULL, NB);
    kv_rand_seed(&r, 42);
    for (uint32_t i = 0; i < n; i++) {
        struct kv_sched_result res;
        uint32_t pr = (uint32_t)kv_rand_below(&r, PROMPTS);
        const char *t = b->text + (size_t)pr * BYTES;
        struct kv_sched_request req = {.hashes = h, .prompt_tokens = BYTES / 4,
                                       .max_tokens = 256, .now_ns = 300000000ull};
        if (i % 64 == 0)
            randomize_loads(b->bk, &r);
        uint64_t t0 = kv_time_ns();
        req.nblocks = (uint32_t)kv_blockhash_text(b->seed, 0, 64, t, BYTES, h, MAX_BLOCKS);
        if (!hash_only)
            sum += (uint64_t)kv_sched_pick(s, &req, b->bk, NB, &r, &res, NULL);
        ns[i] = kv_time_ns() - t0;
        sum += req.nblocks;
    }
    kv_sched_free(s);
    return sum;
}

static uint64_t run_lookup(struct bench *b, uint32_t n, uint64_t *ns)
{
    struct kv_rand r;
    uint64_t sum = 0;
    uint32_t matched[NB];

    kv_rand_seed(&r, 44);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pr = (uint32_t)kv_rand_below(&r, PROMPTS);
        uint64_t t0 = kv_time_ns();
        sum += kv_index_lookup(b->ix, b->chains + (size_t)pr * MAX_BLOCKS, b->nblocks[pr],
                               matched);
        ns[i] = kv_time_ns() - t0;
    }
    return sum;
}

static uint64_t run_commit(struct bench *b, uint32_t n, uint64_t *ns)
{
    struct kv_rand r;
    uint64_t sum = 0;

    kv_rand_seed(&r, 43);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pr = (uint32_t)kv_rand_below(&r, PROMPTS), be = (uint32_t)kv_rand_below(&r, NB);
        uint64_t t0 = kv_time_ns();
        sum += (uint64_t)kv_index_record(b->ix, be, b->chains + (size_t)pr * MAX_BLOCKS,
                                         b->nblocks[pr], 400000000ull + i);
        ns[i] = kv_time_ns() - t0;
    }
    return sum;
}

int main(int argc, char **argv)
{
    uint32_t n = 100000, capacity = 31250;
    struct bench b;
    struct kv_rand r;
    uint64_t *ns, sum = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            n = 1000;
            capacity = 4096; /* a smaller pool: the smoke run is about not rotting, not figures */
        }
        else if (strcmp(argv[i], "--decisions") == 0 && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
    }
    if (n == 0)
        n = 1;
    memset(&b, 0, sizeof(b));
    kv_rand_seed(&r, 1);
    if (kv_blockhash_seed(&b.seed) < 0)
        b.seed = 0x5eed;
    /* 64 backends x 31,250 blocks (llm-d's default LRU capacity per server). */
    b.ix = kv_index_new(NB * capacity, NB, capacity, 0);
    for (int i = 0; i < NB; i++) {
        snprintf(b.names[i], sizeof(b.names[i]), "backend-%02d", i);
        b.bk[i] = (struct kv_sched_backend){.id = (uint32_t)i, .name = b.names[i],
                                            .healthy = true};
    }
    warm(&b, &r);
    ns = kv_malloc((size_t)n * sizeof(*ns));
    printf("micro_router_route: %d backends, %d-byte prompts (500 blocks of 64 bytes), %d distinct "
           "prompts, index %u entries in use, %zu bytes allocated (%.1f B per entry slot)\n",
           NB, BYTES, PROMPTS, kv_index_entries(b.ix), kv_index_bytes(b.ix),
           (double)kv_index_bytes(b.ix) / kv_index_max_entries(b.ix));
    printf("%-14s %9s %9s %9s %9s %9s\n", "ns/decision", "n", "p50", "p99", "p99.9", "max");
    sum += run(&b, KV_SCHED_CACHE_AWARE, n, ns, true);
    report("hash only", ns, n);
    sum += run_lookup(&b, n, ns);
    report("lookup only", ns, n);
    for (int p = 0; p < KV_SCHED_NPOLICIES; p++) {
        sum += run(&b, (enum kv_sched_policy)p, n, ns, false);
        report(kv_sched_policy_name((enum kv_sched_policy)p), ns, n);
    }
    sum += run_commit(&b, n, ns);
    report("commit (record)", ns, n);
    printf("checksum %llu\n", (unsigned long long)sum);
    free(ns);
    free(b.text);
    free(b.chains);
    kv_index_free(b.ix);
    return 0;
}
