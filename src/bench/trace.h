/* SPDX-License-Identifier: MIT */
/* src/bench/trace.h - trace readers: real request traces turned into kvbench workloads.
 *
 * Two formats (see shared/data/traces/README.md):
 * - Mooncake (JSON lines): {"timestamp": ms, "input_length": n, "output_length": m,
 *   "hash_ids": [...]} with 512-token blocks; each line is one request of its own session, sent at
 *   its timestamp (open loop).
 * - Claude Code sessions (one JSON file per session, or a folder of them): 64-token blocks whose
 *   ids are local to the file (sub-agents share their parent's ids); each file is a closed-loop
 *   session that keeps its recorded think times, and each sub-agent a session of its own that
 *   starts at its entry's time. Ids are offset by 10^7 x file index so files never share.
 * Equal hash ids become equal text blocks (kv_workload segments of block_tokens x 4 bytes), so a
 * trace's sharing is reproduced exactly; the last block of a request is cut to its length.
 *
 * Errors name the file and line (Mooncake) or the file and request index (Claude Code) and the
 * reason, in the caller's <err> buffer.
 */
#ifndef KV_BENCH_TRACE_H
#define KV_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/workload.h"

struct kv_trace_opts {
    double speed;          /* time compression: arrival and think times are divided by it */
    double token_scale;    /* multiplies every token count (block size included); 1 = as is */
    uint32_t max_requests; /* stop after this many requests (0 = all) */
    double max_time_s;     /* drop requests whose (unscaled) arrival is later (0 = all) */
    double session_spread_s; /* Claude Code: session starts spread uniformly over this (scaled) */
    uint32_t max_sessions; /* Claude Code: at most this many files (0 = all) */
    uint64_t seed;
};

/* Fills <o> with the defaults: speed 1, token_scale 1, everything else 0. */
void kv_trace_opts_init(struct kv_trace_opts *o);
/* Appends the requests of a Mooncake JSON-lines trace at <path> to <w>. Returns the number of
 * requests added, or < 0 with a message in <err>. */
int kv_trace_load_mooncake(struct kv_workload *w, const char *path, const struct kv_trace_opts *o,
                           char *err, size_t errlen);
/* Appends the sessions of a Claude Code trace: <path> is one .json file or a folder whose
 * trace_*.json files are read in name order. Returns requests added or < 0 with <err>. */
int kv_trace_load_claude(struct kv_workload *w, const char *path, const struct kv_trace_opts *o,
                         char *err, size_t errlen);
/* Parses one Mooncake line (exported for tests and the fuzzer). Returns 0, or < 0 with <err>. */
int kv_trace_parse_mooncake_line(struct kv_workload *w, const char *line, size_t len,
                                 uint32_t session, const struct kv_trace_opts *o, char *err,
                                 size_t errlen);

#endif /* KV_BENCH_TRACE_H */
