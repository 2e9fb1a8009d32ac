/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_http.c - libFuzzer driver for the HTTP server's request path.
 *
 * Each input is fed as raw received bytes to a socketless server connection (http/internal.h)
 * twice: all at once, and one byte per feed. Routes answer at once, stream, echo the body, or
 * answer later (between feeds), so pipelining, the input stash, chunked bodies, limits and
 * errors are all reachable. Checks: no crash or sanitizer report, the output is HTTP/1.1
 * responses, and it does not depend on how the input was split (Date lines aside).
 * Build (not wired into CMake yet): clang -fsanitize=fuzzer,address -D_GNU_SOURCE -Isrc
 * tests/fuzz/fuzz_http.c
 * src/http/server.c src/base/{buf,mem,err,log,time}.c -luv -lhttp_parser
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "http/internal.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
    struct kv_http_req *later; /* a request to answer after the current feed */
    unsigned closes;
};

static void fz_hello(struct kv_http_req *req, void *data)
{
    kv_http_respond(req, 200, "text/plain", NULL, "hello", 5);
}

/* Echoes method, path, query, every header and the body, so all accessors get exercised. */
static void fz_echo(struct kv_http_req *req, void *data)
{
    struct kv_buf b;
    size_t n, len;
    const struct kv_http_header *h = kv_http_req_headers(req, &n);
    const char *body = kv_http_req_body(req, &len);

    kv_buf_init(&b, 1 << 20);
    kv_buf_printf(&b, "%s %s ?%s %s\n", kv_http_req_method(req), kv_http_req_path(req),
                  kv_http_req_query(req), kv_http_req_peer(req));
    for (size_t i = 0; i < n; i++)
        kv_buf_printf(&b, "%s=%s\n", h[i].name, h[i].value);
    kv_buf_append(&b, body, len);
    kv_http_respond(req, 200, NULL, NULL, b.data, b.len);
    kv_buf_cleanup(&b);
}

static void fz_stream(struct kv_http_req *req, void *data)
{
    kv_http_stream_begin(req, 200, "text/event-stream", NULL);
    kv_http_stream_write(req, "data: 1\n\n", 9);
    kv_http_stream_write(req, "", 0);
    kv_http_stream_write(req, "data: [DONE]\n\n", 14);
    kv_http_stream_end(req);
}

static void fz_on_close(struct kv_http_req *req, void *data)
{
    struct fuzz_ctx *ctx = data;
    ctx->later = NULL;
    ctx->closes++;
}

static void fz_later(struct kv_http_req *req, void *data)
{
    struct fuzz_ctx *ctx = data;
    kv_http_req_set_callbacks(req, fz_on_close, NULL, ctx);
    ctx->later = req;
}

static void answer_later(struct fuzz_ctx *ctx)
{
    struct kv_http_req *req = ctx->later;
    if (req) {
        ctx->later = NULL;
        kv_http_respond(req, 201, "text/plain", NULL, "later", 5);
    }
}

/* Removes "\r\nDate: ...\r\n" lines (keeping one CRLF) in place; returns the new length.
 * Works on lengths, as echoed bodies may hold NUL bytes. */
static size_t strip_dates(char *s, size_t n)
{
    static const char key[] = "\r\nDate: ";
    size_t i = 0, j = 0;

    while (i < n) {
        if (n - i >= sizeof key - 1 && memcmp(s + i, key, sizeof key - 1) == 0) {
            size_t k = i + 2;
            while (k + 1 < n && !(s[k] == '\r' && s[k + 1] == '\n'))
                k++;
            i = k; /* the CRLF before the line is dropped, the one after kept */
            continue;
        }
        s[j++] = s[i++];
    }
    s[j] = '\0';
    return j;
}

/* Feeds <data> in pieces of <piece> bytes (0: all at once) into a fresh connection and returns
 * what it wrote, Date lines removed. */
static char *run(const uint8_t *data, size_t size, size_t piece, size_t *out_len)
{
    struct kv_http_server_config cfg = {.max_header_bytes = 1024, .max_body_bytes = 2048};
    struct kv_http_server *srv;
    struct fuzz_ctx ctx = {0};
    struct kv__server_conn *c;
    struct kv_buf out;
    size_t off = 0, n, took;
    bool hold = size && (data[size - 1] & 2); /* never answer /later: on_close at the end */
    char *s;

    kv__server_new_detached(&cfg, &srv);
    kv_http_server_route(srv, "GET", "/", fz_hello, &ctx);
    kv_http_server_route(srv, "POST", "/echo", fz_echo, &ctx);
    kv_http_server_route(srv, "GET", "/echo", fz_echo, &ctx);
    kv_http_server_route(srv, "GET", "/stream", fz_stream, &ctx);
    kv_http_server_route(srv, "GET", "/later", fz_later, &ctx);
    kv_http_server_route(srv, "POST", "/later", fz_later, &ctx);
    kv_buf_init(&out, 64 << 20);
    c = kv__server_conn_fake(srv, &out);
    while (off < size) {
        n = piece ? piece : size - off;
        if (n > size - off)
            n = size - off;
        took = kv__server_conn_feed(c, data + off, n);
        off += took;
        if (took < n && !ctx.later)
            abort(); /* input refused although no response is pending */
        if (took < n && hold)
            break; /* a real socket would stop reading here */
        if (!hold)
            answer_later(&ctx);
    }
    /* Answering one /later may start the next pipelined one from the stash: answer them all,
     * as the one-byte run does between its feeds. */
    while (!hold && ctx.later)
        answer_later(&ctx);
    if (size && (data[size - 1] & 1))
        kv__server_conn_expire(c);
    kv__server_conn_fake_free(c);
    if (ctx.later)
        abort(); /* on_close did not fire */
    if (kv_http_server_inflight(srv) != 0 || ctx.closes > 1)
        abort();
    kv_http_server_free(srv);

    s = kv_buf_detach(&out, &n);
    *out_len = strip_dates(s, n);
    return s;
}

/* Offset of the server's final error response (400, 408, 413, 431) in <s>, or <n>. */
static size_t error_tail(const char *s, size_t n)
{
    static const char *const heads[] = {"HTTP/1.1 400 ", "HTTP/1.1 408 ", "HTTP/1.1 413 ",
                                        "HTTP/1.1 431 "};
    size_t best = n;

    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const char *p = s, *hit = NULL;
        while ((p = memmem(p, n - (size_t)(p - s), heads[i], 13)) != NULL)
            hit = p++;
        if (hit && (best == n || (size_t)(hit - s) > best))
            best = (size_t)(hit - s);
    }
    return best;
}

/* The outputs of two splits must match, except that which limit or error the parser meets
 * first in a bad request can depend on where the pieces end (http-parser reports a header
 * value to its callback only at a piece's end or the value's end, so the head cap may trip
 * before or after a bad character): then both must end in an error after the same prefix. */
static bool same_output(const char *a, size_t la, const char *b, size_t lb)
{
    size_t ta, tb;

    if (la == lb && memcmp(a, b, la) == 0)
        return true;
    ta = error_tail(a, la);
    tb = error_tail(b, lb);
    return ta < la && ta == tb && memcmp(a, b, ta) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t la, lb;
    char *a = run(data, size, 0, &la);
    char *b = run(data, size, 1, &lb);

    if (la && strncmp(a, "HTTP/1.1 ", 9) != 0)
        abort();
    if (!same_output(a, la, b, lb)) {
        fprintf(stderr, "fuzz_http: output depends on input split:\n%s\n---\n%s\n", a, b);
        abort();
    }
    free(a);
    free(b);
    return 0;
}
