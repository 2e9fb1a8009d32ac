/* SPDX-License-Identifier: MIT */
/* src/http/server.c - HTTP/1.1 server on libuv + http-parser (see server.h for the contract).
 *
 * One struct kv__server_conn per client, with its uv_tcp_t, uv_timer_t, write and shutdown
 * requests, parser and the one kv_http_req being received or answered embedded: requests on a
 * connection are strictly sequential, so the request costs no allocation, and the per-connection
 * buffers (head, body, input stash, output) are reused across keep-alive requests (trimmed when a
 * big request made them large). The struct is freed only after both handles' close callbacks.
 *
 * Input: libuv reads into one 64 KiB slab owned by the server (reads are parsed synchronously,
 * so one slab serves every connection). While a request is being handled or its response is
 * still being flushed, further input (a pipelined request, or EOF when the client gives up) is
 * copied into the connection's stash, at most 64 KiB; when the stash is full the connection
 * stops reading. The stash is parsed when the response is done. Invariant: the stash is empty
 * whenever the connection is in a parsing state (IDLE, HEAD, BODY).
 *
 * Parsing: http-parser, except for a plain request that is whole in one read (GET/HEAD/POST,
 * origin-form, HTTP/1.1, token names, visible-ASCII values, at most one Content-Length, none
 * of the headers that change framing or the connection): fast_request() splits it into the
 * same head layout the parser callbacks build, at a fraction of http-parser's per-byte cost,
 * and leaves everything else to http-parser untouched (test_fast_path_same_as_parser).
 *
 * Output: uv_try_write() first, with header and body as one writev; what the socket does not
 * take is copied to the outbox. At most one uv_write is in flight (the wbuf, swapped with the
 * outbox), so small chunks written meanwhile coalesce and steady state allocates nothing.
 *
 * Timeouts: one timer per connection, set lazily: the deadline is derived from the state and a
 * few timestamps (deadline()), and the timer is restarted only when the deadline moves earlier
 * than its due time; when it fires early it re-arms for what is left.
 *
 * Closing after the last response (error, Connection: close, shutdown) is graceful: the output
 * is flushed, then FIN (uv_shutdown), then input is read and dropped until EOF or a short
 * linger, so a client still sending (say, a body over the limit) reads our answer instead of
 * losing it to a RST.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/internal.h"

#define SLAB_BYTES (64 * 1024)
#define STASH_MAX (64 * 1024)
#define HEAD_OUT_MAX (64 * 1024)
#define OUT_MAX ((size_t)1 << 30) /* output queued for one client; over it the client is cut */
#define TRIM_BYTES (256 * 1024)   /* buffers grown past this are freed between requests */
#define LINGER_MS 2000
#define BACKLOG 1024

enum kv_server_state {
    KV_SERVER_IDLE = 0, /* waiting for the first byte of a request */
    KV_SERVER_HEAD,     /* request line and headers arriving */
    KV_SERVER_BODY,     /* body arriving */
    KV_SERVER_HANDLING, /* request handed to its handler; response not ended */
    KV_SERVER_FLUSH,    /* response ended, bytes still queued; the next request waits */
    KV_SERVER_LINGER,   /* no more requests: flush, FIN, drop input until EOF or linger */
    KV_SERVER_CLOSED,   /* uv_close() called; freed when both close callbacks ran */
};

enum kv_server_req_state {
    KV_SERVER_REQ_NONE = 0,  /* not dispatched, or ended */
    KV_SERVER_REQ_ACTIVE,    /* dispatched; no response yet */
    KV_SERVER_REQ_STREAMING, /* response head sent; chunks follow */
};

/* Where the parser is inside the request head, to split name/value pieces correctly. */
enum { HS_URL, HS_FIELD, HS_VALUE };

/* How the response body is delimited. */
enum frame { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE, FRAME_NONE };

struct kv_http_req {
    struct kv__server_conn *conn;
    enum kv_server_req_state state;
    const char *method;
    const char *path;
    const char *query;
    struct kv_http_header *headers;
    size_t nheaders;
    uint64_t start_ns;
    kv_http_close_cb on_close;
    kv_http_drain_cb on_drain;
    void *cb_data;
    bool head_only;   /* HEAD: headers as for GET, no body bytes */
    bool chunked;     /* streamed with chunked framing */
    bool no_body;     /* status forbids a body (1xx, 204, 304) */
    bool drain_armed; /* pending output reached KV_HTTP_LOW_WATER since the last on_drain */
};

struct hdr_span {
    uint32_t name, value; /* offsets into conn->head: the head may move while it grows */
};

struct kv__server_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct kv_http_server *srv;
    struct kv__server_conn *prev, *next;
    enum kv_server_state state;
    http_parser parser;
    struct kv_http_req req;
    struct kv_buf head;          /* URL\0 then name\0value\0 per header; max: header cap */
    struct hdr_span *spans;      /* header offsets, nspans used of spans_cap */
    struct kv_http_header *hdrs; /* same capacity; filled when the head is complete */
    size_t nspans, spans_cap;
    size_t trailer_bytes;
    int hstate;
    int err_status;              /* status a parser callback rejected the request with */
    int error;                   /* why the connection closed (0, UV_EOF, UV_EPIPE, ...) */
    int closes_pending;
    struct kv_buf body;
    struct kv_buf stash;         /* input received while a response is pending */
    struct kv_buf head_out;      /* response head being formatted */
    struct kv_buf outbox;        /* output waiting for the write in flight */
    struct kv_buf wbuf;          /* output of the write in flight */
    struct kv_buf *sink;         /* fake connection: output goes here */
    uint64_t t_state, t_read, t_write, timer_due; /* uv_now() ms */
    bool fake, served, keep_alive, http10, writing, reading, in_parse, shut_done, peer_eof;
    bool timer_on;
    char peer[INET6_ADDRSTRLEN];
};

struct route {
    char *method;
    char *path;
    size_t path_len;
    kv_http_handler_cb cb;
    void *data;
};

struct kv_http_server {
    uv_loop_t *loop; /* NULL: detached (fake connections only) */
    uv_tcp_t listener;
    struct kv_http_server_config cfg; /* defaults filled in; strings below */
    char *host;
    char *server_name;
    int port;
    struct route *routes;
    size_t nroutes;
    struct kv__server_conn *conns; /* every accepted connection until released */
    unsigned nconn, ninflight;
    bool listener_closed, shutting_down, shutdown_fired, free_pending;
    bool fast_path; /* plain requests skip http-parser (see fast_request); tests turn it off */
    uint64_t fast_requests;
    kv_http_shutdown_cb on_shutdown;
    void *shutdown_data;
    int64_t date_sec;
    size_t date_len;
    char date[48]; /* "Date: <IMF-fixdate>\r\n" */
    char slab[SLAB_BYTES];
};

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_close(struct kv__server_conn *c, int err);
static void begin_linger(struct kv__server_conn *c);
static void drain_stash(struct kv__server_conn *c);
static void arm_timer(struct kv__server_conn *c);

/* ---- small helpers ---- */

static uint64_t now_ms(const struct kv_http_server *srv)
{
    return srv->loop ? uv_now(srv->loop) : 0;
}

