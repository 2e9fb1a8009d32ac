/* SPDX-License-Identifier: MIT */
/* src/sim/api.c - OpenAI routes, SSE streaming and the engine's step timer.
 *
 * Response bodies follow vLLM v0.10.0's pydantic models field for field (protocol.py):
 * non-streaming responses are model_dump() (every field, nulls included); completion chunks are
 * model_dump_json(exclude_unset=False); chat chunks are exclude_unset=True (so only the fields
 * vLLM sets explicitly); the final usage chunk adds exclude_none=True. Usage fields come in
 * UsageInfo's declaration order: prompt_tokens, total_tokens, completion_tokens,
 * prompt_tokens_details, the last only with --enable-prompt-tokens-details and a cache hit.
 */
#include "sim/api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rand.h"
#include "base/time.h"
#include "http/server.h"
#include "openai/error.h"
#include "openai/json.h"
#include "openai/request.h"
#include "sim/tokenizer.h"
#include "sim/vllmmetrics.h"

#define OUT_MAX (64u << 20)
#define LLAMA3_VOCAB 128256 /* token ids a client may send */

struct sreq {
    struct kv_api *api;
    struct kv_http_req *http;
    struct kv_engine_req *ereq;
    bool chat, stream, include_usage, continuous_usage;
    bool busy; /* inside our own write: a close callback must not free it */
    bool gone;
    char id[48];
    int64_t created;
    const char *model; /* a served name, owned by the api */
    uint32_t prompt_tokens, max_tokens, generated;
    double last_token;
    struct kv_buf text; /* non-streaming output */
};

struct kv_api {
    uv_loop_t *loop;
    struct kv_http_server *srv;
    struct kv_engine *engine;
    uv_timer_t step_timer;
    char *model;
    char **served;
    size_t n_served;
    double time_scale;
    bool details;
    uint64_t seed;
    uint64_t t0_ns;
    double clock;      /* model seconds: end of the last step */
    double step_end;   /* of the step in flight */
    double carry_ms;   /* wall ms lost to the timer's 1 ms granularity */
    bool in_step;
    bool shutting_down;
    void (*done)(void *);
    void *done_data;
    struct kv_request parser;
    uint32_t *tok;     /* tokenizer output scratch */
    size_t tok_cap;
    struct kv_buf out; /* response scratch */
    struct kv_rand rng;
    struct kv_vllmmetrics metrics;
};

/* --- clock and step timer --- */

static double model_now(const struct kv_api *a)
{
    double wall = (double)(kv_time_ns() - a->t0_ns) / 1e9 * a->time_scale;
    return wall > a->clock ? wall : a->clock;
}

static void dispatch(struct kv_api *a, const struct kv_engine_event *ev, size_t n);
static void on_step(uv_timer_t *t);
static void maybe_done(struct kv_api *a);

static void kick(struct kv_api *a)
{
    double now, ms, wall;
    uint64_t whole;

    if (a->in_step)
        return;
    now = model_now(a);
    ms = kv_engine_schedule(a->engine, now);
    if (ms <= 0)
        return;
    a->in_step = true;
    a->step_end = now + ms / 1000.0;
    wall = ms / a->time_scale + a->carry_ms;
    whole = (uint64_t)floor(wall);
    a->carry_ms = wall - (double)whole;
    uv_timer_start(&a->step_timer, on_step, whole, 0);
}

static void on_step(uv_timer_t *t)
{
    struct kv_api *a = kv_container_of(t, struct kv_api, step_timer);
    const struct kv_engine_event *ev;
    size_t n;

    a->in_step = false;
    a->clock = a->step_end;
    kv_engine_finish_step(a->engine, a->clock, &ev, &n);
    dispatch(a, ev, n);
    kick(a);
}

/* --- JSON pieces --- */

static void new_id(struct kv_api *a, char *out, const char *prefix)
{
    uint64_t x = kv_rand_next(&a->rng), y = kv_rand_next(&a->rng);
    snprintf(out, 48, "%s%016llx%016llx", prefix, (unsigned long long)x, (unsigned long long)y);
}

