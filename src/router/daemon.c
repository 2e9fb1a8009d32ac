/* SPDX-License-Identifier: MIT */
/* src/router/daemon.c - the kvroute process: wiring, timers, control endpoints, drain.
 *
 * Shutdown order: drain stops the HTTP server (no new connections; in-flight requests finish),
 * and when the server reports that no connection is left, or the drain deadline passes (then
 * in-flight requests are cut), every backend pool, timer and signal handle is closed; uv_run()
 * returns once the last close callback ran. Backends (live and retired) are freed only in
 * kv_router_free(), after the loop stopped, because cancelled calls still report to them.
 */
#include "router/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"
#include "http/server.h"
#include "openai/json.h"
#include "prefix/blockhash.h"
#include "prefix/index.h"
#include "router/health.h"
#include "router/proxy.h"
#include "router/rmetrics.h"
#include "router/route.h"
#include "router/scrape.h"
#include "router/session.h"

#define EXPIRE_INTERVAL_MS 1000
/* Work (sched.h) decays with this time constant, so old assignments stop counting. */
#define WORK_DECAY_PER_TICK 0.9834 /* exp(-1 s / 60 s) */

/* ---- backends --------------------------------------------------------------------------- */

static void close_pools(struct kv_backend *b)
{
    kv_http_pool_close(b->pool);
    kv_http_pool_close(b->control);
    b->pool = NULL;
    b->control = NULL;
}

static int open_pools(struct kv_router *r, struct kv_backend *b)
{
    const struct kv_config *c = r->cfg;
    struct kv_http_pool_config data = {
        .host = b->host,
        .port = b->port,
        .max_idle = c->max_idle,
        .connect_timeout_ms = c->connect_timeout_ms,
        .response_timeout_ms = c->response_timeout_ms,
    };
    struct kv_http_pool_config ctl = {
        .host = b->host,
        .port = b->port,
        .max_idle = 2,
        .connect_timeout_ms = KV_MIN(c->connect_timeout_ms, c->health_timeout_ms),
        .response_timeout_ms = KV_MAX(c->health_timeout_ms, c->scrape_timeout_ms),
    };
    int rc;

    if (data.max_idle == 0)
        data.max_idle = 1; /* the pool reads 0 as its default; keep at least one */
    if ((rc = kv_http_pool_new(r->loop, &data, &b->pool)) < 0)
        return rc;
    if ((rc = kv_http_pool_new(r->loop, &ctl, &b->control)) < 0) {
        kv_http_pool_close(b->pool);
        b->pool = NULL;
    }
    return rc;
}

struct kv_backend *kv__daemon_add_backend(struct kv_router *r, const char *name,
                                          const char *host, int port, bool from_dns,
                                          uint32_t capacity)
{
    const struct kv_route_prefix *pfx = kv_route_prefix(r->route);
    struct kv_backend *b = kv_backend_set_add(&r->backends, name, host, port, from_dns);
    int rc;

    if (!b) {
        kv_warn("backend %s: not added (duplicate, or %d backends already)", name,
                KV_BACKEND_MAX);
        return NULL;
    }
    if ((rc = open_pools(r, b)) < 0) {
        kv_error("backend %s: %s", name, kv_strerror(rc));
        kv_backend_set_retire(&r->backends, b);
        kv_backend_free(b);
        return NULL;
    }
    /* A reused id may carry a previous backend's blocks and sessions. */
    kv_index_remove_backend(r->index, b->id);
    b->capacity_fixed = capacity > 0;
    kv_index_set_capacity(r->index, b->id, capacity ? capacity : pfx->default_capacity);
    if (r->sessions)
        kv_session_remove_backend(r->sessions, b->id);
    kv_info("backend %s added (id %u)", b->name, b->id);
    kv_health_probe(r, b);
    return b;
}

void kv__daemon_retire_backend(struct kv_router *r, struct kv_backend *b)
{
    kv_index_remove_backend(r->index, b->id);
    if (r->sessions)
        kv_session_remove_backend(r->sessions, b->id);
    if (kv_backend_set_retire(&r->backends, b)) {
        close_pools(b);
        kv_backend_free(b);
        return;
    }
    r->retired = kv_realloc(r->retired, (r->nretired + 1) * sizeof(*r->retired));
    r->retired[r->nretired++] = b;
}