/* Legal transitions, one bit per target state (STYLE §5). */
static void set_state(struct kv__server_conn *c, enum kv_server_state to)
{
    static const unsigned legal[] = {
        [KV_SERVER_IDLE] = 1u << KV_SERVER_HEAD | 1u << KV_SERVER_LINGER | 1u << KV_SERVER_CLOSED,
        [KV_SERVER_HEAD] = 1u << KV_SERVER_BODY | 1u << KV_SERVER_LINGER | 1u << KV_SERVER_CLOSED,
        [KV_SERVER_BODY] =
            1u << KV_SERVER_HANDLING | 1u << KV_SERVER_LINGER | 1u << KV_SERVER_CLOSED,
        [KV_SERVER_HANDLING] = 1u << KV_SERVER_IDLE | 1u << KV_SERVER_FLUSH |
                               1u << KV_SERVER_LINGER | 1u << KV_SERVER_CLOSED,
        [KV_SERVER_FLUSH] = 1u << KV_SERVER_IDLE | 1u << KV_SERVER_LINGER | 1u << KV_SERVER_CLOSED,
        [KV_SERVER_LINGER] = 1u << KV_SERVER_CLOSED,
        [KV_SERVER_CLOSED] = 0,
    };
    assert(legal[c->state] & (1u << to));
    (void)legal; /* NDEBUG builds */
    c->state = to;
}

static bool can_parse(const struct kv__server_conn *c)
{
    return c->state <= KV_SERVER_BODY;
}

static bool is_waiting(const struct kv__server_conn *c)
{
    return c->state == KV_SERVER_HANDLING || c->state == KV_SERVER_FLUSH;
}

/* Empties <b>, and gives its memory back if one big request made it large. */
static void trim(struct kv_buf *b)
{
    if (b->cap > TRIM_BYTES)
        kv_buf_cleanup(b);
    else
        kv_buf_reset(b);
}

static size_t pending(const struct kv__server_conn *c)
{
    return c->outbox.len + c->wbuf.len;
}

const char *kv_http_reason(int status)
{
    const char *s;

    switch (status) {
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    default: break;
    }
    s = (status >= 100 && status <= 599) ? http_status_str((enum http_status)status) : NULL;
    return (s && s[0] != '<') ? s : "Unknown";
}

/* ---- OpenAI-style error bodies ---- */

static const char *error_type(int status)
{
    switch (status) {
    case 400: return "BadRequestError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 408: return "RequestTimeoutError";
    case 413: return "RequestEntityTooLargeError";
    case 431: return "RequestHeaderFieldsTooLargeError";
    default: return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

/* Writes {"object":"error","message":<msg>,"type":<type>,"param":null,"code":<status>} into
 * <out> (cap >= 128): the shape vLLM's OpenAI server gives its errors. <msg> is escaped (bytes
 * >= 0x80 too, so the JSON stays valid whatever a client put in a path) and cut to fit. The
 * general KV_E* -> status/body table belongs to the openai module; the server only needs these.
 * Returns the length. */
static size_t error_body(char *out, size_t cap, int status, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    char tail[96];
    int tn = snprintf(tail, sizeof tail, "\",\"type\":\"%s\",\"param\":null,\"code\":%d}",
                      error_type(status), status);
    size_t n = (size_t)snprintf(out, cap, "{\"object\":\"error\",\"message\":\"");

    for (; *msg && n + 7 + (size_t)tn < cap; msg++) {
        unsigned char ch = (unsigned char)*msg;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[ch >> 4];
            out[n + 5] = hex[ch & 15];
            n += 6;
        } else {
            out[n++] = (char)ch;
        }
    }
    memcpy(out + n, tail, (size_t)tn + 1);
    return n + (size_t)tn;
}

/* ---- output ---- */

static void on_write(uv_write_t *w, int status);

static int start_write(struct kv__server_conn *c)
{
    struct kv_buf t = c->wbuf;
    uv_buf_t b;
    int r;

    c->wbuf = c->outbox;
    c->outbox = t;
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        kv_buf_reset(&c->wbuf);
        conn_close(c, r);
        return r;
    }
    c->writing = true;
    c->t_write = now_ms(c->srv);
    arm_timer(c);
    return 0;
}

static int sink_send(struct kv__server_conn *c, const uv_buf_t *bufs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (kv_buf_append(c->sink, bufs[i].base, bufs[i].len) < 0) {
            conn_close(c, KV_ETOOBIG);
            return KV_ETOOBIG;
        }
    }
    return 0;
}

/* Sends <bufs> in order after what is queued: try_write when nothing is in flight, the rest
 * copied to the outbox. Returns 0, or < 0 when the connection failed (it is then closing). */
static int conn_send(struct kv__server_conn *c, const uv_buf_t *bufs, unsigned n)
{
    size_t done = 0;
    int r;

    if (c->state == KV_SERVER_CLOSED)
        return c->error < 0 ? c->error : UV_EPIPE;
    if (c->fake)
        return sink_send(c, bufs, n);
    if (!c->writing) {
        r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (r < 0 && r != UV_EAGAIN) {
            conn_close(c, r);
            return r;
        }
        done = r > 0 ? (size_t)r : 0;
    }
    for (unsigned i = 0; i < n; i++) {
        if (done >= bufs[i].len) {
            done -= bufs[i].len;
            continue;
        }
        if (kv_buf_append(&c->outbox, bufs[i].base + done, bufs[i].len - done) < 0) {
            conn_close(c, KV_ETOOBIG);
            return KV_ETOOBIG;
        }
        done = 0;
    }
    if (!c->writing && c->outbox.len)
        return start_write(c);
    return 0;
}

/* A response head is gathered as pieces, then copied with one reservation: it is built for
 * every response, and a dozen appends (each checking and terminating the buffer) cost more than
 * the bytes. The pieces must live until head_flush(). */
struct head_w {
    struct kv_buf *b;
    int rc;
    unsigned n;
    size_t total;
    struct {
        const char *s;
        size_t len;
    } p[40];
};

static void head_flush(struct head_w *w)
{
    struct kv_buf *b = w->b;
    char *d;

    if (w->rc == 0 && (w->rc = kv_buf_reserve(b, w->total)) == 0) {
        d = b->data + b->len;
        for (unsigned i = 0; i < w->n; i++) {
            memcpy(d, w->p[i].s, w->p[i].len);
            d += w->p[i].len;
        }
        b->len += w->total;
        b->data[b->len] = '\0';
    }
    w->n = 0;
    w->total = 0;
}

static void put_n(struct head_w *w, const char *s, size_t len)
{
    if (w->n == KV_ARRAY_LEN(w->p))
        head_flush(w);
    w->p[w->n].s = s;
    w->p[w->n].len = len;
    w->n++;
    w->total += len;
}

#define PUT_LIT(w, lit) put_n(w, lit, sizeof(lit) - 1)

static void put_line(struct head_w *w, const char *name, const char *value)
{
    put_n(w, name, strlen(name));
    PUT_LIT(w, ": ");
    put_n(w, value, strlen(value));
    PUT_LIT(w, "\r\n");
}

