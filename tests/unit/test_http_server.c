/* SPDX-License-Identifier: MIT */
/* tests/unit/test_http_server.c - the HTTP server on a real loop, and its socketless core.
 *
 * Socket tests run the server on 127.0.0.1:0 in the main thread's loop and script a client with
 * blocking sockets in a helper thread. The client records its first failed expectation (line
 * and text) instead of asserting, since cmocka cannot fail from another thread; the main
 * thread checks it after the loop ends. The client waits on conditions (responses, EOF, atomic
 * counters the handlers bump) with deadlines, never on bare sleeps. Each test ends with a
 * graceful shutdown and uv_loop_close() == 0. The socketless tests feed bytes to a fake
 * connection and replay the fuzz corpus (tests/fuzz/corpus/http) through the fuzz entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <http_parser.h>
#include <uv.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/internal.h"
#include "http/server.h"
#include "http/sse.h"

#include "../fuzz/fuzz_http.c"

#define BIG_TOTAL (8u << 20) /* bytes /big streams */
#define BIG_HWM (256u << 10) /* its high-water mark */

enum { CMD_NONE = 0, CMD_SHUTDOWN = 1, CMD_DONE = 2 };

struct fx {
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t guard;
    struct kv_http_server *srv;
    pthread_t thread;
    void (*client)(struct fx *);
    int port;
    atomic_int cmd;
    atomic_int closes;     /* on_close calls */
    atomic_int drains;     /* on_drain calls */
    atomic_int big_parked; /* /big waits for on_drain */
    atomic_int stream_done;
    atomic_int shutdowns;
    int stream_done_at_shutdown;
    char err[512];
};

/* ---- server side (loop thread) ---- */

static void h_hello(struct kv_http_req *req, void *data)
{
    kv_http_respond(req, 200, "text/plain", NULL, "hello", 5);
}

static void h_echo(struct kv_http_req *req, void *data)
{
    size_t len;
    const char *body = kv_http_req_body(req, &len);
    const char *hdrs[] = {"X-Query", kv_http_req_query(req), "X-Method", kv_http_req_method(req),
                          NULL};
    kv_http_respond(req, 200, "application/octet-stream", hdrs, body, len);
}

/* Body: "<x-test header>|<peer>|<path>|<header count>". */
static void h_info(struct kv_http_req *req, void *data)
{
    char body[256];
    size_t n;
    const char *x = kv_http_req_header(req, "X-TEST");

    kv_http_req_headers(req, &n);
    snprintf(body, sizeof body, "%s|%s|%s|%zu", x ? x : "(none)", kv_http_req_peer(req),
             kv_http_req_path(req), n);
    assert_true(kv_http_req_start_ns(req) > 0 && kv_http_req_start_ns(req) <= kv_time_ns());
    kv_http_respond(req, 200, "text/plain", NULL, body, strlen(body));
}

enum tick_kind { TICK_LATER, TICK_STREAM, TICK_FOREVER, TICK_SLOW };

/* An asynchronous response driven by a timer. */
struct ticker {
    uv_timer_t timer;
    struct kv_http_req *req; /* NULL once the response ended or the client left */
    struct fx *fx;
    enum tick_kind kind;
    int n;
};

static void ticker_closed(uv_handle_t *h)
{
    free(kv_container_of(h, struct ticker, timer));
}

static void ticker_stop(struct ticker *t)
{
    t->req = NULL;
    uv_close((uv_handle_t *)&t->timer, ticker_closed);
}

static void ticker_on_close(struct kv_http_req *req, void *data)
{
    struct ticker *t = data;
    atomic_fetch_add(&t->fx->closes, 1);
    ticker_stop(t);
}

static void on_tick(uv_timer_t *timer)
{
    static const char *const chunks[] = {"data: a\n\n", "data: bb\n\n", "data: ccc\n\n"};
    struct ticker *t = kv_container_of(timer, struct ticker, timer);

    switch (t->kind) {
    case TICK_LATER:
        kv_http_respond(t->req, 200, "text/plain", NULL, "later", 5);
        ticker_stop(t);
        return;
    case TICK_FOREVER:
        kv_http_stream_write(t->req, "data: x\n\n", 9);
        return;
    case TICK_STREAM:
    case TICK_SLOW:
        if (t->n < 3) {
            kv_http_stream_write(t->req, chunks[t->n], strlen(chunks[t->n]));
            t->n++;
            return;
        }
        kv_http_stream_end(t->req);
        atomic_store(&t->fx->stream_done, 1);
        ticker_stop(t);
        return;
    }
}

static void start_ticker(struct kv_http_req *req, struct fx *fx, enum tick_kind kind,
                         unsigned ms)
{
    struct ticker *t = kv_calloc(1, sizeof *t);
    const char *sse[] = {"Cache-Control", "no-cache", NULL};

    t->req = req;
    t->fx = fx;
    t->kind = kind;
    kv_http_req_set_callbacks(req, ticker_on_close, NULL, t);
    uv_timer_init(&fx->loop, &t->timer);
    if (kind != TICK_LATER)
        kv_http_stream_begin(req, 200, "text/event-stream", sse);
    uv_timer_start(&t->timer, on_tick, ms, kind == TICK_LATER ? 0 : ms);
}

static void h_later(struct kv_http_req *req, void *data)
{
    start_ticker(req, data, TICK_LATER, 20);
}

static void h_stream(struct kv_http_req *req, void *data)
{
    start_ticker(req, data, TICK_STREAM, 5);
}

static void h_forever(struct kv_http_req *req, void *data)
{
    start_ticker(req, data, TICK_FOREVER, 5);
}

static void h_slow(struct kv_http_req *req, void *data)
{
    start_ticker(req, data, TICK_SLOW, 40);
}

/* /big: BIG_TOTAL bytes in 64 KiB chunks, never more than BIG_HWM queued. */
struct big {
    struct kv_http_req *req;
    struct fx *fx;
    size_t sent;
    char block[64 * 1024];
};

