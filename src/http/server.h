/* SPDX-License-Identifier: MIT */
/* src/http/server.h - HTTP/1.1 server on libuv + http-parser, shared by kvsim, kvroute, kvbench.
 *
 * One kv_http_server listens on one address and owns its connections. Each connection parses
 * requests with http-parser; a request's headers are capped (431) and so is its body (413); a
 * connection that does not finish its headers in time, or sits idle between keep-alive requests
 * too long, is answered 408 (or just closed when idle with nothing received). Malformed HTTP gets
 * 400 and the connection is closed. When a request is complete (headers and whole body
 * buffered), the route table is searched by exact path: no match is 404, a path with other
 * methods only is 405 (with Allow). Requests on one connection are answered in order; a
 * pipelined request waits until the previous response is finished.
 *
 * The handler answers either at once (kv_http_respond) or later and/or streamed
 * (kv_http_stream_begin / _write / _end), from any callback on the same loop. The request
 * object stays valid until its response is ended or until its on_close callback has fired,
 * whichever is first: after kv_http_stream_end()/kv_http_respond() returns, or inside/after
 * on_close, the handler must not touch the request again.
 *
 * Back-pressure: kv_http_stream_write() queues bytes; kv_http_req_pending() says how many are
 * not yet written to the socket; above the caller's own high-water mark it should stop producing
 * and wait for on_drain (fired when the queue falls under KV_HTTP_LOW_WATER after having reached
 * it, so the caller's high-water mark must be >= KV_HTTP_LOW_WATER). A client that reads nothing
 * for idle_timeout_ms while output is queued is dropped (on_close). While a request is handled,
 * the connection reads at most 64 KiB ahead (pipelined requests wait there, unparsed), so one
 * client never makes the server buffer without bound.
 *
 * Client gone: EOF or a read error while a request is handled, a failed write, or a stalled
 * output close the connection; if the response has not ended, on_close fires, always from a
 * loop callback, never from inside a kv_http_* call the handler made. A client that half-closes
 * (shutdown(SHUT_WR)) after its request is treated as gone, as nginx does. A kv_http_* call
 * that returns < 0 leaves the request valid: the handler may end it (kv_http_stream_end/_abort,
 * then on_close does not fire) or wait for on_close.
 *
 * Responses: "HTTP/1.1", then Server (if configured), Date, Content-Type (if given), the
 * handler's headers, Content-Length or Transfer-Encoding: chunked, and Connection: close when
 * the connection will close (Connection: keep-alive to an HTTP/1.0 keep-alive client). HEAD is
 * routed to the GET handler when no HEAD route exists; the body is then left out. 1xx, 204 and
 * 304 carry no body. HTTP/1.0 clients get streamed bodies delimited by the connection's end.
 * Errors the server itself answers (400, 404, 405, 408, 413, 431) have OpenAI-style JSON bodies:
 * {"object":"error","message":"...","type":"NotFoundError","param":null,"code":404}.
 * 404 and 405 keep the connection; 400, 408, 413 and 431 close it (after the response is
 * written, the server drops the client's remaining input for up to 2 s so it can read it).
 *
 * Shutdown: kv_http_server_shutdown() stops accepting, closes idle connections, lets each
 * in-flight request finish (its connection closes after the response), and fires its callback
 * when no connection remains; the server may then be freed with kv_http_server_free(). A
 * handler that never ends its request holds the shutdown up: it must end or abort its requests.
 *
 * Cost: one allocation per connection; none per request in steady state (the request, its
 * head, body and output buffers belong to the connection and are reused). Single-threaded: all
 * calls on the loop's thread. The process must ignore SIGPIPE.
 */
#ifndef KV_HTTP_SERVER_H
#define KV_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define KV_HTTP_LOW_WATER (64 * 1024)
#define KV_HTTP_MAX_IOV 8 /* pieces per kv_http_stream_writev() */

struct kv_http_server;
struct kv_http_req;

struct kv_http_header {
    const char *name;  /* lower-cased */
    const char *value; /* trimmed */
};

struct kv_http_server_config {
    const char *host;           /* e.g. "127.0.0.1", "0.0.0.0", "::" */
    int port;                   /* 0 picks an ephemeral port (see kv_http_server_port) */
    size_t max_header_bytes;    /* request line + headers; over it: 431. 0 = 16 KiB */
    size_t max_body_bytes;      /* over it: 413. 0 = 8 MiB */
    unsigned header_timeout_ms; /* to receive a whole request head; 408. 0 = 10 s */
    unsigned idle_timeout_ms;   /* between keep-alive requests, and body inactivity. 0 = 60 s */
    const char *server_name;    /* value of the Server header; NULL = none */
};

/* Handler for a complete request. <data> is what kv_http_server_route() was given. */
typedef void (*kv_http_handler_cb)(struct kv_http_req *req, void *data);
/* Fired once when the client goes away (or the server drops the connection) before the
 * response has ended; the request is freed right after it returns. */