/* The whole "Date: ...\r\n" line, formatted once a second. */
static const char *date_line(struct kv_http_server *srv, size_t *len)
{
    time_t t = time(NULL);
    struct tm tm;

    if ((int64_t)t != srv->date_sec) {
        srv->date_sec = (int64_t)t;
        gmtime_r(&t, &tm);
        srv->date_len =
            strftime(srv->date, sizeof srv->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    }
    *len = srv->date_len;
    return srv->date;
}

/* Formats the response head into c->head_out. <len> is used with FRAME_LENGTH. Decides here
 * whether the connection stays open: not when the client or a shutdown says otherwise, nor
 * after a close-delimited body. No printf: this runs for every proxied response. */
static int build_head(struct kv__server_conn *c, int status, const char *content_type,
                      const char *const *headers, enum frame frame, size_t len)
{
    struct head_w w = {.b = &c->head_out};
    char code[KV_BUF_U64_MAX], clen[KV_BUF_U64_MAX];
    const char *reason = kv_http_reason(status), *date;
    size_t n;

    if (c->srv->shutting_down || frame == FRAME_CLOSE)
        c->keep_alive = false;
    kv_buf_reset(w.b);
    PUT_LIT(&w, "HTTP/1.1 ");
    if (status < 0)
        PUT_LIT(&w, "-");
    n = kv_buf_fmt_u64(code, status < 0 ? -(uint64_t)status : (uint64_t)status);
    put_n(&w, code, n);
    PUT_LIT(&w, " ");
    put_n(&w, reason, strlen(reason));
    PUT_LIT(&w, "\r\n");
    if (c->srv->server_name)
        put_line(&w, "Server", c->srv->server_name);
    date = date_line(c->srv, &n);
    put_n(&w, date, n);
    if (content_type)
        put_line(&w, "Content-Type", content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        put_line(&w, headers[i], headers[i + 1]);
    if (frame == FRAME_LENGTH) {
        PUT_LIT(&w, "Content-Length: ");
        put_n(&w, clen, kv_buf_fmt_u64(clen, len));
        PUT_LIT(&w, "\r\n");
    } else if (frame == FRAME_CHUNKED) {
        PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
    }
    if (!c->keep_alive)
        PUT_LIT(&w, "Connection: close\r\n");
    else if (c->http10)
        PUT_LIT(&w, "Connection: keep-alive\r\n");
    PUT_LIT(&w, "\r\n");
    head_flush(&w);
    return w.rc;
}

static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

/* An error answer from the server itself, then the connection closes (no request active). */
static void send_error(struct kv__server_conn *c, int status, const char *msg)
{
    char body[512];
    size_t len = error_body(body, sizeof body, status, msg);
    uv_buf_t iov[2];

    c->keep_alive = false;
    if (build_head(c, status, "application/json", NULL, FRAME_LENGTH, len) == 0) {
        iov[0] = uv_buf_init(c->head_out.data, (unsigned)c->head_out.len);
        iov[1] = uv_buf_init(body, (unsigned)len);
        conn_send(c, iov, 2);
    }
    if (c->state != KV_SERVER_CLOSED)
        begin_linger(c);
}

/* ---- connection life cycle ---- */

static void set_reading(struct kv__server_conn *c, bool on);

static void to_idle(struct kv__server_conn *c)
{
    set_state(c, KV_SERVER_IDLE);
    c->served = true;
    c->t_state = now_ms(c->srv);
    arm_timer(c);
    if (!c->in_parse)
        drain_stash(c);
}

/* The current response has ended (and maybe is still being written). */
static void response_done(struct kv__server_conn *c)
{
    if (c->state != KV_SERVER_HANDLING && c->state != KV_SERVER_FLUSH)
        return;
    if (!c->keep_alive || c->srv->shutting_down)
        begin_linger(c);
    else if (!c->writing)
        to_idle(c);
    else if (c->state == KV_SERVER_HANDLING)
        set_state(c, KV_SERVER_FLUSH);
}

static void end_request(struct kv__server_conn *c)
{
    assert(c->req.state != KV_SERVER_REQ_NONE);
    c->req.state = KV_SERVER_REQ_NONE;
    c->srv->ninflight--;
    response_done(c);
}

static void maybe_shutdown_done(struct kv_http_server *srv)
{
    if (!srv->shutting_down || srv->shutdown_fired || !srv->listener_closed || srv->nconn)
        return;
    srv->shutdown_fired = true;
    if (srv->on_shutdown)
        srv->on_shutdown(srv, srv->shutdown_data);
}

/* Last step of a connection: the handler hears of a request that never ended, then memory. */
static void conn_release(struct kv__server_conn *c)
{
    struct kv_http_server *srv = c->srv;
    struct kv_http_req *req = &c->req;

    if (req->state != KV_SERVER_REQ_NONE) {
        req->state = KV_SERVER_REQ_NONE;
        srv->ninflight--;
        if (req->on_close)
            req->on_close(req, req->cb_data);
    }
    if (!c->fake) {
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        srv->nconn--;
    }
    kv_buf_cleanup(&c->head);
    kv_buf_cleanup(&c->body);
    kv_buf_cleanup(&c->stash);
    kv_buf_cleanup(&c->head_out);
    kv_buf_cleanup(&c->outbox);
    kv_buf_cleanup(&c->wbuf);
    free(c->spans);
    free(c->hdrs);
    free(c);
    maybe_shutdown_done(srv);
}

static void on_handle_closed(struct kv__server_conn *c)
{
    if (--c->closes_pending == 0)
        conn_release(c);
}

static void on_tcp_closed(uv_handle_t *h)
{
    on_handle_closed(kv_container_of(h, struct kv__server_conn, tcp));
}

static void on_timer_closed(uv_handle_t *h)
{
    on_handle_closed(kv_container_of(h, struct kv__server_conn, timer));
}

/* Hard close. A request still active hears on_close from the close callback, never from inside
 * a kv_http_* call its handler made. */
static void conn_close(struct kv__server_conn *c, int err)
{
    if (c->state == KV_SERVER_CLOSED)
        return;
    if (!c->error)
        c->error = err;
    set_state(c, KV_SERVER_CLOSED);
    if (c->fake)
        return;
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct kv__server_conn *c = kv_container_of(req, struct kv__server_conn, sreq);

    if (c->state == KV_SERVER_CLOSED)
        return;
    if (status < 0 || c->peer_eof) {
        conn_close(c, status);
        return;
    }
    c->shut_done = true;
    c->t_state = now_ms(c->srv);
    arm_timer(c);
}

static void begin_linger(struct kv__server_conn *c)
{
    set_state(c, KV_SERVER_LINGER);
    c->t_state = now_ms(c->srv);
    kv_buf_reset(&c->stash);
    if (c->fake)
        return;
    set_reading(c, !c->peer_eof);
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c, UV_EPIPE);
        return;
    }
    arm_timer(c);
}

/* ---- timers ---- */