static void usage(struct kv_api *a, struct kv_buf *b, const struct sreq *s, uint32_t cached,
                  bool drop_none)
{
    kv_json_key(b, "usage");
    kv_json_open(b, '{');
    kv_json_key(b, "prompt_tokens");
    kv_json_int(b, s->prompt_tokens);
    kv_json_key(b, "total_tokens");
    kv_json_int(b, s->prompt_tokens + s->generated);
    kv_json_key(b, "completion_tokens");
    kv_json_int(b, s->generated);
    if (a->details && cached > 0) {
        kv_json_key(b, "prompt_tokens_details");
        kv_json_open(b, '{');
        kv_json_key(b, "cached_tokens");
        kv_json_int(b, cached);
        kv_buf_appendc(b, '}');
    } else if (!drop_none) {
        kv_json_key(b, "prompt_tokens_details");
        kv_json_null(b);
    }
    kv_buf_appendc(b, '}');
}

static void head(struct kv_buf *b, const struct sreq *s, const char *object)
{
    kv_json_open(b, '{');
    kv_json_key(b, "id");
    kv_json_strz(b, s->id);
    kv_json_key(b, "object");
    kv_json_strz(b, object);
    kv_json_key(b, "created");
    kv_json_int(b, s->created);
    kv_json_key(b, "model");
    kv_json_strz(b, s->model);
}

static const char *reason_name(enum kv_engine_finish f)
{
    return f == KV_ENGINE_FINISH_STOP ? "stop" : f == KV_ENGINE_FINISH_ABORT ? "abort" : "length";
}

static void finish_fields(struct kv_buf *b, enum kv_engine_finish f)
{
    kv_json_key(b, "finish_reason");
    if (f == KV_ENGINE_RUNNING)
        kv_json_null(b);
    else
        kv_json_strz(b, reason_name(f));
}

/* One SSE chunk for <text> (and the finish, if any) into a->out. */
static void chunk(struct kv_api *a, struct sreq *s, const char *text, size_t len,
                  enum kv_engine_finish f, bool role)
{
    struct kv_buf *b = &a->out;

    kv_buf_reset(b);
    kv_buf_appends(b, "data: ");
    head(b, s, s->chat ? "chat.completion.chunk" : "text_completion");
    kv_json_key(b, "choices");
    kv_json_open(b, '[');
    kv_json_open(b, '{');
    kv_json_key(b, "index");
    kv_json_int(b, 0);
    if (s->chat) {
        kv_json_key(b, "delta");
        kv_json_open(b, '{');
        if (role) {
            kv_json_key(b, "role");
            kv_json_strz(b, "assistant");
        }
        kv_json_key(b, "content");
        kv_json_str(b, text, len);
        kv_buf_appendc(b, '}');
        kv_json_key(b, "logprobs");
        kv_json_null(b);
        finish_fields(b, f);
    } else {
        kv_json_key(b, "text");
        kv_json_str(b, text, len);
        kv_json_key(b, "logprobs");
        kv_json_null(b);
        finish_fields(b, f);
    }
    if (f != KV_ENGINE_RUNNING || !s->chat) {
        kv_json_key(b, "stop_reason");
        kv_json_null(b);
    }
    kv_buf_appends(b, "}]");
    if (s->include_usage && s->continuous_usage && !role)
        usage(a, b, s, 0, true);
    else if (!s->chat) {
        kv_json_key(b, "usage");
        kv_json_null(b);
    }
    kv_buf_appends(b, "}\n\n");
}

/* The whole non-streaming response into a->out. */
static void full_response(struct kv_api *a, struct sreq *s, enum kv_engine_finish f,
                          uint32_t cached)
{
    struct kv_buf *b = &a->out;

    kv_buf_reset(b);
    head(b, s, s->chat ? "chat.completion" : "text_completion");
    kv_json_key(b, "choices");
    kv_json_open(b, '[');
    kv_json_open(b, '{');
    kv_json_key(b, "index");
    kv_json_int(b, 0);
    if (s->chat) {
        kv_json_key(b, "message");
        kv_json_open(b, '{');
        kv_json_key(b, "role");
        kv_json_strz(b, "assistant");
        kv_json_key(b, "reasoning_content");
        kv_json_null(b);
        kv_json_key(b, "content");
        kv_json_str(b, s->text.data ? s->text.data : "", s->text.len);
        kv_json_key(b, "tool_calls");
        kv_buf_appends(b, "[]}");
    } else {
        kv_json_key(b, "text");
        kv_json_str(b, s->text.data ? s->text.data : "", s->text.len);
    }
    kv_json_key(b, "logprobs");
    kv_json_null(b);
    finish_fields(b, f);
    kv_json_key(b, "stop_reason");
    kv_json_null(b);
    if (!s->chat) {
        kv_json_key(b, "prompt_logprobs");
        kv_json_null(b);
    }
    kv_buf_appends(b, "}]");
    usage(a, b, s, cached, false);
    if (s->chat) {
        kv_json_key(b, "prompt_logprobs");
        kv_json_null(b);
    }
    kv_json_key(b, "kv_transfer_params");
    kv_json_null(b);
    kv_buf_appendc(b, '}');
}

