/* SPDX-License-Identifier: MIT */
/* src/sim/api.h - kvsim's OpenAI-compatible HTTP API (vLLM v0.10.0 shapes) over the engine.
 *
 * Routes: POST /v1/completions, POST /v1/chat/completions (streaming or not), GET /v1/models,
 * GET /health, GET|POST /ping, GET /version, GET /metrics. A request is parsed (src/openai),
 * its model checked (404 as vLLM), its prompt tokenized (src/sim/tokenizer.h, chat messages
 * rendered with the Llama 3 template first) and queued in the engine. The engine is stepped by
 * one uv timer: each step's model duration is waited for duration / time_scale of wall time, then
 * its events are turned into SSE chunks or, at the finish, into the whole JSON response. No
 * timer runs while the engine is idle; a new request starts a step at once.
 *
 * Clock: model time, in seconds, is wall time since start times time_scale, but never behind the
 * end of the last step, so step durations are exact in model time whatever the timer's
 * granularity. Every latency in /metrics is model time (equal to wall time at time_scale 1).
 *
 * A client that disconnects before its response ended aborts its engine request (blocks freed,
 * kept cached). kv_api_shutdown() stops accepting, lets in-flight requests finish and then
 * calls back. Ownership: the api owns the engine, the HTTP server and per-request state; config
 * strings are copied.
 */
#ifndef KV_SIM_API_H
#define KV_SIM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sim/engine.h"

struct kv_api;

struct kv_api_config {
    const char *host;
    int port;                  /* 0: ephemeral */
    const char *model;         /* --model: reported as "root" in /v1/models */
    const char *const *served; /* served model names (>= 1); the first is the default */
    size_t n_served;
    double time_scale;         /* model seconds per wall second (>= 1e-3) */
    bool enable_prompt_tokens_details;
    uint64_t seed;             /* default generation seed (request "seed" overrides) */
    size_t max_body_bytes;     /* 0: the HTTP server's default */
    const char *cache_labels;  /* vllm:cache_config_info labels, rendered (see vllmmetrics.h) */
    struct kv_engine_config engine;
};

/* Builds the engine and starts listening. Returns 0 and sets *<out>, or < 0 (bad engine config:
 * -EINVAL; bind failure: UV_E*). */
int kv_api_new(uv_loop_t *loop, const struct kv_api_config *c, struct kv_api **out);
/* The bound port. */
int kv_api_port(const struct kv_api *a);
/* Stops accepting and finishes in-flight requests; <done> fires once on the loop after every
 * connection is gone and the api's own handles are closed. Then kv_api_free() may be called. */
void kv_api_shutdown(struct kv_api *a, void (*done)(void *data), void *data);
/* Frees an api whose shutdown completed. NULL is a no-op. */
void kv_api_free(struct kv_api *a);

#endif /* KV_SIM_API_H */
