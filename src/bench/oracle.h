/* SPDX-License-Identifier: MIT */
/* src/bench/oracle.h - the hit rates a workload allows: `ideal` and `pooled` references.
 *
 * Both replay the workload's prompts offline, in the order a run sends them (sessions by start
 * time, a session's turns in order), through the same chat template, tokenizer and block pool
 * that kvsim uses, and count hits as vLLM counts them (queries = prompt tokens, hits = tokens
 * of the leading cached full blocks, never the last prompt token):
 *   ideal:  one cache with unbounded capacity: the most any router could reach;
 *   pooled: one cache with the fleet's total capacity (backends x blocks each): what a perfect
 *           router over a fleet of that size could reach. pooled < ideal means the fleet's cache
 *           is smaller than the working set, which no routing can fix.
 */
#ifndef KV_BENCH_ORACLE_H
#define KV_BENCH_ORACLE_H

#include <stdint.h>

#include "bench/workload.h"

struct kv_oracle_result {
    uint64_t queries;     /* prompt tokens */
    uint64_t ideal_hits;  /* cached tokens with an unbounded cache */
    uint64_t pooled_hits; /* cached tokens with <pooled_blocks> blocks */
    double ideal, pooled; /* hit rates */
};

/* Replays <w>'s prompts. <pooled_blocks>: capacity of the pooled cache in blocks of
 * <block_size> tokens. Returns 0 or < 0. */
int kv_oracle_run(const struct kv_workload *w, uint32_t block_size, uint64_t pooled_blocks,
                  struct kv_oracle_result *out);

#endif /* KV_BENCH_ORACLE_H */