/* --- request lifetime --- */

static void sreq_free(struct sreq *s)
{
    kv_buf_cleanup(&s->text);
    free(s);
}

static void on_client_close(struct kv_http_req *req, void *data)
{
    struct sreq *s = data;
    (void)req;
    if (s->ereq)
        kv_engine_abort(s->api->engine, s->ereq);
    s->ereq = NULL;
    s->http = NULL;
    if (s->busy)
        s->gone = true;
    else
        sreq_free(s);
}

static void stream_write(struct kv_api *a, struct sreq *s)
{
    s->busy = true;
    kv_http_stream_write(s->http, a->out.data, a->out.len);
    s->busy = false;
}

static void finish_request(struct kv_api *a, struct sreq *s, const struct kv_engine_event *e)
{
    s->ereq = NULL;
    kv_vllmmetrics_finished(&a->metrics, e, s->max_tokens);
    kv_http_req_set_callbacks(s->http, NULL, NULL, NULL);
    if (!s->stream) {
        full_response(a, s, e->finish, e->num_cached);
        kv_http_respond(s->http, 200, "application/json", NULL, a->out.data, a->out.len);
    } else {
        if (s->include_usage) {
            kv_buf_reset(&a->out);
            kv_buf_appends(&a->out, "data: ");
            head(&a->out, s, s->chat ? "chat.completion.chunk" : "text_completion");
            kv_json_key(&a->out, "choices");
            kv_buf_appends(&a->out, "[]");
            usage(a, &a->out, s, e->num_cached, true);
            kv_buf_appends(&a->out, "}\n\n");
            kv_http_stream_write(s->http, a->out.data, a->out.len);
        }
        kv_http_stream_write(s->http, "data: [DONE]\n\n", 14);
        kv_http_stream_end(s->http);
    }
    sreq_free(s);
}

static void on_token(struct kv_api *a, struct sreq *s, const struct kv_engine_event *e)
{
    size_t len;
    const char *w = kv_tokenizer_decode(e->token, &len);

    s->generated = e->num_output;
    kv_vllmmetrics_token(&a->metrics, e, a->clock - s->last_token);
    s->last_token = a->clock;
    if (!s->stream) {
        kv_buf_append(&s->text, w, len);
        return;
    }
    if (e->first_token && s->chat) {
        chunk(a, s, "", 0, KV_ENGINE_RUNNING, true);
        stream_write(a, s);
        if (s->gone)
            return;
    }
    chunk(a, s, w, len, e->finish, false);
    stream_write(a, s);
}

static void dispatch(struct kv_api *a, const struct kv_engine_event *ev, size_t n)
{
    kv_vllmmetrics_step(&a->metrics, ev, n);
    for (size_t i = 0; i < n; i++) {
        struct sreq *s = ev[i].user;

        if (ev[i].finish != KV_ENGINE_RUNNING)
            s->ereq = NULL; /* the engine freed it: a close from inside a write must not abort */
        if (ev[i].has_token)
            on_token(a, s, &ev[i]);
        if (s->gone) {
            sreq_free(s);
            continue;
        }
        if (ev[i].finish != KV_ENGINE_RUNNING)
            finish_request(a, s, &ev[i]);
    }
    maybe_done(a);
}

/* --- handlers --- */

