/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_http_server.c - a minimal kv_http server for load generators.
 *
 *   micro_http_server PORT     serves GET /hello, POST /echo and GET /sse (16 SSE chunks) until
 *                              SIGINT/SIGTERM, for `wrk` (docs/benchmarks.md, "HTTP layer");
 *   micro_http_server --smoke  serves on an ephemeral port, sends 200 requests to each route
 *                              with the kv_http client, checks the answers, exits.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http/client.h"
#include "http/server.h"

static void h_hello(struct kv_http_req *req, void *data)
{
    static const char body[] =
        "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"hello\"}]}";
    kv_http_respond(req, 200, "application/json", NULL, body, sizeof(body) - 1);
}

static void h_echo(struct kv_http_req *req, void *data)
{
    size_t len;
    const char *b = kv_http_req_body(req, &len);
    kv_http_respond(req, 200, "application/json", NULL, b, len);
}

static void h_sse(struct kv_http_req *req, void *data)
{
    static const char chunk[] = "data: {\"choices\":[{\"text\":\"tok\"}]}\n\n";
    kv_http_stream_begin(req, 200, "text/event-stream", NULL);
    for (int i = 0; i < 16; i++)
        kv_http_stream_write(req, chunk, sizeof(chunk) - 1);
    kv_http_stream_write(req, "data: [DONE]\n\n", 14);
    kv_http_stream_end(req);
}

struct smoke {
    struct kv_http_server *srv;
    struct kv_http_pool *pool;
    uv_signal_t sig;
    int sent, done, failed;
    size_t bytes;
};

static void on_shutdown(struct kv_http_server *srv, void *data)
{
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    ((struct smoke *)data)->bytes += len;
    return 0;
}

static void send_one(struct smoke *s);

static void on_done(struct kv_http_call *call, int status, void *data)
{
    struct smoke *s = data;
    s->done++;
    s->failed += status != 0;
    if (s->sent < 600)
        send_one(s);
    else if (s->done == s->sent) {
        kv_http_pool_close(s->pool);
        kv_http_server_shutdown(s->srv, on_shutdown, NULL);
    }
}

static void send_one(struct smoke *s)
{
    static const struct kv_http_call_cbs cbs = {NULL, on_body, on_done};
    static const char *const paths[] = {"/hello", "/echo", "/sse"};
    const char *path = paths[s->sent % 3];
    int post = s->sent % 3 == 1;
    s->sent++;
    if (kv_http_call_start(s->pool, post ? "POST" : "GET", path, NULL, post ? "{\"x\":1}" : NULL,
                           post ? 7 : 0, &cbs, s, NULL) < 0)
        s->failed++, s->done++;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct smoke *s = h->data;
    uv_close((uv_handle_t *)h, NULL);
    kv_http_server_shutdown(s->srv, on_shutdown, NULL);
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    struct kv_http_server_config cfg = {.host = "127.0.0.1", .port = smoke || argc < 2 ? 0 : atoi(argv[1])};
    struct smoke s = {0};
    uv_loop_t loop;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    if (kv_http_server_new(&loop, &cfg, &s.srv) < 0)
        return 1;
    kv_http_server_route(s.srv, "GET", "/hello", h_hello, NULL);
    kv_http_server_route(s.srv, "POST", "/echo", h_echo, NULL);
    kv_http_server_route(s.srv, "GET", "/sse", h_sse, NULL);
    if (smoke) {
        struct kv_http_pool_config pc = {.host = "127.0.0.1", .port = kv_http_server_port(s.srv)};
        if (kv_http_pool_new(&loop, &pc, &s.pool) < 0)
            return 1;
        for (int i = 0; i < 8; i++)
            send_one(&s);
    } else {
        uv_signal_init(&loop, &s.sig);
        s.sig.data = &s;
        uv_signal_start(&s.sig, on_signal, SIGINT);
        printf("serving on 127.0.0.1:%d\n", kv_http_server_port(s.srv));
        fflush(stdout);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    kv_http_server_free(s.srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        return 1;
    if (smoke) {
        printf("smoke: %d requests, %d failed, %zu body bytes\n", s.done, s.failed, s.bytes);
        /* 200 x (71-byte hello + 7-byte echo + 16 x 36-byte events + 14-byte [DONE]) */
        return s.failed || s.done != 600 || s.bytes != 133600 ? 1 : 0;
    }
    return 0;
}