static void big_pump(struct big *b)
{
    while (b->sent < BIG_TOTAL && kv_http_req_pending(b->req) < BIG_HWM) {
        if (kv_http_stream_write(b->req, b->block, sizeof b->block) < 0)
            return; /* on_close follows */
        b->sent += sizeof b->block;
    }
    if (b->sent < BIG_TOTAL) {
        atomic_store(&b->fx->big_parked, 1);
        return;
    }
    kv_http_stream_end(b->req);
    free(b);
}

static void big_on_drain(struct kv_http_req *req, void *data)
{
    struct big *b = data;
    atomic_fetch_add(&b->fx->drains, 1);
    big_pump(b);
}

static void big_on_close(struct kv_http_req *req, void *data)
{
    struct big *b = data;
    atomic_fetch_add(&b->fx->closes, 1);
    free(b);
}

static void h_big(struct kv_http_req *req, void *data)
{
    struct big *b = kv_calloc(1, sizeof *b);

    b->req = req;
    b->fx = data;
    memset(b->block, 'z', sizeof b->block);
    kv_http_req_set_callbacks(req, big_on_close, big_on_drain, b);
    kv_http_stream_begin(req, 200, "application/octet-stream", NULL);
    big_pump(b);
}

static void on_shutdown_done(struct kv_http_server *srv, void *data)
{
    struct fx *fx = data;
    fx->stream_done_at_shutdown = atomic_load(&fx->stream_done);
    atomic_fetch_add(&fx->shutdowns, 1);
}

static void on_guard(uv_timer_t *t)
{
    fprintf(stderr, "test_http_server: test hung\n");
    abort();
}

static void on_async(uv_async_t *a)
{
    struct fx *fx = a->data;
    int cmd = atomic_exchange(&fx->cmd, CMD_NONE);

    if (cmd == CMD_NONE)
        return;
    kv_http_server_shutdown(fx->srv, on_shutdown_done, fx);
    if (cmd == CMD_DONE) {
        uv_close((uv_handle_t *)&fx->async, NULL);
        uv_close((uv_handle_t *)&fx->guard, NULL);
    }
}

static void *client_main(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    atomic_store(&fx->cmd, CMD_DONE);
    uv_async_send(&fx->async);
    return NULL;
}

static void fx_run(struct kv_http_server_config *cfg, void (*client)(struct fx *))
{
    struct fx *fx = kv_calloc(1, sizeof *fx);

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    if (!cfg->host)
        cfg->host = "127.0.0.1";
    assert_int_equal(kv_http_server_new(&fx->loop, cfg, &fx->srv), 0);
    fx->port = kv_http_server_port(fx->srv);
    assert_true(fx->port > 0);
    kv_http_server_route(fx->srv, "GET", "/hello", h_hello, fx);
    kv_http_server_route(fx->srv, "POST", "/echo", h_echo, fx);
    kv_http_server_route(fx->srv, "PUT", "/echo", h_echo, fx);
    kv_http_server_route(fx->srv, "GET", "/info", h_info, fx);
    kv_http_server_route(fx->srv, "GET", "/later", h_later, fx);
    kv_http_server_route(fx->srv, "GET", "/stream", h_stream, fx);
    kv_http_server_route(fx->srv, "GET", "/forever", h_forever, fx);
    kv_http_server_route(fx->srv, "GET", "/slow", h_slow, fx);
    kv_http_server_route(fx->srv, "GET", "/big", h_big, fx);
    uv_async_init(&fx->loop, &fx->async, on_async);
    fx->async.data = fx;
    uv_timer_init(&fx->loop, &fx->guard);
    uv_timer_start(&fx->guard, on_guard, 20000, 0);
    fx->client = client;
    assert_int_equal(pthread_create(&fx->thread, NULL, client_main, fx), 0);

    uv_run(&fx->loop, UV_RUN_DEFAULT);

    pthread_join(fx->thread, NULL);
    assert_string_equal(fx->err, "");
    assert_int_equal(atomic_load(&fx->shutdowns), 1);
    assert_int_equal(kv_http_server_connections(fx->srv), 0);
    assert_int_equal(kv_http_server_inflight(fx->srv), 0);
    kv_http_server_free(fx->srv);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
}

/* ---- client side (helper thread) ---- */

#define EXPECT(fx, cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            if (!(fx)->err[0])                                                            \
                snprintf((fx)->err, sizeof (fx)->err, "line %d: %s", __LINE__, #cond);   \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define EXPECT_STR(fx, got, want)                                                         \
    do {                                                                                  \
        const char *g_ = (got), *w_ = (want);                                             \
        if (!g_ || strcmp(g_, w_) != 0) {                                                 \
            if (!(fx)->err[0])                                                            \
                snprintf((fx)->err, sizeof (fx)->err, "line %d: got [%s] want [%s]",     \
                         __LINE__, g_ ? g_ : "(null)", w_);                               \
            return;                                                                       \
        }                                                                                 \
    } while (0)

struct resp {
    int status;
    struct kv_buf head; /* "name: value\n" lines, names lower-cased */
    struct kv_buf body;
    bool done;
    int hstate; /* 0 none, 1 field, 2 value */
};

struct cli {
    int fd;
    http_parser p;
    char in[1 << 16];
    size_t off, len;
    struct resp *r;
    bool head_only;
};

static int r_field(http_parser *p, const char *at, size_t len)
{
    struct cli *cl = p->data;
    if (cl->r->hstate == 2)
        kv_buf_appendc(&cl->r->head, '\n');
    for (size_t i = 0; i < len; i++)
        kv_buf_appendc(&cl->r->head, (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]));
    cl->r->hstate = 1;
    return 0;
}

static int r_value(http_parser *p, const char *at, size_t len)
{
    struct cli *cl = p->data;
    if (cl->r->hstate == 1)
        kv_buf_appends(&cl->r->head, ": ");
    kv_buf_append(&cl->r->head, at, len);
    cl->r->hstate = 2;
    return 0;
}