static void respond_error(struct kv_api *a, struct kv_http_req *req, int err, const char *msg)
{
    int status;

    kv_buf_reset(&a->out);
    status = kv_error_render(&a->out, err, msg);
    kv_http_respond(req, status > 0 ? status : 500, "application/json", NULL, a->out.data,
                    a->out.len);
}

/* The served name <model> asks for, or NULL. Absent/empty model: the first one. */
static const char *find_model(struct kv_api *a, const char *m, size_t len)
{
    if (m == NULL)
        return a->served[0];
    for (size_t i = 0; i < a->n_served; i++)
        if (strlen(a->served[i]) == len && memcmp(a->served[i], m, len) == 0)
            return a->served[i];
    return NULL;
}

/* Tokenizes prompt 0 into a->tok; returns the count or < 0 with the error already sent. */
static int64_t tokenize(struct kv_api *a, struct kv_http_req *req)
{
    struct kv_request *r = &a->parser;
    size_t len;
    const char *text = kv_request_prompt_text(r, 0, &len);
    const int32_t *ids = NULL;
    size_t need = text ? kv_tokenizer_count(len) : 0;

    if (text == NULL) {
        ids = kv_request_prompt_tokens(r, 0, &need);
        for (size_t i = 0; i < need; i++) {
            if (ids[i] < 0 || ids[i] >= LLAMA3_VOCAB) {
                char msg[96];
                snprintf(msg, sizeof(msg), "Token id %d is out of vocabulary", (int)ids[i]);
                respond_error(a, req, KV_EBADREQ, msg);
                return -1;
            }
        }
    }
    if (need > a->tok_cap) {
        a->tok_cap = need;
        a->tok = kv_realloc(a->tok, sizeof(*a->tok) * need);
    }
    if (text)
        return (int64_t)kv_tokenizer_encode(text, len, a->tok);
    for (size_t i = 0; i < need; i++)
        a->tok[i] = (uint32_t)ids[i];
    return (int64_t)need;
}

/* Parses, checks model and limits; returns the served model name, or NULL (error sent). */
static const char *parse_checked(struct kv_api *a, struct kv_http_req *req, bool chat)
{
    struct kv_request *r = &a->parser;
    size_t blen, mlen;
    const char *body = kv_http_req_body(req, &blen), *m, *model;
    int rc = kv_request_parse(r, chat ? KV_REQUEST_CHAT : KV_REQUEST_COMPLETION, body, blen);

    if (rc < 0) {
        respond_error(a, req, rc, kv_request_error(r));
        return NULL;
    }
    m = kv_request_model(r, &mlen);
    if ((model = find_model(a, m, mlen)) == NULL) {
        kv_buf_reset(&a->out);
        kv_error_render_model(&a->out, m, mlen);
        kv_http_respond(req, 404, "application/json", NULL, a->out.data, a->out.len);
        return NULL;
    }
    if ((rc = kv_request_validate(r)) < 0) {
        respond_error(a, req, rc, kv_request_error(r));
        return NULL;
    }
    if (r->n_prompts != 1 || r->n != 1) {
        respond_error(a, req, KV_EBADREQ,
                      "kvsim serves one prompt and n=1 per request (a batch of prompts or n>1 "
                      "is not simulated)");
        return NULL;
    }
    return model;
}

static int check_length(struct kv_api *a, struct kv_http_req *req, int64_t ntok, int64_t *max)
{
    int64_t mml = kv_engine_config(a->engine)->max_model_len;

    if (ntok >= mml || (*max >= 0 && ntok + *max > mml)) {
        kv_buf_reset(&a->out);
        kv_error_render_too_long(&a->out, mml, ntok, ntok >= mml ? -1 : *max);
        kv_http_respond(req, 400, "application/json", NULL, a->out.data, a->out.len);
        return -1;
    }
    if (*max < 0)
        *max = mml - ntok;
    return 0;
}

static struct sreq *sreq_new(struct kv_api *a, struct kv_http_req *req, bool chat,
                             const char *model)
{
    struct sreq *s = kv_calloc(1, sizeof(*s));
    struct kv_request *r = &a->parser;

    s->api = a;
    s->http = req;
    s->chat = chat;
    s->stream = r->stream;
    s->include_usage = r->include_usage;
    s->continuous_usage = r->continuous_usage_stats;
    s->model = model;
    s->created = kv_time_unix();
    new_id(a, s->id, chat ? "chatcmpl-" : "cmpl-");
    kv_buf_init(&s->text, OUT_MAX);
    return s;
}

