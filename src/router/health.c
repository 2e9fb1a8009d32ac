/* SPDX-License-Identifier: MIT */
/* src/router/health.c - active health probes, /v1/models refresh, DNS discovery. */
#include "router/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"
#include "router/daemon.h"
#include "router/rmetrics.h"

#define MODELS_MAX_BYTES (1u << 20)

enum probe_phase { PHASE_HEALTH = 0, PHASE_MODELS };

/* One probe in flight: the health check, then (if it passed) the models fetch. */
struct probe {
    struct kv_router *r;
    struct kv_backend *b;
    enum probe_phase phase;
    int http_status;
    struct kv_buf body;
};

static int on_head(struct kv_http_call *call, int status, const struct kv_http_header *headers,
                   size_t count, void *data)
{
    struct probe *p = data;
    (void)call;
    (void)headers;
    (void)count;
    p->http_status = status;
    return 0;
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    struct probe *p = data;
    (void)call;
    if (p->phase != PHASE_MODELS)
        return 0; /* a health body is not interesting */
    return kv_buf_append(&p->body, buf, len) < 0 ? 1 : 0;
}

static void on_done(struct kv_http_call *call, int status, void *data);

static const struct kv_http_call_cbs probe_cbs = {on_head, on_body, on_done};

static void probe_end(struct probe *p)
{
    p->b->probing = false;
    kv__daemon_backend_unref(p->r, p->b);
    kv_buf_cleanup(&p->body);
    free(p);
}

static int start_call(struct probe *p, const char *path)
{
    p->http_status = 0;
    kv_buf_reset(&p->body);
    return kv_http_call_start(p->b->control, "GET", path, NULL, NULL, 0, &probe_cbs, p, NULL);
}

static void health_done(struct probe *p, int status)
{
    struct kv_backend *b = p->b;
    char why[96];
    bool ok = status == 0 && p->http_status >= 200 && p->http_status < 300;

    if (status < 0)
        snprintf(why, sizeof(why), "probe: %s", kv_strerror(status));
    else
        snprintf(why, sizeof(why), "probe: HTTP %d", p->http_status);
    kv__daemon_backend_changed(p->r, b,
                               kv_backend_probe(&p->r->backends, b, ok, why, kv_time_ns()));
    if (ok && !p->r->closing) {
        p->phase = PHASE_MODELS;
        if (start_call(p, "/v1/models") == 0)
            return;
    }
    probe_end(p);
}

static void models_done(struct probe *p, int status)
{
    if (status == 0 && p->http_status == 200 &&
        kv_backend_set_models_json(p->b, p->body.data ? p->body.data : "", p->body.len) < 0)
        kv_warn("backend %s: /v1/models answer is not a model list", p->b->name);
    probe_end(p);
}

static void on_done(struct kv_http_call *call, int status, void *data)
{
    struct probe *p = data;
    (void)call;
    if (p->b->retired || p->r->closing) {
        probe_end(p);
        return;
    }
    if (p->phase == PHASE_HEALTH)
        health_done(p, status);
    else
        models_done(p, status);
}

void kv_health_probe(struct kv_router *r, struct kv_backend *b)
{
    struct probe *p;
    int rc;

    if (b->probing || b->retired || !b->control || r->closing)
        return;
    p = kv_calloc(1, sizeof(*p));
    p->r = r;
    p->b = b;
    kv_buf_init(&p->body, MODELS_MAX_BYTES);
    b->probing = true;
    kv_backend_ref(b);
    rc = start_call(p, r->cfg->health_path);
    if (rc < 0)
        health_done(p, rc);
}

void kv_health_probe_all(struct kv_router *r)
{
    for (size_t i = 0; i < r->backends.n; i++)
        kv_health_probe(r, r->backends.items[i]);
}

/* ---- DNS discovery ---------------------------------------------------------------------- */

/* "addr:port" or "[v6]:port" for one resolved address. */
static void addr_name(const struct sockaddr *sa, int port, char *host, size_t hlen, char *name,
                      size_t nlen)
{
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, host,
                  (socklen_t)hlen);
        snprintf(name, nlen, "[%s]:%d", host, port);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, host,
                  (socklen_t)hlen);
        snprintf(name, nlen, "%s:%d", host, port);
    }
}

static void reconcile(struct kv_router *r, const struct addrinfo *res)
{
    struct kv_backend *gone[64];
    size_t ngone = 0;
    char host[INET6_ADDRSTRLEN], name[INET6_ADDRSTRLEN + 16];

    for (size_t i = 0; i < r->backends.n; i++)
        r->backends.items[i]->seen = false;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        struct kv_backend *b;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        addr_name(ai->ai_addr, r->cfg->dns_port, host, sizeof(host), name, sizeof(name));
        if ((b = kv_backend_set_find(&r->backends, name)) != NULL) {
            b->seen = true;
            continue;
        }
        if ((b = kv__daemon_add_backend(r, name, host, r->cfg->dns_port, true, 0)) != NULL) {
            b->seen = true;
            kv_info("dns: %s appeared", name);
        }
    }
    /* Retire in batches: the set shrinks as we go, so collect first. */
    do {
        ngone = 0;
        for (size_t i = 0; i < r->backends.n && ngone < KV_ARRAY_LEN(gone); i++)
            if (r->backends.items[i]->from_dns && !r->backends.items[i]->seen)
                gone[ngone++] = r->backends.items[i];
        for (size_t i = 0; i < ngone; i++) {
            kv_info("dns: %s disappeared", gone[i]->name);
            kv__daemon_retire_backend(r, gone[i]);
        }
    } while (ngone == KV_ARRAY_LEN(gone));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct kv_router *r = kv_container_of(req, struct kv_router, dns_req);

    r->dns_busy = false;
    if (r->closing) {
        uv_freeaddrinfo(res);
        return;
    }
    kv_rmetrics_dns(r->metrics, status >= 0);
    if (status < 0) {
        kv_warn("dns: resolving %s failed: %s; keeping %zu backends", r->cfg->dns_host,
                uv_strerror(status), r->backends.n);
    } else {
        reconcile(r, res);
    }
    uv_freeaddrinfo(res);
}

void kv_health_resolve(struct kv_router *r)
{
    struct addrinfo hints;
    char port[16];
    int rc;

    if (!r->cfg->dns_host || r->dns_busy || r->closing)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", r->cfg->dns_port);
    rc = uv_getaddrinfo(r->loop, &r->dns_req, on_resolved, r->cfg->dns_host, port, &hints);
    if (rc < 0) {
        kv_rmetrics_dns(r->metrics, false);
        kv_warn("dns: cannot resolve %s: %s", r->cfg->dns_host, uv_strerror(rc));
    } else
        r->dns_busy = true;
}