static uint64_t deadline(const struct kv__server_conn *c)
{
    const struct kv_http_server_config *cfg = &c->srv->cfg;

    switch (c->state) {
    case KV_SERVER_IDLE:
        return c->t_state + (c->served ? cfg->idle_timeout_ms : cfg->header_timeout_ms);
    case KV_SERVER_HEAD:
        return c->t_state + cfg->header_timeout_ms;
    case KV_SERVER_BODY:
        return KV_MAX(c->t_state, c->t_read) + cfg->idle_timeout_ms;
    case KV_SERVER_HANDLING:
    case KV_SERVER_FLUSH:
        return c->writing ? c->t_write + cfg->idle_timeout_ms : 0;
    case KV_SERVER_LINGER:
        if (c->shut_done)
            return c->t_state + LINGER_MS;
        return KV_MAX(c->t_state, c->t_write) + cfg->idle_timeout_ms;
    default:
        return 0;
    }
}

static void expire(struct kv__server_conn *c)
{
    switch (c->state) {
    case KV_SERVER_HEAD:
    case KV_SERVER_BODY:
        send_error(c, 408, "Request timeout: the request did not arrive in time");
        break;
    case KV_SERVER_HANDLING:
    case KV_SERVER_FLUSH:
        conn_close(c, KV_ETIMEOUT); /* output stalled: the client stopped reading */
        break;
    default:
        conn_close(c, 0);
        break;
    }
}

static void on_timer(uv_timer_t *t)
{
    struct kv__server_conn *c = kv_container_of(t, struct kv__server_conn, timer);
    uint64_t d = deadline(c);

    c->timer_on = false;
    if (d == 0)
        return;
    if (uv_now(c->srv->loop) < d)
        arm_timer(c);
    else
        expire(c);
}

static void arm_timer(struct kv__server_conn *c)
{
    uint64_t d, now;

    if (c->fake || c->state == KV_SERVER_CLOSED)
        return;
    d = deadline(c);
    if (d == 0 || (c->timer_on && c->timer_due <= d))
        return; /* a timer due earlier finds the new deadline when it fires */
    now = uv_now(c->srv->loop);
    uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
    c->timer_on = true;
    c->timer_due = d;
}

/* ---- request head ---- */

static struct kv__server_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int head_append(struct kv__server_conn *c, const char *at, size_t len)
{
    if (kv_buf_append(&c->head, at, len) < 0) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

/* Terminates the URL or the header being collected. */
static int end_piece(struct kv__server_conn *c)
{
    if (c->hstate == HS_FIELD) {
        if (head_append(c, "", 1) < 0)
            return -1;
        c->spans[c->nspans - 1].value = (uint32_t)c->head.len;
    }
    return head_append(c, "", 1);
}

/* A request starts: the per-request state is reset (also by the fast path). */
static void begin_message(struct kv__server_conn *c)
{
    struct kv_http_req *req = &c->req;

    set_state(c, KV_SERVER_HEAD);
    c->t_state = now_ms(c->srv);
    trim(&c->head);
    trim(&c->body);
    c->nspans = 0;
    c->trailer_bytes = 0;
    c->hstate = HS_URL;
    c->err_status = 0;
    memset(req, 0, sizeof *req);
    req->conn = c;
    req->start_ns = kv_time_ns();
}

static int on_message_begin(http_parser *p)
{
    begin_message(conn_of(p));
    return 0; /* the head's deadline is armed once parse() returns (usually moot by then) */
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return head_append(conn_of(p), at, len);
}

/* Trailers of a chunked body come through the header callbacks after the head is complete.
 * They are counted against the header cap and dropped: appending them to the head would move
 * the strings the request already points to. */
static int on_trailer(struct kv__server_conn *c, size_t len)
{
    c->trailer_bytes += len;
    if (c->trailer_bytes > c->srv->cfg.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct kv__server_conn *c = conn_of(p);

    if (c->state == KV_SERVER_BODY)
        return on_trailer(c, len);
    if (c->hstate != HS_FIELD) {
        if (end_piece(c) < 0)
            return -1;
        if (c->nspans == c->spans_cap) {
            c->spans_cap = c->spans_cap ? c->spans_cap * 2 : 16;
            c->spans = kv_realloc(c->spans, c->spans_cap * sizeof *c->spans);
            c->hdrs = kv_realloc(c->hdrs, c->spans_cap * sizeof *c->hdrs);
        }
        c->spans[c->nspans].name = (uint32_t)c->head.len;
        c->spans[c->nspans].value = 0;
        c->nspans++;
        c->hstate = HS_FIELD;
    }
    return head_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct kv__server_conn *c = conn_of(p);

    if (c->state == KV_SERVER_BODY)
        return on_trailer(c, len);
    if (c->hstate == HS_FIELD) {
        if (head_append(c, "", 1) < 0)
            return -1;
        c->spans[c->nspans - 1].value = (uint32_t)c->head.len;
        c->hstate = HS_VALUE;
    }
    return head_append(c, at, len);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Header pointers, lower-cased names and trimmed values, once the head no longer moves. */
static void finish_headers(struct kv__server_conn *c)
{
    for (size_t i = 0; i < c->nspans; i++) {
        char *name = c->head.data + c->spans[i].name;
        char *value = c->head.data + c->spans[i].value;
        size_t n = strlen(value);

        for (char *s = name; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s - 'A' + 'a');
        while (n && is_space(value[n - 1]))
            value[--n] = '\0';
        while (is_space(*value))
            value++;
        c->hdrs[i].name = name;
        c->hdrs[i].value = value;
    }
    c->req.headers = c->hdrs;
    c->req.nheaders = c->nspans;
}

/* Splits the request target into path and query; accepts origin-form, absolute-form and "*". */
static int split_target(struct kv__server_conn *c)
{
    char *url = c->head.data, *q;
    struct http_parser_url u;

    if (url[0] != '/' && strcmp(url, "*") != 0) {
        http_parser_url_init(&u);
        if (http_parser_parse_url(url, strlen(url), 0, &u) != 0)
            return -1;
        if (u.field_set & (1 << UF_PATH))
            url += u.field_data[UF_PATH].off;
        else
            url = NULL;
    }
    c->req.path = url ? url : "/";
    c->req.query = "";
    if (!url)
        return 0;
    if ((q = strchr(url, '#')) != NULL)
        *q = '\0';
    if ((q = strchr(url, '?')) != NULL) {
        *q = '\0';
        c->req.query = q + 1;
    }
    return 0;
}

static void send_continue(struct kv__server_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);

    conn_send(c, &b, 1);
}

/* Returns 0, or -1 with c->err_status set (http-parser's convention for a failed
 * on_headers_complete is any value other than 0, 1 or 2). */
static int on_headers_complete(http_parser *p)
{
    struct kv__server_conn *c = conn_of(p);
    const char *expect;
    bool has_body;

    if (end_piece(c) < 0)
        return -1;
    finish_headers(c);
    if (split_target(c) < 0) {
        c->err_status = 400;
        return -1;
    }
    set_state(c, KV_SERVER_BODY);
    c->t_read = now_ms(c->srv);
    c->req.method = http_method_str((enum http_method)p->method);
    c->http10 = p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0);
    c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    has_body = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->cfg.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    expect = has_body && !c->http10 ? kv_http_req_header(&c->req, "expect") : NULL;
    if (expect && strcasecmp(expect, "100-continue") == 0)
        send_continue(c);
    return c->state == KV_SERVER_CLOSED ? -1 : 0; /* the write failed: stop parsing */
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct kv__server_conn *c = conn_of(p);

    if (kv_buf_append(&c->body, at, len) < 0) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct kv__server_conn *c = conn_of(p);

    set_state(c, KV_SERVER_HANDLING);
    arm_timer(c);
    /* Pausing makes http_parser_execute() return right after this request, so the parse loop
     * dispatches it outside the parser and pipelined bytes wait until the response is done. */
    http_parser_pause(p, 1);
    return 0;
}

/* ---- routing ---- */

static void respond_error(struct kv_http_req *req, int status, const char *const *headers,
                          const char *fmt, const char *a, const char *b)
{
    char msg[320], body[512];
    size_t len;

    snprintf(msg, sizeof msg, fmt, a, b);
    len = error_body(body, sizeof body, status, msg);
    kv_http_respond(req, status, "application/json", headers, body, len);
}

/* 404 or 405 (with Allow listing the path's methods, HEAD implied by GET). */
static void route_miss(struct kv_http_server *srv, struct kv_http_req *req)
{
    char allow[256] = "";
    bool get = false, head = false;
    const char *headers[] = {"Allow", allow, NULL};
    size_t n = 0;

    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct route *r = &srv->routes[i];
        if (strcmp(r->path, req->path) != 0 || n + strlen(r->method) + 3 >= sizeof allow)
            continue;
        n += (size_t)snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", r->method);
        get |= strcmp(r->method, "GET") == 0;
        head |= strcmp(r->method, "HEAD") == 0;
    }
    if (n == 0) {
        respond_error(req, 404, NULL, "Route not found: %s%s", req->path, "");
        return;
    }
    if (get && !head && n + 7 < sizeof allow)
        strcat(allow, ", HEAD");
    respond_error(req, 405, headers, "Method not allowed: %s %s", req->method, req->path);
}