static void generate(struct kv_http_req *req, struct kv_api *a, bool chat)
{
    struct kv_request *r = &a->parser;
    const char *model = parse_checked(a, req, chat), *salt;
    struct kv_engine_params p;
    struct sreq *s;
    int64_t ntok, max;
    size_t salt_len;
    int rc;

    if (model == NULL || (ntok = tokenize(a, req)) < 0)
        return;
    max = r->max_tokens;
    if (check_length(a, req, ntok, &max) < 0)
        return;
    s = sreq_new(a, req, chat, model);
    s->prompt_tokens = (uint32_t)ntok;
    s->max_tokens = (uint32_t)max;
    salt = kv_request_cache_salt(r, &salt_len);
    p = (struct kv_engine_params){a->tok, (uint32_t)ntok, (uint32_t)max,
                                  r->has_seed ? (uint64_t)r->seed : a->seed, salt, salt_len,
                                  model_now(a), s};
    if ((rc = kv_engine_add(a->engine, &p, &s->ereq)) < 0) {
        sreq_free(s);
        respond_error(a, req, rc, NULL);
        return;
    }
    kv_http_req_set_callbacks(req, on_client_close, NULL, s);
    if (s->stream)
        kv_http_stream_begin(req, 200, "text/event-stream; charset=utf-8", NULL);
    kick(a);
}

static void h_completions(struct kv_http_req *req, void *data)
{
    generate(req, data, false);
}

static void h_chat(struct kv_http_req *req, void *data)
{
    generate(req, data, true);
}

static void h_health(struct kv_http_req *req, void *data)
{
    (void)data;
    kv_http_respond(req, 200, NULL, NULL, "", 0);
}

static void h_version(struct kv_http_req *req, void *data)
{
    static const char body[] = "{\"version\":\"0.10.0\"}";
    (void)data;
    kv_http_respond(req, 200, "application/json", NULL, body, sizeof(body) - 1);
}

static void model_card(struct kv_api *a, struct kv_buf *b, const char *name, int64_t now)
{
    char perm[48];

    new_id(a, perm, "modelperm-");
    kv_json_open(b, '{');
    kv_json_key(b, "id");
    kv_json_strz(b, name);
    kv_json_key(b, "object");
    kv_json_strz(b, "model");
    kv_json_key(b, "created");
    kv_json_int(b, now);
    kv_json_key(b, "owned_by");
    kv_json_strz(b, "vllm");
    kv_json_key(b, "root");
    kv_json_strz(b, a->model);
    kv_json_key(b, "parent");
    kv_json_null(b);
    kv_json_key(b, "max_model_len");
    kv_json_int(b, kv_engine_config(a->engine)->max_model_len);
    kv_json_key(b, "permission");
    kv_buf_printf(b, "[{\"id\":\"%s\",\"object\":\"model_permission\",\"created\":%lld,"
                     "\"allow_create_engine\":false,\"allow_sampling\":true,\"allow_logprobs\""
                     ":true,\"allow_search_indices\":false,\"allow_view\":true,"
                     "\"allow_fine_tuning\":false,\"organization\":\"*\",\"group\":null,"
                     "\"is_blocking\":false}]}",
                  perm, (long long)now);
}

static void h_models(struct kv_http_req *req, void *data)
{
    struct kv_api *a = data;
    int64_t now = kv_time_unix();

    kv_buf_reset(&a->out);
    kv_buf_appends(&a->out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < a->n_served; i++)
        model_card(a, &a->out, a->served[i], now);
    kv_buf_appends(&a->out, "]}");
    kv_http_respond(req, 200, "application/json", NULL, a->out.data, a->out.len);
}

static void h_metrics(struct kv_http_req *req, void *data)
{
    struct kv_api *a = data;

    kv_buf_reset(&a->out);
    kv_vllmmetrics_render(&a->metrics, a->engine, &a->out);
    kv_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, a->out.data,
                    a->out.len);
}

/* --- life cycle --- */

