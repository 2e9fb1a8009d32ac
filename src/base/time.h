/* SPDX-License-Identifier: MIT */
/* src/base/time.h - monotonic and wall clocks in integer units. */
#ifndef KV_BASE_TIME_H
#define KV_BASE_TIME_H

#include <stdint.h>

/* Monotonic clock, nanoseconds since an arbitrary origin. */
uint64_t kv_time_ns(void);
/* Wall clock, seconds since the Unix epoch. */
int64_t kv_time_unix(void);
/* Wall clock, seconds since the Unix epoch with sub-second precision. */
double kv_time_unix_f(void);

#endif /* KV_BASE_TIME_H */