void kv__daemon_backend_unref(struct kv_router *r, struct kv_backend *b)
{
    if (!kv_backend_unref(b) || r->closing)
        return; /* while closing, kv_router_free() frees the retired list */
    for (size_t i = 0; i < r->nretired; i++) {
        if (r->retired[i] != b)
            continue;
        r->retired[i] = r->retired[--r->nretired];
        break;
    }
    close_pools(b);
    kv_backend_free(b);
}

void kv__daemon_backend_changed(struct kv_router *r, struct kv_backend *b,
                                enum kv_backend_change change)
{
    if (change == KV_BACKEND_WENT_UP) {
        kv_info("backend %s is up", b->name);
    } else if (change == KV_BACKEND_WENT_DOWN) {
        /* It may come back restarted, with an empty cache and an empty queue: forget what we
         * believed, the work assigned to it included (else it comes back looking busy with
         * the requests that died with it, and the balance term keeps traffic away). */
        kv_warn("backend %s is down: %s", b->name, b->last_error);
        b->work = 0;
        kv_index_remove_backend(r->index, b->id);
        if (r->sessions)
            kv_session_remove_backend(r->sessions, b->id);
    }
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_health_timer(uv_timer_t *t)
{
    kv_health_probe_all(kv_container_of(t, struct kv_router, health_timer));
}

static void on_scrape_timer(uv_timer_t *t)
{
    kv_scrape_all(kv_container_of(t, struct kv_router, scrape_timer));
}

static void on_dns_timer(uv_timer_t *t)
{
    kv_health_resolve(kv_container_of(t, struct kv_router, dns_timer));
}

static void on_expire_timer(uv_timer_t *t)
{
    struct kv_router *r = kv_container_of(t, struct kv_router, expire_timer);

    if (r->sessions)
        kv_session_expire(r->sessions, kv_time_ns(), 0);
    for (size_t i = 0; i < r->backends.n; i++)
        r->backends.items[i]->work *= WORK_DECAY_PER_TICK;
    kv_route_observe(r);
}

/* ---- control endpoints ------------------------------------------------------------------ */

static void respond_json(struct kv_http_req *req, int status, struct kv_buf *b)
{
    kv_http_respond(req, status, "application/json", NULL, b->data ? b->data : "", b->len);
    kv_buf_cleanup(b);
}

static void on_health(struct kv_http_req *req, void *data)
{
    struct kv_router *r = data;
    size_t up = kv_backend_set_up(&r->backends);
    const char *status = r->draining ? "draining" : up ? "ok" : "no healthy backend";
    struct kv_buf b;

    kv_buf_init(&b, 4096);
    kv_json_open(&b, '{');
    kv_json_key(&b, "status");
    kv_json_strz(&b, status);
    kv_json_key(&b, "backends");
    kv_json_int(&b, (int64_t)r->backends.n);
    kv_json_key(&b, "up");
    kv_json_int(&b, (int64_t)up);
    kv_buf_appendc(&b, '}');
    respond_json(req, up && !r->draining ? 200 : 503, &b);
}

static bool listed_before(const struct kv_router *r, size_t bi, size_t mi)
{
    const char *id = r->backends.items[bi]->models[mi];
    for (size_t i = 0; i < bi; i++) {
        const struct kv_backend *o = r->backends.items[i];
        if (!kv_backend_is_routable(o))
            continue;
        for (size_t j = 0; j < o->nmodels; j++)
            if (strcmp(o->models[j], id) == 0)
                return true;
    }
    return false;
}

/* Union of what the routable backends serve, in fleet order. */
static void on_models(struct kv_http_req *req, void *data)
{
    struct kv_router *r = data;
    struct kv_buf b;

    kv_buf_init(&b, 4u << 20);
    kv_buf_appends(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < r->backends.n; i++) {
        const struct kv_backend *k = r->backends.items[i];
        if (!kv_backend_is_routable(k))
            continue;
        for (size_t j = 0; j < k->nmodels; j++) {
            if (listed_before(r, i, j))
                continue;
            kv_json_open(&b, '{');
            kv_json_key(&b, "id");
            kv_json_strz(&b, k->models[j]);
            kv_json_key(&b, "object");
            kv_json_strz(&b, "model");
            kv_json_key(&b, "created");
            kv_json_int(&b, kv_time_unix());
            kv_json_key(&b, "owned_by");
            kv_json_strz(&b, "kvroute");
            kv_buf_appendc(&b, '}');
        }
    }
    kv_buf_appends(&b, "]}");
    respond_json(req, 200, &b);
}

static void on_metrics(struct kv_http_req *req, void *data)
{
    struct kv_router *r = data;
    struct kv_buf b;

    kv_buf_init(&b, 64u << 20);
    kv_rmetrics_render(r->metrics, &r->backends, r->index, &b);
    kv_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                    b.data ? b.data : "", b.len);
    kv_buf_cleanup(&b);
}

