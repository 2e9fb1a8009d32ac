/* SPDX-License-Identifier: MIT */
/* tests/micro/micro_openai_parse.c - OpenAI request parsing throughput: a ~400 KB chat body
 * (whole, and fed in 16 KB pieces as the router does), a 9 KB completion body of prose with
 * escapes and non-ASCII, the overhead benchmark's 9 KB plain-ASCII completion body
 * (tests/micro/micro_router_post9k.lua), a 2,000-token-id completion body. Each against yajl
 * alone (no callbacks; and with a no-op string callback, which makes yajl decode strings) and
 * the JSON scanner alone (openai/jsonscan.h, same no-op callback), the parser kv_request uses.
 * Usage: micro_openai_parse [--smoke] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "base/buf.h"
#include "base/time.h"
#include "openai/jsonscan.h"
#include "openai/request.h"

/* Deterministic prose with the escapes and non-ASCII real chat text carries. */
static void filler(struct kv_buf *b, size_t bytes, unsigned seed)
{
    static const char *const words[] = {
        "the",     "cache",   "router",  "prefix",     "block",        "token",
        "server",  "request", "latency", "caf\\u00e9", "na\xc3\xafve", "\\\"quoted\\\"",
        "line\\n", "tab\\t",  "model",   "answer",
    };
    size_t start = b->len;

    while (b->len - start < bytes) {
        seed = seed * 1103515245u + 12345u;
        kv_buf_appends(b, words[(seed >> 16) % (sizeof(words) / sizeof(words[0]))]);
        kv_buf_appendc(b, ' ');
    }
}

static void chat_body(struct kv_buf *b)
{
    kv_buf_appends(b, "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[");
    kv_buf_appends(b, "{\"role\":\"system\",\"content\":\"");
    filler(b, 8000, 1);
    kv_buf_appends(b, "\"}");
    for (unsigned i = 0; i < 98; i++) {
        kv_buf_printf(b, ",{\"role\":\"%s\",\"content\":\"", i % 2 ? "assistant" : "user");
        filler(b, 4000, i + 2);
        kv_buf_appends(b, "\"}");
    }
    kv_buf_appends(b, "],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                      "\"max_completion_tokens\":512,\"temperature\":0.7,\"top_p\":0.95,"
                      "\"user\":\"session-42\"}");
}

static void completion_body(struct kv_buf *b)
{
    kv_buf_appends(b, "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"prompt\":\"");
    filler(b, 8800, 7);
    kv_buf_appends(b, "\",\"max_tokens\":128,\"stream\":false,\"temperature\":0,\"seed\":1,"
                      "\"stop\":[\"\\n\\n\"],\"logprobs\":null}");
}

/* What wrk sends in scripts/bench-overhead.sh. */
static void plain_body(struct kv_buf *b)
{
    kv_buf_appends(b, "{\"model\":\"m\",\"prompt\":\"");
    for (int i = 0; i < 190; i++)
        kv_buf_appends(b, "system prompt 03 of the benchmark fleet. ");
    kv_buf_appends(b, "question 0000000001 ");
    for (int i = 0; i < 900; i++)
        kv_buf_appendc(b, 'x');
    kv_buf_appends(b, "\",\"max_tokens\":1,\"ignore_eos\":true}");
}

static void tokens_body(struct kv_buf *b)
{
    unsigned seed = 3;

    kv_buf_appends(b, "{\"model\":\"m\",\"prompt\":[128000");
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        kv_buf_printf(b, ",%u", (seed >> 8) % 128256);
    }
    kv_buf_appends(b, "],\"max_tokens\":16}");
}

static void report(const char *what, size_t bytes, int iters, uint64_t ns)
{
    printf("%-36s %7zu B x %6d: %8.1f MB/s %10.0f ns/request\n", what, bytes, iters,
           (double)bytes * iters / ((double)ns / 1e9) / 1e6, (double)ns / iters);
}