static const struct route *find_route(struct kv_http_server *srv, struct kv_http_req *req)
{
    const struct route *get = NULL;
    bool is_head = strcmp(req->method, "HEAD") == 0;
    size_t n = strlen(req->path);

    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct route *r = &srv->routes[i];
        if (r->path_len != n || memcmp(r->path, req->path, n) != 0)
            continue;
        if (strcmp(r->method, req->method) == 0)
            return r;
        if (is_head && strcmp(r->method, "GET") == 0)
            get = r;
    }
    req->head_only = is_head;
    return get;
}

static void dispatch(struct kv__server_conn *c)
{
    struct kv_http_server *srv = c->srv;
    struct kv_http_req *req = &c->req;
    const struct route *r;

    if (c->parser.upgrade)
        c->keep_alive = false; /* what follows an Upgrade is not HTTP/1.1 we could parse */
    req->state = KV_SERVER_REQ_ACTIVE;
    srv->ninflight++;
    r = find_route(srv, req);
    if (r)
        r->cb(req, r->data);
    else
        route_miss(srv, req);
}

/* ---- fast path for plain requests ----
 *
 * http-parser spends most of its time per byte of the head (a state machine step and a URL
 * character check each). A request that is whole in the buffer and plainly formed (GET, HEAD
 * or POST of an origin-form target over HTTP/1.1, token header names, visible-ASCII values, at
 * most one Content-Length, no Connection, Transfer-Encoding, Upgrade or Expect) is split here
 * instead, into exactly what the parser callbacks would have stored; anything else (or
 * anything doubtful) is left to http-parser untouched, so its verdicts stay the only ones.
 * http-parser is then still at the start of a message, as after any complete one. */

#define FAST_MAX_HEADERS 32
#define FAST_MAX_HEAD 8192

/* Target bytes taken as they are; '#' and anything unusual go to http-parser. */
static bool url_char(unsigned char ch)
{
    switch (ch) {
    case '#': case '"': case '<': case '>': case '\\': case '^': case '`': case '{': case '|':
    case '}':
        return false;
    default:
        return ch > 0x20 && ch < 0x7f;
    }
}

struct fast_req {
    const char *url;
    size_t url_len, head_len, stored;
    uint64_t clen;
    bool has_clen;
    enum http_method method;
    unsigned nh;
    struct kv__h1scan_field h[FAST_MAX_HEADERS]; /* offsets into the request bytes */
};

/* The request line "<GET|HEAD|POST> /<target> HTTP/1.1\r\n"; returns its length or 0. */
static size_t fast_line(const char *d, size_t len, struct fast_req *f)
{
    size_t i, m;

    if (len > 4 && memcmp(d, "GET ", 4) == 0)
        f->method = HTTP_GET, m = 4;
    else if (len > 5 && memcmp(d, "POST ", 5) == 0)
        f->method = HTTP_POST, m = 5;
    else if (len > 5 && memcmp(d, "HEAD ", 5) == 0)
        f->method = HTTP_HEAD, m = 5;
    else
        return 0;
    if (d[m] != '/')
        return 0;
    for (i = m; i < len && url_char((unsigned char)d[i]); i++)
        ;
    f->url = d + m;
    f->url_len = i - m;
    if (len - i < 11 || memcmp(d + i, " HTTP/1.1\r\n", 11) != 0)
        return 0;
    return i + 11;
}

/* Whether the fast path can take header <h>: false for those that set framing or connection
 * use or ask for 100-continue (http-parser's and on_headers_complete()'s), and for a second or
 * bad Content-Length. */
static bool fast_field(const char *d, const struct kv__h1scan_field *h, struct fast_req *f)
{
    enum kv__h1scan_kind kind = kv__h1scan_kind(d + h->name, h->name_len);

    if (kind == KV__H1SCAN_CONTENT_LENGTH) {
        if (f->has_clen || !kv__h1scan_clen(d + h->value, h->value_len, &f->clen))
            return false;
        f->has_clen = true;
    } else if (kind != KV__H1SCAN_OTHER) {
        return false;
    }
    f->stored += h->name_len + 1 + h->value_len + 1;
    return true;
}

/* Checks a whole plain request at <d>: 0 if http-parser must see it, else its byte count. */
static size_t fast_scan(const struct kv__server_conn *c, const char *d, size_t len,
                        struct fast_req *f)
{
    size_t lim = KV_MIN(len, (size_t)FAST_MAX_HEAD), off;

    f->has_clen = false;
    f->clen = 0;
    if ((off = fast_line(d, lim, f)) == 0 ||
        (off = kv__h1scan_fields(d, off, lim, f->h, FAST_MAX_HEADERS, &f->nh)) == 0)
        return 0; /* not plain, or not whole (or too long for this path) */
    f->stored = f->url_len + 1;
    for (unsigned i = 0; i < f->nh; i++)
        if (!fast_field(d, &f->h[i], f))
            return 0;
    f->head_len = off;
    if (f->stored > c->head.max || f->clen > c->srv->cfg.max_body_bytes ||
        f->clen > len - f->head_len)
        return 0;
    return f->head_len + (size_t)f->clen;
}

