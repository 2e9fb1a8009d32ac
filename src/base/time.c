/* SPDX-License-Identifier: MIT */
/* src/base/time.c - monotonic and wall clocks. */
#include "base/time.h"

#include <time.h>

uint64_t kv_time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t kv_time_unix(void)
{
    return (int64_t)time(NULL);
}

double kv_time_unix_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
