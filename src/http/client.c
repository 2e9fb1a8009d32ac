/* SPDX-License-Identifier: MIT */
/* src/http/client.c - HTTP/1.1 client: keep-alive pool per origin, streamed responses.
 *
 * Objects: a pool (one origin) owns its connections (struct conn) and the calls waiting for an
 * address; a connection carries at most one call at a time (no pipelining). A conn embeds its
 * uv_tcp_t, a uv_timer_t (connect timeout, response timeout, deferred resume), its write and
 * connect requests, the http_parser, a fixed read buffer and growable header storage, all
 * reused from one response to the next: the only allocation per request is the call itself,
 * which carries the formatted request head and a copy of the body in the same block.
 *
 * Invariants:
 * - conn memory is freed only in the close callback of its last handle (STYLE §4d); a closed
 *   conn leaves pool->conns and pool->idle at once, so lists only hold usable connections.
 * - A user callback never sees its call freed under it: on_done is fired either straight from
 *   a libuv callback (nothing of the call's is on the stack) or, for a cancel (which may come
 *   from inside on_head/on_body, or from another call's callbacks), from the pool's defer timer
 *   on a later loop turn. Like h2o http1client's _delay_free, the call stays alive while a
 *   callback runs and the parser driver checks c->call after each one before going on.
 * - A parser callback that must hand control back (head complete, message complete, the user
 *   paused or cancelled) pauses the parser; the driver (conn_feed) acts outside the parser.
 *   Bytes not yet parsed when a call pauses stay in rbuf[roff, roff + rlen), and reading is
 *   stopped until they have been fed.
 * - Idle connections keep reading, so a peer's close is seen (and the conn dropped) early;
 *   what remains is the race of a close crossing our request, covered by the one retry.
 *
 * The pool's memory goes after kv_http_pool_close() once every conn has closed, no address
 * lookup is running and every deferred on_done has fired; its own timer closes last.
 */
#include "http/client.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/internal.h"

#define RBUF_SIZE (16 * 1024)
/* A resolved name is reused this long; a failed connect forgets it sooner. */
#define DNS_TTL_NS (10ull * 1000 * 1000 * 1000)

struct link {
    struct link *prev, *next;
};

enum conn_state { CONN_CONNECTING = 0, CONN_IDLE, CONN_ACTIVE, CONN_CLOSING };

/* Why the parser was paused by a callback of ours (besides user pause / cancel). */
enum conn_event { EV_NONE = 0, EV_HEAD, EV_DONE };

/* Offsets into conn->hb: stable while hb grows. */
struct hspan {
    uint32_t name, value;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_write_t write_req;
    http_parser parser;
    struct kv_http_pool *pool;
    struct kv_http_call *call;
    struct link link;      /* pool->conns while not closing */
    struct link idle_link; /* pool->idle while idle */
    enum conn_state state;
    enum conn_event ev;
    int handles; /* open handles; memory is freed when the last one closed */
    int err;     /* set by a parser callback that failed */
    int hstate;  /* 0 before headers, 1 in a name, 2 in a value */
    bool reused; /* a response already completed on this connection */
    bool writing;
    bool reading;
    bool resume_pending;
    bool interim; /* inside a 1xx response, which is skipped */
    bool timer_on;
    bool fast;          /* this response's head was split by fast_head(); body: fast_left */
    uint64_t fast_left; /* fast: body bytes still to come */
    uint64_t due;       /* uv_now() ms of the current deadline; 0: none */
    uint64_t timer_due; /* when the running timer fires (>= due is found out then) */
    size_t head_bytes;
    size_t roff, rlen;
    struct kv_buf hb;
    struct hspan *spans;
    struct kv_http_header *hdrs;
    size_t nspans, cap;
    char rbuf[RBUF_SIZE];
};

struct kv_http_call {
    struct kv_http_pool *pool;
    struct conn *conn;
    struct kv_http_call_cbs cbs;
    void *data;
    struct link link; /* pool->waiting or pool->deferred */
    uint64_t first_byte_ns;
    size_t head_len, body_len;
    const char *body;  /* after the head in mem, or the caller's (lent) */
    char *spill;       /* lent body: owned copy of what a uv_write still has to send */
    int done_status;
    int in_cb; /* depth of user callbacks running for this call */
    bool is_head, paused, retried, head_done, done, lent;
    char mem[]; /* request head, then the body unless lent */
};

struct kv_http_pool {
    uv_loop_t *loop;
    uv_timer_t defer;
    uv_getaddrinfo_t gai;
    char *host;
    char *host_hdr; /* "Host: h:p\r\n" */
    size_t host_hdr_len;
    int port;
    unsigned max_idle, connect_ms, response_ms;
    size_t max_header_bytes;
    struct sockaddr_storage addr;
    struct sockaddr_storage bind_addr;
    bool bind;
    uint64_t addr_expiry_ns;
    bool numeric, have_addr, gai_active, closing, freeing;
    struct link conns, idle, waiting, deferred;
    unsigned nidle, nbusy, nconns;
    uint64_t retries;
    bool fast_path; /* plain responses skip http-parser (see fast_head); tests turn it off */
    uint64_t fast_responses;
};

