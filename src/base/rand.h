/* SPDX-License-Identifier: MIT */
/* src/base/rand.h - small deterministic PRNG (xoshiro256**, Blackman & Vigna) for simulation,
 * workload generation and tie-breaking. Not for secrets: keyed hashing takes its key from
 * kv_rand_secret(), which reads the OS entropy source.
 */
#ifndef KV_BASE_RAND_H
#define KV_BASE_RAND_H

#include <stdint.h>

struct kv_rand {
    uint64_t s[4];
};

/* Seeds from <seed> (splitmix64 expansion, so any seed, 0 included, is fine). */
void kv_rand_seed(struct kv_rand *r, uint64_t seed);
uint64_t kv_rand_next(struct kv_rand *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t kv_rand_below(struct kv_rand *r, uint64_t n);
/* Uniform in [0, 1). */
double kv_rand_double(struct kv_rand *r);
/* Exponentially distributed with the given mean (for Poisson arrivals). */
double kv_rand_exp(struct kv_rand *r, double mean);
/* Fills <out> with <n> bytes from getrandom(); returns 0 or -errno. */
int kv_rand_secret(void *out, unsigned n);

#endif /* KV_BASE_RAND_H */
