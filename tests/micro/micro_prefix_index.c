/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_prefix_index.c - prefix index cost per request on the router's hot path, as
 * scripts/bench-overhead.sh drives it: one backend of 200,000 blocks, 9 KB prompts of 140 blocks
 * (one of 16 shared 125-block system prompts, then 15 blocks never seen before), so once warm
 * every request looks up 140 blocks, refreshes 125 and evicts 15.
 *
 * Usage: micro_prefix_index [--smoke] [--requests N] [--max-entries N] [--pollute KB]
 * Without --max-entries it runs the router's default bound (4Mi entries) and 262,144. Per request:
 * kv_index_lookup of all 140 blocks, then kv_index_record on backend 0 (now = i microseconds).
 * The mean of each over the second half of the requests (warm) is printed. --pollute KB writes
 * that many KB of other memory between requests, as the router's network buffers and the
 * kernel's do in place (a request moves ~40 KB through the proxy), so the index's data is
 * evicted from the nearer caches as it is there.
 *
 * Then growth: 64 backends record distinct 64-block chains until the index holds 4Mi entries
 * (64Ki with --smoke); the slowest record call is printed, which is where the map doubles (or
 * frees the array it doubled from).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/rand.h"
#include "base/time.h"
#include "prefix/index.h"

#define SYSTEMS 16
#define SHARED 125
#define FRESH 15
#define BLOCKS (SHARED + FRESH)
#define CAPACITY 200000
#define NB 64

struct result {
    double lookup_ns;
    double record_ns;
    uint64_t sum;
};

static size_t pollute_bytes;

/* Writes <pollute_bytes> of a buffer of its own, a cache line at a time. */
static void pollute(void)
{
    static unsigned char *buf;
    static unsigned char k;

    if (!pollute_bytes)
        return;
    if (!buf)
        buf = kv_malloc(pollute_bytes);
    k++;
    for (size_t i = 0; i < pollute_bytes; i += 64)
        buf[i] = k;
}

static struct result run(uint32_t max_entries, uint32_t requests)
{
    uint64_t sys[SYSTEMS][SHARED], h[BLOCKS], t_lookup = 0, t_record = 0;
    uint32_t matched[NB];
    struct kv_rand r;
    struct result res = {0};
    struct kv_index *ix = kv_index_new(max_entries, NB, CAPACITY, 0);

    kv_rand_seed(&r, 7);
    for (int s = 0; s < SYSTEMS; s++)
        for (int k = 0; k < SHARED; k++)
            sys[s][k] = kv_rand_next(&r);
    for (uint32_t i = 0; i < requests; i++) {
        memcpy(h, sys[i % SYSTEMS], sizeof(sys[0]));
        for (int k = SHARED; k < BLOCKS; k++)
            h[k] = kv_rand_next(&r);
        pollute();
        uint64_t t0 = kv_time_ns();
        res.sum += kv_index_lookup(ix, h, BLOCKS, matched);
        uint64_t t1 = kv_time_ns();
        res.sum += (uint64_t)kv_index_record(ix, 0, h, BLOCKS, (uint64_t)i * 1000);
        uint64_t t2 = kv_time_ns();
        if (i >= requests / 2) {
            t_lookup += t1 - t0;
            t_record += t2 - t1;
        }
    }
    res.sum += kv_index_entries(ix);
    res.lookup_ns = (double)t_lookup / (requests - requests / 2);
    res.record_ns = (double)t_record / (requests - requests / 2);
    printf("max_entries %8u: lookup %6.0f ns, record %6.0f ns, sum %6.0f ns per request; "
           "%u entries, %u blocks held, %zu bytes\n",
           max_entries, res.lookup_ns, res.record_ns, res.lookup_ns + res.record_ns,
           kv_index_entries(ix), kv_index_blocks(ix, 0), kv_index_bytes(ix));
    kv_index_free(ix);
    return res;
}

static uint64_t growth(uint32_t max_entries)
{
    struct kv_index *ix = kv_index_new(max_entries, NB, max_entries, 0);
    uint64_t h[64], x = 88172645463325252ull, worst = 0, sum = 0;
    uint32_t at = 0;

    for (uint32_t i = 0; i < max_entries / 64; i++) {
        for (int k = 0; k < 64; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h[k] = x;
        }
        uint64_t t0 = kv_time_ns();
        sum += (uint64_t)kv_index_record(ix, i % NB, h, 64, (uint64_t)i * 1000);
        uint64_t d = kv_time_ns() - t0;
        if (d > worst) {
            worst = d;
            at = kv_index_entries(ix);
        }
    }
    printf("growth to %u entries: slowest record %.2f ms (at %u entries), %zu bytes\n",
           kv_index_entries(ix), (double)worst / 1e6, at, kv_index_bytes(ix));
    kv_index_free(ix);
    return sum;
}

int main(int argc, char **argv)
{
    uint32_t requests = 300000, max_entries = 0;
    uint64_t sum = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            requests = 4000;
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            requests = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--max-entries") == 0 && i + 1 < argc)
            max_entries = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--pollute") == 0 && i + 1 < argc)
            pollute_bytes = 1024 * (size_t)strtoul(argv[++i], NULL, 10);
    }
    if (requests < 2)
        requests = 2;
    printf("micro_prefix_index: %u requests of %d blocks (%d shared by 1/%d of requests, %d new), "
           "1 backend of %d blocks; means over the second half\n",
           requests, BLOCKS, SHARED, SYSTEMS, FRESH, CAPACITY);
    if (max_entries) {
        sum += run(max_entries, requests).sum;
    } else {
        sum += run(4u << 20, requests).sum;
        sum += run(1u << 18, requests).sum;
    }
    sum += growth(requests <= 4000 ? 1u << 16 : 4u << 20);
    printf("checksum %llu\n", (unsigned long long)sum);
    return 0;
}