/* Stores the head as the parser callbacks do: URL\0 then name\0value\0 per header. */
static void fast_store(struct kv__server_conn *c, const char *d, const struct fast_req *f)
{
    char *p;

    kv_buf_reserve(&c->head, f->stored); /* fits: fast_scan checked c->head.max */
    p = c->head.data + c->head.len;
    memcpy(p, f->url, f->url_len);
    p[f->url_len] = '\0';
    p += f->url_len + 1;
    if (c->spans_cap < f->nh) {
        c->spans_cap = KV_MAX(f->nh, 16u);
        c->spans = kv_realloc(c->spans, c->spans_cap * sizeof *c->spans);
        c->hdrs = kv_realloc(c->hdrs, c->spans_cap * sizeof *c->hdrs);
    }
    for (unsigned i = 0; i < f->nh; i++) {
        c->spans[i].name = (uint32_t)(p - c->head.data);
        memcpy(p, d + f->h[i].name, f->h[i].name_len);
        p[f->h[i].name_len] = '\0';
        p += f->h[i].name_len + 1;
        c->spans[i].value = (uint32_t)(p - c->head.data);
        memcpy(p, d + f->h[i].value, f->h[i].value_len);
        p[f->h[i].value_len] = '\0';
        p += f->h[i].value_len + 1;
    }
    c->nspans = f->nh;
    c->head.len = (size_t)(p - c->head.data);
    c->head.data[c->head.len] = '\0';
}

/* Takes a whole plain request from <d> and dispatches it; returns the bytes used, or 0 when
 * http-parser must parse it (nothing touched then). Only at the start of a message. */
static size_t fast_request(struct kv__server_conn *c, const char *d, size_t len)
{
    struct fast_req f;
    size_t n;

    if (!c->srv->fast_path || (n = fast_scan(c, d, len, &f)) == 0)
        return 0;
    begin_message(c);
    fast_store(c, d, &f);
    finish_headers(c);
    split_target(c); /* cannot fail: the target is origin-form */
    set_state(c, KV_SERVER_BODY);
    c->t_read = now_ms(c->srv);
    c->req.method = http_method_str(f.method);
    c->http10 = false;
    c->keep_alive = true; /* HTTP/1.1 without a Connection header */
    if (f.clen)
        kv_buf_append(&c->body, d + f.head_len, (size_t)f.clen); /* fits: max_body_bytes */
    set_state(c, KV_SERVER_HANDLING);
    c->srv->fast_requests++;
    return n;
}

/* ---- input ---- */

static void reject(struct kv__server_conn *c, enum http_errno e)
{
    char msg[160];
    int status = c->err_status;

    if (c->state == KV_SERVER_CLOSED)
        return;
    if (!status)
        status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
    if (status == 413)
        snprintf(msg, sizeof msg, "Request body larger than %zu bytes",
                 c->srv->cfg.max_body_bytes);
    else if (status == 431)
        snprintf(msg, sizeof msg, "Request head larger than %zu bytes",
                 c->srv->cfg.max_header_bytes);
    else
        snprintf(msg, sizeof msg, "Malformed HTTP request: %s", http_errno_description(e));
    send_error(c, status, msg);
}

/* Parses <data> until it is used up, or a request waits on its response, or the connection is
 * finished. Returns the bytes consumed. Never nested: a handler that responds inside dispatch()
 * lands back here (in_parse stops to_idle() from draining the stash itself). */
static size_t parse(struct kv__server_conn *c, const char *data, size_t len)
{
    size_t off = 0, n;
    enum http_errno e;

    assert(!c->in_parse);
    c->in_parse = true;
    while (off < len && can_parse(c)) {
        if (c->state == KV_SERVER_IDLE && (n = fast_request(c, data + off, len - off)) > 0) {
            off += n;
            dispatch(c);
            continue;
        }
        n = http_parser_execute(&c->parser, &parser_settings, data + off, len - off);
        off += n;
        e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            dispatch(c);
        } else if (e != HPE_OK || n == 0) {
            reject(c, e != HPE_OK ? e : HPE_UNKNOWN);
        }
    }
    c->in_parse = false;
    /* Timers only matter once control is back in the loop (uv_now() does not move meanwhile),
     * so the deadline of a request still arriving is set here, once, rather than restarting
     * the timer for every head that completes in the same read. */
    arm_timer(c);
    return off;
}

/* Takes received bytes: parses them, stashes what must wait, drops what no one will read. */
static size_t ingest(struct kv__server_conn *c, const char *data, size_t len)
{
    size_t n = 0, m;

    if (can_parse(c)) {
        assert(c->stash.len == 0);
        c->t_read = now_ms(c->srv);
        n = parse(c, data, len);
    }
    if (n == len || !is_waiting(c))
        return len;
    m = KV_MIN(len - n, STASH_MAX - c->stash.len);
    if (kv_buf_append(&c->stash, data + n, m) < 0)
        m = 0;
    if (c->stash.len >= STASH_MAX)
        set_reading(c, false);
    return n + m;
}

static void drain_stash(struct kv__server_conn *c)
{
    size_t n;

    if (c->stash.len) {
        n = parse(c, c->stash.data, c->stash.len);
        if (c->state == KV_SERVER_CLOSED)
            return;
        kv_buf_consume(&c->stash, c->state == KV_SERVER_LINGER ? c->stash.len : n);
    }
    if (c->stash.len == 0)
        trim(&c->stash);
    if (c->stash.len < STASH_MAX && !c->peer_eof)
        set_reading(c, true);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct kv__server_conn *c = kv_container_of(h, struct kv__server_conn, tcp);
    size_t n = SLAB_BYTES;

    if (is_waiting(c))
        n = KV_MIN(n, STASH_MAX - c->stash.len); /* what ingest() can stash */
    *buf = uv_buf_init(c->srv->slab, (unsigned)n);
}

/* EOF or a read error. While a request is handled it means the client gave up (or half-closed,
 * which we treat the same, as nginx does): the handler hears on_close and stops. */
