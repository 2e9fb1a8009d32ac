/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_sim_blockpool.c - block pool memory per block at 130k blocks, and the cost
 * of a request's cycle (prefix lookup, touch, allocate, cache, free) and of an engine run.
 * Usage: micro_sim_blockpool [--smoke] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "sim/blockpool.h"
#include "sim/engine.h"
#include "sim/kvhash.h"

static void pool_cycle(uint32_t nblocks, int iters)
{
    struct kv_blockpool p;
    enum { BLOCKS = 63 }; /* a 1,000-token prompt */
    uint64_t hashes[BLOCKS];
    uint32_t ids[BLOCKS], hit[BLOCKS];
    uint64_t t0, t1;

    kv_blockpool_init(&p, nblocks, true);
    printf("pool: %u blocks, %zu bytes = %.1f bytes/block\n", nblocks, kv_blockpool_memory(&p),
           (double)kv_blockpool_memory(&p) / nblocks);
    t0 = kv_time_ns();
    for (int it = 0; it < iters; it++) {
        /* 4 prompt families share a 32-block prefix; each request adds 31 blocks of its own. */
        for (int b = 0; b < BLOCKS; b++)
            hashes[b] = b < 32 ? (uint64_t)(it % 4) * 1000003 + (uint64_t)b + 1
                               : ((uint64_t)it << 20) + (uint64_t)b;
        uint32_t nhit = kv_blockpool_get_computed(&p, hashes, BLOCKS, BLOCKS * 16, 16, hit);
        kv_blockpool_touch(&p, hit, nhit);
        memcpy(ids, hit, nhit * sizeof(*ids));
        if (kv_blockpool_alloc(&p, BLOCKS - nhit, ids + nhit) < 0)
            abort();
        for (uint32_t b = nhit; b < BLOCKS; b++)
            kv_blockpool_cache(&p, ids[b], hashes[b]);
        kv_blockpool_free(&p, ids, BLOCKS);
    }
    t1 = kv_time_ns();
    printf("pool: %d request cycles of 63 blocks: %.0f ns/request, hit rate %.3f\n", iters,
           (double)(t1 - t0) / iters, (double)p.stats.hits / (double)p.stats.queries);
    kv_blockpool_cleanup(&p);
}

static void engine_run(int nreq)
{
    struct kv_kvhash h;
    struct kv_engine_config c;
    struct kv_engine *e;
    uint32_t *prompt = malloc(sizeof(uint32_t) * 1000);
    double now = 0, ms;
    uint64_t t0, t1, steps = 0;
    int done = 0;

    kv_kvhash_init(&h, KV_KVHASH_BUILTIN, "0");
    kv_engine_config_default(&c);
    c.num_blocks = 132875;
    c.max_model_len = 131072;
    c.hash = &h;
    kv_engine_new(&c, &e);
    t0 = kv_time_ns();
    for (int i = 0; i < nreq; i++) {
        struct kv_engine_params p = {prompt, 1000, 64, 0, NULL, 0, now, NULL};
        struct kv_engine_req *r;
        for (int k = 0; k < 1000; k++)
            prompt[k] = (uint32_t)(k < 500 ? k : i * 1000 + k);
        kv_engine_add(e, &p, &r);
    }
    while ((ms = kv_engine_schedule(e, now)) > 0) {
        const struct kv_engine_event *ev;
        size_t n;
        now += ms / 1000;
        kv_engine_finish_step(e, now, &ev, &n);
        for (size_t i = 0; i < n; i++)
            done += ev[i].finish != KV_ENGINE_RUNNING;
        steps++;
    }
    t1 = kv_time_ns();
    printf("engine: %d requests (1000-token prompts, 64 output tokens) in %llu steps, %.1f model "
           "s; CPU %.2f us/request\n",
           done, (unsigned long long)steps, now, (double)(t1 - t0) / 1000.0 / nreq);
    kv_engine_free(e);
    free(prompt);
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;

    pool_cycle(130000, smoke ? 2000 : 200000);
    engine_run(smoke ? 200 : 20000);
    return 0;
}