static void backend_json(struct kv_buf *b, const struct kv_router *r, const struct kv_backend *k)
{
    const struct kv_backend_stats *s = &k->stats;
    uint64_t now = kv_time_ns();

    kv_json_open(b, '{');
    kv_json_key(b, "name");
    kv_json_strz(b, k->name);
    kv_json_key(b, "id");
    kv_json_int(b, k->id);
    kv_json_key(b, "host");
    kv_json_strz(b, k->host);
    kv_json_key(b, "port");
    kv_json_int(b, k->port);
    kv_json_key(b, "source");
    kv_json_strz(b, k->from_dns ? "dns" : "static");
    kv_json_key(b, "state");
    kv_json_strz(b, kv_backend_state_name(k->state));
    kv_json_key(b, "healthy");
    kv_json_bool(b, kv_backend_is_routable(k));
    kv_json_key(b, "state_age_s");
    kv_json_double(b, k->state_ns ? (double)(now - k->state_ns) / 1e9 : -1);
    kv_json_key(b, "last_error");
    kv_json_strz(b, k->last_error[0] ? k->last_error : NULL);
    kv_json_key(b, "models");
    kv_json_open(b, '[');
    for (size_t j = 0; j < k->nmodels; j++)
        kv_json_strz(b, k->models[j]);
    kv_buf_appendc(b, ']');
    kv_json_key(b, "inflight");
    kv_json_int(b, k->inflight);
    kv_json_key(b, "inflight_prefill_tokens");
    kv_json_int(b, (int64_t)k->inflight_prefill);
    kv_json_key(b, "requests");
    kv_json_int(b, (int64_t)k->requests);
    kv_json_key(b, "failures");
    kv_json_int(b, (int64_t)k->failures);
    kv_json_key(b, "work");
    kv_json_double(b, k->work);
    kv_json_key(b, "scraped");
    kv_json_open(b, '{');
    kv_json_key(b, "ok");
    kv_json_bool(b, s->scraped);
    kv_json_key(b, "age_s");
    kv_json_double(b, s->scraped ? (double)(now - s->scraped_ns) / 1e9 : -1);
    kv_json_key(b, "waiting");
    kv_json_double(b, s->waiting);
    kv_json_key(b, "running");
    kv_json_double(b, s->running);
    kv_json_key(b, "kv_cache_usage");
    kv_json_double(b, s->kv_usage);
    kv_json_key(b, "block_size");
    kv_json_int(b, (int64_t)s->block_size);
    kv_json_key(b, "num_gpu_blocks");
    kv_json_int(b, (int64_t)s->gpu_blocks);
    kv_json_key(b, "prefix_cache_hits");
    kv_json_double(b, s->prefix_hits);
    kv_json_key(b, "prefix_cache_queries");
    kv_json_double(b, s->prefix_queries);
    kv_buf_appendc(b, '}');
    kv_json_key(b, "index");
    kv_json_open(b, '{');
    kv_json_key(b, "blocks");
    kv_json_int(b, kv_index_blocks(r->index, k->id));
    kv_json_key(b, "capacity");
    kv_json_int(b, kv_index_capacity(r->index, k->id));
    kv_buf_appendc(b, '}');
    kv_buf_appendc(b, '}');
}