static void on_read_end(struct kv__server_conn *c, ssize_t err)
{
    c->reading = false;
    c->peer_eof = true;
    if (err != UV_EOF || c->state == KV_SERVER_HANDLING || can_parse(c)) {
        conn_close(c, (int)err);
    } else if (c->state == KV_SERVER_FLUSH) {
        c->keep_alive = false; /* finish writing, then close */
    } else if (c->state == KV_SERVER_LINGER && c->shut_done) {
        conn_close(c, 0);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct kv__server_conn *c = kv_container_of(s, struct kv__server_conn, tcp);

    if (nread == UV_ENOBUFS) {
        set_reading(c, false);
    } else if (nread < 0) {
        on_read_end(c, nread);
    } else if (nread > 0) {
        ingest(c, buf->base, (size_t)nread);
    }
}

static void set_reading(struct kv__server_conn *c, bool on)
{
    if (c->fake || c->reading == on || c->state == KV_SERVER_CLOSED)
        return;
    if (on)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    else
        c->reading = uv_read_stop((uv_stream_t *)&c->tcp) != 0;
}

static void on_write(uv_write_t *w, int status)
{
    struct kv__server_conn *c = kv_container_of(w, struct kv__server_conn, wreq);
    struct kv_http_req *req = &c->req;

    c->writing = false;
    trim(&c->wbuf);
    if (c->state == KV_SERVER_CLOSED)
        return;
    if (status < 0) {
        conn_close(c, status);
        return;
    }
    c->t_write = now_ms(c->srv);
    if (c->outbox.len && start_write(c) < 0)
        return;
    arm_timer(c);
    if (c->state == KV_SERVER_FLUSH && !c->writing) {
        response_done(c);
    } else if (c->state == KV_SERVER_HANDLING && req->drain_armed &&
               pending(c) < KV_HTTP_LOW_WATER) {
        req->drain_armed = false;
        if (req->on_drain)
            req->on_drain(req, req->cb_data);
    }
}

/* ---- connections ---- */

static struct kv__server_conn *conn_new(struct kv_http_server *srv)
{
    struct kv__server_conn *c = kv_calloc(1, sizeof *c);

    c->srv = srv;
    c->req.conn = c;
    c->state = KV_SERVER_IDLE;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    kv_buf_init(&c->head, srv->cfg.max_header_bytes);
    kv_buf_init(&c->body, srv->cfg.max_body_bytes);
    kv_buf_init(&c->stash, STASH_MAX);
    kv_buf_init(&c->head_out, HEAD_OUT_MAX);
    kv_buf_init(&c->outbox, OUT_MAX);
    kv_buf_init(&c->wbuf, OUT_MAX);
    c->t_state = now_ms(srv);
    return c;
}

static void peer_name(struct kv__server_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    strcpy(c->peer, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
    /* An IPv4 client of a dual-stack "::" listener reads as plain IPv4, so that client-IP
     * affinity sees one address whichever way the server was bound. */
    if (strncmp(c->peer, "::ffff:", 7) == 0 && strchr(c->peer, '.'))
        memmove(c->peer, c->peer + 7, strlen(c->peer + 7) + 1);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct kv_http_server *srv = kv_container_of(l, struct kv_http_server, listener);
    struct kv__server_conn *c;

    if (status < 0) {
        kv_warn("http: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->shutting_down)
        return;
    c = conn_new(srv);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconn++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, UV_ECONNABORTED);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    arm_timer(c);
    set_reading(c, true);
}

/* ---- server ---- */

static void server_init(struct kv_http_server *srv, const struct kv_http_server_config *cfg)
{
    srv->cfg = *cfg;
    srv->host = kv_strdup(cfg->host ? cfg->host : "127.0.0.1");
    srv->server_name = cfg->server_name ? kv_strdup(cfg->server_name) : NULL;
    srv->cfg.host = srv->host;
    srv->cfg.server_name = srv->server_name;
    if (!srv->cfg.max_header_bytes)
        srv->cfg.max_header_bytes = 16 * 1024;
    if (!srv->cfg.max_body_bytes)
        srv->cfg.max_body_bytes = 8 * 1024 * 1024;
    if (!srv->cfg.header_timeout_ms)
        srv->cfg.header_timeout_ms = 10 * 1000;
    if (!srv->cfg.idle_timeout_ms)
        srv->cfg.idle_timeout_ms = 60 * 1000;
    srv->date_sec = -1;
    srv->listener_closed = true;
    srv->fast_path = true;
}

static void server_release(struct kv_http_server *srv)
{
    for (size_t i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].method);
        free(srv->routes[i].path);
    }
    free(srv->routes);
    free(srv->host);
    free(srv->server_name);
    free(srv);
}

/* Binds and listens on a plain socket first, so that a failure (EADDRINUSE, a bad address)
 * is reported before any uv handle exists and nothing is left to close. */
static int open_listener(const char *host, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd, r;

    if (strchr(host, ':'))
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (r < 0)
        return r;
    len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct kv_http_server *srv = kv_container_of(h, struct kv_http_server, listener);

    srv->listener_closed = true;
    if (srv->free_pending) {
        assert(srv->nconn == 0);
        server_release(srv);
        return;
    }
    maybe_shutdown_done(srv);
}

int kv_http_server_new(uv_loop_t *loop, const struct kv_http_server_config *cfg,
                       struct kv_http_server **out)
{
    struct kv_http_server *srv;
    int fd = -1, port = 0, r;

    *out = NULL;
    r = open_listener(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &fd, &port);
    if (r < 0)
        return r;
    srv = kv_calloc(1, sizeof *srv);
    server_init(srv, cfg);
    srv->loop = loop;
    srv->port = port;
    uv_tcp_init(loop, &srv->listener);
    srv->listener_closed = false;
    r = uv_tcp_open(&srv->listener, fd);
    if (r < 0)
        close(fd); /* not the handle's yet */
    else
        r = uv_listen((uv_stream_t *)&srv->listener, BACKLOG, on_connection);
    if (r < 0) {
        /* Unreachable in practice (the socket already listens); the handle must still close
         * through the loop, so the server's memory goes in the close callback. */
        srv->free_pending = true;
        uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
        return r;
    }
    *out = srv;
    return 0;
}

int kv_http_server_port(const struct kv_http_server *srv)
{
    return srv->port;
}

void kv_http_server_route(struct kv_http_server *srv, const char *method, const char *path,
                          kv_http_handler_cb cb, void *data)
{
    struct route *r;

    srv->routes = kv_realloc(srv->routes, (srv->nroutes + 1) * sizeof *srv->routes);
    r = &srv->routes[srv->nroutes++];
    r->method = kv_strdup(method);
    r->path = kv_strdup(path);
    r->path_len = strlen(path);
    r->cb = cb;
    r->data = data;
}

unsigned kv_http_server_connections(const struct kv_http_server *srv)
{
    return srv->nconn;
}

unsigned kv_http_server_inflight(const struct kv_http_server *srv)
{
    return srv->ninflight;
}

void kv_http_server_shutdown(struct kv_http_server *srv, kv_http_shutdown_cb cb, void *data)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = true;
    srv->on_shutdown = cb;
    srv->shutdown_data = data;
    if (srv->loop && !srv->listener_closed)
        uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    /* conn_close() unlinks nothing before the close callback, so the walk is safe. Partial
     * requests and requests in flight finish with Connection: close (see build_head). */
    for (struct kv__server_conn *c = srv->conns; c; c = c->next)
        if (c->state == KV_SERVER_IDLE)
            conn_close(c, 0);
    if (!srv->loop || srv->listener_closed)
        maybe_shutdown_done(srv);
}

void kv_http_server_free(struct kv_http_server *srv)
{
    if (!srv)
        return;
    if (srv->loop && !srv->listener_closed) {
        /* Never shut down: the listener still has to close through the loop. */
        assert(srv->nconn == 0);
        srv->free_pending = true;
        if (!srv->shutting_down)
            uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
        return;
    }
    assert(srv->nconn == 0);
    server_release(srv);
}

/* ---- request accessors ---- */

const char *kv_http_req_method(const struct kv_http_req *req)
{
    return req->method;
}

const char *kv_http_req_path(const struct kv_http_req *req)
{
    return req->path;
}

const char *kv_http_req_query(const struct kv_http_req *req)
{
    return req->query;
}

const char *kv_http_req_body(const struct kv_http_req *req, size_t *len)
{
    const struct kv_buf *b = &req->conn->body;

    if (len)
        *len = b->len;
    return b->data ? b->data : "";
}