static void copy_names(struct kv_api *a, const struct kv_api_config *c)
{
    a->model = kv_strdup(c->model);
    a->n_served = c->n_served;
    a->served = kv_calloc(c->n_served, sizeof(char *));
    for (size_t i = 0; i < c->n_served; i++)
        a->served[i] = kv_strdup(c->served[i]);
}

static void add_routes(struct kv_api *a)
{
    kv_http_server_route(a->srv, "POST", "/v1/completions", h_completions, a);
    kv_http_server_route(a->srv, "POST", "/v1/chat/completions", h_chat, a);
    kv_http_server_route(a->srv, "GET", "/v1/models", h_models, a);
    kv_http_server_route(a->srv, "GET", "/health", h_health, a);
    kv_http_server_route(a->srv, "GET", "/ping", h_health, a);
    kv_http_server_route(a->srv, "POST", "/ping", h_health, a);
    kv_http_server_route(a->srv, "GET", "/version", h_version, a);
    kv_http_server_route(a->srv, "GET", "/metrics", h_metrics, a);
}

int kv_api_new(uv_loop_t *loop, const struct kv_api_config *c, struct kv_api **out)
{
    struct kv_api *a = kv_calloc(1, sizeof(*a));
    struct kv_http_server_config sc = {c->host, c->port, 0, c->max_body_bytes, 0, 0, "uvicorn"};
    uint64_t seed = 0;
    int rc;

    *out = NULL;
    if (c->n_served == 0 || c->time_scale < 1e-3) {
        free(a);
        return -EINVAL;
    }
    a->loop = loop;
    if (kv_vllmmetrics_init(&a->metrics, c->served[0], c->engine.max_model_len, c->cache_labels,
                            NULL) < 0) {
        free(a);
        return -EINVAL; /* malformed cache_labels: a bad config */
    }
    if ((rc = kv_engine_new(&c->engine, &a->engine)) < 0) {
        kv_vllmmetrics_cleanup(&a->metrics);
        free(a);
        return rc;
    }
    copy_names(a, c);
    a->time_scale = c->time_scale;
    a->details = c->enable_prompt_tokens_details;
    a->seed = c->seed;
    a->t0_ns = kv_time_ns();
    kv_rand_secret(&seed, sizeof(seed));
    kv_rand_seed(&a->rng, seed);
    kv_request_init(&a->parser, NULL);
    kv_buf_init(&a->out, OUT_MAX);
    uv_timer_init(loop, &a->step_timer);
    if ((rc = kv_http_server_new(loop, &sc, &a->srv)) < 0) {
        a->srv = NULL;
        *out = a; /* the caller shuts down and frees, which closes the timer */
        return rc;
    }
    add_routes(a);
    *out = a;
    return 0;
}

int kv_api_port(const struct kv_api *a)
{
    return kv_http_server_port(a->srv);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct kv_api *a = kv_container_of((uv_timer_t *)h, struct kv_api, step_timer);
    if (a->done)
        a->done(a->done_data);
}

/* Called after each step and when the server finished: closes up once all work is done. */
static void maybe_done(struct kv_api *a)
{
    if (!a->shutting_down || a->srv != NULL || a->in_step || kv_engine_has_work(a->engine))
        return;
    if (!uv_is_closing((uv_handle_t *)&a->step_timer))
        uv_close((uv_handle_t *)&a->step_timer, on_timer_closed);
}

static void on_server_down(struct kv_http_server *srv, void *data)
{
    struct kv_api *a = data;
    kv_http_server_free(srv);
    a->srv = NULL;
    maybe_done(a);
}

void kv_api_shutdown(struct kv_api *a, void (*done)(void *data), void *data)
{
    if (a->shutting_down)
        return;
    a->shutting_down = true;
    a->done = done;
    a->done_data = data;
    if (a->srv)
        kv_http_server_shutdown(a->srv, on_server_down, a);
    else
        maybe_done(a);
}

void kv_api_free(struct kv_api *a)
{
    if (a == NULL)
        return;
    kv_engine_free(a->engine);
    kv_vllmmetrics_cleanup(&a->metrics);
    kv_request_cleanup(&a->parser);
    kv_buf_cleanup(&a->out);
    free(a->tok);
    for (size_t i = 0; i < a->n_served; i++)
        free(a->served[i]);
    free(a->served);
    free(a->model);
    free(a);
}
