/* SPDX-License-Identifier: MIT */
/* src/http/internal.h - cross-file internals of the http module.
 *
 * The socketless server connection: the fuzz driver (tests/fuzz/fuzz_http.c) and the unit tests
 * drive the server's request parser, router and response writer without a loop or a socket.
 * A "detached" server has routes and limits but no listener; a fake connection on it behaves
 * like an accepted one except that its output is appended to a caller's kv_buf, timers never
 * run (kv__server_conn_expire() plays the timer), and writes complete at once (so
 * kv_http_req_pending() is always 0 and on_drain never fires). Handlers may answer inside the
 * handler callback or later, between feeds, exactly as on a real connection.
 */
#ifndef KV_HTTP_INTERNAL_H
#define KV_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/server.h"

struct kv__server_conn;

/* Creates a server without loop or listener (for fake connections only); strings copied.
 * Returns 0 and sets *<out>; free it with kv_http_server_free() after its fake connections. */
int kv__server_new_detached(const struct kv_http_server_config *cfg, struct kv_http_server **out);
/* A connection on <srv> whose output is appended to <out> (borrowed; kept until
 * kv__server_conn_fake_free). Never NULL. */
struct kv__server_conn *kv__server_conn_fake(struct kv_http_server *srv, struct kv_buf *out);
/* Feeds received bytes. Returns how many were taken (fewer than <len> only when the connection
 * waits on a pending response and its 64 KiB input stash is full: a real socket would stop
 * reading then). Bytes after the connection finished (see below) are taken and dropped. */
size_t kv__server_conn_feed(struct kv__server_conn *c, const void *data, size_t len);
/* True once the connection takes no more requests (error sent, Connection: close, closed). */
bool kv__server_conn_finished(const struct kv__server_conn *c);
/* Acts as if the connection's current deadline passed (408 on a partial request, close when
 * idle); nothing if it has none (a request being handled). */
void kv__server_conn_expire(struct kv__server_conn *c);
/* Turns the fast path for plain requests on (the default) or off, so that tests can compare
 * it with http-parser's handling of the same bytes. */
void kv__server_set_fast_path(struct kv_http_server *srv, bool on);
/* Requests the fast path took so far. */
uint64_t kv__server_fast_requests(const struct kv_http_server *srv);
/* Frees the connection; a request still being handled gets its on_close first. NULL: no-op. */
void kv__server_conn_fake_free(struct kv__server_conn *c);

/* ---- client.c ---- */

struct kv_http_pool;
/* Turns the client's fast path for plain responses on (the default) or off, for tests that
 * compare it with http-parser on the same bytes. */
void kv__client_set_fast_path(struct kv_http_pool *pool, bool on);
/* Responses the fast path took so far. */
uint64_t kv__client_fast_responses(const struct kv_http_pool *pool);

/* ---- h1scan.c: plain header lines, for the fast paths of server.c and client.c ---- */

struct kv__h1scan_field {
    size_t name, name_len, value, value_len; /* offsets into the scanned bytes */
};

/* Scans the header line at d[off, len): a token name, ':', optional blanks, a value of
 * visible ASCII, SP and HTAB (trailing blanks kept, as http-parser hands them over), CRLF.
 * Returns the offset after the CRLF and fills <f>, or 0 when the line is not of that plain
 * form (then http-parser must judge it). */
size_t kv__h1scan_header(const char *d, size_t off, size_t len, struct kv__h1scan_field *f);
/* Scans the header lines from d[off] up to the empty line that ends the head, in d[0, len):
 * fills f[0, *n), at most <max> of them. Returns the offset after the empty line, or 0 when a
 * line is not plain, there are more than <max>, or the head does not end within <len>. */
size_t kv__h1scan_fields(const char *d, size_t off, size_t len, struct kv__h1scan_field *f,
                         unsigned max, unsigned *n);
/* Whether the <n> bytes at <s> equal <lower> (<ln> bytes, lower case) ignoring ASCII case. */
bool kv__h1scan_name_is(const char *s, size_t n, const char *lower, size_t ln);
#define KV__H1SCAN_NAME_IS(s, n, lit) kv__h1scan_name_is(s, n, lit, sizeof(lit) - 1)
/* The headers the fast paths care about (the ones that set framing or connection use). */
enum kv__h1scan_kind {
    KV__H1SCAN_OTHER = 0,
    KV__H1SCAN_CONTENT_LENGTH,
    KV__H1SCAN_TRANSFER_ENCODING,
    KV__H1SCAN_CONNECTION, /* Connection or Proxy-Connection */
    KV__H1SCAN_UPGRADE,
    KV__H1SCAN_EXPECT,
};
/* Which of those the name of <n> bytes at <name> is (any case); one comparison at most. */
enum kv__h1scan_kind kv__h1scan_kind(const char *name, size_t n);
/* A Content-Length value (trailing blanks allowed): 1 to 15 digits. False otherwise. */
bool kv__h1scan_clen(const char *v, size_t n, uint64_t *out);

#endif /* KV_HTTP_INTERNAL_H */
