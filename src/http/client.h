/* SPDX-License-Identifier: MIT */
/* src/http/client.h - HTTP/1.1 client with pooled keep-alive connections, on libuv + http-parser.
 *
 * A kv_http_pool holds idle keep-alive connections to one origin (host:port, numeric address or
 * a name resolved with uv_getaddrinfo). kv_http_call_start() takes an idle connection or opens a
 * new one, writes the request, and reports the response through callbacks: on_head once
 * (status and headers), on_body for each piece of the decoded body (chunked framing removed) as
 * it arrives, then on_done exactly once with 0 or a negative error. A connection returns to the
 * pool only when its response ended cleanly and both sides allow keep-alive.
 *
 * Timeouts: connect (until the TCP connection is up) and response (from the request's write until
 * the response head; and then between body reads: idle). A stale pooled connection that fails
 * before any response byte is retried once on a fresh connection, transparently.
 *
 * Back-pressure: kv_http_call_pause() stops reading the socket (uv_read_stop), resume restarts it.
 * kv_http_call_cancel() ends a call early: on_done fires with UV_ECANCELED (always from a later
 * loop turn, so it is safe inside any callback), and the connection is closed, not pooled.
 *
 * All data passed to callbacks (headers, body pieces) is valid only during the callback.
 *
 * Parsing: http-parser, except that a plain response head whole in one read (HTTP/1.1, final
 * status, one Content-Length, token names, ASCII values, no Connection/Transfer-Encoding/
 * Upgrade) is split directly and its body counted off, with the same callbacks and bytes.
 *
 * Cost: one allocation per call (the call object, which holds the formatted request head and
 * the body copy, or only the head when the body is lent); a connection's read buffer, header
 * storage and parser are reused from one response to the next. Head and body go out in one
 * writev (uv_try_write, then uv_write for a remainder). Idle connections keep reading so a
 * peer's close is noticed at once; they are active handles, so uv_run(UV_RUN_DEFAULT) returns
 * only after kv_http_pool_close(). Writes to a peer that closed raise SIGPIPE: the program must
 * ignore it (signal(SIGPIPE, SIG_IGN)).
 */
#ifndef KV_HTTP_CLIENT_H
#define KV_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http/server.h" /* struct kv_http_header */

struct kv_http_pool;
struct kv_http_call;

struct kv_http_pool_config {
    /* "127.0.0.1", "::1", "[::1]" or a DNS name (its first address is used; looked up again
     * after 10 s or after a failed connect) */
    const char *host;
    int port;
    unsigned max_idle;            /* idle connections kept; 0 = 32 */
    unsigned connect_timeout_ms;  /* 0 = 2000 */
    unsigned response_timeout_ms; /* until the head, then between reads; 0 = 300000 */
    size_t max_header_bytes;      /* response head cap; 0 = 64 KiB */
    /* Numeric local address to connect from (e.g. "127.3.0.7", so that a load generator looks
     * like many clients to client-IP affinity); NULL = chosen by the kernel. */
    const char *bind_host;
};

struct kv_http_call_cbs {
    /* Response head. Returning non-zero cancels the call (on_done gets UV_ECANCELED). */
    int (*on_head)(struct kv_http_call *call, int status, const struct kv_http_header *headers,
                   size_t count, void *data);
    /* A piece of the body. Returning non-zero cancels the call. */
    int (*on_body)(struct kv_http_call *call, const char *buf, size_t len, void *data);
    /* Always fired once: 0 after a complete response, else < 0 (UV_ECONNREFUSED, KV_ETIMEOUT,
     * KV_EPROTO, KV_EEOF for a response cut short, UV_ECANCELED, ...). The call object is freed
     * right after on_done returns. */
    void (*on_done)(struct kv_http_call *call, int status, void *data);
};

/* Creates a pool (config strings copied). Returns 0, or UV_EINVAL for a missing host, a port
 * outside 1..65535 or a host with CR/LF/space/'/'. */
int kv_http_pool_new(uv_loop_t *loop, const struct kv_http_pool_config *cfg,
                     struct kv_http_pool **out);
/* Closes idle connections; cancels calls in flight (each gets on_done(UV_ECANCELED) on a later
 * loop turn); the pool's memory is released once every handle has closed, so a loop with nothing
 * else on it then ends and uv_loop_close() succeeds. May be called from any callback, including
 * on_head/on_body/on_done. The pool must not be used after. NULL is a no-op. */
void kv_http_pool_close(struct kv_http_pool *pool);
/* Number of idle and busy connections (busy: connecting or carrying a call). */
unsigned kv_http_pool_idle(const struct kv_http_pool *pool);
unsigned kv_http_pool_busy(const struct kv_http_pool *pool);
/* Number of calls retried on a fresh connection because a pooled one had died (for metrics). */
uint64_t kv_http_pool_retries(const struct kv_http_pool *pool);

/* Starts a request. <headers>: NULL-terminated name/value pairs (may be NULL); Host and
 * Content-Length (when <body> is non-NULL or the method is POST/PUT/PATCH) are added by the
 * client, so do not pass them; HTTP/1.1 keep-alive is implied (no Connection header sent).
 * <body> is copied. Callbacks never fire before this returns. Returns 0 and sets *<out> (may be
 * NULL), or < 0 without calling any callback: UV_EINVAL for a NULL argument, on_done missing,
 * CR/LF in the method, path or a header, or a space in the method or path; UV_ECANCELED after
 * kv_http_pool_close(); a connect or lookup error from libuv. The call handle is valid until
 * its on_done returns. */
int kv_http_call_start(struct kv_http_pool *pool, const char *method, const char *path,
                       const char *const *headers, const char *body, size_t len,
                       const struct kv_http_call_cbs *cbs, void *data, struct kv_http_call **out);
/* Same as kv_http_call_start(), but <body> is lent, not copied: it must stay valid and
 * unchanged until on_head or on_done fires, whichever comes first (a proxy forwarding the
 * body of a request it answers only after the response head). What a partial write leaves
 * unsent is copied then, so nothing refers to <body> after that point. Saves a copy and a
 * body-sized allocation per call. */
int kv_http_call_start_lent(struct kv_http_pool *pool, const char *method, const char *path,
                            const char *const *headers, const char *body, size_t len,
                            const struct kv_http_call_cbs *cbs, void *data,
                            struct kv_http_call **out);
/* Stops delivering body (the socket is not read, the response timeout is suspended) until
 * resume. Bytes already read stay queued. Safe from inside on_head/on_body (no further on_body
 * for this read). No-op after on_done or when already paused. */
void kv_http_call_pause(struct kv_http_call *call);
/* Undoes pause. Queued bytes are delivered from a later loop turn (never from inside this call,
 * unless called from the call's own on_head/on_body). No-op when not paused. */
void kv_http_call_resume(struct kv_http_call *call);
/* Ends the call: its connection is closed (not pooled), no further on_head/on_body fire, and
 * on_done(UV_ECANCELED) fires on a later loop turn, never inside this function. Safe from any
 * callback, including the call's own on_head/on_body; a no-op after on_done has begun. */
void kv_http_call_cancel(struct kv_http_call *call);
/* Monotonic ns of the first response byte, 0 if none yet. */
uint64_t kv_http_call_first_byte_ns(const struct kv_http_call *call);

#endif /* KV_HTTP_CLIENT_H */
