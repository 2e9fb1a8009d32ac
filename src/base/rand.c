/* SPDX-License-Identifier: MIT */
/* src/base/rand.c - xoshiro256** and OS entropy. */
#include "base/rand.h"

#include <errno.h>
#include <math.h>
#include <sys/random.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void kv_rand_seed(struct kv_rand *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t kv_rand_next(struct kv_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t kv_rand_below(struct kv_rand *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;

    do
        x = kv_rand_next(r);
    while (x >= limit);
    return x % n;
}

double kv_rand_double(struct kv_rand *r)
{
    return (double)(kv_rand_next(r) >> 11) * 0x1.0p-53;
}

double kv_rand_exp(struct kv_rand *r, double mean)
{
    return -mean * log(1.0 - kv_rand_double(r));
}

int kv_rand_secret(void *out, unsigned n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += got;
        n -= (unsigned)got;
    }
    return 0;
}