static int r_headers_done(http_parser *p)
{
    struct cli *cl = p->data;
    kv_buf_appendc(&cl->r->head, '\n');
    cl->r->status = (int)p->status_code;
    return cl->head_only ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t len)
{
    struct cli *cl = p->data;
    kv_buf_append(&cl->r->body, at, len);
    return 0;
}

static int r_done(http_parser *p)
{
    struct cli *cl = p->data;
    cl->r->done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = r_field,
    .on_header_value = r_value,
    .on_headers_complete = r_headers_done,
    .on_body = r_body,
    .on_message_complete = r_done,
};

static void resp_init(struct resp *r)
{
    memset(r, 0, sizeof *r);
    kv_buf_init(&r->head, 1 << 20);
    kv_buf_init(&r->body, 64 << 20);
}

static void resp_cleanup(struct resp *r)
{
    kv_buf_cleanup(&r->head);
    kv_buf_cleanup(&r->body);
}

/* Value of header <name> (lower case) in a parsed response, copied to a static-per-call
 * buffer owned by the caller. */
static const char *resp_header(const struct resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *s = r->head.data; s && *s;) {
        const char *e = strchr(s, '\n');
        if (!e)
            break;
        if ((size_t)(e - s) > nl + 1 && strncmp(s, name, nl) == 0 && s[nl] == ':') {
            snprintf(out, cap, "%.*s", (int)(e - s - nl - 2), s + nl + 2);
            return out;
        }
        s = e + 1;
    }
    return NULL;
}

/* Connects to 127.0.0.1:<port>; <rcvbuf> > 0 shrinks the receive buffer (a slow reader
 * then pushes back on the server sooner). Returns 0 or -errno. */
static int cli_connect_buf(struct cli *cl, int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    int one = 1;

    memset(cl, 0, sizeof *cl);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    http_parser_init(&cl->p, HTTP_RESPONSE);
    cl->p.data = cl;
    if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(cl->fd);
        cl->fd = -1;
        return -e;
    }
    return 0;
}

static int cli_connect(struct cli *cl, int port)
{
    return cli_connect_buf(cl, port, 0);
}

static void cli_close(struct cli *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
}