/* ---- intrusive circular lists ---- */

static void list_init(struct link *h)
{
    h->prev = h->next = h;
}

static bool list_empty(const struct link *h)
{
    return h->next == h;
}

static void list_push(struct link *h, struct link *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static void list_remove(struct link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* ---- forward declarations ---- */

static const http_parser_settings parser_settings;
static void conn_close(struct conn *c);
static void conn_fail(struct conn *c, int err);
static int call_dispatch(struct kv_http_call *call, bool allow_idle);
static void on_timer(uv_timer_t *t);
static void call_free(struct kv_http_call *call);

/* ---- pool lifetime ---- */

static void on_pool_closed(uv_handle_t *h)
{
    struct kv_http_pool *pool = kv_container_of(h, struct kv_http_pool, defer);
    free(pool->host);
    free(pool->host_hdr);
    free(pool);
}

static void pool_maybe_free(struct kv_http_pool *pool)
{
    if (!pool->closing || pool->freeing || pool->nconns || pool->gai_active ||
        !list_empty(&pool->deferred))
        return;
    pool->freeing = true;
    uv_close((uv_handle_t *)&pool->defer, on_pool_closed);
}

/* Fires the on_done of cancelled calls, outside whatever callback cancelled them. */
static void on_defer(uv_timer_t *t)
{
    struct kv_http_pool *pool = kv_container_of(t, struct kv_http_pool, defer);

    while (!list_empty(&pool->deferred)) {
        struct link *l = pool->deferred.next;
        struct kv_http_call *call = kv_container_of(l, struct kv_http_call, link);
        list_remove(l);
        call->cbs.on_done(call, call->done_status, call->data);
        call_free(call);
    }
    pool_maybe_free(pool);
}

/* Strips [] from an IPv6 literal and decides whether <host> needs a lookup. */
static int pool_set_origin(struct kv_http_pool *pool, const char *host, int port)
{
    size_t n = strlen(host);
    bool v6;
    int len;

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        pool->host = kv_strndup(host + 1, n - 2);
    else
        pool->host = kv_strdup(host);
    v6 = uv_ip6_addr(pool->host, port, (struct sockaddr_in6 *)&pool->addr) == 0;
    pool->numeric = v6 || uv_ip4_addr(pool->host, port, (struct sockaddr_in *)&pool->addr) == 0;
    pool->have_addr = pool->numeric;
    len = snprintf(NULL, 0, v6 ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n", pool->host, port);
    pool->host_hdr = kv_malloc((size_t)len + 1);
    snprintf(pool->host_hdr, (size_t)len + 1, v6 ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n",
             pool->host, port);
    pool->host_hdr_len = (size_t)len;
    return strpbrk(pool->host, "\r\n /") ? UV_EINVAL : 0;
}

int kv_http_pool_new(uv_loop_t *loop, const struct kv_http_pool_config *cfg,
                     struct kv_http_pool **out)
{
    struct kv_http_pool *pool;
    int rc;

    if (!loop || !cfg || !cfg->host || !cfg->host[0] || cfg->port <= 0 || cfg->port > 65535 || !out)
        return UV_EINVAL;
    pool = kv_calloc(1, sizeof(*pool));
    pool->loop = loop;
    pool->port = cfg->port;
    pool->max_idle = cfg->max_idle ? cfg->max_idle : 32;
    pool->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000;
    pool->response_ms = cfg->response_timeout_ms ? cfg->response_timeout_ms : 300000;
    pool->max_header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes : 64 * 1024;
    pool->fast_path = true;
    list_init(&pool->conns);
    list_init(&pool->idle);
    list_init(&pool->waiting);
    list_init(&pool->deferred);
    rc = pool_set_origin(pool, cfg->host, cfg->port);
    if (rc == 0 && cfg->bind_host) {
        pool->bind = true;
        rc = uv_ip4_addr(cfg->bind_host, 0, (struct sockaddr_in *)&pool->bind_addr);
        if (rc < 0)
            rc = uv_ip6_addr(cfg->bind_host, 0, (struct sockaddr_in6 *)&pool->bind_addr);
    }
    if (rc == 0)
        rc = uv_timer_init(loop, &pool->defer);
    if (rc < 0) {
        free(pool->host);
        free(pool->host_hdr);
        free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void kv_http_pool_close(struct kv_http_pool *pool)
{
    struct link *l, *next;

    if (!pool || pool->closing)
        return;
    pool->closing = true;
    while (!list_empty(&pool->waiting))
        kv_http_call_cancel(kv_container_of(pool->waiting.next, struct kv_http_call, link));
    /* Cancelling a call closes its conn, which unlinks only the current element. */
    for (l = pool->conns.next; l != &pool->conns; l = next) {
        struct conn *c = kv_container_of(l, struct conn, link);
        next = l->next;
        if (c->call)
            kv_http_call_cancel(c->call);
        else
            conn_close(c);
    }
    if (pool->gai_active)
        uv_cancel((uv_req_t *)&pool->gai);
    pool_maybe_free(pool);
}

unsigned kv_http_pool_idle(const struct kv_http_pool *pool)
{
    return pool->nidle;
}

unsigned kv_http_pool_busy(const struct kv_http_pool *pool)
{
    return pool->nbusy;
}

uint64_t kv_http_pool_retries(const struct kv_http_pool *pool)
{
    return pool->retries;
}

/* ---- call completion ---- */

static void call_free(struct kv_http_call *call)
{
    free(call->spill);
    free(call);
}

/* Ends <call> with <status> now; only from libuv callbacks, where none of the call's own
 * callbacks is on the stack. The call must already be detached from any conn and list. */
static void call_finish(struct kv_http_call *call, int status)
{
    call->done = true;
    call->conn = NULL;
    call->cbs.on_done(call, status, call->data);
    call_free(call);
}

/* Ends <call> on a later loop turn (see the file comment). */
static void call_defer(struct kv_http_call *call, int status)
{
    struct kv_http_pool *pool = call->pool;

    call->done = true;
    call->conn = NULL;
    call->done_status = status;
    list_push(&pool->deferred, &call->link);
    uv_timer_start(&pool->defer, on_defer, 0, 0);
}

/* ---- connections ---- */

/* connecting -> active -> idle -> active ... ; any -> closing, which is final. */
static void conn_set_state(struct conn *c, enum conn_state to)
{
    static const unsigned legal[] = {
        [CONN_CONNECTING] = 1u << CONN_ACTIVE | 1u << CONN_CLOSING,
        [CONN_IDLE] = 1u << CONN_ACTIVE | 1u << CONN_CLOSING,
        [CONN_ACTIVE] = 1u << CONN_IDLE | 1u << CONN_CLOSING,
        [CONN_CLOSING] = 0,
    };
    assert(legal[c->state] & (1u << to));
    (void)legal;
    c->state = to;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct kv_http_pool *pool = c->pool;

    if (--c->handles > 0)
        return;
    kv_buf_cleanup(&c->hb);
    free(c->spans);
    free(c->hdrs);
    free(c);
    pool->nconns--;
    pool_maybe_free(pool);
}

/* Starts closing <c> and forgets its call (the caller settles the call). Idempotent. */
static void conn_close(struct conn *c)
{
    struct kv_http_pool *pool = c->pool;

    if (c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_IDLE) {
        list_remove(&c->idle_link);
        pool->nidle--;
    } else {
        pool->nbusy--;
    }
    list_remove(&c->link);
    conn_set_state(c, CONN_CLOSING);
    c->call = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_reading(struct conn *c, bool on)
{
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Sets the deadline <ms> from now. Deadlines move on with every request and every read, so
 * the timer is restarted only when the deadline comes earlier than the timer's due time; a
 * timer that fires early re-arms for what is left (as the server's timers do). */
static void conn_arm(struct conn *c, unsigned ms)
{
    uint64_t now = uv_now(c->pool->loop);

    c->due = now + ms;
    if (c->timer_on && c->timer_due <= c->due)
        return;
    uv_timer_start(&c->timer, on_timer, ms, 0);
    c->timer_on = true;
    c->timer_due = c->due;
}

/* No deadline; a running timer finds none when it fires. */
static void conn_disarm(struct conn *c)
{
    c->due = 0;
}

/* The timer at once, for a deferred resume (which re-arms the deadline itself). */
static void conn_kick(struct conn *c)
{
    uv_timer_start(&c->timer, on_timer, 0, 0);
    c->timer_on = true;
    c->timer_due = uv_now(c->pool->loop);
}

static void conn_to_idle(struct conn *c)
{
    struct kv_http_pool *pool = c->pool;

    conn_set_state(c, CONN_IDLE);
    c->call = NULL;
    c->reused = true;
    pool->nbusy--;
    pool->nidle++;
    list_push(&pool->idle, &c->idle_link);
    conn_disarm(c);
    conn_reading(c, true);
}

static void on_connect(uv_connect_t *req, int status);

/* Opens a connection to the pool's current address; it counts as busy from the start. */
static int conn_open(struct kv_http_pool *pool, struct conn **out)
{
    struct conn *c = kv_malloc(sizeof(*c));
    int rc;

    memset(c, 0, offsetof(struct conn, rbuf));
    c->pool = pool;
    list_init(&c->idle_link);
    kv_buf_init(&c->hb, pool->max_header_bytes);
    uv_tcp_init(pool->loop, &c->tcp);
    uv_timer_init(pool->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->state = CONN_CONNECTING;
    pool->nconns++;
    pool->nbusy++;
    list_push(&pool->conns, &c->link);
    rc = pool->bind ? uv_tcp_bind(&c->tcp, (const struct sockaddr *)&pool->bind_addr, 0) : 0;
    if (rc == 0)
        rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&pool->addr,
                            on_connect);
    if (rc < 0) {
        conn_close(c);
        return rc;
    }
    conn_arm(c, pool->connect_ms);
    *out = c;
    return 0;
}

/* Binds <call> to <c> with a fresh parser and empty header storage. */
static void conn_attach(struct conn *c, struct kv_http_call *call)
{
    c->call = call;
    call->conn = c;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->ev = EV_NONE;
    c->err = 0;
    c->hstate = 0;
    c->interim = false;
    c->head_bytes = 0;
    c->roff = c->rlen = 0;
    c->resume_pending = false;
    c->nspans = 0;
    c->fast = false;
    c->fast_left = 0;
    kv_buf_reset(&c->hb);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = kv_container_of(req, struct conn, write_req);

    c->writing = false;
    /* Once response bytes came, the read side decides how the call ends. */
    if (status < 0 && c->state == CONN_ACTIVE && c->call && !c->call->first_byte_ns)
        conn_fail(c, status);
}

/* Writes head and body with one syscall when the socket takes them, else queues the rest. */
static int call_send(struct kv_http_call *call)
{
    struct conn *c = call->conn;
    uv_buf_t bufs[2];
    unsigned nbufs = call->body_len ? 2 : 1;
    unsigned i = 0;
    size_t sent;
    int n;

    bufs[0] = uv_buf_init(call->mem, (unsigned)call->head_len);
    bufs[1] = uv_buf_init((char *)call->body, (unsigned)call->body_len);
    n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (n < 0 && n != UV_EAGAIN)
        return n;
    sent = n > 0 ? (size_t)n : 0;
    while (i < nbufs && sent >= bufs[i].len)
        sent -= bufs[i++].len;
    if (i < nbufs) {
        bufs[i].base += sent;
        bufs[i].len -= sent;
        if (call->lent && nbufs == 2) {
            /* The lender may free its body once the response starts; the write may last
             * longer. (A retry sends from the lent body again: it comes before any head.) */
            free(call->spill);
            call->spill = kv_memdup(bufs[1].base, bufs[1].len);
            bufs[1].base = call->spill;
        }
        n = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs + i, nbufs - i, on_write);
        if (n < 0)
            return n;
        c->writing = true;
    }
    if (!call->paused)
        conn_arm(c, c->pool->response_ms);
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = kv_container_of(req, struct conn, connect_req);
    struct kv_http_call *call = c->call;
    int rc;

    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        c->pool->have_addr = c->pool->numeric;
        conn_close(c);
        call_finish(call, status);
        return;
    }
    conn_set_state(c, CONN_ACTIVE);
    uv_tcp_nodelay(&c->tcp, 1);
    conn_disarm(c);
    if (!call->paused)
        conn_reading(c, true);
    rc = call_send(call);
    if (rc < 0)
        conn_fail(c, rc);
}

/* Closes <c> and ends its call with <err>, or retries it once on a fresh connection when a
 * reused connection died before answering (the peer closed it while it sat in the pool). */
static void conn_fail(struct conn *c, int err)
{
    struct kv_http_call *call = c->call;
    bool dead = err == KV_EEOF || err == UV_ECONNRESET || err == UV_EPIPE;
    int rc;

    conn_close(c);
    if (!call)
        return;
    call->conn = NULL;
    if (dead && c->reused && !call->first_byte_ns && !call->retried && !call->paused) {
        call->retried = true;
        c->pool->retries++;
        rc = call_dispatch(call, false);
        if (rc == 0)
            return;
        err = rc;
    }
    call_finish(call, err);
}

/* ---- response parsing ---- */

static int hb_add(struct conn *c, const char *p, size_t n)
{
    if (kv_buf_append(&c->hb, p, n) < 0) {
        c->err = KV_EPROTO;
        return -1;
    }
    return 0;
}

/* Terminates the header being stored; a name without a value gets "". */
static int span_end(struct conn *c)
{
    if (c->hstate == 1) {
        if (hb_add(c, "", 1) < 0)
            return -1;
        c->spans[c->nspans - 1].value = (uint32_t)c->hb.len;
    }
    return c->hstate != 0 ? hb_add(c, "", 1) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    size_t start;

    if (c->hstate != 1) {
        if (span_end(c) < 0 || c->hb.len > UINT32_MAX)
            return -1;
        if (c->nspans == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16;
            c->spans = kv_realloc(c->spans, c->cap * sizeof(*c->spans));
            c->hdrs = kv_realloc(c->hdrs, c->cap * sizeof(*c->hdrs));
        }
        c->spans[c->nspans].name = (uint32_t)c->hb.len;
        c->spans[c->nspans].value = (uint32_t)c->hb.len;
        c->nspans++;
        c->hstate = 1;
    }
    start = c->hb.len;
    if (hb_add(c, at, len) < 0)
        return -1;
    for (char *s = c->hb.data + start, *end = s + len; s < end; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (c->hstate != 2) {
        if (hb_add(c, "", 1) < 0)
            return -1;
        c->spans[c->nspans - 1].value = (uint32_t)c->hb.len;
        c->hstate = 2;
    }
    return hb_add(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    int status = p->status_code;

    if (span_end(c) < 0)
        return -1;
    if (status == 101) {
        c->err = KV_EPROTO; /* we never ask to switch protocols */
        return -1;
    }
    if (status / 100 == 1) {
        /* An interim response: forget it and parse the real one that follows. */
        c->interim = true;
        c->hstate = 0;
        c->nspans = 0;
        kv_buf_reset(&c->hb);
        return 0;
    }
    c->ev = EV_HEAD;
    http_parser_pause(p, 1);
    return c->call->is_head || status == 204 || status == 304 ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct kv_http_call *call = c->call;
    int rc = 0;

    if (call->cbs.on_body) {
        call->in_cb++;
        rc = call->cbs.on_body(call, at, len, call->data);
        call->in_cb--;
    }
    if (rc != 0)
        kv_http_call_cancel(call);
    if (c->call != call || call->paused)
        http_parser_pause(p, 1);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;

    if (c->interim) {
        c->interim = false;
        return 0;
    }
    c->ev = EV_DONE;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Counts head bytes against the cap (http-parser's own cap is process-wide). */
static bool head_add(struct conn *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes <= c->pool->max_header_bytes)
        return true;
    conn_fail(c, KV_EPROTO);
    return false;
}

/* Hands the head to the user; false when the call went away meanwhile. */
static bool head_deliver(struct conn *c)
{
    struct kv_http_call *call = c->call;
    int rc = 0;

    for (size_t i = 0; i < c->nspans; i++) {
        char *v = c->hb.data + c->spans[i].value;
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            v[--n] = '\0';
        c->hdrs[i].name = c->hb.data + c->spans[i].name;
        c->hdrs[i].value = v;
    }
    call->head_done = true;
    if (!call->paused)
        conn_arm(c, c->pool->response_ms);
    if (call->cbs.on_head) {
        call->in_cb++;
        rc = call->cbs.on_head(call, c->parser.status_code, c->hdrs, c->nspans, call->data);
        call->in_cb--;
    }
    if (rc != 0)
        kv_http_call_cancel(call);
    return c->call == call;
}

/* The response ended cleanly: pool the connection if both sides allow it, then report. */
static void conn_done(struct conn *c, size_t leftover)
{
    struct kv_http_pool *pool = c->pool;
    struct kv_http_call *call = c->call;

    call->conn = NULL;
    /* Bytes after the response would be a response to nothing: the stream is unusable. */
    if (leftover == 0 && !c->writing && !pool->closing && pool->nidle < pool->max_idle &&
        (c->fast || http_should_keep_alive(&c->parser)))
        conn_to_idle(c);
    else
        conn_close(c);
    call_finish(call, 0);
}

/* ---- fast path for plain responses ----
 *
 * http-parser's per-byte cost is most of a small response's. A head that is whole in the
 * read, plain (HTTP/1.1, a final status 200..599 other than 204 and 304, token names, ASCII
 * values, exactly one Content-Length, no Connection, Transfer-Encoding or Upgrade) of a call
 * that is not HEAD is split by fast_head() into what the parser callbacks would have stored;
 * its body is then counted off by fast_feed(). Anything else goes to http-parser, which then
 * is still at the start of a response. Such a response is kept alive (HTTP/1.1, no
 * Connection header), as http_should_keep_alive() would say. */

/* "HTTP/1.1 DDD <reason>\r\n" with 200 <= DDD <= 599 but 204, 304; returns its length. */
static size_t fast_status(const char *d, size_t len, int *status)
{
    size_t i = 13;

    if (len < 15 || memcmp(d, "HTTP/1.1 ", 9) != 0 || d[12] != ' ')
        return 0;
    for (int k = 9; k < 12; k++)
        if (d[k] < '0' || d[k] > '9')
            return 0;
    *status = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
    if (*status < 200 || *status > 599 || *status == 204 || *status == 304)
        return 0;
    while (i < len && ((d[i] >= 0x20 && d[i] < 0x7f) || d[i] == '\t'))
        i++;
    return len - i >= 2 && d[i] == '\r' && d[i + 1] == '\n' ? i + 2 : 0;
}

/* Stores one header as on_header_field/on_header_value do: lower-cased name\0 value\0. */
static void fast_store(struct conn *c, const char *d, const struct kv__h1scan_field *h)
{
    char *p;

    if (c->nspans == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->spans = kv_realloc(c->spans, c->cap * sizeof(*c->spans));
        c->hdrs = kv_realloc(c->hdrs, c->cap * sizeof(*c->hdrs));
    }
    c->spans[c->nspans].name = (uint32_t)c->hb.len;
    c->spans[c->nspans].value = (uint32_t)(c->hb.len + h->name_len + 1);
    c->nspans++;
    p = c->hb.data + c->hb.len; /* room reserved by fast_head() */
    for (size_t i = 0; i < h->name_len; i++) {
        char ch = d[h->name + i];
        p[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    p[h->name_len] = '\0';
    memcpy(p + h->name_len + 1, d + h->value, h->value_len);
    p[h->name_len + 1 + h->value_len] = '\0';
    c->hb.len += h->name_len + h->value_len + 2;
    c->hb.data[c->hb.len] = '\0';
}

/* Header lines a plain head may have; more go to http-parser. */
#define FAST_MAX_FIELDS 32

/* Scans a plain head at <d>: its length, with *status, *clen and its fields h[0, *nh), or 0. */
static size_t fast_scan(const struct conn *c, const char *d, size_t len, int *status,
                        uint64_t *clen, struct kv__h1scan_field *h, unsigned *nh)
{
    size_t lim = KV_MIN(len, c->pool->max_header_bytes - 2), off;
    bool has_clen = false;

    if (c->call->is_head || c->pool->max_header_bytes < 64 ||
        (off = fast_status(d, lim, status)) == 0 ||
        (off = kv__h1scan_fields(d, off, lim, h, FAST_MAX_FIELDS, nh)) == 0)
        return 0;
    for (unsigned i = 0; i < *nh; i++) {
        enum kv__h1scan_kind kind = kv__h1scan_kind(d + h[i].name, h[i].name_len);
        if (kind == KV__H1SCAN_CONTENT_LENGTH &&
            (has_clen || !kv__h1scan_clen(d + h[i].value, h[i].value_len, clen)))
            return 0;
        if (kind == KV__H1SCAN_TRANSFER_ENCODING || kind == KV__H1SCAN_CONNECTION ||
            kind == KV__H1SCAN_UPGRADE)
            return 0; /* framing or connection use: http-parser's */
        has_clen |= kind == KV__H1SCAN_CONTENT_LENGTH;
    }
    return has_clen ? off : 0;
}

/* Takes the head of a plain response at rbuf[off, off + len) and hands it over; returns the
 * head's length (then c->fast is set), or 0 to let http-parser parse it (nothing touched). */
static size_t fast_head(struct conn *c, size_t off, size_t len)
{
    const char *d = c->rbuf + off;
    struct kv__h1scan_field h[FAST_MAX_FIELDS];
    size_t hlen = 0;
    uint64_t clen = 0;
    unsigned nh = 0;
    int status = 0;

    if (!c->pool->fast_path || (hlen = fast_scan(c, d, len, &status, &clen, h, &nh)) == 0 ||
        kv_buf_reserve(&c->hb, hlen) < 0)
        return 0;
    for (unsigned i = 0; i < nh; i++)
        fast_store(c, d, &h[i]);
    c->parser.status_code = (unsigned)status;
    c->head_bytes = hlen;
    c->fast = true;
    c->fast_left = clen;
    c->pool->fast_responses++;
    return hlen;
}

/* Hands the body of a fast response over: at most fast_left bytes, then the end. Returns as
 * conn_feed(). */
static bool fast_feed(struct conn *c, size_t off, size_t len)
{
    struct kv_http_call *call = c->call;

    while (c->fast_left > 0 && len > 0) {
        size_t n = (size_t)KV_MIN((uint64_t)len, c->fast_left);
        int rc = 0;

        c->fast_left -= n;
        if (call->cbs.on_body) {
            call->in_cb++;
            rc = call->cbs.on_body(call, c->rbuf + off, n, call->data);
            call->in_cb--;
        }
        if (rc != 0)
            kv_http_call_cancel(call);
        off += n;
        len -= n;
        if (c->call != call)
            return false;
        if (call->paused) {
            c->roff = off;
            c->rlen = len;
            return true;
        }
    }
    if (c->fast_left > 0)
        return true;
    conn_done(c, len);
    return false;
}

/* Parses rbuf[off, off + len) for the conn's call. Returns true while the call is still on
 * this conn (all fed, or paused with the rest kept), false once it has ended or moved. */
static bool conn_feed(struct conn *c, size_t off, size_t len)
{
    struct kv_http_call *call = c->call;
    size_t hl;

    if (c->fast)
        return fast_feed(c, off, len);
    if (!call->head_done && c->head_bytes == 0 && !c->interim &&
        (hl = fast_head(c, off, len)) > 0) {
        if (!head_deliver(c))
            return false;
        if (call->paused) {
            c->roff = off + hl;
            c->rlen = len - hl;
            return true;
        }
        return fast_feed(c, off + hl, len - hl);
    }
    while (len > 0) {
        size_t n = http_parser_execute(&c->parser, &parser_settings, c->rbuf + off, len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        off += n;
        len -= n;
        if (e == HPE_OK)
            return call->head_done || head_add(c, n);
        if (e != HPE_PAUSED) {
            conn_fail(c, c->err ? c->err : KV_EPROTO);
            return false;
        }
        http_parser_pause(&c->parser, 0);
        if (c->call != call)
            return false; /* cancelled from a callback */
        if (c->ev == EV_HEAD) {
            c->ev = EV_NONE;
            if (!head_add(c, n + 1) || !head_deliver(c))
                return false;
        } else if (c->ev == EV_DONE) {
            conn_done(c, len);
            return false;
        }
        if (call->paused) {
            c->roff = off;
            c->rlen = len;
            return true;
        }
    }
    return true;
}

/* The peer closed: that ends a close-delimited body, anything else is cut short. */
static void conn_eof(struct conn *c)
{
    if (c->call->head_done && !c->fast) {
        http_parser_execute(&c->parser, &parser_settings, NULL, 0);
        if (c->ev == EV_DONE) {
            http_parser_pause(&c->parser, 0);
            conn_done(c, 0);
            return;
        }
    }
    conn_fail(c, KV_EEOF);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    struct kv_http_call *call = c->call;

    (void)buf;
    if (nread == 0)
        return;
    if (!call) {
        conn_close(c); /* idle: the peer closed, failed, or spoke out of turn */
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF)
            conn_eof(c);
        else
            conn_fail(c, (int)nread);
        return;
    }
    if (!call->first_byte_ns)
        call->first_byte_ns = kv_time_ns();
    if (call->head_done)
        conn_arm(c, c->pool->response_ms);
    conn_feed(c, 0, (size_t)nread);
}

/* Feeds what a pause left behind, then reads on. */
static void conn_resume_now(struct conn *c)
{
    struct kv_http_call *call = c->call;
    size_t off = c->roff, len = c->rlen;

    c->resume_pending = false;
    c->roff = c->rlen = 0;
    if (!conn_feed(c, off, len) || call->paused)
        return;
    conn_reading(c, true);
    conn_arm(c, c->pool->response_ms);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    uint64_t now = uv_now(c->pool->loop);

    c->timer_on = false;
    if (c->resume_pending) {
        if (c->call && !c->call->paused) /* paused again first: the next resume kicks anew */
            conn_resume_now(c);
        return;
    }
    if (c->due == 0)
        return;
    if (now < c->due) {
        conn_arm(c, (unsigned)(c->due - now));
        return;
    }
    if (!c->call) {
        conn_close(c);
        return;
    }
    conn_fail(c, KV_ETIMEOUT);
}

/* ---- address lookup ---- */

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct kv_http_pool *pool = kv_container_of(req, struct kv_http_pool, gai);
    struct link todo;

    pool->gai_active = false;
    if (status == 0 && res) {
        memcpy(&pool->addr, res->ai_addr, res->ai_addrlen);
        pool->have_addr = true;
        pool->addr_expiry_ns = kv_time_ns() + DNS_TTL_NS;
    } else if (status == 0) {
        status = UV_EAI_NONAME;
    }
    uv_freeaddrinfo(res);
    /* Move the waiters aside: their callbacks may queue new calls. */
    list_init(&todo);
    if (!list_empty(&pool->waiting)) {
        todo.next = pool->waiting.next;
        todo.prev = pool->waiting.prev;
        todo.next->prev = todo.prev->next = &todo;
        list_init(&pool->waiting);
    }
    while (!list_empty(&todo)) {
        struct kv_http_call *call = kv_container_of(todo.next, struct kv_http_call, link);
        int rc = pool->closing ? UV_ECANCELED : status;
        list_remove(&call->link);
        if (rc == 0)
            rc = call_dispatch(call, true);
        if (rc < 0)
            call_finish(call, rc);
    }
    pool_maybe_free(pool);
}

static int pool_resolve(struct kv_http_pool *pool)
{
    struct addrinfo hints;
    char port[8];
    int rc;

    if (pool->gai_active)
        return 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", pool->port);
    rc = uv_getaddrinfo(pool->loop, &pool->gai, on_resolved, pool->host, port, &hints);
    if (rc == 0)
        pool->gai_active = true;
    return rc;
}

/* ---- calls ---- */

/* Puts <call> on a connection: the most recently pooled one (warmest) if allowed, else a new
 * one, else waits for the address. Returns 0 or < 0 (then the call is on nothing). */
static int call_dispatch(struct kv_http_call *call, bool allow_idle)
{
    struct kv_http_pool *pool = call->pool;
    struct conn *c;
    int rc;

    if (pool->closing)
        return UV_ECANCELED;
    while (allow_idle && !list_empty(&pool->idle)) {
        c = kv_container_of(pool->idle.prev, struct conn, idle_link);
        list_remove(&c->idle_link);
        pool->nidle--;
        pool->nbusy++;
        conn_set_state(c, CONN_ACTIVE);
        conn_attach(c, call);
        if (call->paused)
            conn_reading(c, false);
        if (call_send(call) == 0)
            return 0;
        call->conn = NULL;
        conn_close(c); /* it died in the pool: try the next */
    }
    if (pool->have_addr && !pool->numeric && kv_time_ns() > pool->addr_expiry_ns)
        pool->have_addr = false;
    if (!pool->have_addr) {
        rc = pool_resolve(pool);
        if (rc == 0)
            list_push(&pool->waiting, &call->link);
        return rc;
    }
    rc = conn_open(pool, &c);
    if (rc < 0)
        return rc;
    conn_attach(c, call);
    return 0;
}

/* Length of <s>, or SIZE_MAX when it holds a CR or LF (which would break the framing). */
static size_t field_len(const char *s)
{
    size_t n = strcspn(s, "\r\n");
    return s[n] ? SIZE_MAX : n;
}

/* Size of the request head, or 0 when an input would break the framing. */
static size_t head_size(const struct kv_http_pool *pool, const char *method, const char *path,
                        const char *const *headers, const char *cl)
{
    size_t n = strlen(method) + 1 + strlen(path) + sizeof(" HTTP/1.1\r\n") - 1;

    if (!method[0] || !path[0] || strpbrk(method, " \r\n") || strpbrk(path, " \r\n"))
        return 0;
    n += pool->host_hdr_len;
    for (size_t i = 0; headers && headers[i]; i += 2) {
        size_t kn = field_len(headers[i]), vn = headers[i + 1] ? field_len(headers[i + 1]) : 0;
        if (!headers[i + 1] || kn == SIZE_MAX || vn == SIZE_MAX)
            return 0;
        n += kn + 2 + vn + 2;
    }
    if (cl[0])
        n += sizeof("Content-Length: \r\n") - 1 + strlen(cl);
    return n + 2;
}

static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static void head_write(char *p, const struct kv_http_pool *pool, const char *method,
                       const char *path, const char *const *headers, const char *cl)
{
    p = put(p, method);
    *p++ = ' ';
    p = put(p, path);
    p = put(p, " HTTP/1.1\r\n");
    memcpy(p, pool->host_hdr, pool->host_hdr_len);
    p += pool->host_hdr_len;
    for (size_t i = 0; headers && headers[i]; i += 2) {
        p = put(p, headers[i]);
        p = put(p, ": ");
        p = put(p, headers[i + 1]);
        p = put(p, "\r\n");
    }
    if (cl[0]) {
        p = put(p, "Content-Length: ");
        p = put(p, cl);
        p = put(p, "\r\n");
    }
    put(p, "\r\n");
}

static int call_start(struct kv_http_pool *pool, const char *method, const char *path,
                      const char *const *headers, const char *body, size_t len, bool lend,
                      const struct kv_http_call_cbs *cbs, void *data, struct kv_http_call **out)
{
    struct kv_http_call *call;
    char cl[KV_BUF_U64_MAX] = "";
    size_t hlen;
    int rc;

    if (!pool || pool->closing || !method || !path || !cbs || !cbs->on_done || (len && !body) ||
        len > UINT32_MAX)
        return UV_EINVAL;
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0)
        kv_buf_fmt_u64(cl, len);
    hlen = head_size(pool, method, path, headers, cl);
    if (hlen == 0 || hlen > UINT32_MAX)
        return UV_EINVAL;
    call = kv_malloc(sizeof(*call) + hlen + (lend ? 0 : len));
    memset(call, 0, sizeof(*call));
    call->pool = pool;
    call->cbs = *cbs;
    call->data = data;
    list_init(&call->link);
    call->head_len = hlen;
    call->body_len = len;
    call->lent = lend;
    call->is_head = strcmp(method, "HEAD") == 0;
    head_write(call->mem, pool, method, path, headers, cl);
    call->body = lend ? body : call->mem + hlen;
    if (len && !lend)
        memcpy(call->mem + hlen, body, len);
    rc = call_dispatch(call, true);
    if (rc < 0) {
        call_free(call);
        return rc;
    }
    if (out)
        *out = call;
    return 0;
}

int kv_http_call_start(struct kv_http_pool *pool, const char *method, const char *path,
                       const char *const *headers, const char *body, size_t len,
                       const struct kv_http_call_cbs *cbs, void *data, struct kv_http_call **out)
{
    return call_start(pool, method, path, headers, body, len, false, cbs, data, out);
}

int kv_http_call_start_lent(struct kv_http_pool *pool, const char *method, const char *path,
                            const char *const *headers, const char *body, size_t len,
                            const struct kv_http_call_cbs *cbs, void *data,
                            struct kv_http_call **out)
{
    return call_start(pool, method, path, headers, body, len, true, cbs, data, out);
}

void kv_http_call_pause(struct kv_http_call *call)
{
    struct conn *c;

    if (!call || call->done || call->paused)
        return;
    call->paused = true;
    c = call->conn;
    if (!c || c->state != CONN_ACTIVE)
        return;
    conn_reading(c, false);
    conn_disarm(c); /* a stalled reader is not a stalled server */
}

void kv_http_call_resume(struct kv_http_call *call)
{
    struct conn *c;

    if (!call || call->done || !call->paused)
        return;
    call->paused = false;
    c = call->conn;
    if (!c || c->state != CONN_ACTIVE)
        return;
    if ((c->rlen > 0 || (c->fast && c->fast_left == 0)) && !call->in_cb) {
        /* Feeding now could run on_body inside the caller's stack: do it next turn. */
        c->resume_pending = true;
        conn_kick(c);
        return;
    }
    conn_reading(c, true);
    conn_arm(c, c->pool->response_ms);
}

void kv_http_call_cancel(struct kv_http_call *call)
{
    struct conn *c;

    if (!call || call->done)
        return;
    list_remove(&call->link); /* from pool->waiting, if there */
    c = call->conn;
    if (c)
        conn_close(c);
    call_defer(call, UV_ECANCELED);
}

uint64_t kv_http_call_first_byte_ns(const struct kv_http_call *call)
{
    return call->first_byte_ns;
}

void kv__client_set_fast_path(struct kv_http_pool *pool, bool on)
{
    pool->fast_path = on;
}

uint64_t kv__client_fast_responses(const struct kv_http_pool *pool)
{
    return pool->fast_responses;
}
