/* SPDX-License-Identifier: MIT */
/* src/bench/workload.h - reproducible prefix-sharing workloads for kvbench.
 *
 * A workload is a flat list of requests grouped in sessions. Each request is a list of messages
 * (role + content); each content is a list of segments, and a segment is <bytes> bytes of text
 * generated deterministically from a 64-bit block id. Equal ids give equal text, so the sharing
 * structure of a workload (a common system prompt, a conversation's growing history, a trace's
 * hash ids) becomes the same sharing of prompt text on the wire, and the cache hit rate a server
 * can reach is fixed by the workload, not by chance. Text is rendered only when a request is
 * sent (kv_workload_render_*), so a trace of 100k requests of 50 KB each costs its segment table,
 * not its bytes.
 *
 * Timing: requests of one session are sent in order; request k > 0 of a session is sent
 * <think_s> after request k-1 completed (closed loop within a session). The first request of a
 * session is sent at <arrival_s> after the start (open loop across sessions). A workload with
 * one request per session and Poisson arrival times is a pure open-loop load.
 *
 * Ownership: the workload owns every array; requests, messages and segments refer to each other
 * by index, so the arrays can grow while the workload is built.
 */
#ifndef KV_BENCH_WORKLOAD_H
#define KV_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum kv_workload_role {
    KV_ROLE_SYSTEM = 0,
    KV_ROLE_USER,
    KV_ROLE_ASSISTANT
};

struct kv_workload_seg {
    uint64_t block; /* text id: equal ids render equal text */
    uint32_t bytes; /* length of the rendered text */
};

struct kv_workload_msg {
    enum kv_workload_role role;
    uint32_t seg_first; /* index into segs */
    uint32_t seg_count;
};

struct kv_workload_req {
    uint32_t session;   /* session index */
    uint32_t turn;      /* position within its session */
    double arrival_s;   /* first request of a session: send time from start */
    double think_s;     /* later requests: delay after the previous one completed */
    uint32_t max_tokens;
    uint32_t msg_first; /* index into msgs */
    uint32_t msg_count;
    uint64_t prompt_bytes;
};

struct kv_workload {
    bool chat; /* send as /v1/chat/completions (messages) or /v1/completions (one prompt) */
    struct kv_workload_req *reqs;
    size_t n_reqs, cap_reqs;
    struct kv_workload_msg *msgs;
    size_t n_msgs, cap_msgs;
    struct kv_workload_seg *segs;
    size_t n_segs, cap_segs;
    uint32_t n_sessions;
    uint64_t seed;
    char name[64];
};

/* Parameters of the `chat` workload: <users> conversations of <turns> turns. Every prompt starts
 * with a system prompt of <system_tokens>, shared by all users (groups = 1) or by users in
 * <groups> groups; user turns and answers have the given token lengths (4 bytes a token);
 * turn n+1 carries the whole history, so its prompt extends turn n's. Session starts are spread
 * over <ramp_s> (uniformly at random); think time between turns is exponential with mean
 * <think_s>. */
struct kv_workload_chat_params {
    uint32_t users, turns, groups;
    uint32_t system_tokens, user_tokens, answer_tokens;
    double think_s, ramp_s;
    uint64_t seed;
};

/* Parameters of `shared-prefix`: <groups> x <prompts>: each group shares a prefix of
 * <prefix_tokens>, each prompt adds a question of <question_tokens>. Requests arrive as a
 * Poisson process at <rate> per second (0 = all at once), in random order, one per session. */
struct kv_workload_shared_params {
    uint32_t groups, prompts;
    uint32_t prefix_tokens, question_tokens, output_tokens;
    double rate;
    uint64_t seed;
};

/* Bytes of rendered text per token: our simulators' tokenizers average 4 bytes a token. */
#define KV_WORKLOAD_BYTES_PER_TOKEN 4

void kv_workload_init(struct kv_workload *w, const char *name, bool chat, uint64_t seed);
void kv_workload_cleanup(struct kv_workload *w);
/* Builders, used by the generators and the trace readers. Each returns the new item's index. */
uint32_t kv_workload_add_req(struct kv_workload *w, uint32_t session, double arrival_s,
                             double think_s, uint32_t max_tokens);
uint32_t kv_workload_add_msg(struct kv_workload *w, enum kv_workload_role role);
void kv_workload_add_seg(struct kv_workload *w, uint64_t block, uint32_t bytes);

void kv_workload_chat(struct kv_workload *w, const struct kv_workload_chat_params *p);
void kv_workload_shared_prefix(struct kv_workload *w, const struct kv_workload_shared_params *p);

/* Appends the text of segment <s> (deterministic in s->block and s->bytes: text of a longer
 * segment with the same block starts with the text of a shorter one). Returns 0 or KV_ETOOBIG. */
int kv_workload_render_seg(const struct kv_workload_seg *s, struct kv_buf *out);
/* Appends the content text of message <m>. */
int kv_workload_render_msg(const struct kv_workload *w, const struct kv_workload_msg *m,
                           struct kv_buf *out);
/* Appends the JSON request body of request <r>: chat messages or a completion prompt (the
 * messages' contents concatenated), with "model", "max_tokens", "ignore_eos": true,
 * "temperature": 0 and, when <stream>, "stream": true with usage. */
int kv_workload_render_body(const struct kv_workload *w, const struct kv_workload_req *r,
                            const char *model, bool stream, struct kv_buf *out);

#endif /* KV_BENCH_WORKLOAD_H */