static bool cli_send(struct cli *cl, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool cli_sends(struct cli *cl, const char *s)
{
    return cli_send(cl, s, strlen(s));
}

/* Receives more bytes into cl->in; returns the count, 0 on EOF, < 0 on error or timeout. */
static ssize_t cli_fill(struct cli *cl)
{
    ssize_t n;
    if (cl->off == cl->len)
        cl->off = cl->len = 0;
    if (cl->len == sizeof cl->in) {
        memmove(cl->in, cl->in + cl->off, cl->len - cl->off);
        cl->len -= cl->off;
        cl->off = 0;
    }
    n = recv(cl->fd, cl->in + cl->len, sizeof cl->in - cl->len, 0);
    if (n > 0)
        cl->len += (size_t)n;
    return n;
}

/* Reads one response into <r> (resp_init'ed by the caller). Returns 0 or -1. */
static int cli_response(struct cli *cl, struct resp *r)
{
    cl->r = r;
    for (;;) {
        if (cl->off < cl->len) {
            size_t n = http_parser_execute(&cl->p, &resp_settings, cl->in + cl->off,
                                           cl->len - cl->off);
            cl->off += n;
            if (HTTP_PARSER_ERRNO(&cl->p) == HPE_PAUSED) {
                http_parser_pause(&cl->p, 0);
                return 0;
            }
            if (HTTP_PARSER_ERRNO(&cl->p) != HPE_OK)
                return -1;
        }
        ssize_t got = cli_fill(cl);
        if (got == 0) {
            http_parser_execute(&cl->p, &resp_settings, NULL, 0); /* EOF ends the body? */
            return r->done ? 0 : -1;
        }
        if (got < 0)
            return -1;
    }
}

/* Raw bytes until <out> ends with <term> (or EOF when term is NULL). Returns 0 or -1. */
static int cli_raw(struct cli *cl, struct kv_buf *out, const char *term)
{
    size_t tl = term ? strlen(term) : 0;
    for (;;) {
        while (cl->off < cl->len) {
            kv_buf_appendc(out, cl->in[cl->off++]);
            if (term && out->len >= tl && memcmp(out->data + out->len - tl, term, tl) == 0)
                return 0;
        }
        ssize_t got = cli_fill(cl);
        if (got == 0)
            return term ? -1 : 0;
        if (got < 0)
            return -1;
    }
}

/* True if the server closes the connection (EOF) with no further bytes. */
static bool cli_eof(struct cli *cl)
{
    return cl->off == cl->len && cli_fill(cl) == 0;
}

/* Sends <req> and reads the response; returns 0 or -1. */
static int cli_roundtrip(struct cli *cl, const char *req, struct resp *r)
{
    resp_init(r);
    if (!cli_sends(cl, req))
        return -1;
    return cli_response(cl, r);
}

/* Removes the "Date: ...\r\n" line from raw response bytes, checking it is there. */
static bool strip_date(struct kv_buf *b)
{
    char *d = strstr(b->data, "\r\nDate: ");
    char *e = d ? strstr(d + 2, "\r\n") : NULL;
    if (!e)
        return false;
    memmove(d, e, strlen(e) + 1);
    b->len = strlen(b->data);
    return true;
}

static bool wait_for(atomic_int *v, int want)
{
    uint64_t end = kv_time_ns() + 5000000000ull;
    while (atomic_load(v) < want) {
        if (kv_time_ns() > end)
            return false;
        usleep(1000);
    }
    return true;
}

static double ms_since(uint64_t t0)
{
    return (double)(kv_time_ns() - t0) / 1e6;
}

static void fx_command(struct fx *fx, int cmd)
{
    atomic_store(&fx->cmd, cmd);
    uv_async_send(&fx->async);
}

/* ---- tests ---- */

static void c_routing(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char v[256];

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200);
    EXPECT_STR(fx, r.body.data, "hello");
    EXPECT_STR(fx, resp_header(&r, "content-type", v, sizeof v), "text/plain");
    EXPECT_STR(fx, resp_header(&r, "content-length", v, sizeof v), "5");
    EXPECT(fx, resp_header(&r, "connection", v, sizeof v) == NULL);
    resp_cleanup(&r);

    EXPECT(fx, cli_roundtrip(&cl, "POST /echo?a=1&b=2 HTTP/1.1\r\nHost: t\r\n"
                                  "Content-Length: 11\r\n\r\nhello world", &r) == 0);
    EXPECT(fx, r.status == 200);
    EXPECT_STR(fx, r.body.data, "hello world");
    EXPECT_STR(fx, resp_header(&r, "x-query", v, sizeof v), "a=1&b=2");
    EXPECT_STR(fx, resp_header(&r, "x-method", v, sizeof v), "POST");
    resp_cleanup(&r);

    EXPECT(fx, cli_roundtrip(&cl, "PUT /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200 && r.body.len == 0);
    EXPECT_STR(fx, resp_header(&r, "x-method", v, sizeof v), "PUT");
    resp_cleanup(&r);

    EXPECT(fx, cli_roundtrip(&cl, "GET /info?z HTTP/1.1\r\nx-Test:  padded value \t\r\n"
                                  "Other: 1\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, r.body.data, "padded value|127.0.0.1|/info|2");
    resp_cleanup(&r);

    /* Absolute-form target, HEAD served by the GET route (same head, no body). */
    EXPECT(fx, cli_roundtrip(&cl, "GET http://h:1/info HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, r.body.data, "(none)|127.0.0.1|/info|0");
    resp_cleanup(&r);
    cl.head_only = true;
    EXPECT(fx, cli_roundtrip(&cl, "HEAD /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200 && r.body.len == 0);
    EXPECT_STR(fx, resp_header(&r, "content-length", v, sizeof v), "5");
    resp_cleanup(&r);
    cl.head_only = false;
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, r.body.data, "hello"); /* nothing of a HEAD body was left in the stream */
    resp_cleanup(&r);
    cli_close(&cl);
}

static void test_routing(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_routing);
}

static void c_not_found(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char v[256];

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /v1/nope HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 404);
    EXPECT_STR(fx, resp_header(&r, "content-type", v, sizeof v), "application/json");
    EXPECT_STR(fx, r.body.data, "{\"object\":\"error\",\"message\":\"Route not found: /v1/nope\","
                                "\"type\":\"NotFoundError\",\"param\":null,\"code\":404}");
    resp_cleanup(&r);
    /* Same connection: 404 keeps it open. */
    EXPECT(fx, cli_roundtrip(&cl, "DELETE /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 405);
    EXPECT_STR(fx, resp_header(&r, "allow", v, sizeof v), "GET, HEAD");
    EXPECT_STR(fx, r.body.data,
               "{\"object\":\"error\",\"message\":\"Method not allowed: DELETE /hello\","
               "\"type\":\"MethodNotAllowedError\",\"param\":null,\"code\":405}");
    resp_cleanup(&r);
    EXPECT(fx, cli_roundtrip(&cl, "GET /echo HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 405);
    EXPECT_STR(fx, resp_header(&r, "allow", v, sizeof v), "POST, PUT");
    resp_cleanup(&r);
    /* A path with a quote and a high byte still gives valid JSON. */
    EXPECT(fx, cli_roundtrip(&cl, "GET /a\"\xc3 HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 404);
    EXPECT(fx, strstr(r.body.data, "\"Route not found: /a\\\"\\u00c3\"") != NULL);
    resp_cleanup(&r);
    cli_close(&cl);
}

static void test_not_found_and_method(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_not_found);
}

static void c_keepalive(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char v[256];

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    for (int i = 0; i < 2; i++) {
        EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
        EXPECT(fx, r.status == 200);
        resp_cleanup(&r);
    }
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, resp_header(&r, "connection", v, sizeof v), "close");
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);

    /* HTTP/1.0: keep-alive only when asked, and said so in the response. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                             &r) == 0);
    EXPECT_STR(fx, resp_header(&r, "connection", v, sizeof v), "keep-alive");
    resp_cleanup(&r);
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.0\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200);
    EXPECT_STR(fx, resp_header(&r, "connection", v, sizeof v), "close");
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);

    /* HTTP/1.0 stream: no chunking, the body ends with the connection. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /stream HTTP/1.0\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, r.body.data, "data: a\n\ndata: bb\n\ndata: ccc\n\n");
    EXPECT(fx, resp_header(&r, "transfer-encoding", v, sizeof v) == NULL);
    resp_cleanup(&r);
    cli_close(&cl);
}

static void test_keepalive(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_keepalive);
}

static void c_pipelined(struct fx *fx)
{
    static const char *const want[] = {"later", "two", "hello", "data: a\n\ndata: bb\n\ndata: ccc\n\n",
                                       "hello"};
    struct cli cl;
    struct resp r;

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_sends(&cl, "GET /later HTTP/1.1\r\n\r\n"
                              "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo"
                              "GET /hello HTTP/1.1\r\n\r\n"
                              "GET /stream HTTP/1.1\r\n\r\n"
                              "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"));
    for (size_t i = 0; i < KV_ARRAY_LEN(want); i++) {
        resp_init(&r);
        EXPECT(fx, cli_response(&cl, &r) == 0);
        EXPECT(fx, r.status == 200);
        EXPECT_STR(fx, r.body.data, want[i]);
        resp_cleanup(&r);
    }
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);
}

static void test_pipelined(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_pipelined);
}

static void c_body_limits(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char v[256], *big = kv_calloc(1, 9000);

    /* Content-Length over the cap: 413 at the head, the body is read and dropped. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    memset(big, 'b', 2000);
    EXPECT(fx, cli_sends(&cl, "POST /echo HTTP/1.1\r\nContent-Length: 2000\r\n\r\n"));
    EXPECT(fx, cli_send(&cl, big, 2000));
    resp_init(&r);
    EXPECT(fx, cli_response(&cl, &r) == 0);
    EXPECT(fx, r.status == 413);
    EXPECT_STR(fx, resp_header(&r, "connection", v, sizeof v), "close");
    EXPECT_STR(fx, r.body.data, "{\"object\":\"error\",\"message\":\"Request body larger than "
                                "1024 bytes\",\"type\":\"RequestEntityTooLargeError\",\"param\":null,"
                                "\"code\":413}");
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);

    /* Chunked body growing over the cap. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_sends(&cl, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "258\r\n"));
    EXPECT(fx, cli_send(&cl, big, 600) && cli_sends(&cl, "\r\n258\r\n"));
    EXPECT(fx, cli_send(&cl, big, 600) && cli_sends(&cl, "\r\n0\r\n\r\n"));
    resp_init(&r);
    EXPECT(fx, cli_response(&cl, &r) == 0);
    EXPECT(fx, r.status == 413);
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);

    /* A chunked body under the cap is accepted and reassembled. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200);
    EXPECT_STR(fx, r.body.data, "hello world");
    resp_cleanup(&r);
    cli_close(&cl);
    free(big);
}

static void c_head_limits(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char *big = kv_calloc(1, 9000);

    /* Headers over the cap: 431. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    memset(big, 'h', 8000);
    EXPECT(fx, cli_sends(&cl, "GET /hello HTTP/1.1\r\nX-Big: "));
    EXPECT(fx, cli_send(&cl, big, 8000) && cli_sends(&cl, "\r\n\r\n"));
    resp_init(&r);
    EXPECT(fx, cli_response(&cl, &r) == 0);
    EXPECT(fx, r.status == 431);
    EXPECT(fx, strstr(r.body.data, "\"type\":\"RequestHeaderFieldsTooLargeError\"") != NULL);
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);
    free(big);

    /* Garbage: 400 and close. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "garbage\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 400);
    EXPECT_STR(fx, r.body.data, "{\"object\":\"error\",\"message\":\"Malformed HTTP request: "
                                "invalid HTTP method\",\"type\":\"BadRequestError\","
                                "\"param\":null,\"code\":400}");
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);
}

static void test_body_limits(void **state)
{
    struct kv_http_server_config cfg = {.max_body_bytes = 1024};
    fx_run(&cfg, c_body_limits);
}

static void test_head_limits_and_garbage(void **state)
{
    struct kv_http_server_config cfg = {.max_header_bytes = 4096};
    fx_run(&cfg, c_head_limits);
}

static void c_expect(struct fx *fx)
{
    struct cli cl;
    struct kv_buf raw;
    struct resp r;

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_sends(&cl, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\n"
                              "Content-Length: 5\r\n\r\n"));
    kv_buf_init(&raw, 4096);
    EXPECT(fx, cli_raw(&cl, &raw, "\r\n\r\n") == 0);
    EXPECT_STR(fx, raw.data, "HTTP/1.1 100 Continue\r\n\r\n");
    kv_buf_cleanup(&raw);
    EXPECT(fx, cli_roundtrip(&cl, "abcde", &r) == 0);
    EXPECT(fx, r.status == 200);
    EXPECT_STR(fx, r.body.data, "abcde");
    resp_cleanup(&r);

    /* Over the cap: 413 straight away, no 100. */
    EXPECT(fx, cli_roundtrip(&cl, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\n"
                                  "Content-Length: 5000\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 413);
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);
}

static void test_expect_continue(void **state)
{
    struct kv_http_server_config cfg = {.max_body_bytes = 1024};
    fx_run(&cfg, c_expect);
}

static void c_timeouts(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    char v[256];
    uint64_t t0;

    /* A stalled head: 408 once header_timeout passed, then close. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    t0 = kv_time_ns();
    EXPECT(fx, cli_sends(&cl, "GET /hello HTTP/1.1\r\nHost: t\r\n"));
    resp_init(&r);
    EXPECT(fx, cli_response(&cl, &r) == 0);
    EXPECT(fx, ms_since(t0) >= 90 && ms_since(t0) < 3000);
    EXPECT(fx, r.status == 408);
    EXPECT_STR(fx, resp_header(&r, "connection", v, sizeof v), "close");
    EXPECT_STR(fx, r.body.data, "{\"object\":\"error\",\"message\":\"Request timeout: the "
                                "request did not arrive in time\",\"type\":\"RequestTimeoutError\","
                                "\"param\":null,\"code\":408}");
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);

    /* A stalled body (inactivity over idle_timeout): 408 as well. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", &r) ==
                   0);
    EXPECT(fx, r.status == 408);
    resp_cleanup(&r);
    cli_close(&cl);

    /* Idle keep-alive connection: closed silently after idle_timeout. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200);
    resp_cleanup(&r);
    t0 = kv_time_ns();
    EXPECT(fx, cli_eof(&cl));
    EXPECT(fx, ms_since(t0) >= 150 && ms_since(t0) < 3000);
    cli_close(&cl);

    /* A connection that never sends: closed silently after header_timeout. */
    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    t0 = kv_time_ns();
    EXPECT(fx, cli_eof(&cl));
    EXPECT(fx, ms_since(t0) >= 90 && ms_since(t0) < 3000);
    cli_close(&cl);
}

/* After a kept-alive request the timer runs for the idle deadline; the next request's head
 * deadline comes earlier and must win (it is armed once the read's parse is over). */
static void c_head_after_keepalive(struct fx *fx)
{
    struct cli cl;
    struct resp r;
    uint64_t t0;

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT(fx, r.status == 200);
    resp_cleanup(&r);
    /* Time itself is the input here (not a condition to wait for): the connection's first
     * timer, due header_timeout after the accept, must have fired and re-armed for idle. */
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
    t0 = kv_time_ns();
    EXPECT(fx, cli_sends(&cl, "GET /hello HTTP/1.1\r\nHost: t\r\n"));
    resp_init(&r);
    EXPECT(fx, cli_response(&cl, &r) == 0);
    EXPECT(fx, r.status == 408);
    EXPECT(fx, ms_since(t0) >= 90 && ms_since(t0) < 1500);
    resp_cleanup(&r);
    EXPECT(fx, cli_eof(&cl));
    cli_close(&cl);
}

static void test_head_timeout_after_keepalive(void **state)
{
    struct kv_http_server_config cfg = {.header_timeout_ms = 100, .idle_timeout_ms = 3000};
    (void)state;
    fx_run(&cfg, c_head_after_keepalive);
}

static void test_timeouts(void **state)
{
    struct kv_http_server_config cfg = {.header_timeout_ms = 100, .idle_timeout_ms = 200};
    fx_run(&cfg, c_timeouts);
}

static void c_stream_bytes(struct fx *fx)
{
    struct cli cl;
    struct kv_buf raw;
    struct resp r;

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_sends(&cl, "GET /stream HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"));
    kv_buf_init(&raw, 1 << 16);
    EXPECT(fx, cli_raw(&cl, &raw, "0\r\n\r\n") == 0);
    EXPECT(fx, strip_date(&raw));
    EXPECT_STR(fx, raw.data, "HTTP/1.1 200 OK\r\n"
                             "Server: kvtest/1\r\n"
                             "Content-Type: text/event-stream\r\n"
                             "Cache-Control: no-cache\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "\r\n"
                             "9\r\ndata: a\n\n\r\n"
                             "a\r\ndata: bb\n\n\r\n"
                             "b\r\ndata: ccc\n\n\r\n"
                             "0\r\n\r\n");
    kv_buf_cleanup(&raw);
    /* Still usable after the stream. */
    EXPECT(fx, cli_roundtrip(&cl, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
    EXPECT_STR(fx, r.body.data, "hello");
    resp_cleanup(&r);
    cli_close(&cl);
}

static void test_stream_exact_bytes(void **state)
{
    struct kv_http_server_config cfg = {.server_name = "kvtest/1"};
    fx_run(&cfg, c_stream_bytes);
}

static void c_abort(struct fx *fx)
{
    struct cli cl;
    struct kv_buf raw;

    EXPECT(fx, cli_connect(&cl, fx->port) == 0);
    EXPECT(fx, cli_sends(&cl, "GET /forever HTTP/1.1\r\n\r\n"));
    kv_buf_init(&raw, 1 << 16);
    EXPECT(fx, cli_raw(&cl, &raw, "data: x\n\n\r\n") == 0); /* one chunk arrived */
    kv_buf_cleanup(&raw);
    cli_close(&cl);
    EXPECT(fx, wait_for(&fx->closes, 1));
}

static void test_client_abort(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_abort);
}

static void c_slow(struct fx *fx)
{
    struct cli slow, fast;
    struct resp r;
    uint64_t t0;

    /* The slow client asks for 4 MiB and reads nothing: /big parks on back-pressure. */
    EXPECT(fx, cli_connect_buf(&slow, fx->port, 4096) == 0);
    EXPECT(fx, cli_sends(&slow, "GET /big HTTP/1.1\r\n\r\n"));
    EXPECT(fx, wait_for(&fx->big_parked, 1));
    /* Another client is served at once. */
    EXPECT(fx, cli_connect(&fast, fx->port) == 0);
    t0 = kv_time_ns();
    for (int i = 0; i < 20; i++) {
        EXPECT(fx, cli_roundtrip(&fast, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
        EXPECT_STR(fx, r.body.data, "hello");
        resp_cleanup(&r);
    }
    EXPECT(fx, ms_since(t0) < 1000);
    cli_close(&fast);
    /* Now the slow client reads everything, exactly. */
    resp_init(&r);
    EXPECT(fx, cli_response(&slow, &r) == 0);
    EXPECT(fx, r.status == 200 && r.body.len == BIG_TOTAL);
    EXPECT(fx, r.body.data[0] == 'z' && r.body.data[BIG_TOTAL - 1] == 'z');
    resp_cleanup(&r);
    EXPECT(fx, atomic_load(&fx->drains) >= 1);
    EXPECT(fx, atomic_load(&fx->closes) == 0);
    cli_close(&slow);
}

static void test_slow_client_and_drain(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_slow);
}

static void c_shutdown(struct fx *fx)
{
    struct cli idle, busy, late;
    struct resp r;
    struct kv_buf raw;

    EXPECT(fx, cli_connect(&idle, fx->port) == 0);
    EXPECT(fx, cli_roundtrip(&idle, "GET /hello HTTP/1.1\r\n\r\n", &r) == 0);
    resp_cleanup(&r);
    EXPECT(fx, cli_connect(&busy, fx->port) == 0);
    EXPECT(fx, cli_sends(&busy, "GET /slow HTTP/1.1\r\n\r\n"));
    kv_buf_init(&raw, 1 << 16);
    EXPECT(fx, cli_raw(&busy, &raw, "\r\n\r\n") == 0); /* the head: the stream is in flight */
    fx_command(fx, CMD_SHUTDOWN);
    EXPECT(fx, cli_eof(&idle)); /* idle connections close at once */
    cli_close(&idle);
    EXPECT(fx, cli_connect(&late, fx->port) == -ECONNREFUSED); /* no more accepting */
    EXPECT(fx, cli_raw(&busy, &raw, NULL) == 0);               /* the rest, then EOF */
    EXPECT(fx, strstr(raw.data, "\r\n\r\n9\r\ndata: a\n\n\r\na\r\ndata: bb\n\n\r\n"
                                "b\r\ndata: ccc\n\n\r\n0\r\n\r\n") != NULL);
    EXPECT(fx, raw.len == (size_t)(strstr(raw.data, "0\r\n\r\n") - raw.data) + 5);
    kv_buf_cleanup(&raw);
    cli_close(&busy);
    EXPECT(fx, wait_for(&fx->shutdowns, 1));
    EXPECT(fx, fx->stream_done_at_shutdown == 1); /* the callback came after the stream */
}

static void test_graceful_shutdown(void **state)
{
    struct kv_http_server_config cfg = {0};
    fx_run(&cfg, c_shutdown);
}

/* ---- socketless core ---- */

static char *fake_run(const char *input, size_t piece, struct kv_http_server_config *cfg)
{
    struct kv_http_server *srv;
    struct kv__server_conn *c;
    struct kv_buf out;
    size_t len = strlen(input), off = 0;

    assert_int_equal(kv__server_new_detached(cfg, &srv), 0);
    kv_http_server_route(srv, "POST", "/echo", h_echo, NULL);
    kv_http_server_route(srv, "GET", "/hello", h_hello, NULL);
    kv_buf_init(&out, 1 << 20);
    c = kv__server_conn_fake(srv, &out);
    while (off < len) {
        size_t n = KV_MIN(piece, len - off);
        assert_int_equal(kv__server_conn_feed(c, input + off, n), n);
        off += n;
    }
    kv__server_conn_fake_free(c);
    kv_http_server_free(srv);
    while (strip_date(&out))
        ;
    return kv_buf_detach(&out, NULL);
}

/* Body: "<method> <path> ?<query>\n" then "<name>=<value>\n" per header, then the body. */
static void h_dump(struct kv_http_req *req, void *data)
{
    struct kv_buf b;
    const struct kv_http_header *h;
    const char *body;
    size_t n, len;
    (void)data;

    kv_buf_init(&b, 1 << 20);
    kv_buf_printf(&b, "%s %s ?%s\n", kv_http_req_method(req), kv_http_req_path(req),
                  kv_http_req_query(req));
    h = kv_http_req_headers(req, &n);
    for (size_t i = 0; i < n; i++)
        kv_buf_printf(&b, "%s=%s\n", h[i].name, h[i].value);
    body = kv_http_req_body(req, &len);
    kv_buf_append(&b, body, len);
    kv_http_respond(req, 200, "text/plain", NULL, b.data, b.len);
    kv_buf_cleanup(&b);
}

/* Output of <input> fed in <piece>-byte reads, with the fast path on or off; *<fast> gets how
 * many requests took it. */
static char *dump_run(const char *input, size_t piece, bool on, uint64_t *fast)
{
    struct kv_http_server_config cfg = {.max_body_bytes = 100};
    struct kv_http_server *srv;
    struct kv__server_conn *c;
    struct kv_buf out;
    size_t len = strlen(input), off = 0;

    assert_int_equal(kv__server_new_detached(&cfg, &srv), 0);
    kv__server_set_fast_path(srv, on);
    kv_http_server_route(srv, "GET", "/d", h_dump, NULL);
    kv_http_server_route(srv, "POST", "/d", h_dump, NULL);
    kv_http_server_route(srv, "PUT", "/d", h_dump, NULL);
    kv_buf_init(&out, 1 << 20);
    c = kv__server_conn_fake(srv, &out);
    while (off < len) {
        size_t n = KV_MIN(piece, len - off);
        n = kv__server_conn_feed(c, input + off, n);
        if (n == 0)
            break;
        off += n;
    }
    kv__server_conn_fake_free(c);
    *fast = kv__server_fast_requests(srv);
    kv_http_server_free(srv);
    while (out.data && strip_date(&out))
        ;
    return kv_buf_detach(&out, NULL);
}

/* The fast path for plain requests gives byte for byte what http-parser gives, takes the plain
 * ones, and leaves every other shape (framing, connection semantics, odd bytes) to the parser. */
static void test_fast_path_same_as_parser(void **state)
{
    static const struct {
        const char *in;
        int fast; /* requests the fast path takes when fed whole */
    } cases[] = {
        {"GET /d HTTP/1.1\r\nHost: x\r\n\r\n", 1},
        {"POST /d?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 5\r\n\r\nhello", 1},
        {"GET /d HTTP/1.1\r\nX-A: \t v \t\r\nX-Empty:\r\nX-B:v\r\nX-C:  \r\n\r\n", 1},
        {"POST /d HTTP/1.1\r\nCONTENT-length:  3 \r\n\r\nabc", 1},
        {"GET /d HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1},
        {"HEAD /d HTTP/1.1\r\n\r\n", 1},
        {"GET /nope HTTP/1.1\r\n\r\n", 1},
        {"GET /d HTTP/1.1\r\n\r\nPOST /d HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET /d?z H", 2},
        {"POST /d HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
        {"GET /d HTTP/1.0\r\n\r\n", 0},
        {"GET /d HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
        {"POST /d HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 0},
        {"GET /d HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", 0},
        {"GET /d#frag HTTP/1.1\r\n\r\n", 0},
        {"GET /d HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", 0},
        {"GET /d HTTP/1.1\r\nX: a\x01b\r\n\r\n", 0},
        {"GET /d HTTP/1.1\r\nBad Name: x\r\n\r\n", 0},
        {"GET /d HTTP/1.1\r\n folded\r\n\r\n", 0},
        {"GET /d HTTP/1.1\nX: y\n\n", 0},
        {"POST /d HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 0},
        {"POST /d HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab", 0},
        {"POST /d HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort", 0},
        {"PUT /d HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 0},
        {"GET http://h/d HTTP/1.1\r\n\r\n", 0},
        {"\r\nGET /d HTTP/1.1\r\n\r\n", 0},
        {"GET  /d HTTP/1.1\r\n\r\n", 0},
#define H4 "X-h: v\r\nX-i: w\r\nX-j:\r\nX-k: y \r\n"
        {"GET /d HTTP/1.1\r\n" H4 H4 H4 H4 H4 "\r\n", 1}, /* 20 headers: spans grow */
        {"GET /d HTTP/1.1\r\n" H4 H4 H4 H4 H4 H4 H4 H4 H4 "\r\n", 0}, /* over 32 */
#undef H4
    };
    (void)state;

    for (size_t i = 0; i < KV_ARRAY_LEN(cases); i++) {
        uint64_t fast_on, fast_off, fast_bytes;
        char *on = dump_run(cases[i].in, 1 << 20, true, &fast_on);
        char *off = dump_run(cases[i].in, 1 << 20, false, &fast_off);
        char *bytes = dump_run(cases[i].in, 1, true, &fast_bytes);

        if (strcmp(on, off) != 0 || strcmp(on, bytes) != 0)
            fail_msg("case %zu differs:\n--- fast\n%s\n--- parser\n%s\n--- bytewise\n%s", i, on,
                     off, bytes);
        assert_int_equal(fast_on, cases[i].fast);
        assert_int_equal(fast_off, 0);
        assert_int_equal(fast_bytes, 0); /* a head split over reads goes to http-parser */
        free(on);
        free(off);
        free(bytes);
    }
}

static void test_fake_byte_by_byte(void **state)
{
    struct kv_http_server_config cfg = {.max_body_bytes = 64};
    const char *in = "POST /echo?q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"
                     "GET /hello HTTP/1.1\r\n\r\n";
    const char *want = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       "X-Query: q\r\nX-Method: POST\r\nContent-Length: 3\r\n\r\nabc"
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                       "Connection: close\r\n\r\nhello";
    char *a = fake_run(in, 1, &cfg), *b = fake_run(in, 1 << 20, &cfg);

    assert_string_equal(a, want);
    assert_string_equal(b, want);
    free(a);
    free(b);
}

static void h_sse(struct kv_http_req *req, void *data)
{
    uv_buf_t many[KV_HTTP_MAX_IOV + 1];

    for (size_t i = 0; i < KV_ARRAY_LEN(many); i++)
        many[i] = uv_buf_init("x", 1);
    assert_int_equal(kv_sse_data(req, "{}", 2), -EINVAL); /* not streaming yet */
    assert_int_equal(kv_sse_begin(req), 0);
    assert_int_equal(kv_sse_data(req, "{\"a\":1}", 7), 0);
    assert_int_equal(kv_sse_data(req, "", 0), 0); /* "data: \n\n" is an event too */
    assert_int_equal(kv_http_stream_writev(req, many, KV_HTTP_MAX_IOV + 1), -EINVAL);
    assert_int_equal(kv_http_stream_writev(req, many, KV_HTTP_MAX_IOV), 0);
    assert_int_equal(kv_sse_done(req), 0);
    assert_int_equal(kv_http_stream_end(req), -EINVAL); /* already ended */
}

/* kv_sse_* and kv_http_stream_writev framing, exact bytes, on a fake connection. */
static void test_sse_helpers(void **state)
{
    struct kv_http_server_config cfg = {0};
    struct kv_http_server *srv;
    struct kv__server_conn *c;
    struct kv_buf out;
    const char *in = "GET /sse HTTP/1.1\r\n\r\n";

    kv__server_new_detached(&cfg, &srv);
    kv_http_server_route(srv, "GET", "/sse", h_sse, NULL);
    kv_buf_init(&out, 1 << 20);
    c = kv__server_conn_fake(srv, &out);
    assert_int_equal(kv__server_conn_feed(c, in, strlen(in)), strlen(in));
    assert_true(strip_date(&out));
    assert_string_equal(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                  "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\nf\r\ndata: {\"a\":1}\n\n\r\n8\r\ndata: \n\n\r\n"
                                  "8\r\nxxxxxxxx\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
    assert_false(kv__server_conn_finished(c));
    kv__server_conn_fake_free(c);
    kv_buf_cleanup(&out);
    kv_http_server_free(srv);
}

static void test_fake_expire(void **state)
{
    struct kv_http_server_config cfg = {0};
    struct kv_http_server *srv;
    struct kv__server_conn *c;
    struct kv_buf out;

    kv__server_new_detached(&cfg, &srv);
    kv_buf_init(&out, 1 << 20);
    c = kv__server_conn_fake(srv, &out);
    kv__server_conn_expire(c); /* idle: closes silently */
    assert_true(kv__server_conn_finished(c));
    assert_int_equal(out.len, 0);
    kv__server_conn_fake_free(c);
    c = kv__server_conn_fake(srv, &out);
    assert_int_equal(kv__server_conn_feed(c, "GET / HTTP/1.1\r\n", 16), 16);
    assert_false(kv__server_conn_finished(c));
    kv__server_conn_expire(c); /* partial head: 408 */
    assert_true(kv__server_conn_finished(c));
    assert_non_null(strstr(out.data, "HTTP/1.1 408 Request Timeout\r\n"));
    kv__server_conn_fake_free(c);
    kv_buf_cleanup(&out);
    kv_http_server_free(srv);
    assert_string_equal(kv_http_reason(404), "Not Found");
    assert_string_equal(kv_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(kv_http_reason(799), "Unknown");
}

/* Every file of tests/fuzz/corpus/http through the fuzz entry (which aborts on a failed check). */
static void test_fuzz_corpus(void **state)
{
    char dir[1024], path[2048];
    const char *slash = strrchr(__FILE__, '/');
    DIR *d;
    struct dirent *e;
    int count = 0;

    snprintf(dir, sizeof dir, "%.*s/../fuzz/corpus/http", (int)(slash - __FILE__), __FILE__);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        static char buf[1 << 20];
        size_t n;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
        count++;
    }
    closedir(d);
    assert_true(count >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_head_limits_and_garbage),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_head_timeout_after_keepalive),
        cmocka_unit_test(test_stream_exact_bytes),
        cmocka_unit_test(test_client_abort),
        cmocka_unit_test(test_slow_client_and_drain),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_fake_byte_by_byte),
        cmocka_unit_test(test_fast_path_same_as_parser),
        cmocka_unit_test(test_fake_expire),
        cmocka_unit_test(test_sse_helpers),
        cmocka_unit_test(test_fuzz_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
