/* SPDX-License-Identifier: MIT */
/* src/router/health.h - backend upkeep: active /health probes, model lists, DNS discovery.
 *
 * Probes: on every health tick, each backend without a probe in flight gets GET <health.path>
 * on its control pool (timeout health.timeout_ms); a 2xx in time passes, anything else fails,
 * and the result feeds the backend's state machine (backend.h). A passing probe is followed by
 * GET /v1/models, whose answer replaces the backend's model list, so /v1/models of the router
 * and the unknown-model check follow what the fleet serves within one health interval.
 *
 * DNS: with --backends-dns host:port the name is re-resolved every dns_interval_ms
 * (uv_getaddrinfo); each address of the answer is a backend named "addr:port"; addresses that
 * appear are added (and probed at once), addresses that disappear are retired (in-flight
 * requests finish). A failed resolution keeps the current set: a DNS outage must not empty the
 * fleet.
 *
 * Each probe holds a reference on its backend (backend.h) for its duration, so a backend retired
 * meanwhile is freed only after the probe ends. All calls run on the router's loop.
 */
#ifndef KV_ROUTER_HEALTH_H
#define KV_ROUTER_HEALTH_H

struct kv_router;
struct kv_backend;

/* Starts a probe of <b> unless one is in flight. */
void kv_health_probe(struct kv_router *r, struct kv_backend *b);
/* Probes every backend (the health timer's tick). */
void kv_health_probe_all(struct kv_router *r);
/* Starts a DNS resolution of cfg->dns_host unless one is in flight (the DNS timer's tick). */
void kv_health_resolve(struct kv_router *r);

#endif /* KV_ROUTER_HEALTH_H */
