/* SPDX-License-Identifier: MIT */
/* src/bench/runner.c - one workload run against one endpoint.
 *
 * State: one struct run per call of kv_runner_run(), one struct sess per session (its timer and
 * the index of its next request), one struct inflight per request on the wire. Sessions refer to
 * their requests by index range: generators and trace readers build sessions contiguously.
 */
#include "bench/runner.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"

#define MAX_BODY (64u << 20)
#define MAX_PLAIN_RESPONSE (4u << 20)

struct run;

struct sess {
    struct run *run;
    uv_timer_t timer;
    uint32_t first, count, next; /* request index range, and next to send */
    struct kv_http_pool *pool;   /* own pool when bound to its own source address */
    char id[24];
};

struct inflight {
    struct sess *sess;
    uint64_t t_send, t_first, t_last;
    int status;
    struct kv_runner_sse sse;
    struct kv_buf plain; /* non-streaming body, scanned for usage at the end */
};

struct run {
    uv_loop_t loop;
    const struct kv_workload *w;
    const struct kv_runner_config *cfg;
    struct kv_runner_result *res;
    struct kv_http_pool *pool;
    struct sess *sess;
    uint32_t n_sess;
    uint64_t started_ns, done, total;
    uint64_t inflight;
    uv_timer_t deadline, progress;
    struct kv_buf body;
    bool stopping;
};

void kv_runner_result_init(struct kv_runner_result *r)
{
    memset(r, 0, sizeof(*r));
    kv_stats_init(&r->ttft);
    kv_stats_init(&r->itl);
    kv_stats_init(&r->e2e);
}

void kv_runner_result_cleanup(struct kv_runner_result *r)
{
    kv_stats_cleanup(&r->ttft);
    kv_stats_cleanup(&r->itl);
    kv_stats_cleanup(&r->e2e);
}

/* Reads the unsigned integer after "<key>": in <s>, if present. */
static bool scan_uint(const char *s, const char *key, uint64_t *out)
{
    const char *p = strstr(s, key);
    if (!p)
        return false;
    p += strlen(key);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    *out = strtoull(p, NULL, 10);
    return true;
}

/* True if a "text" (completions) or "content" (chat) string in <s> is not empty. */
static bool has_text(const char *s)
{
    static const char *const keys[] = {"\"text\":\"", "\"content\":\""};
    for (size_t i = 0; i < KV_ARRAY_LEN(keys); i++) {
        const char *p = strstr(s, keys[i]);
        if (p && p[strlen(keys[i])] != '"' && p[strlen(keys[i])] != '\0')
            return true;
    }
    return false;
}

static void scan_usage(struct kv_runner_sse *s, const char *text)
{
    const char *u = strstr(text, "\"usage\"");
    if (!u || strncmp(u + 7, ":null", 5) == 0)
        return;
    scan_uint(u, "\"completion_tokens\"", &s->completion_tokens);
    scan_uint(u, "\"prompt_tokens\"", &s->prompt_tokens);
    scan_uint(u, "\"cached_tokens\"", &s->cached_tokens);
}

/* One complete line of the event stream. */
static unsigned sse_line(struct kv_runner_sse *s)
{
    const char *data = s->line;

    s->line[s->len] = '\0';
    if (strncmp(data, "data:", 5) != 0)
        return 0;
    data += data[5] == ' ' ? 6 : 5;
    if (strcmp(data, "[DONE]") == 0) {
        s->done = true;
        return 0;
    }
    scan_usage(s, data);
    if (has_text(data)) {
        s->text_events++;
        return 1;
    }
    return 0;
}

unsigned kv_runner_sse_feed(struct kv_runner_sse *s, const char *buf, size_t len)
{
    unsigned texts = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n') {
            if (s->len && s->line[s->len - 1] == '\r')
                s->len--;
            texts += sse_line(s);
            s->len = 0;
            s->overflow = false;
        } else if (s->len + 1 < sizeof(s->line)) {
            s->line[s->len++] = c;
        } else {
            s->overflow = true; /* an oversized event: its head is enough to classify it */
        }
    }
    return texts;
}

static double scaled_s(const struct run *run, uint64_t ns)
{
    return (double)ns / 1e9 * run->cfg->time_scale;
}

static void send_next(struct sess *s);

/* Workload times are model time: against servers running <time_scale> times faster, the
 * client's think times and arrivals shrink by the same factor, so the offered load relative to
 * the servers' capacity is the same as in real time. */