static void on_debug_backends(struct kv_http_req *req, void *data)
{
    struct kv_router *r = data;
    struct kv_buf b;

    kv_buf_init(&b, 64u << 20);
    kv_json_open(&b, '{');
    kv_json_key(&b, "policy");
    kv_json_strz(&b, kv_route_policy(r->route));
    kv_json_key(&b, "draining");
    kv_json_bool(&b, r->draining);
    kv_json_key(&b, "inflight");
    kv_json_int(&b, r->nproxies);
    kv_json_key(&b, "paused");
    kv_json_int(&b, r->npaused);
    kv_json_key(&b, "pauses");
    kv_json_int(&b, (int64_t)r->pauses);
    kv_json_key(&b, "index_entries");
    kv_json_int(&b, kv_index_entries(r->index));
    kv_json_key(&b, "sessions");
    kv_json_int(&b, r->sessions ? kv_session_count(r->sessions) : 0);
    kv_json_key(&b, "backends");
    kv_json_open(&b, '[');
    for (size_t i = 0; i < r->backends.n; i++)
        backend_json(&b, r, r->backends.items[i]);
    kv_buf_appendc(&b, ']');
    kv_buf_appendc(&b, '}');
    respond_json(req, 200, &b);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct kv_router *r = h->data;
    r->handles_open--;
}

static void close_handle(struct kv_router *r, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    h->data = r;
    uv_close(h, on_handle_closed);
}

/* Everything but the (already shut down) server: the loop ends when these have closed. */
static void close_all(struct kv_router *r)
{
    if (r->closing)
        return;
    r->closing = true;
    kv_proxy_abort_all(r);
    for (size_t i = 0; i < r->backends.n; i++)
        close_pools(r->backends.items[i]);
    for (size_t i = 0; i < r->nretired; i++)
        close_pools(r->retired[i]);
    if (r->dns_busy)
        uv_cancel((uv_req_t *)&r->dns_req);
    close_handle(r, (uv_handle_t *)&r->health_timer);
    close_handle(r, (uv_handle_t *)&r->scrape_timer);
    close_handle(r, (uv_handle_t *)&r->dns_timer);
    close_handle(r, (uv_handle_t *)&r->expire_timer);
    close_handle(r, (uv_handle_t *)&r->drain_timer);
    close_handle(r, (uv_handle_t *)&r->sigterm);
    close_handle(r, (uv_handle_t *)&r->sigint);
}

static void on_server_shutdown(struct kv_http_server *srv, void *data)
{
    struct kv_router *r = data;
    (void)srv;
    kv_info("drained: every connection finished");
    close_all(r);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct kv_router *r = kv_container_of(t, struct kv_router, drain_timer);

    kv_warn("drain timeout: cutting %u requests in flight", r->nproxies);
    kv_proxy_abort_all(r);
}

void kv_router_drain(struct kv_router *r)
{
    if (r->draining)
        return;
    r->draining = true;
    kv_info("draining: %u requests in flight", r->nproxies);
    uv_timer_stop(&r->health_timer);
    uv_timer_stop(&r->dns_timer);
    if (r->cfg->drain_timeout_ms)
        uv_timer_start(&r->drain_timer, on_drain_timeout, r->cfg->drain_timeout_ms, 0);
    kv_http_server_shutdown(r->srv, on_server_shutdown, r);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct kv_router *r = s->data;
    kv_info("signal %d", signum);
    kv_router_drain(r);
}

static void init_handles(struct kv_router *r)
{
    const struct kv_config *c = r->cfg;
    uv_timer_t *timers[] = {&r->health_timer, &r->scrape_timer, &r->dns_timer, &r->expire_timer,
                            &r->drain_timer};

    for (size_t i = 0; i < KV_ARRAY_LEN(timers); i++) {
        uv_timer_init(r->loop, timers[i]);
        r->handles_open++;
    }
    uv_signal_init(r->loop, &r->sigterm);
    uv_signal_init(r->loop, &r->sigint);
    r->handles_open += 2;
    r->sigterm.data = r;
    r->sigint.data = r;
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_timer_start(&r->health_timer, on_health_timer, c->health_interval_ms,
                   c->health_interval_ms);
    if (c->scrape_interval_ms)
        uv_timer_start(&r->scrape_timer, on_scrape_timer, 0, c->scrape_interval_ms);
    if (c->dns_host)
        uv_timer_start(&r->dns_timer, on_dns_timer, 0, c->dns_interval_ms);
    uv_timer_start(&r->expire_timer, on_expire_timer, EXPIRE_INTERVAL_MS, EXPIRE_INTERVAL_MS);
    /* Timers must not keep a draining loop alive on their own: they are closed by close_all. */
}

