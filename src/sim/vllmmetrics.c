/* SPDX-License-Identifier: MIT */
/* src/sim/vllmmetrics.c - vLLM v0.10.0 metric names, buckets and prometheus_client layout. */
#include "sim/vllmmetrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/time.h"
#include "openai/json.h"

/* vllm/v1/metrics/loggers.py bucket lists. */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                     0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0,
                                     20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
static const double tpot_bounds[] = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,
                                     0.3,  0.4,   0.5,  0.75,  1.0,  2.5,  5.0,
                                     7.5,  10.0,  20.0, 40.0,  80.0};
static const double latency_bounds[] = {0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,
                                        5.0,  10.0, 15.0, 20.0, 30.0, 40.0,  50.0,
                                        60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
static const double iter_bounds[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                                     16384};
static const double n_bounds[] = {1, 2, 5, 10, 20};

static const char *const reasons[3] = {"stop", "length", "abort"};

static void hist_init(struct kv_vllmmetrics_hist *h, const double *b, unsigned n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = b;
    h->nbounds = n;
}

static void observe(struct kv_vllmmetrics_hist *h, double v)
{
    unsigned i = 0;

    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++; /* i == nbounds is the +Inf bucket */
    h->count++;
    h->sum += v;
}

/* build_1_2_5_buckets(max): 1, 2, 5, 10, 20, 50, ... up to max. */
static unsigned build_125(double *out, uint32_t max)
{
    static const int mant[3] = {1, 2, 5};
    unsigned n = 0;

    for (double exp = 1; n < KV_VLLMMETRICS_MAX_BUCKETS - 1; exp *= 10) {
        for (int i = 0; i < 3; i++) {
            if (mant[i] * exp > max)
                return n;
            out[n++] = mant[i] * exp;
        }
    }
    return n;
}

void kv_vllmmetrics_init(struct kv_vllmmetrics *m, const char *model_name, uint32_t max_model_len,
                         const char *cache_labels)
{
    unsigned nlen;

    memset(m, 0, sizeof(*m));
    snprintf(m->model_name, sizeof(m->model_name), "%s", model_name);
    snprintf(m->cache_info, sizeof(m->cache_info), "%s", cache_labels);
    m->created = kv_time_unix_f();
    m->max_model_len = max_model_len;
    nlen = build_125(m->len_bounds, max_model_len);
    hist_init(&m->req_prompt, m->len_bounds, nlen);
    hist_init(&m->req_gen, m->len_bounds, nlen);
    hist_init(&m->iter_tokens, iter_bounds, KV_ARRAY_LEN(iter_bounds));
    hist_init(&m->max_gen, m->len_bounds, nlen);
    hist_init(&m->params_n, n_bounds, KV_ARRAY_LEN(n_bounds));
    hist_init(&m->params_max, m->len_bounds, nlen);
    hist_init(&m->ttft, ttft_bounds, KV_ARRAY_LEN(ttft_bounds));
    hist_init(&m->tpot, tpot_bounds, KV_ARRAY_LEN(tpot_bounds));
    hist_init(&m->e2e, latency_bounds, KV_ARRAY_LEN(latency_bounds));
    hist_init(&m->queue, latency_bounds, KV_ARRAY_LEN(latency_bounds));
    hist_init(&m->inference, latency_bounds, KV_ARRAY_LEN(latency_bounds));
    hist_init(&m->prefill, latency_bounds, KV_ARRAY_LEN(latency_bounds));
    hist_init(&m->decode, latency_bounds, KV_ARRAY_LEN(latency_bounds));
}

void kv_vllmmetrics_first_token(struct kv_vllmmetrics *m, uint32_t prompt_tokens, double ttft)
{
    m->prompt_tokens += prompt_tokens;
    observe(&m->ttft, ttft);
}

void kv_vllmmetrics_token(struct kv_vllmmetrics *m, double itl)
{
    observe(&m->tpot, itl);
}

void kv_vllmmetrics_generated(struct kv_vllmmetrics *m, uint32_t n)
{
    m->generation_tokens += n;
}

void kv_vllmmetrics_iteration(struct kv_vllmmetrics *m, uint64_t tokens)
{
    observe(&m->iter_tokens, (double)tokens);
}

void kv_vllmmetrics_finished(struct kv_vllmmetrics *m, const struct kv_vllmmetrics_done *d)
{
    int r = d->finish == KV_ENGINE_FINISH_STOP ? 0 : d->finish == KV_ENGINE_FINISH_LENGTH ? 1 : 2;

    m->success[r]++;
    if (r == 2)
        return;
    observe(&m->req_prompt, d->prompt_tokens);
    observe(&m->req_gen, d->generation_tokens);
    observe(&m->max_gen, d->max_tokens);
    observe(&m->params_n, 1);
    observe(&m->params_max, d->max_tokens);
    observe(&m->e2e, d->e2e);
    observe(&m->queue, d->queue);
    observe(&m->inference, d->inference);
    observe(&m->prefill, d->prefill);
    observe(&m->decode, d->decode);
}

size_t kv_vllmmetrics_format(double v, char *out)
{
    char s[KV_JSON_DOUBLE_MAX];
    size_t len, dot, k = 0;

    if (isinf(v))
        return (size_t)sprintf(out, v > 0 ? "+Inf" : "-Inf");
    if (isnan(v))
        return (size_t)sprintf(out, "NaN");
    len = kv_json_format_double(s, v);
    dot = strcspn(s, ".");
    if (!(v > 0 && dot < len && dot > 6)) {
        memcpy(out, s, len + 1);
        return len;
    }
    /* Go writes exponents sooner than Python: d.ddd...e+0<dot-1>, trailing "0." stripped. */
    out[k++] = s[0];
    out[k++] = '.';
    for (size_t i = 1; i < len; i++)
        if (i != dot)
            out[k++] = s[i];
    while (k > 0 && (out[k - 1] == '0' || out[k - 1] == '.'))
        k--;
    return k + (size_t)sprintf(out + k, "e+0%zu", dot - 1);
}

struct render {
    struct kv_buf *b;
    const struct kv_vllmmetrics *m;
    char labels[400]; /* engine="0",model_name="..." */
    int rc;
};

static void emit(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct render *r, const char *fmt, ...)
{
    va_list ap;

    if (r->rc < 0)
        return;
    va_start(ap, fmt);
    r->rc = kv_buf_vprintf(r->b, fmt, ap);
    va_end(ap);
}

static void head(struct render *r, const char *name, const char *type, const char *help)
{
    emit(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct render *r, const char *name, const char *help, double v)
{
    char num[40];

    kv_vllmmetrics_format(v, num);
    head(r, name, "gauge", help);
    emit(r, "%s{%s} %s\n", name, r->labels, num);
}

static void counter(struct render *r, const char *name, const char *help, double v)
{
    char num[40], ts[40];

    kv_vllmmetrics_format(v, num);
    kv_vllmmetrics_format(r->m->created, ts);
    head(r, name, "counter", help);
    emit(r, "%s_total{%s} %s\n%s_created{%s} %s\n", name, r->labels, num, name, r->labels, ts);
}

static void hist(struct render *r, const char *name, const char *help,
                 const struct kv_vllmmetrics_hist *h)
{
    char num[40], le[40];
    uint64_t cum = 0;

    head(r, name, "histogram", help);
    for (unsigned i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        if (i < h->nbounds)
            kv_vllmmetrics_format(h->bounds[i], le);
        else
            strcpy(le, "+Inf");
        kv_vllmmetrics_format((double)cum, num);
        emit(r, "%s_bucket{engine=\"0\",le=\"%s\",model_name=\"%s\"} %s\n", name, le,
             r->m->model_name, num);
    }
    kv_vllmmetrics_format((double)h->count, num);
    emit(r, "%s_count{%s} %s\n", name, r->labels, num);
    kv_vllmmetrics_format(h->sum, num);
    emit(r, "%s_sum{%s} %s\n", name, r->labels, num);
    kv_vllmmetrics_format(r->m->created, num);
    emit(r, "%s_created{%s} %s\n", name, r->labels, num);
}

static void render_engine(struct render *r, const struct kv_engine *e)
{
    const struct kv_blockpool *p = kv_engine_pool(e);
    struct kv_engine_stats st;

    kv_engine_stats(e, &st);
    gauge(r, "vllm:num_requests_running", "Number of requests in model execution batches.",
          st.num_running);
    gauge(r, "vllm:num_requests_waiting", "Number of requests waiting to be processed.",
          st.num_waiting);
    gauge(r, "vllm:gpu_cache_usage_perc",
          "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc"
          " instead.",
          kv_blockpool_usage(p));
    counter(r, "vllm:gpu_prefix_cache_queries",
            "GPU prefix cache queries, in terms of number of queried tokens. DEPRECATED: Use "
            "vllm:prefix_cache_queries instead.",
            (double)p->stats.queries);
    counter(r, "vllm:gpu_prefix_cache_hits",
            "GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED: Use "
            "vllm:prefix_cache_hits instead.",
            (double)p->stats.hits);
    gauge(r, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
          kv_blockpool_usage(p));
    counter(r, "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            (double)p->stats.queries);
    counter(r, "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
            (double)p->stats.hits);
    counter(r, "vllm:num_preemptions", "Cumulative number of preemption from the engine.",
            (double)st.num_preemptions);
}

static void render_success(struct render *r)
{
    char num[40], ts[40];
    const char *name = "vllm:request_success";

    kv_vllmmetrics_format(r->m->created, ts);
    head(r, name, "counter", "Count of successfully processed requests.");
    for (int i = 0; i < 3; i++) {
        kv_vllmmetrics_format((double)r->m->success[i], num);
        emit(r, "%s_total{engine=\"0\",finished_reason=\"%s\",model_name=\"%s\"} %s\n", name,
             reasons[i], r->m->model_name, num);
    }
    for (int i = 0; i < 3; i++)
        emit(r, "%s_created{engine=\"0\",finished_reason=\"%s\",model_name=\"%s\"} %s\n", name,
             reasons[i], r->m->model_name, ts);
}

int kv_vllmmetrics_render(const struct kv_vllmmetrics *m, const struct kv_engine *e,
                          struct kv_buf *out)
{
    struct render r = {out, m, "", 0};

    snprintf(r.labels, sizeof(r.labels), "engine=\"0\",model_name=\"%s\"", m->model_name);
    render_engine(&r, e);
    counter(&r, "vllm:prompt_tokens", "Number of prefill tokens processed.",
            (double)m->prompt_tokens);
    counter(&r, "vllm:generation_tokens", "Number of generation tokens processed.",
            (double)m->generation_tokens);
    render_success(&r);
    hist(&r, "vllm:request_prompt_tokens", "Number of prefill tokens processed.", &m->req_prompt);
    hist(&r, "vllm:request_generation_tokens", "Number of generation tokens processed.",
         &m->req_gen);
    hist(&r, "vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
         &m->iter_tokens);
    hist(&r, "vllm:request_max_num_generation_tokens",
         "Histogram of maximum number of requested generation tokens.", &m->max_gen);
    hist(&r, "vllm:request_params_n", "Histogram of the n request parameter.", &m->params_n);
    hist(&r, "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.",
         &m->params_max);
    hist(&r, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
         &m->ttft);
    hist(&r, "vllm:time_per_output_token_seconds",
         "Histogram of time per output token in seconds.", &m->tpot);
    hist(&r, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
         &m->e2e);
    hist(&r, "vllm:request_queue_time_seconds",
         "Histogram of time spent in WAITING phase for request.", &m->queue);
    hist(&r, "vllm:request_inference_time_seconds",
         "Histogram of time spent in RUNNING phase for request.", &m->inference);
    hist(&r, "vllm:request_prefill_time_seconds",
         "Histogram of time spent in PREFILL phase for request.", &m->prefill);
    hist(&r, "vllm:request_decode_time_seconds",
         "Histogram of time spent in DECODE phase for request.", &m->decode);
    head(&r, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
    emit(&r, "vllm:cache_config_info{%s} 1.0\n", m->cache_info);
    return r.rc < 0 ? r.rc : 0;
}
