/* SPDX-License-Identifier: MIT */
/* tests/unit/test_http_client.c - kv_http client against scripted loopback servers.
 *
 * The servers are blocking sockets, one thread per accepted connection, answering by request
 * path with canned bytes (see respond()); the client runs on a real uv loop in the test thread.
 * Steps that must land in separate reads are sequenced with a semaphore the client's callbacks
 * post, never with sleeps. Every test ends with kv_http_pool_close() and uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"
#include "http/internal.h"

#define MAX_WORKERS 64
#define REQ_MAX 8192

/* ---- scripted server ---- */

struct tsrv {
    int lfd, port;
    pthread_t acceptor;
    pthread_t workers[MAX_WORKERS];
    int nworkers;
    atomic_int conns, requests;
    sem_t go; /* posted by the client side to let a script take its next step */
    pthread_mutex_t mu;
    char last_req[REQ_MAX];
};

struct worker {
    struct tsrv *s;
    int fd;
    char buf[REQ_MAX];
    size_t len;
};

static bool say(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

static bool says(int fd, const char *s)
{
    return say(fd, s, strlen(s));
}

static bool wait_sem(sem_t *sem)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    while (sem_timedwait(sem, &ts) < 0)
        if (errno != EINTR)
            return false;
    return true;
}

static bool wait_go(struct tsrv *s)
{
    return wait_sem(&s->go);
}

/* Blocks until the peer closes (a server that never answers). */
static bool wait_eof(int fd)
{
    char b[512];
    while (recv(fd, b, sizeof(b), 0) > 0)
        ;
    return false;
}

/* Reads one request (head + Content-Length body) into <out>; returns its length, 0 at EOF. */
static size_t read_request(struct worker *w, char *out)
{
    for (;;) {
        char *end = memmem(w->buf, w->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - w->buf) + 4, total;
            char *cl = strcasestr(w->buf, "\r\ncontent-length:");
            total = head + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
            if (total >= REQ_MAX)
                return 0;
            if (w->len >= total) {
                memcpy(out, w->buf, total);
                out[total] = '\0';
                memmove(w->buf, w->buf + total, w->len - total);
                w->len -= total;
                return total;
            }
        }
        if (w->len >= REQ_MAX - 1)
            return 0;
        ssize_t n = recv(w->fd, w->buf + w->len, REQ_MAX - 1 - w->len, 0);
        if (n <= 0)
            return 0;
        w->len += (size_t)n;
        w->buf[w->len] = '\0';
    }
}

/* A response whose head (through the blank line) is exactly <n> bytes, then "ok". */
static bool say_head_of(int fd, int n)
{
    static const char a[] = "HTTP/1.1 200 OK\r\nX-Pad: ", b[] = "\r\nContent-Length: 2\r\n\r\nok";
    char buf[REQ_MAX];
    int pad = n - (int)(sizeof(a) - 1) - (int)(sizeof(b) - 1) + 2;
    if (pad < 1 || pad > 4000)
        return false;
    memcpy(buf, a, sizeof(a) - 1);
    memset(buf + sizeof(a) - 1, 'p', (size_t)pad);
    memcpy(buf + sizeof(a) - 1 + pad, b, sizeof(b));
    return says(fd, buf);
}