/* strcasecmp(<stored>, <name>) == 0 for a <stored> name finish_headers() lower-cased: the
 * proxy looks up a few headers per request, mostly mismatching at the first byte. */
static bool name_is(const char *stored, const char *name)
{
    for (;; stored++, name++) {
        char ch = *name;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (*stored != ch)
            return false;
        if (!ch)
            return true;
    }
}

const char *kv_http_req_header(const struct kv_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (name_is(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

const struct kv_http_header *kv_http_req_headers(const struct kv_http_req *req, size_t *count)
{
    *count = req->nheaders;
    return req->headers;
}

const char *kv_http_req_peer(const struct kv_http_req *req)
{
    return req->conn->peer;
}

uint64_t kv_http_req_start_ns(const struct kv_http_req *req)
{
    return req->start_ns;
}

void kv_http_req_set_callbacks(struct kv_http_req *req, kv_http_close_cb on_close,
                               kv_http_drain_cb on_drain, void *data)
{
    req->on_close = on_close;
    req->on_drain = on_drain;
    req->cb_data = data;
}

size_t kv_http_req_pending(const struct kv_http_req *req)
{
    return pending(req->conn);
}

/* ---- responses ---- */

static int gone(const struct kv__server_conn *c)
{
    return c->error < 0 ? c->error : UV_EPIPE;
}

int kv_http_respond(struct kv_http_req *req, int status, const char *content_type,
                    const char *const *headers, const char *body, size_t len)
{
    struct kv__server_conn *c = req->conn;
    uv_buf_t iov[2];
    unsigned n = 1;
    int rc;

    if (req->state != KV_SERVER_REQ_ACTIVE)
        return -EINVAL;
    if (c->state == KV_SERVER_CLOSED) {
        rc = gone(c);
    } else if (len > OUT_MAX) {
        rc = KV_ETOOBIG; /* uv_buf_t lengths are unsigned int */
    } else if (!status_has_body(status)) {
        rc = build_head(c, status, content_type, headers, FRAME_NONE, 0);
    } else {
        rc = build_head(c, status, content_type, headers, FRAME_LENGTH, len);
        if (!req->head_only && len)
            iov[n++] = uv_buf_init((char *)body, (unsigned)len);
    }
    if (rc == 0) {
        iov[0] = uv_buf_init(c->head_out.data, (unsigned)c->head_out.len);
        rc = conn_send(c, iov, n);
    } else if (c->state != KV_SERVER_CLOSED) {
        conn_close(c, rc);
    }
    end_request(c);
    return rc;
}

int kv_http_stream_begin(struct kv_http_req *req, int status, const char *content_type,
                         const char *const *headers)
{
    struct kv__server_conn *c = req->conn;
    enum frame frame = c->http10 ? FRAME_CLOSE : FRAME_CHUNKED;
    uv_buf_t b;
    int rc;

    if (req->state != KV_SERVER_REQ_ACTIVE)
        return -EINVAL;
    req->state = KV_SERVER_REQ_STREAMING;
    if (c->state == KV_SERVER_CLOSED)
        return gone(c);
    req->no_body = !status_has_body(status);
    if (req->no_body)
        frame = FRAME_NONE;
    req->chunked = frame == FRAME_CHUNKED;
    rc = build_head(c, status, content_type, headers, frame, 0);
    if (rc < 0) {
        conn_close(c, rc);
        return rc;
    }
    b = uv_buf_init(c->head_out.data, (unsigned)c->head_out.len);
    return conn_send(c, &b, 1);
}

int kv_http_stream_writev(struct kv_http_req *req, const uv_buf_t *bufs, unsigned n)
{
    struct kv__server_conn *c = req->conn;
    char size[24];
    uv_buf_t iov[KV_HTTP_MAX_IOV + 2];
    size_t len = 0;
    unsigned k = 0;
    int rc;

    if (req->state != KV_SERVER_REQ_STREAMING || n > KV_HTTP_MAX_IOV)
        return -EINVAL;
    if (c->state == KV_SERVER_CLOSED)
        return gone(c);
    for (unsigned i = 0; i < n; i++)
        len += bufs[i].len;
    if (len == 0 || req->head_only || req->no_body)
        return 0; /* an empty chunk would end the body */
    if (len > OUT_MAX)
        return KV_ETOOBIG;
    if (req->chunked)
        iov[k++] = uv_buf_init(size, (unsigned)snprintf(size, sizeof size, "%zx\r\n", len));
    for (unsigned i = 0; i < n; i++)
        iov[k++] = bufs[i];
    if (req->chunked)
        iov[k++] = uv_buf_init("\r\n", 2);
    rc = conn_send(c, iov, k);
    if (rc == 0 && pending(c) >= KV_HTTP_LOW_WATER)
        req->drain_armed = true;
    return rc;
}

int kv_http_stream_write(struct kv_http_req *req, const void *data, size_t len)
{
    uv_buf_t b;

    if (len > OUT_MAX)
        return KV_ETOOBIG;
    b = uv_buf_init((char *)data, (unsigned)len);
    return kv_http_stream_writev(req, &b, 1);
}

int kv_http_stream_end(struct kv_http_req *req)
{
    struct kv__server_conn *c = req->conn;
    uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
    int rc = 0;

    if (req->state != KV_SERVER_REQ_STREAMING)
        return -EINVAL;
    if (c->state == KV_SERVER_CLOSED)
        rc = gone(c);
    else if (req->chunked && !req->head_only)
        rc = conn_send(c, &b, 1);
    end_request(c);
    return rc;
}

void kv_http_stream_abort(struct kv_http_req *req)
{
    if (req->state == KV_SERVER_REQ_NONE)
        return;
    req->conn->keep_alive = false;
    end_request(req->conn);
}

/* ---- socketless connections (internal.h) ---- */

int kv__server_new_detached(const struct kv_http_server_config *cfg, struct kv_http_server **out)
{
    struct kv_http_server *srv = kv_calloc(1, sizeof *srv);

    server_init(srv, cfg);
    *out = srv;
    return 0;
}

struct kv__server_conn *kv__server_conn_fake(struct kv_http_server *srv, struct kv_buf *out)
{
    struct kv__server_conn *c = conn_new(srv);

    c->fake = true;
    c->sink = out;
    strcpy(c->peer, "127.0.0.1");
    return c;
}

size_t kv__server_conn_feed(struct kv__server_conn *c, const void *data, size_t len)
{
    return ingest(c, data, len);
}

bool kv__server_conn_finished(const struct kv__server_conn *c)
{
    return c->state == KV_SERVER_LINGER || c->state == KV_SERVER_CLOSED;
}

void kv__server_conn_expire(struct kv__server_conn *c)
{
    if (deadline(c) != 0)
        expire(c);
}

void kv__server_set_fast_path(struct kv_http_server *srv, bool on)
{
    srv->fast_path = on;
}

uint64_t kv__server_fast_requests(const struct kv_http_server *srv)
{
    return srv->fast_requests;
}

void kv__server_conn_fake_free(struct kv__server_conn *c)
{
    if (c)
        conn_release(c);
}
