/* SPDX-License-Identifier: MIT */
/* src/sim/engine.h - continuous batching as vLLM v1 (v0.10.0) schedules it, on a simulated clock.
 *
 * The engine mirrors vllm/v1/core/sched/scheduler.py and kv_cache_manager.py for one KV cache
 * group of full attention, FCFS policy, no speculative decoding:
 *  - A step first serves RUNNING requests in admission order: each gets num_tokens -
 *    num_computed (1 for a decode, the rest of the prompt for a chunked prefill) capped by the
 *    token budget (max_num_batched_tokens). When its blocks cannot be allocated, the most
 *    recently admitted running request (the list's tail) is preempted: its blocks are freed in
 *    reverse order (they stay cached in the pool), num_computed drops to 0 and it goes to the
 *    FRONT of the waiting queue; if the tail is the request itself, the running pass stops.
 *  - Only if nothing was preempted in this step, WAITING requests are admitted FCFS while
 *    running < max_num_seqs and budget remains: the prefix cache is queried (counted in the
 *    pool's stats every time, see blockpool.h), then the request gets min(uncached tokens,
 *    budget) tokens; if its blocks cannot be allocated the pass stops (head-of-line blocking).
 *    With chunked prefill off, a request whose uncached tokens exceed the remaining budget is
 *    set aside and the next one is tried (vLLM's skipped_waiting_requests); set-aside requests
 *    return to the queue front in reverse order of setting aside, exactly as vLLM's deque does.
 *  - Blocks are allocated for num_computed + new tokens when scheduled, and full blocks get
 *    their hash (become hittable) at that moment, before the step runs, as vLLM does.
 *  - A request samples a token when a step brings num_computed up to num_tokens (end of
 *    prefill, each decode, end of a recompute after preemption). It finishes with "length" when
 *    it has max_tokens output tokens or num_tokens reaches max_model_len. EOS is never sampled:
 *    every request generates exactly max_tokens (as with ignore_eos), the simplest faithful
 *    choice for a simulator without a model; finish_reason is "length".
 *
 * Time: kv_engine_schedule(now) picks the batch and returns the step's duration in model ms:
 *     step_base_ms + prefill_ms_per_token * prefill_tokens + decode_ms_per_seq * decode_seqs
 *     + ctx_ms_per_ktoken * context_tokens / 1000
 * where context_tokens sums num_computed + new tokens of every scheduled request (attention
 * reads). Default coefficients model Llama-3.2-1B in bf16 on one H100 SXM:
 *     step_base_ms 3.0 - per-step fixed cost: scheduling, input preparation, kernel launches and
 *         sampling; vLLM decode steps of small models are CPU bound at 2-4 ms.
 *     prefill_ms_per_token 0.01 - 2 * 1.24e9 FLOP a token at ~25% of 989 TFLOP/s dense bf16
 *         = 100k tokens/s, what vLLM reaches on prefill-heavy runs of 1B models.
 *     decode_ms_per_seq 0.02 - per sequence: the lm_head and sampling over 128,256 logits.
 *     ctx_ms_per_ktoken 0.01 - reading 1,000 tokens of KV (32 MiB) at ~3.3 TB/s HBM3.
 * kv_engine_finish_step(end) then applies the step: new tokens, first tokens, finishes. The
 * caller (src/sim/api.c) drives this from a timer; tests drive it by hand.
 *
 * Ownership: the engine owns requests. A handle from kv_engine_add() stays valid until the
 * request's finish event has been returned or kv_engine_abort() is called on it. Event arrays
 * are the engine's and valid until the next call that changes the engine.
 */
#ifndef KV_SIM_ENGINE_H
#define KV_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/blockpool.h"
#include "sim/kvhash.h"

struct kv_engine;
struct kv_engine_req;

enum kv_engine_finish {
    KV_ENGINE_RUNNING = 0,
    KV_ENGINE_FINISH_LENGTH,
    KV_ENGINE_FINISH_STOP,
    KV_ENGINE_FINISH_ABORT
};

