/* SPDX-License-Identifier: MIT */
/* src/router/daemon.h - the kvroute process context: one struct kv_router per process.
 *
 * kv_router ties the pieces together on one libuv loop: the HTTP server (src/http/server.h) with
 * the OpenAI and control routes, the backend set (backend.h) with two connection pools per
 * backend, the background timers (health.c: /health and /v1/models probes and DNS discovery;
 * scrape.c: /metrics every ~100 ms), the pure scheduling core (sched.h, session.h, and the prefix
 * index, prefix/index.h), and the router's own metrics (rmetrics.h). proxy.c handles each
 * request. Everything runs on the loop's thread; nothing here is shared across threads.
 *
 * Lifecycle: kv_router_new() binds the listener and starts the timers; kv_router_drain() (on
 * SIGTERM/SIGINT) stops accepting, lets in-flight requests finish (up to drain_timeout_ms), then
 * closes every handle so uv_run() returns; kv_router_free() releases the rest. The config is
 * borrowed and must outlive the router; it is never modified.
 *
 * The struct is visible to the router's own files (health.c, scrape.c, proxy.c) only: they are
 * one component split by concern, like h2o's lib/core. Others use the functions.
 */
#ifndef KV_ROUTER_DAEMON_H
#define KV_ROUTER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "openai/request.h"
#include "router/backend.h"
#include "router/config.h"

struct kv_http_server;
struct kv_http_req;
struct kv_index;
struct kv_session;
struct kv_rmetrics;
struct kv_proxy;
struct kv_route;

/* Longest prompt, in blocks, the router hashes (64-byte blocks: 1 MiB of text). */
#define KV_ROUTER_MAX_BLOCKS 16384

struct kv_router {
    uv_loop_t *loop;
    const struct kv_config *cfg;
    struct kv_http_server *srv;
    struct kv_backend_set backends;
    struct kv_index *index;
    struct kv_session *sessions;
    struct kv_route *route; /* scheduler adapter (proxy.c) */
    struct kv_rmetrics *metrics;
    uint64_t seed; /* secret for block and session hashing */

    uv_timer_t health_timer;
    uv_timer_t scrape_timer;
    uv_timer_t dns_timer;
    uv_timer_t expire_timer;
    uv_timer_t drain_timer;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_getaddrinfo_t dns_req;
    bool dns_busy;
    unsigned handles_open; /* uv handles not yet closed */

    struct kv_request parser;   /* reused by every request: the parse is synchronous */
    uint64_t *hashes;           /* scratch for block hashes, KV_ROUTER_MAX_BLOCKS */
    struct kv_proxy *proxies;   /* in-flight proxied requests (doubly linked) */
    unsigned nproxies;
    unsigned npaused;           /* of those, backend reads paused for a slow client */
    uint64_t pauses;            /* times a backend read was paused (back-pressure) */
    struct kv_backend **retired; /* retired backends still referenced */
    size_t nretired;

    bool draining;
    bool closing;
    int exit_code;
    uint64_t started_ns;
};

/* Creates the router on <loop> with <cfg> (borrowed): binds the listener (the port is
 * kv_router_port()), registers the backends of the static list, starts DNS discovery, probes,
 * scrapes and signal handlers. Returns 0 and sets *<out>, or < 0 (nothing left running). */
int kv_router_new(uv_loop_t *loop, const struct kv_config *cfg, struct kv_router **out);
/* The port the listener is bound to. */
int kv_router_port(const struct kv_router *r);
/* Begins a graceful stop: no new connections, in-flight requests finish (at most
 * cfg->drain_timeout_ms), then every handle closes and uv_run() returns. Idempotent. */
void kv_router_drain(struct kv_router *r);
/* Frees the router after uv_run() returned. NULL is a no-op. */
void kv_router_free(struct kv_router *r);

/* Internal to the router's files: a backend changed state (log, metrics, forget its index
 * entries and sessions on a fall). */
void kv__daemon_backend_changed(struct kv_router *r, struct kv_backend *b,
                                enum kv_backend_change change);
/* Internal: adds a backend (pools made, probed at once); NULL if the set is full or has it.
 * <capacity> > 0 fixes its index capacity (blocks), else the default until a scrape reads its
 * cache_config_info. */
struct kv_backend *kv__daemon_add_backend(struct kv_router *r, const char *name,
                                          const char *host, int port, bool from_dns,
                                          uint32_t capacity);
/* Internal: retires <b> (DNS dropped it); freed once its references are gone. */
void kv__daemon_retire_backend(struct kv_router *r, struct kv_backend *b);
/* Internal: a backend reference dropped; frees a retired backend when it was the last. */
void kv__daemon_backend_unref(struct kv_router *r, struct kv_backend *b);

#endif /* KV_ROUTER_DAEMON_H */