/* Canned answers by path; false closes the connection. */
static bool respond(struct worker *w, const char *req, size_t n, int reqno)
{
    char path[256] = "";
    int fd = w->fd, size;
    sscanf(req, "%*s %255s", path);
    if (!strcmp(path, "/cl"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test:  Yes \r\n"
                        "Content-Type: text/plain\r\nX-Empty:\r\n\r\nhello");
    if (!strcmp(path, "/echo")) {
        char head[64];
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        return says(fd, head) && say(fd, req, n);
    }
    if (!strcmp(path, "/head"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    if (!strcmp(path, "/204"))
        return says(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    if (!strcmp(path, "/304"))
        return says(fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
    if (!strcmp(path, "/100"))
        return says(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                        "\r\nok");
    if (!strcmp(path, "/chunk-steps"))
        return says(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") &&
               wait_go(w->s) && says(fd, "6;ext=1\r\n world\r\n") && wait_go(w->s) &&
               says(fd, "0\r\nX-Trailer: t\r\n\r\n");
    if (!strcmp(path, "/chunk-one"))
        return says(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
    if (!strcmp(path, "/head-then-body"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n") && wait_go(w->s) &&
               says(fd, "body");
    if (!strcmp(path, "/close-delimited"))
        return says(fd, "HTTP/1.1 200 OK\r\n\r\nabcdef") && false;
    if (!strcmp(path, "/conn-close"))
        return says(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok") &&
               false;
    if (!strcmp(path, "/close-after"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") && false;
    if (!strcmp(path, "/die2"))
        return reqno == 0 && says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (!strcmp(path, "/extra"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXYZ");
    if (!strcmp(path, "/trunc"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello") && false;
    if (!strcmp(path, "/trunc-chunked"))
        return says(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel") && false;
    if (!strcmp(path, "/garbage"))
        return says(fd, "garbage here\r\n\r\n") && wait_eof(fd);
    if (!strcmp(path, "/bad-status"))
        return says(fd, "HTTP/1.1 2x0 OK\r\n\r\n") && wait_eof(fd);
    if (!strcmp(path, "/bad-length"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n") && wait_eof(fd);
    if (!strcmp(path, "/bad-chunk"))
        return says(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") &&
               wait_eof(fd);
    if (sscanf(path, "/head-of/%d", &size) == 1)
        return say_head_of(fd, size);
    if (!strcmp(path, "/stall"))
        return wait_eof(fd);
    if (!strcmp(path, "/slow-body"))
        return says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab") && wait_eof(fd);
    return says(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char *req = malloc(REQ_MAX);
    size_t n;

    for (int reqno = 0; (n = read_request(w, req)) > 0; reqno++) {
        atomic_fetch_add(&w->s->requests, 1);
        pthread_mutex_lock(&w->s->mu);
        memcpy(w->s->last_req, req, n + 1);
        pthread_mutex_unlock(&w->s->mu);
        if (!respond(w, req, n, reqno))
            break;
    }
    close(w->fd);
    free(req);
    free(w);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct tsrv *s = arg;

    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        struct worker *w;
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            break;
        atomic_fetch_add(&s->conns, 1);
        w = calloc(1, sizeof(*w));
        w->s = s;
        w->fd = fd;
        if (s->nworkers == MAX_WORKERS ||
            pthread_create(&s->workers[s->nworkers], NULL, worker_main, w) != 0) {
            close(fd);
            free(w);
            continue;
        }
        s->nworkers++;
    }
    return NULL;
}

static void srv_start(struct tsrv *s, const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1;

    memset(s, 0, sizeof(*s));
    assert_int_equal(getaddrinfo(host, "0", &hints, &ai), 0);
    s->lfd = socket(ai->ai_family, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(s->lfd, ai->ai_addr, ai->ai_addrlen), 0);
    freeaddrinfo(ai);
    assert_int_equal(listen(s->lfd, 128), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&ss, &sl), 0);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    sem_init(&s->go, 0, 0);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pthread_create(&s->acceptor, NULL, acceptor_main, s), 0);
}

/* Call after the client side closed its connections: workers end at EOF. */
static void srv_stop(struct tsrv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    close(s->lfd);
    sem_destroy(&s->go);
    pthread_mutex_destroy(&s->mu);
}

/* ---- client side ---- */

struct fx {
    uv_loop_t loop;
    uv_timer_t poll;
    struct tsrv srv;
    struct kv_http_pool *pool;
};

struct res {
    struct fx *fx;
    struct kv_http_call *call;
    int status, heads, bodies, dones, done_status, nested;
    size_t nhdrs;
    char hdrs[512]; /* "name=value\n"... */
    char body[REQ_MAX + 64];
    size_t body_len;
    unsigned idle_at_done, busy_at_done;
    int in_cb;
    uint64_t start_ns, done_ns, first_byte_ns;
    /* behaviour */
    int cancel_at_body; /* cancel inside the n-th on_body */
    bool head_rc;       /* on_head returns non-zero */
    bool pause_in_head, pause_in_body, post_go;
};

static int on_head(struct kv_http_call *call, int status, const struct kv_http_header *h,
                   size_t count, void *data)
{
    struct res *r = data;
    size_t off = 0;

    r->heads++;
    r->status = status;
    r->nhdrs = count;
    for (size_t i = 0; i < count; i++)
        off += (size_t)snprintf(r->hdrs + off, sizeof(r->hdrs) - off, "%s=%s\n", h[i].name,
                                h[i].value);
    if (r->pause_in_head)
        kv_http_call_pause(call);
    if (r->post_go)
        sem_post(&r->fx->srv.go);
    return r->head_rc;
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    struct res *r = data;

    r->in_cb++;
    r->bodies++;
    if (r->body_len + len < sizeof(r->body)) {
        memcpy(r->body + r->body_len, buf, len);
        r->body_len += len;
    }
    if (r->post_go)
        sem_post(&r->fx->srv.go);
    if (r->cancel_at_body == r->bodies)
        kv_http_call_cancel(call); /* on_done must not fire in here */
    if (r->pause_in_body && r->bodies == 1)
        kv_http_call_pause(call);
    r->in_cb--;
    return 0;
}

static void on_done(struct kv_http_call *call, int status, void *data)
{
    struct res *r = data;

    r->nested += r->in_cb;
    r->dones++;
    r->done_status = status;
    r->done_ns = kv_time_ns();
    r->first_byte_ns = kv_http_call_first_byte_ns(call);
    if (r->fx->pool) { /* NULL when a failed test's call is cancelled by the teardown */
        r->idle_at_done = kv_http_pool_idle(r->fx->pool);
        r->busy_at_done = kv_http_pool_busy(r->fx->pool);
    }
}

static const struct kv_http_call_cbs cbs = {on_head, on_body, on_done};

static void on_poll(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *<flag> >= <want> or <ms> pass; a 2 ms tick lets us see conditions set
 * by server threads. Returns whether the condition held. */
static bool run_until(struct fx *fx, const atomic_int *aflag, const int *flag, int want,
                      unsigned ms)
{
    uint64_t deadline = kv_time_ns() + (uint64_t)ms * 1000000;
    bool ok;

    uv_timer_start(&fx->poll, on_poll, 2, 2);
    while (!(ok = aflag ? atomic_load(aflag) >= want : *flag >= want) && kv_time_ns() < deadline)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_timer_stop(&fx->poll);
    return ok;
}

static bool wait_done(struct fx *fx, struct res *r, int n)
{
    return run_until(fx, NULL, &r->dones, n, 5000);
}

static void pool_open(struct fx *fx, const char *host, int port,
                      const struct kv_http_pool_config *over)
{
    struct kv_http_pool_config cfg = {0};
    if (over)
        cfg = *over;
    cfg.host = host;
    cfg.port = port;
    assert_int_equal(kv_http_pool_new(&fx->loop, &cfg, &fx->pool), 0);
}

static void start(struct fx *fx, struct res *r, const char *method, const char *path)
{
    r->fx = fx;
    r->start_ns = kv_time_ns();
    assert_int_equal(kv_http_call_start(fx->pool, method, path, NULL, NULL, 0, &cbs, r, &r->call),
                     0);
}

/* GET <path> on the fixture's pool and wait for on_done. */
static void get(struct fx *fx, struct res *r, const char *path)
{
    start(fx, r, "GET", path);
    assert_true(wait_done(fx, r, 1));
}

static void pool_close_and_drain(struct fx *fx)
{
    kv_http_pool_close(fx->pool);
    fx->pool = NULL;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    uv_timer_init(&fx->loop, &fx->poll);
    srv_start(&fx->srv, "127.0.0.1");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    pool_close_and_drain(fx);
    uv_close((uv_handle_t *)&fx->poll, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    srv_stop(&fx->srv);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
    return 0;
}

/* ---- tests ---- */

static void test_get_content_length(void **state)
{
    struct fx *fx = *state;
    struct res r = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &r, "/cl");
    assert_int_equal(r.done_status, 0);
    assert_int_equal(r.dones, 1);
    assert_int_equal(r.heads, 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.nhdrs, 4);
    assert_string_equal(r.hdrs, "content-length=5\nx-test=Yes\ncontent-type=text/plain\n"
                                "x-empty=\n");
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    assert_true(r.first_byte_ns >= r.start_ns && r.first_byte_ns <= r.done_ns);
    assert_int_equal(r.idle_at_done, 1);
    assert_int_equal(r.busy_at_done, 0);
    pthread_mutex_lock(&fx->srv.mu);
    assert_int_equal(strncmp(fx->srv.last_req, "GET /cl HTTP/1.1\r\nHost: 127.0.0.1:", 34), 0);
    pthread_mutex_unlock(&fx->srv.mu);
}

static void test_post_request_bytes(void **state)
{
    struct fx *fx = *state;
    struct res r = {.fx = fx};
    const char *hdrs[] = {"X-A", "b", "Content-Type", "application/json", NULL};
    char want[256];

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    assert_int_equal(
        kv_http_call_start(fx->pool, "POST", "/echo", hdrs, "{\"k\":1}", 7, &cbs, &r, NULL), 0);
    assert_true(wait_done(fx, &r, 1));
    assert_int_equal(r.done_status, 0);
    snprintf(want, sizeof(want),
             "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-A: b\r\n"
             "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"k\":1}",
             fx->srv.port);
    assert_int_equal(r.body_len, strlen(want));
    assert_memory_equal(r.body, want, strlen(want));
}

/* A lent body goes out byte for byte like a copied one, on a fresh connection (sent from the
 * connect callback) and on a pooled one (sent at once). */
static void test_post_lent_body(void **state)
{
    struct fx *fx = *state;
    const char *hdrs[] = {"X-A", "b", NULL};
    char body[] = "{\"k\":2}", want[256];
    struct res r[2] = {{.fx = fx}, {.fx = fx}};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    snprintf(want, sizeof(want),
             "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-A: b\r\nContent-Length: 7\r\n"
             "\r\n{\"k\":2}",
             fx->srv.port);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kv_http_call_start_lent(fx->pool, "POST", "/echo", hdrs, body, 7, &cbs,
                                                 &r[i], NULL),
                         0);
        assert_true(wait_done(fx, &r[i], 1));
        assert_int_equal(r[i].done_status, 0);
        assert_int_equal(r[i].body_len, strlen(want));
        assert_memory_equal(r[i].body, want, strlen(want));
    }
    assert_int_equal(atomic_load(&fx->srv.conns), 1);
}

/* ---- a server that reads a big body only when told, and answers its hash ---- */

struct bigsrv {
    int lfd, port;
    pthread_t th;
    sem_t go;
    atomic_int served;
};

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Reads a request head into <buf> (cap bytes); returns the body bytes already read after it,
 * the head length in *<hlen>, or -1. */
static long read_head(int fd, char *buf, size_t cap, size_t *hlen)
{
    size_t len = 0;
    char *end;

    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
        ssize_t n = len < cap - 1 ? recv(fd, buf + len, cap - 1 - len, 0) : 0;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
    *hlen = (size_t)(end - buf) + 4;
    return (long)(len - *hlen);
}

/* One connection: a GET answered at once; then, after <go>, a POST whose Content-Length body
 * is read whole and answered with its FNV-1a hash as 16 hex digits. */
static void *big_main(void *arg)
{
    struct bigsrv *b = arg;
    char buf[4096], out[128];
    int fd = accept(b->lfd, NULL, NULL);
    uint64_t h = 0xcbf29ce484222325ull;
    size_t hlen, left;
    long got;

    if (fd < 0 || read_head(fd, buf, sizeof(buf), &hlen) != 0 ||
        !says(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") || !wait_sem(&b->go))
        goto out;
    if ((got = read_head(fd, buf, sizeof(buf), &hlen)) < 0 || !strcasestr(buf, "content-length:"))
        goto out;
    left = strtoull(strcasestr(buf, "content-length:") + 15, NULL, 10) - (size_t)got;
    h = fnv1a(h, (unsigned char *)buf + hlen, (size_t)got);
    while (left > 0) {
        ssize_t n = recv(fd, buf, KV_MIN(sizeof(buf), left), 0);
        if (n <= 0)
            goto out;
        h = fnv1a(h, (unsigned char *)buf, (size_t)n);
        left -= (size_t)n;
    }
    snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n%016llx",
             (unsigned long long)h);
    atomic_fetch_add(&b->served, 1); /* before the answer, which the test waits for */
    if (says(fd, out))
        wait_eof(fd);
out:
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* The socket takes only part of a lent 32 MiB body at once: the rest is copied then, so the
 * caller's buffer is no longer read (scribbled over here to prove it) and the server still gets
 * the original bytes. */
static void test_lent_body_partial_write(void **state)
{
    struct fx *fx = *state;
    struct bigsrv b = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    size_t len = (size_t)32 << 20;
    unsigned char *body = malloc(len);
    struct res w = {0}, r = {.fx = fx};
    char want[17];

    for (size_t i = 0; i < len; i++)
        body[i] = (unsigned char)(i * 31 + (i >> 13));
    snprintf(want, sizeof(want), "%016llx",
             (unsigned long long)fnv1a(0xcbf29ce484222325ull, body, len));
    b.lfd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(b.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(b.lfd, 4), 0);
    assert_int_equal(getsockname(b.lfd, (struct sockaddr *)&sa, &sl), 0);
    sem_init(&b.go, 0, 0);
    assert_int_equal(pthread_create(&b.th, NULL, big_main, &b), 0);
    pool_open(fx, "127.0.0.1", ntohs(sa.sin_port), NULL);
    get(fx, &w, "/warm"); /* a pooled connection, so the POST is written inside the call */
    assert_int_equal(w.done_status, 0);
    assert_int_equal(kv_http_call_start_lent(fx->pool, "POST", "/sum", NULL, (char *)body, len,
                                             &cbs, &r, NULL),
                     0);
    memset(body, 0xee, len);
    sem_post(&b.go);
    assert_true(wait_done(fx, &r, 1));
    assert_int_equal(r.done_status, 0);
    assert_int_equal(r.body_len, 16);
    assert_memory_equal(r.body, want, 16);
    assert_int_equal(atomic_load(&b.served), 1);
    pool_close_and_drain(fx);
    pthread_join(b.th, NULL);
    close(b.lfd);
    sem_destroy(&b.go);
    free(body);
}

static void test_bad_arguments(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.host = "127.0.0.1", .port = 0};
    struct kv_http_pool *p = NULL;
    struct res r = {.fx = fx};
    const char *evil[] = {"X-A", "b\r\nX-Injected: 1", NULL};

    assert_int_equal(kv_http_pool_new(&fx->loop, &cfg, &p), UV_EINVAL);
    cfg.port = 70000;
    assert_int_equal(kv_http_pool_new(&fx->loop, &cfg, &p), UV_EINVAL);
    cfg.port = 80;
    cfg.host = "bad host";
    assert_int_equal(kv_http_pool_new(&fx->loop, &cfg, &p), UV_EINVAL);
    assert_null(p);
    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    assert_int_equal(kv_http_call_start(fx->pool, "GET", "/a b", NULL, NULL, 0, &cbs, &r, NULL),
                     UV_EINVAL);
    assert_int_equal(kv_http_call_start(fx->pool, "GET", "/", evil, NULL, 0, &cbs, &r, NULL),
                     UV_EINVAL);
    assert_int_equal(kv_http_call_start(fx->pool, "GET", "/", NULL, NULL, 3, &cbs, &r, NULL),
                     UV_EINVAL);
    assert_int_equal(kv_http_pool_busy(fx->pool), 0);
    assert_int_equal(r.dones, 0);
}

static void test_chunked_streamed(void **state)
{
    struct fx *fx = *state;
    struct res r = {.post_go = true};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &r, "/chunk-steps");
    assert_int_equal(r.done_status, 0);
    assert_int_equal(r.status, 200);
    /* Each chunk was sent only after the previous one reached on_body. */
    assert_int_equal(r.bodies, 2);
    assert_int_equal(r.body_len, 11);
    assert_memory_equal(r.body, "hello world", 11);
    assert_int_equal(r.idle_at_done, 1);
}

static void test_framing_without_body(void **state)
{
    struct fx *fx = *state;
    struct res h = {0}, n204 = {0}, n304 = {0}, i100 = {0}, after = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    start(fx, &h, "HEAD", "/head");
    assert_true(wait_done(fx, &h, 1));
    get(fx, &n204, "/204");
    get(fx, &n304, "/304");
    get(fx, &i100, "/100");
    get(fx, &after, "/cl"); /* still in sync on the same connection */
    assert_int_equal(h.done_status, 0);
    assert_int_equal(h.status, 200);
    assert_int_equal(h.bodies, 0);
    assert_int_equal(n204.status, 204);
    assert_int_equal(n204.bodies, 0);
    assert_int_equal(n304.status, 304);
    assert_int_equal(n304.bodies, 0);
    assert_int_equal(i100.status, 200); /* the 100 is skipped */
    assert_int_equal(i100.heads, 1);
    assert_memory_equal(i100.body, "ok", 2);
    assert_int_equal(after.done_status, 0);
    assert_memory_equal(after.body, "hello", 5);
    assert_int_equal(atomic_load(&fx->srv.conns), 1);
    assert_int_equal(after.idle_at_done, 1);
}

static void test_close_delimited_and_connection_close(void **state)
{
    struct fx *fx = *state;
    struct res cd = {0}, cc = {0}, ex = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &cd, "/close-delimited");
    assert_int_equal(cd.done_status, 0);
    assert_int_equal(cd.body_len, 6);
    assert_memory_equal(cd.body, "abcdef", 6);
    assert_int_equal(cd.idle_at_done, 0);
    get(fx, &cc, "/conn-close");
    assert_int_equal(cc.done_status, 0);
    assert_int_equal(cc.idle_at_done, 0);
    /* Bytes after a complete response: the response stands, the connection does not. */
    get(fx, &ex, "/extra");
    assert_int_equal(ex.done_status, 0);
    assert_int_equal(ex.body_len, 2);
    assert_int_equal(ex.idle_at_done, 0);
    assert_int_equal(kv_http_pool_busy(fx->pool), 0);
}

static void test_keepalive_reuse(void **state)
{
    struct fx *fx = *state;
    struct res r[3] = {{0}};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    for (int i = 0; i < 3; i++) {
        get(fx, &r[i], "/cl");
        assert_int_equal(r[i].done_status, 0);
        assert_int_equal(r[i].idle_at_done, 1);
        assert_int_equal(kv_http_pool_idle(fx->pool), 1);
        assert_int_equal(kv_http_pool_busy(fx->pool), 0);
    }
    assert_int_equal(atomic_load(&fx->srv.conns), 1);
    assert_int_equal(atomic_load(&fx->srv.requests), 3);
    assert_int_equal(kv_http_pool_retries(fx->pool), 0);
}

/* The server drops a pooled connection as our request crosses it: retried once, unseen. */
static void test_stale_connection_retried(void **state)
{
    struct fx *fx = *state;
    struct res a = {0}, b = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &a, "/die2");
    assert_int_equal(a.done_status, 0);
    assert_int_equal(kv_http_pool_idle(fx->pool), 1);
    get(fx, &b, "/die2"); /* second request on conn 1 is dropped; conn 2 answers */
    assert_int_equal(b.done_status, 0);
    assert_int_equal(b.dones, 1);
    assert_int_equal(b.heads, 1);
    assert_memory_equal(b.body, "ok", 2);
    assert_int_equal(kv_http_pool_retries(fx->pool), 1);
    assert_int_equal(atomic_load(&fx->srv.conns), 2);
    assert_int_equal(atomic_load(&fx->srv.requests), 3);
    assert_int_equal(b.idle_at_done, 1);
}

/* The server closes an idle pooled connection: the pool notices, the next call reconnects. */
static void test_idle_close_noticed(void **state)
{
    struct fx *fx = *state;
    struct res a = {0}, b = {0};
    int zero_idle = 0;

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &a, "/close-after");
    assert_int_equal(a.done_status, 0);
    assert_int_equal(a.idle_at_done, 1);
    for (uint64_t end = kv_time_ns() + 2000000000ull; kv_time_ns() < end;) {
        if ((zero_idle = kv_http_pool_idle(fx->pool) == 0))
            break;
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    assert_true(zero_idle);
    get(fx, &b, "/cl");
    assert_int_equal(b.done_status, 0);
    assert_int_equal(kv_http_pool_retries(fx->pool), 0);
    assert_int_equal(atomic_load(&fx->srv.conns), 2);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void test_refused(void **state)
{
    struct fx *fx = *state;
    struct res r = {0};

    pool_open(fx, "127.0.0.1", free_port(), NULL);
    get(fx, &r, "/cl");
    assert_int_equal(r.done_status, UV_ECONNREFUSED);
    assert_int_equal(r.heads, 0);
    assert_int_equal(r.dones, 1);
    assert_int_equal(kv_http_pool_busy(fx->pool), 0);
}

/* A listener whose accept queue is full drops SYNs, so the connect hangs. */
static void test_connect_timeout(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.connect_timeout_ms = 100};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    struct res r = {0};
    uint64_t ms;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    for (int i = 0; i < 4; i++) { /* the queue holds backlog + 1; extra ones just hang */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    pool_open(fx, "127.0.0.1", ntohs(sa.sin_port), &cfg);
    get(fx, &r, "/cl");
    ms = (r.done_ns - r.start_ns) / 1000000;
    assert_int_equal(r.done_status, KV_ETIMEOUT);
    assert_true(ms >= 95 && ms < 1000);
    assert_int_equal(kv_http_pool_busy(fx->pool), 0);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

static void test_response_timeout(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.response_timeout_ms = 100};
    struct res r = {0}, s = {0};
    uint64_t ms;

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    get(fx, &r, "/stall");
    ms = (r.done_ns - r.start_ns) / 1000000;
    assert_int_equal(r.done_status, KV_ETIMEOUT);
    assert_int_equal(r.heads, 0);
    assert_true(ms >= 95 && ms < 1000);
    /* Idle between body reads: the head came, then nothing. */
    get(fx, &s, "/slow-body");
    ms = (s.done_ns - s.start_ns) / 1000000;
    assert_int_equal(s.done_status, KV_ETIMEOUT);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.body_len, 2);
    assert_true(ms >= 95 && ms < 1000);
    assert_int_equal(kv_http_pool_busy(fx->pool) + kv_http_pool_idle(fx->pool), 0);
}

static void on_tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

/* Deadlines move on without restarting the timer: the one a pooled connection's earlier request
 * set fires early during the next request and re-arms, which still gets its whole timeout. */
static void test_response_timeout_after_reuse(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.response_timeout_ms = 150};
    struct res a = {0}, s = {0};
    uv_timer_t t;
    int ticks = 0;
    uint64_t ms;

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    get(fx, &a, "/cl");
    assert_int_equal(a.done_status, 0);
    uv_timer_init(&fx->loop, &t);
    t.data = &ticks;
    uv_timer_start(&t, on_tick, 100, 0);
    assert_true(run_until(fx, NULL, &ticks, 1, 5000));
    uv_close((uv_handle_t *)&t, NULL);
    get(fx, &s, "/stall");
    ms = (s.done_ns - s.start_ns) / 1000000;
    assert_int_equal(s.done_status, KV_ETIMEOUT);
    assert_true(ms >= 145 && ms < 1000);
    assert_int_equal(atomic_load(&fx->srv.conns), 1);
}

static void test_truncated(void **state)
{
    struct fx *fx = *state;
    struct res r = {0}, c = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &r, "/trunc");
    assert_int_equal(r.done_status, KV_EEOF);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    get(fx, &c, "/trunc-chunked");
    assert_int_equal(c.done_status, KV_EEOF);
    assert_int_equal(c.body_len, 3);
    assert_int_equal(kv_http_pool_idle(fx->pool), 0);
}

static void test_garbage(void **state)
{
    struct fx *fx = *state;
    struct res r = {0}, c = {0}, s = {0}, l = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &r, "/garbage");
    assert_int_equal(r.done_status, KV_EPROTO);
    assert_int_equal(r.heads, 0);
    get(fx, &s, "/bad-status");
    assert_int_equal(s.done_status, KV_EPROTO);
    get(fx, &l, "/bad-length");
    assert_int_equal(l.done_status, KV_EPROTO);
    assert_int_equal(l.heads, 0);
    get(fx, &c, "/bad-chunk");
    assert_int_equal(c.done_status, KV_EPROTO);
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.bodies, 0);
    assert_int_equal(kv_http_pool_busy(fx->pool) + kv_http_pool_idle(fx->pool), 0);
}

/* The cap counts the head exactly: status line through the blank line. */
static void test_head_cap(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.max_header_bytes = 300};
    struct res ok = {0}, big = {0};

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    get(fx, &ok, "/head-of/300");
    assert_int_equal(ok.done_status, 0);
    assert_int_equal(ok.status, 200);
    assert_memory_equal(ok.body, "ok", 2);
    get(fx, &big, "/head-of/301");
    assert_int_equal(big.done_status, KV_EPROTO);
    assert_int_equal(big.heads, 0);
}

static void test_cancel_in_body(void **state)
{
    struct fx *fx = *state;
    struct res r = {.cancel_at_body = 1};
    struct res h = {.head_rc = true};

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    get(fx, &r, "/chunk-one");
    assert_int_equal(r.done_status, UV_ECANCELED);
    assert_int_equal(r.dones, 1);
    assert_int_equal(r.nested, 0);
    assert_int_equal(r.bodies, 1); /* "def" was in the same read, and was not delivered */
    assert_memory_equal(r.body, "abc", 3);
    assert_int_equal(r.idle_at_done + r.busy_at_done, 0);
    get(fx, &h, "/cl"); /* on_head returning non-zero cancels too */
    assert_int_equal(h.done_status, UV_ECANCELED);
    assert_int_equal(h.bodies, 0);
    assert_int_equal(kv_http_pool_idle(fx->pool), 0);
}

struct pauser {
    struct res *r;
    int bodies_seen;
};

static void on_unpause(uv_timer_t *t)
{
    struct pauser *p = t->data;
    p->bodies_seen = p->r->bodies;
    kv_http_call_resume(p->r->call);
}

/* Pauses (in on_head or on_body), then a timer <ms> later records the body count and resumes. */
static void pause_case(struct fx *fx, struct res *r, const char *path, unsigned ms, int *seen)
{
    uv_timer_t t;
    struct pauser p = {.r = r, .bodies_seen = -1};

    uv_timer_init(&fx->loop, &t);
    t.data = &p;
    start(fx, r, "GET", path);
    assert_true(run_until(fx, NULL, &r->heads, 1, 5000));
    uv_timer_start(&t, on_unpause, ms, 0);
    assert_true(wait_done(fx, r, 1));
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    *seen = p.bodies_seen;
}

static void test_pause_resume(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.response_timeout_ms = 100};
    struct res a = {.pause_in_head = true, .post_go = true};
    struct res b = {.pause_in_body = true};
    int seen;

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    /* Body sent after on_head paused: not read until resumed, 200 ms > response timeout. */
    pause_case(fx, &a, "/head-then-body", 200, &seen);
    assert_int_equal(seen, 0);
    assert_int_equal(a.done_status, 0);
    assert_int_equal(a.body_len, 4);
    assert_memory_equal(a.body, "body", 4);
    assert_true((a.done_ns - a.start_ns) / 1000000 >= 195); /* uv_now() is whole ms */
    /* Paused inside on_body with more of the same read left: it waits, then comes. */
    pause_case(fx, &b, "/chunk-one", 50, &seen);
    assert_int_equal(seen, 1);
    assert_int_equal(b.done_status, 0);
    assert_int_equal(b.bodies, 2);
    assert_memory_equal(b.body, "abcdef", 6);
    assert_int_equal(atomic_load(&fx->srv.conns), 1);
    assert_int_equal(b.idle_at_done, 1);
}

static void on_resume_then_pause(uv_timer_t *t)
{
    struct res *r = t->data;
    kv_http_call_resume(r->call); /* queued bytes: delivery is deferred to a later turn... */
    kv_http_call_pause(r->call);  /* ...and paused again before it ran */
}

/* A resume that is taken back before its deferred delivery ran delivers nothing; the next
 * resume does. */
static void test_pause_again_before_resume_ran(void **state)
{
    struct fx *fx = *state;
    struct res r = {.pause_in_body = true};
    struct pauser p = {.r = &r, .bodies_seen = -1};
    uv_timer_t a, b;

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    uv_timer_init(&fx->loop, &a);
    uv_timer_init(&fx->loop, &b);
    a.data = &r;
    b.data = &p;
    start(fx, &r, "GET", "/chunk-one");
    assert_true(run_until(fx, NULL, &r.bodies, 1, 5000));
    uv_timer_start(&a, on_resume_then_pause, 10, 0);
    uv_timer_start(&b, on_unpause, 60, 0); /* records the body count, then resumes */
    assert_true(wait_done(fx, &r, 1));
    uv_close((uv_handle_t *)&a, NULL);
    uv_close((uv_handle_t *)&b, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(p.bodies_seen, 1);
    assert_int_equal(r.done_status, 0);
    assert_int_equal(r.bodies, 2);
    assert_memory_equal(r.body, "abcdef", 6);
}

/* One GET of <path> on a fresh pool with the fast path on or off; returns the fast count. */
static uint64_t fast_case(struct fx *fx, const char *path, bool on, struct res *r)
{
    struct kv_http_pool_config cfg = {.max_header_bytes = 256};
    uint64_t n;

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    kv__client_set_fast_path(fx->pool, on);
    get(fx, r, path);
    n = kv__client_fast_responses(fx->pool);
    pool_close_and_drain(fx);
    return n;
}

/* Plain responses skip http-parser and give the callbacks exactly what it gives; every other
 * shape (interim, no body, chunked, close-delimited, Connection, bad framing, a head near the
 * cap) is left to it. */
static void test_fast_path_same_as_parser(void **state)
{
    static const struct {
        const char *path;
        int fast;
    } cases[] = {
        {"/cl", 1},          {"/echo", 1},           {"/extra", 1},         {"/trunc", 1},
        {"/close-after", 1}, {"/head-of/200", 1},    {"/head-of/254", 1},   {"/head-of/255", 0},
        {"/head-of/256", 0}, {"/head-of/257", 0},    {"/204", 0},           {"/304", 0},
        {"/100", 0},
        {"/chunk-one", 0},   {"/close-delimited", 0}, {"/conn-close", 0},   {"/bad-length", 0},
        {"/bad-status", 0},  {"/nope", 1},
    };
    struct fx *fx = *state;

    for (size_t i = 0; i < KV_ARRAY_LEN(cases); i++) {
        struct res a = {0}, b = {0};
        if (fast_case(fx, cases[i].path, true, &a) != (uint64_t)cases[i].fast)
            fail_msg("%s: fast path taken %s", cases[i].path, cases[i].fast ? "not" : "wrongly");
        assert_int_equal(fast_case(fx, cases[i].path, false, &b), 0);
        if (a.done_status != b.done_status || a.status != b.status || a.heads != b.heads ||
            a.bodies != b.bodies || a.body_len != b.body_len ||
            memcmp(a.body, b.body, a.body_len) != 0 || strcmp(a.hdrs, b.hdrs) != 0 ||
            a.idle_at_done != b.idle_at_done)
            fail_msg("%s: fast %d/%d/%d/%zu [%s] idle %u; parser %d/%d/%d/%zu [%s] idle %u",
                     cases[i].path, a.done_status, a.status, a.bodies, a.body_len, a.hdrs,
                     a.idle_at_done, b.done_status, b.status, b.bodies, b.body_len, b.hdrs,
                     b.idle_at_done);
    }
}

/* Paused in on_head with the whole (empty) body already read: the resume ends the call. */
static void test_fast_pause_in_head_empty_body(void **state)
{
    struct fx *fx = *state;
    struct res r = {.pause_in_head = true};
    int seen;

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    pause_case(fx, &r, "/nope", 20, &seen); /* 404 with Content-Length: 0 */
    assert_int_equal(seen, 0);
    assert_int_equal(r.done_status, 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.idle_at_done, 1);
    assert_int_equal(kv__client_fast_responses(fx->pool), 1);
}

static void test_concurrent(void **state)
{
    struct fx *fx = *state;
    struct res r[20] = {{0}};
    int ok = 0, sum = 0;

    pool_open(fx, "127.0.0.1", fx->srv.port, NULL);
    for (int i = 0; i < 20; i++)
        start(fx, &r[i], "GET", "/cl");
    assert_int_equal(kv_http_pool_busy(fx->pool), 20);
    for (int i = 0; i < 20; i++) {
        assert_true(wait_done(fx, &r[i], 1));
        ok += r[i].done_status == 0 && r[i].body_len == 5;
        sum += r[i].dones;
    }
    assert_int_equal(ok, 20);
    assert_int_equal(sum, 20);
    assert_int_equal(atomic_load(&fx->srv.conns), 20);
    assert_int_equal(kv_http_pool_idle(fx->pool), 20);
    assert_int_equal(kv_http_pool_busy(fx->pool), 0);
}

/* Closing with calls in flight and idle connections: each call gets UV_ECANCELED once, later. */
static void test_pool_close_inflight(void **state)
{
    struct fx *fx = *state;
    struct kv_http_pool_config cfg = {.max_idle = 1};
    struct res idle[2] = {{0}}, st[3] = {{0}};

    pool_open(fx, "127.0.0.1", fx->srv.port, &cfg);
    start(fx, &idle[0], "GET", "/cl");
    start(fx, &idle[1], "GET", "/cl");
    assert_true(wait_done(fx, &idle[0], 1) && wait_done(fx, &idle[1], 1));
    assert_int_equal(kv_http_pool_idle(fx->pool), 1); /* max_idle */
    for (int i = 0; i < 3; i++)
        start(fx, &st[i], "GET", "/stall");
    assert_true(run_until(fx, &fx->srv.requests, NULL, 5, 5000));
    kv_http_pool_close(fx->pool);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st[i].dones, 0); /* not from inside pool_close */
    fx->pool = NULL;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st[i].dones, 1);
        assert_int_equal(st[i].done_status, UV_ECANCELED);
    }
}

static void test_ipv6_literal(void **state)
{
    struct fx *fx = *state;
    struct tsrv s6;
    struct res r = {0};
    char want[64];
    int fd = socket(AF_INET6, SOCK_STREAM, 0);

    if (fd < 0)
        skip();
    close(fd);
    srv_start(&s6, "::1");
    pool_open(fx, "[::1]", s6.port, NULL);
    get(fx, &r, "/echo");
    assert_int_equal(r.done_status, 0);
    snprintf(want, sizeof(want), "GET /echo HTTP/1.1\r\nHost: [::1]:%d\r\n\r\n", s6.port);
    assert_int_equal(r.body_len, strlen(want));
    assert_memory_equal(r.body, want, strlen(want));
    pool_close_and_drain(fx);
    srv_stop(&s6);
}

/* "localhost" goes through uv_getaddrinfo; the server listens where the name points first. */
static void test_dns_name(void **state)
{
    struct fx *fx = *state;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    char host[64];
    struct tsrv s;
    struct res r[2] = {{0}};

    assert_int_equal(getaddrinfo("localhost", NULL, &hints, &ai), 0);
    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    srv_start(&s, host);
    pool_open(fx, "localhost", s.port, NULL);
    start(fx, &r[0], "GET", "/cl");
    start(fx, &r[1], "GET", "/cl"); /* both wait for the one lookup */
    assert_true(wait_done(fx, &r[0], 1) && wait_done(fx, &r[1], 1));
    assert_int_equal(r[0].done_status, 0);
    assert_int_equal(r[1].done_status, 0);
    assert_memory_equal(r[1].body, "hello", 5);
    pool_close_and_drain(fx);
    srv_stop(&s);
}

/* ---- throughput (figures printed; the assertion is only that every call succeeded) ---- */

struct bench {
    struct kv_http_pool *pool;
    int started, done, ok, total;
};

static void bench_start(struct bench *b);

static void bench_done(struct kv_http_call *call, int status, void *data)
{
    struct bench *b = data;
    (void)call;
    b->done++;
    b->ok += status == 0;
    if (b->started < b->total)
        bench_start(b);
}

static int bench_head(struct kv_http_call *call, int status, const struct kv_http_header *h,
                      size_t n, void *data)
{
    (void)call, (void)h, (void)n, (void)data;
    return status == 200 ? 0 : 1;
}

static void bench_start(struct bench *b)
{
    static const struct kv_http_call_cbs bcbs = {bench_head, NULL, bench_done};
    static const char body[] = "{\"model\":\"m\",\"prompt\":\"hello\"}";
    b->started++;
    if (kv_http_call_start(b->pool, "POST", "/cl", NULL, body, sizeof(body) - 1, &bcbs, b, NULL))
        b->done++;
}

static void test_throughput(void **state)
{
    struct fx *fx = *state;
    const char *env = getenv("KV_HTTP_CLIENT_BENCH");
    const char *port = getenv("KV_HTTP_CLIENT_BENCH_PORT"); /* e.g. an nginx, for comparison */
    struct bench b = {.total = env ? atoi(env) : 4000};
    uint64_t t0;
    double s;

    pool_open(fx, "127.0.0.1", port ? atoi(port) : fx->srv.port, NULL);
    b.pool = fx->pool;
    t0 = kv_time_ns();
    for (int i = 0; i < 16 && b.started < b.total; i++)
        bench_start(&b);
    assert_true(run_until(fx, NULL, &b.done, b.total, 60000));
    s = (double)(kv_time_ns() - t0) / 1e9;
    printf("# http client: %d requests, 16 concurrent, %.0f req/s\n", b.total, b.total / s);
    assert_int_equal(b.ok, b.total);
    if (!port)
        assert_int_equal(atomic_load(&fx->srv.conns), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_request_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_lent_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lent_body_partial_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_streamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing_without_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delimited_and_connection_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_connection_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_close_noticed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_timeout_after_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_again_before_resume_ran, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fast_path_same_as_parser, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fast_pause_in_head_empty_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_close_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