struct kv_engine_config {
    uint32_t num_blocks;             /* pool size, null block included */
    uint32_t block_size;             /* tokens a block (16) */
    uint32_t max_num_seqs;           /* running requests at most (1024) */
    uint32_t max_num_batched_tokens; /* token budget a step (8192) */
    uint32_t max_model_len;          /* prompt + output tokens at most */
    bool enable_prefix_caching;
    bool enable_chunked_prefill;
    const struct kv_kvhash *hash; /* borrowed; must outlive the engine */
    double step_base_ms;
    double prefill_ms_per_token;
    double decode_ms_per_seq;
    double ctx_ms_per_ktoken;
};

struct kv_engine_params {
    const uint32_t *prompt; /* copied */
    uint32_t num_prompt;
    uint32_t max_tokens;
    uint64_t seed;          /* output text seed */
    const char *cache_salt; /* copied; NULL = none */
    size_t cache_salt_len;
    double arrival;         /* model seconds */
    void *user;             /* handed back in events */
};

/* What one step did to one request. */
struct kv_engine_event {
    void *user;
    struct kv_engine_req *req; /* dangling after a finish event */
    uint32_t token;            /* the new token, valid if has_token */
    bool has_token;
    bool first_token;
    enum kv_engine_finish finish;
    uint32_t num_prompt;
    uint32_t num_output;
    uint32_t num_cached; /* prefix-cache hit tokens at first scheduling (vLLM num_cached_tokens) */
    uint32_t num_preemptions;
    double arrival;
    double first_scheduled;
    double first_token_time;
    double finish_time;
};

struct kv_engine_stats {
    uint32_t num_running;
    uint32_t num_waiting;
    uint64_t num_preemptions;
    uint64_t steps;
    /* The last scheduled step. */
    uint32_t step_prefill_tokens;
    uint32_t step_decode_seqs;
    uint64_t step_context_tokens;
    double step_ms;
};

/* Fills <c> with vLLM v0.10.0's serving defaults for an H100 (block 16, 1024 seqs, 8192
 * tokens, chunked prefill and prefix caching on) and the timing defaults above; num_blocks,
 * max_model_len and hash are left for the caller (0 / NULL). */
void kv_engine_config_default(struct kv_engine_config *c);
/* Creates an engine. Returns 0 and sets *<out>, or -EINVAL for an inconsistent config (zero
 * sizes, no hash, fewer than 2 blocks, chunked prefill off with a budget < max_model_len). */
int kv_engine_new(const struct kv_engine_config *c, struct kv_engine **out);
/* Frees the engine and every request still in it. NULL is a no-op. */
void kv_engine_free(struct kv_engine *e);

/* Queues a request at the back of the waiting queue. Returns 0 and sets *<out> (borrowed
 * handle), -EINVAL for an empty prompt or max_tokens 0, KV_ETOOLONG when prompt + max_tokens >
 * max_model_len. */
int kv_engine_add(struct kv_engine *e, const struct kv_engine_params *p,
                  struct kv_engine_req **out);
/* Removes a request wherever it is, freeing its blocks (they stay cached); no event follows.
 * The handle is dead after. */
void kv_engine_abort(struct kv_engine *e, struct kv_engine_req *r);

/* True while any request is waiting or running. */
bool kv_engine_has_work(const struct kv_engine *e);
/* Schedules one step at model time <now> (seconds). Returns its duration in model ms, or 0
 * when nothing could be scheduled. Must be followed by kv_engine_finish_step() before the next
 * schedule when it returned > 0. */
double kv_engine_schedule(struct kv_engine *e, double now);
/* Applies the scheduled step at model time <now> (its end). Sets *<events> to an array of
 * *<n> events, one per request that got a token or finished. */
void kv_engine_finish_step(struct kv_engine *e, double now, const struct kv_engine_event **events,
                           size_t *n);

/* Token ids of a request (prompt then output); valid until the next engine call. */
const uint32_t *kv_engine_req_tokens(const struct kv_engine_req *r, uint32_t *num_tokens);
uint32_t kv_engine_req_num_computed(const struct kv_engine_req *r);

void kv_engine_stats(const struct kv_engine *e, struct kv_engine_stats *s);
/* The block pool, read-only: usage, prefix-cache stats, sizes. */
const struct kv_blockpool *kv_engine_pool(const struct kv_engine *e);
const struct kv_engine_config *kv_engine_config(const struct kv_engine *e);

#endif /* KV_SIM_ENGINE_H */