static uint64_t wall_ms(const struct run *run, double model_s)
{
    double scale = run->cfg->time_scale > 0 ? run->cfg->time_scale : 1;
    return (uint64_t)(model_s * 1000.0 / scale);
}

static void on_think_done(uv_timer_t *t)
{
    send_next(kv_container_of(t, struct sess, timer));
}

/* After a request ended: the session's next one goes out after its think time. */
static void session_advance(struct sess *s)
{
    struct run *run = s->run;
    const struct kv_workload_req *r;

    if (run->stopping || s->next >= s->first + s->count)
        return;
    r = &run->w->reqs[s->next];
    uv_timer_start(&s->timer, on_think_done, wall_ms(run, r->think_s), 0);
}

static void stop_run(struct run *run);

static void finish_request(struct inflight *f, int status)
{
    struct run *run = f->sess->run;
    struct kv_runner_result *res = run->res;
    uint64_t now = kv_time_ns();

    if (status == UV_ECANCELED)
        res->cancelled++;
    else if (status < 0 || f->status != 200)
        res->errors++;
    else {
        res->ok++;
        kv_stats_add(&res->e2e, scaled_s(run, now - f->t_send));
        if (f->t_first)
            kv_stats_add(&res->ttft, scaled_s(run, f->t_first - f->t_send));
        if (!run->cfg->stream && f->plain.data)
            scan_usage(&f->sse, f->plain.data);
        res->output_tokens += f->sse.completion_tokens;
        res->prompt_tokens += f->sse.prompt_tokens;
        res->cached_tokens += f->sse.cached_tokens;
    }
    if (status < 0 && status != UV_ECANCELED && res->errors <= 3)
        kv_warn("request failed: %s", kv_strerror(status));
    run->done++;
    run->inflight--;
    session_advance(f->sess);
    kv_buf_cleanup(&f->plain);
    free(f);
    if (run->done == run->total)
        stop_run(run);
}

static int on_head(struct kv_http_call *call, int status, const struct kv_http_header *h,
                   size_t n, void *data)
{
    struct inflight *f = data;
    f->status = status;
    if (!f->sess->run->cfg->stream && !f->t_first)
        f->t_first = kv_time_ns(); /* without a stream, the head is the best first-token mark */
    return 0;
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    struct inflight *f = data;
    struct run *run = f->sess->run;
    uint64_t now;

    if (!run->cfg->stream) {
        kv_buf_append(&f->plain, buf, len); /* over the cap: usage is just not counted */
        return 0;
    }
    if (kv_runner_sse_feed(&f->sse, buf, len) == 0)
        return 0;
    now = kv_time_ns();
    if (!f->t_first)
        f->t_first = now;
    else
        kv_stats_add(&run->res->itl, scaled_s(run, now - f->t_last));
    f->t_last = now;
    return 0;
}

static void on_done(struct kv_http_call *call, int status, void *data)
{
    finish_request(data, status);
}

static void send_next(struct sess *s)
{
    static const struct kv_http_call_cbs cbs = {on_head, on_body, on_done};
    struct run *run = s->run;
    const struct kv_workload_req *r = &run->w->reqs[s->next++];
    const char *headers[] = {"content-type", "application/json", NULL, NULL, NULL};
    struct inflight *f;
    int rc;

    if (run->cfg->session_header) {
        headers[2] = run->cfg->session_header;
        headers[3] = s->id;
    }
    kv_buf_reset(&run->body);
    rc = kv_workload_render_body(run->w, r, run->cfg->model, run->cfg->stream, &run->body);
    f = kv_calloc(1, sizeof(*f));
    f->sess = s;
    kv_buf_init(&f->plain, MAX_PLAIN_RESPONSE);
    f->t_send = kv_time_ns();
    run->res->sent++;
    run->inflight++;
    if (rc == 0)
        rc = kv_http_call_start(s->pool ? s->pool : run->pool, "POST",
                                run->w->chat ? "/v1/chat/completions" : "/v1/completions",
                                headers, run->body.data, run->body.len, &cbs, f, NULL);
    if (rc < 0)
        finish_request(f, rc);
}

static void on_close_free_nothing(uv_handle_t *h)
{
    (void)h;
}

static void stop_run(struct run *run)
{
    if (run->stopping)
        return;
    run->stopping = true;
    for (uint32_t i = 0; i < run->n_sess; i++) {
        uv_close((uv_handle_t *)&run->sess[i].timer, on_close_free_nothing);
        if (run->sess[i].pool)
            kv_http_pool_close(run->sess[i].pool);
    }
    uv_close((uv_handle_t *)&run->deadline, on_close_free_nothing);
    uv_close((uv_handle_t *)&run->progress, on_close_free_nothing);
    kv_http_pool_close(run->pool); /* cancels what is still in flight */
    if (run->cfg->progress)
        fprintf(stderr, "\n");
}