static void bench_parser(const char *what, enum kv_request_kind kind, const struct kv_buf *b,
                         size_t piece, int iters)
{
    struct kv_request r;
    uint64_t t0;

    kv_request_init(&r, NULL);
    t0 = kv_time_ns();
    for (int i = 0; i < iters; i++) {
        kv_request_begin(&r, kind);
        for (size_t off = 0; off < b->len; off += piece)
            if (kv_request_feed(&r, b->data + off, b->len - off < piece ? b->len - off : piece))
                abort();
        if (kv_request_finish(&r) || kv_request_validate(&r))
            abort();
    }
    report(what, b->len, iters, kv_time_ns() - t0);
    kv_request_cleanup(&r);
}

static int noop_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)ctx;
    (void)s;
    (void)n;
    return 1;
}

/* The floor: yajl tokenizing the same bytes with no callbacks (and its own mallocs); with
 * <strings>, a no-op string callback makes yajl decode every string, as any real use must. */
static void bench_yajl(const char *what, const struct kv_buf *b, int iters, bool strings)
{
    static const yajl_callbacks none, str = {.yajl_string = noop_string};
    uint64_t t0 = kv_time_ns();

    for (int i = 0; i < iters; i++) {
        yajl_handle y = yajl_alloc(strings ? &str : &none, NULL, NULL);
        if (yajl_parse(y, (const unsigned char *)b->data, b->len) != yajl_status_ok ||
            yajl_complete_parse(y) != yajl_status_ok)
            abort();
        yajl_free(y);
    }
    report(what, b->len, iters, kv_time_ns() - t0);
}

static void bench_scan(const char *what, const struct kv_buf *b, int iters)
{
    static const struct kv_jsonscan_callbacks str = {.string = noop_string};
    struct kv_jsonscan s;
    uint64_t t0;

    kv_jsonscan_init(&s, &str, NULL, 1024, 1 << 24);
    t0 = kv_time_ns();
    for (int i = 0; i < iters; i++) {
        kv_jsonscan_reset(&s);
        if (kv_jsonscan_feed(&s, b->data, b->len) || kv_jsonscan_finish(&s))
            abort();
    }
    report(what, b->len, iters, kv_time_ns() - t0);
    kv_jsonscan_cleanup(&s);
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    struct kv_buf chat, compl, plain, toks;

    kv_buf_init(&chat, 1 << 22);
    kv_buf_init(&compl, 1 << 20);
    kv_buf_init(&plain, 1 << 20);
    kv_buf_init(&toks, 1 << 20);
    chat_body(&chat);
    completion_body(&compl );
    plain_body(&plain);
    tokens_body(&toks);
    bench_yajl("yajl alone, chat", &chat, smoke ? 5 : 1000, false);
    bench_yajl("yajl + string callback, chat", &chat, smoke ? 5 : 1000, true);
    bench_scan("jsonscan + string callback, chat", &chat, smoke ? 5 : 1000);
    bench_parser("kv_request chat, whole body", KV_REQUEST_CHAT, &chat, chat.len, smoke ? 5 : 1000);
    bench_parser("kv_request chat, 16 KB pieces", KV_REQUEST_CHAT, &chat, 16384, smoke ? 5 : 1000);
    bench_yajl("yajl alone, completion", &compl, smoke ? 50 : 50000, false);
    bench_yajl("yajl + string callback, completion", &compl, smoke ? 50 : 50000, true);
    bench_scan("jsonscan + string callback, completion", &compl, smoke ? 50 : 50000);
    bench_parser("kv_request completion", KV_REQUEST_COMPLETION, &compl, compl .len,
                 smoke ? 50 : 50000);
    bench_yajl("yajl + string callback, plain 9 KB", &plain, smoke ? 50 : 100000, true);
    bench_scan("jsonscan + string callback, plain 9 KB", &plain, smoke ? 50 : 100000);
    bench_parser("kv_request plain 9 KB", KV_REQUEST_COMPLETION, &plain, plain.len,
                 smoke ? 50 : 100000);
    bench_yajl("yajl alone, token ids", &toks, smoke ? 50 : 20000, false);
    bench_scan("jsonscan alone, token ids", &toks, smoke ? 50 : 20000);
    bench_parser("kv_request token ids", KV_REQUEST_COMPLETION, &toks, toks.len,
                 smoke ? 50 : 20000);
    kv_buf_cleanup(&chat);
    kv_buf_cleanup(&compl );
    kv_buf_cleanup(&plain);
    kv_buf_cleanup(&toks);
    return 0;
}
