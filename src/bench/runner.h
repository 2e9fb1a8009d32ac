/* SPDX-License-Identifier: MIT */
/* src/bench/runner.h - sends a workload to one OpenAI-compatible endpoint and measures it.
 *
 * The runner owns one libuv loop run: every session's first request is sent at its arrival time;
 * each later request of a session is sent its think time after the previous one completed
 * (closed loop within a session, open loop across sessions). Streaming responses are read as
 * server-sent events: time to first token is the first event that carries generated text,
 * inter-token latency the gaps between such events, and output tokens come from the final usage
 * chunk. Each session sends its id in a header, and may send from its own loopback address
 * (127.0.0.0/8) so that client-IP affinity sees a real fleet of clients.
 *
 * Times are measured in wall time and reported multiplied by <time_scale>, so that against
 * simulators running N times faster than model time the report reads in model time; the
 * workload's arrival and think times are model time too, divided by <time_scale> on the wall.
 */
#ifndef KV_BENCH_RUNNER_H
#define KV_BENCH_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/stats.h"
#include "bench/workload.h"

struct kv_runner_config {
    const char *host;           /* target address, numeric */
    int port;
    const char *model;          /* "model" of every request */
    bool stream;                /* streaming requests (needed for TTFT) */
    double time_scale;          /* reported times = wall times x this */
    double max_duration_s;      /* wall-time bound on the run: then in-flight calls are cancelled */
    const char *session_header; /* header carrying the session id, NULL = none */
    bool source_ips;            /* bind each session to its own 127.x.y.z */
    bool progress;              /* progress line on stderr */
    unsigned timeout_ms;        /* per-request response timeout */
};

struct kv_runner_result {
    uint64_t sent, ok, errors, cancelled;
    uint64_t output_tokens, prompt_tokens, cached_tokens; /* from usage, when reported */
    double wall_s;                    /* run duration, wall time */
    struct kv_stats ttft, itl, e2e;   /* seconds, scaled */
};

void kv_runner_result_init(struct kv_runner_result *r);
void kv_runner_result_cleanup(struct kv_runner_result *r);
/* Runs <w> against the target on a private loop; returns 0 (even if some requests failed: they
 * are counted in <res>) or < 0 if the run could not start. */
int kv_runner_run(const struct kv_workload *w, const struct kv_runner_config *cfg,
                  struct kv_runner_result *res);

/* SSE scanning, exported for tests: feeds <len> bytes of an event stream; for every complete
 * "data:" event, reports whether it carries generated text and the usage it holds. */
struct kv_runner_sse {
    char line[8192];
    size_t len;
    bool overflow;
    uint64_t text_events, completion_tokens, prompt_tokens, cached_tokens;
    bool done;
};
/* Returns the number of events carrying text in this piece. */
unsigned kv_runner_sse_feed(struct kv_runner_sse *s, const char *buf, size_t len);

#endif /* KV_BENCH_RUNNER_H */
