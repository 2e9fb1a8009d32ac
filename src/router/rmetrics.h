/* SPDX-License-Identifier: MIT */
/* src/router/rmetrics.h - kvroute's own Prometheus metrics.
 *
 * Counters and histograms that requests update as they go (kept in a metrics registry,
 * metrics/registry.h), and per-backend gauges that are read from the backend set and the prefix
 * index when /metrics is rendered, so a backend that DNS removed disappears from the output:
 *   kvroute_requests_total{backend,code}          answered requests (code "aborted": cut
 *                                                 mid-stream; "499": the client left first;
 *                                                 backend "none": answered by the router)
 *   kvroute_request_duration_seconds              request start to last byte
 *   kvroute_time_to_first_byte_seconds            request start to the backend's first byte
 *   kvroute_routing_decision_seconds              the request's first byte to its first
 *                                                 dispatch: upload, parse, hash, schedule
 *   kvroute_prefix_match_ratio                    matched / total blocks of routed prompts
 *   kvroute_session_affinity_total{result}        hit, miss, new, overridden
 *   kvroute_retries_total{reason}                 re-routed attempts (connect, 5xx, body)
 *   kvroute_dns_resolutions_total{result}         backends.dns lookups, ok or failed
 *   kvroute_backend_up{backend}                   1 routable, 0 not
 *   kvroute_backend_inflight_requests{backend}
 *   kvroute_index_blocks{backend}                 blocks the index believes it holds
 *   kvroute_index_capacity_blocks{backend}
 *   kvroute_backend_prefix_cache_hits_total{backend}     its vllm:prefix_cache_hits (scraped)
 *   kvroute_backend_prefix_cache_queries_total{backend}  its vllm:prefix_cache_queries
 *   kvroute_backend_waiting_requests{backend}, kvroute_backend_running_requests{backend},
 *   kvroute_backend_kv_cache_usage_ratio{backend}  scraped gauges, as the scheduler saw them
 *
 * Ownership: the struct owns its registry. Cost: an update is a few additions and a bucket
 * search; render is linear in series. Not thread-safe (one loop).
 */
#ifndef KV_ROUTER_RMETRICS_H
#define KV_ROUTER_RMETRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

struct kv_backend_set;
struct kv_index;
struct kv_rmetrics;

struct kv_rmetrics *kv_rmetrics_new(void);
void kv_rmetrics_free(struct kv_rmetrics *m);

/* A request was answered: <backend> name ("none" when the router answered), <code> the HTTP
 * status or a label ("aborted", "499"), <seconds> its duration. */
void kv_rmetrics_request(struct kv_rmetrics *m, const char *backend, const char *code,
                         double seconds);
void kv_rmetrics_ttfb(struct kv_rmetrics *m, double seconds);
void kv_rmetrics_decision(struct kv_rmetrics *m, double seconds);
void kv_rmetrics_prefix_ratio(struct kv_rmetrics *m, double ratio);
/* <result>: hit, miss, new, overridden ("none" is not counted). */
void kv_rmetrics_affinity(struct kv_rmetrics *m, const char *result);
void kv_rmetrics_retry(struct kv_rmetrics *m, const char *reason);
/* One resolution of backends.dns ended, with an answer (<ok>) or not. */
void kv_rmetrics_dns(struct kv_rmetrics *m, bool ok);

/* Appends the Prometheus text exposition of everything above to <out>. Returns 0 or
 * KV_ETOOBIG. */
int kv_rmetrics_render(struct kv_rmetrics *m, const struct kv_backend_set *set,
                       const struct kv_index *index, struct kv_buf *out);

#endif /* KV_ROUTER_RMETRICS_H */