static int make_state(struct kv_router *r)
{
    const struct kv_config *c = r->cfg;
    struct kv_sched_config scfg;
    struct kv_route_prefix pfx;
    char err[KV_CONFIG_ERR_MAX];
    uint64_t sseed;

    if (kv_blockhash_seed(&r->seed) < 0 || kv_blockhash_seed(&sseed) < 0)
        return -EIO;
    if (kv_route_sched_config(c, &scfg, &pfx, err, sizeof(err)) < 0) {
        kv_error("%s", err);
        return KV_ECONFIG;
    }
    r->index = kv_index_new((uint32_t)KV_MIN(c->index_max_entries, KV_INDEX_MAX_ENTRIES),
                            KV_BACKEND_MAX, pfx.default_capacity, kv_time_ns());
    if (!r->index)
        return KV_ECONFIG;
    if (c->affinity != KV_CONFIG_AFFINITY_NONE)
        r->sessions = kv_session_new((uint32_t)KV_MIN(c->session_max, 1u << 30),
                                     (uint64_t)c->session_ttl_s * 1000000000ull, sseed);
    if (kv_route_new(c, r->index, r->sessions, &r->route, err, sizeof(err)) < 0) {
        kv_error("%s", err);
        return KV_ECONFIG;
    }
    r->metrics = kv_rmetrics_new();
    kv_request_init(&r->parser, NULL);
    r->hashes = kv_malloc(KV_ROUTER_MAX_BLOCKS * sizeof(*r->hashes));
    kv_backend_set_init(&r->backends, c->health_rise, c->health_fall);
    return 0;
}

static int start_server(struct kv_router *r)
{
    const struct kv_config *c = r->cfg;
    struct kv_http_server_config sc = {
        .host = c->host,
        .port = c->port,
        .max_header_bytes = c->max_header_bytes,
        .max_body_bytes = c->max_body_bytes,
        .header_timeout_ms = c->header_timeout_ms,
        .idle_timeout_ms = c->idle_timeout_ms,
        .server_name = "kvroute",
    };
    int rc = kv_http_server_new(r->loop, &sc, &r->srv);

    if (rc < 0)
        return rc;
    kv_http_server_route(r->srv, "POST", "/v1/completions", kv_proxy_completions, r);
    kv_http_server_route(r->srv, "POST", "/v1/chat/completions", kv_proxy_chat, r);
    kv_http_server_route(r->srv, "GET", "/v1/models", on_models, r);
    kv_http_server_route(r->srv, "GET", "/health", on_health, r);
    kv_http_server_route(r->srv, "GET", "/metrics", on_metrics, r);
    kv_http_server_route(r->srv, "GET", "/debug/route", kv_proxy_debug_route, r);
    kv_http_server_route(r->srv, "POST", "/debug/route", kv_proxy_debug_route, r);
    kv_http_server_route(r->srv, "GET", "/debug/backends", on_debug_backends, r);
    return 0;
}

int kv_router_new(uv_loop_t *loop, const struct kv_config *cfg, struct kv_router **out)
{
    struct kv_router *r = kv_calloc(1, sizeof(*r));
    int rc;

    r->loop = loop;
    r->cfg = cfg;
    r->started_ns = kv_time_ns();
    if ((rc = make_state(r)) < 0 || (rc = start_server(r)) < 0) {
        kv_router_free(r);
        return rc;
    }
    init_handles(r);
    for (size_t i = 0; i < cfg->nbackends; i++)
        kv__daemon_add_backend(r, cfg->backends[i].name, cfg->backends[i].host,
                               cfg->backends[i].port, false, cfg->backends[i].capacity_blocks);
    *out = r;
    return 0;
}

int kv_router_port(const struct kv_router *r)
{
    return kv_http_server_port(r->srv);
}

void kv_router_free(struct kv_router *r)
{
    if (!r)
        return;
    kv_http_server_free(r->srv);
    kv_backend_set_cleanup(&r->backends);
    for (size_t i = 0; i < r->nretired; i++)
        kv_backend_free(r->retired[i]);
    free(r->retired);
    kv_route_free(r->route);
    kv_session_free(r->sessions);
    kv_index_free(r->index);
    kv_rmetrics_free(r->metrics);
    if (r->hashes)
        kv_request_cleanup(&r->parser);
    free(r->hashes);
    free(r);
}