typedef void (*kv_http_close_cb)(struct kv_http_req *req, void *data);
/* Fired when the pending output of a streamed response drops below KV_HTTP_LOW_WATER. */
typedef void (*kv_http_drain_cb)(struct kv_http_req *req, void *data);
typedef void (*kv_http_shutdown_cb)(struct kv_http_server *srv, void *data);

/* Creates a server on <loop>, bound and listening per <cfg> (strings copied; host NULL means
 * "127.0.0.1"). Returns 0 and sets *<out>, or a negative error (-errno / UV_E*, e.g.
 * UV_EADDRINUSE) with nothing allocated. */
int kv_http_server_new(uv_loop_t *loop, const struct kv_http_server_config *cfg,
                       struct kv_http_server **out);
/* The port actually bound (useful with port 0). */
int kv_http_server_port(const struct kv_http_server *srv);
/* Adds a route: exact <path> (no query string), <method> ("GET", "POST", ...). Strings copied. */
void kv_http_server_route(struct kv_http_server *srv, const char *method, const char *path,
                          kv_http_handler_cb cb, void *data);
/* Number of open connections and of requests being handled (for metrics and tests). */
unsigned kv_http_server_connections(const struct kv_http_server *srv);
unsigned kv_http_server_inflight(const struct kv_http_server *srv);
/* Begins a graceful shutdown (see above); <cb> fires once, on the loop, when it is complete. */
void kv_http_server_shutdown(struct kv_http_server *srv, kv_http_shutdown_cb cb, void *data);
/* Frees a server whose shutdown completed, or one that has no connection (e.g. never ran the
 * loop): then its listener is closed first and the memory released in the close callback, so
 * run the loop once more before uv_loop_close(). NULL is a no-op. */
void kv_http_server_free(struct kv_http_server *srv);

/* Request accessors; strings are NUL-terminated and live as long as the request. The path is
 * not percent-decoded; an absolute-form target ("http://h/p?q") yields path "/p", query "q". */
const char *kv_http_req_method(const struct kv_http_req *req);
const char *kv_http_req_path(const struct kv_http_req *req);  /* without the query */
const char *kv_http_req_query(const struct kv_http_req *req); /* after '?', or "" */
const char *kv_http_req_body(const struct kv_http_req *req, size_t *len); /* NUL-terminated */
/* Value of header <name> (case-insensitive), first occurrence, or NULL. */
const char *kv_http_req_header(const struct kv_http_req *req, const char *name);
const struct kv_http_header *kv_http_req_headers(const struct kv_http_req *req, size_t *count);
/* Peer address as text ("127.0.0.1"), without port. */
const char *kv_http_req_peer(const struct kv_http_req *req);
/* Monotonic ns when the request head started to arrive. */
uint64_t kv_http_req_start_ns(const struct kv_http_req *req);
/* Registers callbacks for client abort and for output drain; either may be NULL. */
void kv_http_req_set_callbacks(struct kv_http_req *req, kv_http_close_cb on_close,
                               kv_http_drain_cb on_drain, void *data);

/* Sends a whole response: status, extra headers (NULL-terminated name/value pairs in <headers>,
 * may be NULL), and a body with Content-Length. <body> is borrowed for the call (what the socket
 * does not take at once is copied). Ends the request. Returns 0 or < 0 (the client is gone; the
 * request is ended all the same); -EINVAL if the request was already answered. */
int kv_http_respond(struct kv_http_req *req, int status, const char *content_type,
                    const char *const *headers, const char *body, size_t len);
/* Starts a streamed response (Transfer-Encoding: chunked). <headers> as above. */
int kv_http_stream_begin(struct kv_http_req *req, int status, const char *content_type,
                         const char *const *headers);
/* Queues <len> bytes as one chunk (copied; len 0 sends nothing). Returns 0 or < 0 if the
 * client is gone (see "Client gone" above). */
int kv_http_stream_write(struct kv_http_req *req, const void *data, size_t len);
/* Queues the <n> pieces of <bufs> (n <= KV_HTTP_MAX_IOV) as one chunk: for a framed event
 * ("data: ", json, "\n\n") without joining it first. Bytes copied only if the socket does not
 * take them at once. Returns as kv_http_stream_write(); -EINVAL if n is too large. */
int kv_http_stream_writev(struct kv_http_req *req, const uv_buf_t *bufs, unsigned n);
/* Bytes queued but not yet written to the socket. */
size_t kv_http_req_pending(const struct kv_http_req *req);
/* Writes the last chunk and ends the request. */
int kv_http_stream_end(struct kv_http_req *req);
/* Ends the request by closing the connection without a proper end (for a response that broke
 * mid-stream, so the client sees the truncation). */
void kv_http_stream_abort(struct kv_http_req *req);

/* Reason phrase for <status> ("Not Found"), or "Unknown". */
const char *kv_http_reason(int status);

#endif /* KV_HTTP_SERVER_H */
