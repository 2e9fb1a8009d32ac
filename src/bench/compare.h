/* SPDX-License-Identifier: MIT */
/* src/bench/compare.h - one workload against several targets, each on a fresh fleet.
 *
 * For every target: start N kvsim processes (cold caches) on free loopback ports, start the
 * target in front of them (kvroute with a policy, HAProxy `balance source`, nginx
 * `hash $remote_addr consistent`, from generated configs), wait until it answers, read every
 * backend's /metrics, run the workload, read /metrics again, stop everything. The row of each
 * target holds the backends' counter deltas and the client-side latencies.
 */
#ifndef KV_BENCH_COMPARE_H
#define KV_BENCH_COMPARE_H

#include <stddef.h>

#include "bench/report.h"
#include "bench/runner.h"
#include "bench/workload.h"

#define KV_COMPARE_MAX_ARGS 32

struct kv_compare_config {
    unsigned backends;            /* kvsim processes per fleet */
    const char *kvsim;            /* program paths */
    const char *kvroute;
    const char *model;
    const char *kvsim_args[KV_COMPARE_MAX_ARGS]; /* extra kvsim flags, NULL-terminated */
    const char *kvroute_args[KV_COMPARE_MAX_ARGS];
    double time_scale;
    unsigned long blocks;         /* --num-gpu-blocks-override of each kvsim, 0 = its default */
    double prefill_ms, decode_ms; /* timing model costs for the work figure */
    struct kv_runner_config run;  /* host/port are filled per target */
};

/* Reads the counters of backends <hosts>[i]:<ports>[i] (hosts NULL = all 127.0.0.1) into <be>.
 * Returns 0 or < 0. */
int kv_compare_scrape(const char *const *hosts, const int *ports, size_t n,
                      struct kv_report_backend *be);
/* Fills <row> from a run of <w> against <host>:<port>, with the counter deltas of the backends
 * given by <hosts>/<ports>. Returns 0 or < 0. */
int kv_compare_run(const struct kv_compare_config *cfg, const struct kv_workload *w,
                   const char *host, int port, const char *const *hosts, const int *ports,
                   size_t n, struct kv_report_row *row);
/* Runs <w> against <target> ("kvroute:<policy>", "haproxy", "nginx", or "url:HOST:PORT" with
 * backends given by <ports> for an already running fleet) and fills <row>. Returns 0 or < 0. */
int kv_compare_target(const struct kv_compare_config *cfg, const struct kv_workload *w,
                      const char *target, struct kv_report_row *row);

#endif /* KV_BENCH_COMPARE_H */