static void on_deadline(uv_timer_t *t)
{
    struct run *run = kv_container_of(t, struct run, deadline);
    kv_warn("run stopped at its time bound (%.0f s) with %" PRIu64 " requests in flight",
            run->cfg->max_duration_s, run->inflight);
    stop_run(run);
}

static void on_progress(uv_timer_t *t)
{
    struct run *run = kv_container_of(t, struct run, progress);
    double el = (double)(kv_time_ns() - run->started_ns) / 1e9;
    fprintf(stderr, "\r  %6.1f s  %" PRIu64 "/%" PRIu64 " done  %" PRIu64 " in flight  %" PRIu64
            " errors   ", el, run->done, run->total, run->inflight, run->res->errors);
}

static void on_arrival(uv_timer_t *t)
{
    send_next(kv_container_of(t, struct sess, timer));
}

/* Gives session <i> its own pool connecting from 127.<i/65536+1>.<i/256%256>.<i%256 + 1>, so
 * each session looks like its own client to client-IP affinity. */
static void session_pool(struct run *run, struct sess *s, uint32_t i)
{
    char addr[32];
    struct kv_http_pool_config pc = {.host = run->cfg->host, .port = run->cfg->port,
                                     .max_idle = 4, .response_timeout_ms = run->cfg->timeout_ms,
                                     .bind_host = addr};
    snprintf(addr, sizeof(addr), "127.%u.%u.%u", 1 + (i >> 16) % 254, (i >> 8) & 255,
             1 + (i & 255) % 254);
    if (kv_http_pool_new(&run->loop, &pc, &s->pool) < 0)
        s->pool = NULL; /* falls back to the shared pool */
}

/* Splits the workload into sessions (contiguous request ranges) and arms their first timers. */
static void start_sessions(struct run *run)
{
    const struct kv_workload *w = run->w;

    run->sess = kv_calloc(w->n_sessions ? w->n_sessions : 1, sizeof(*run->sess));
    run->n_sess = w->n_sessions;
    for (uint32_t i = 0; i < run->n_sess; i++) {
        run->sess[i].run = run;
        snprintf(run->sess[i].id, sizeof(run->sess[i].id), "s-%" PRIu32, i);
        uv_timer_init(&run->loop, &run->sess[i].timer);
    }
    for (size_t i = 0; i < w->n_reqs; i++) {
        struct sess *s = &run->sess[w->reqs[i].session];
        if (s->count == 0)
            s->first = (uint32_t)i;
        s->count++;
    }
    for (uint32_t i = 0; i < run->n_sess; i++) {
        struct sess *s = &run->sess[i];
        s->next = s->first;
        if (run->cfg->source_ips && s->count)
            session_pool(run, s, i);
        if (s->count)
            uv_timer_start(&s->timer, on_arrival, wall_ms(run, w->reqs[s->first].arrival_s), 0);
    }
}

int kv_runner_run(const struct kv_workload *w, const struct kv_runner_config *cfg,
                  struct kv_runner_result *res)
{
    struct kv_http_pool_config pc = {.host = cfg->host, .port = cfg->port, .max_idle = 1024,
                                     .response_timeout_ms = cfg->timeout_ms};
    struct run run = {.w = w, .cfg = cfg, .res = res, .total = w->n_reqs};
    int rc;

    if (w->n_reqs == 0)
        return 0;
    if ((rc = uv_loop_init(&run.loop)) < 0)
        return rc;
    if ((rc = kv_http_pool_new(&run.loop, &pc, &run.pool)) < 0) {
        uv_loop_close(&run.loop);
        return rc;
    }
    kv_buf_init(&run.body, MAX_BODY);
    run.started_ns = kv_time_ns();
    start_sessions(&run);
    uv_timer_init(&run.loop, &run.deadline);
    uv_timer_init(&run.loop, &run.progress);
    if (cfg->max_duration_s > 0)
        uv_timer_start(&run.deadline, on_deadline, (uint64_t)(cfg->max_duration_s * 1000), 0);
    if (cfg->progress)
        uv_timer_start(&run.progress, on_progress, 500, 500);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    res->wall_s = (double)(kv_time_ns() - run.started_ns) / 1e9;
    rc = uv_loop_close(&run.loop);
    kv_buf_cleanup(&run.body);
    free(run.sess);
    return rc == 0 ? 0 : rc;
}
