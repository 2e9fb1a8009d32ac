/* SPDX-License-Identifier: MIT */
/* src/router/filter.h - the scheduler's filters as an ops table: which backends may take a
 * request at all.
 *
 * Each filter is a pure predicate over one backend's state and the request (HAProxy lb_ops /
 * h2o balancer style), so each is unit-tested alone. The scheduler applies the chain in order
 * and, when one filter removes the last candidate, fails with that filter's error: a model no
 * backend lists is KV_ENOMODEL (404), a model whose backends are all down or all at their load
 * bound is KV_ENOBACKEND (503). No state, no allocation, no I/O.
 */
#ifndef KV_ROUTER_FILTER_H
#define KV_ROUTER_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "router/sched.h"

struct kv_filter_ops {
    const char *name; /* shown in explanations as the reason a backend was filtered */
    int err;          /* what the scheduler returns when this filter removes every backend */
    bool (*keep)(const struct kv_sched_request *req, const struct kv_sched_backend *b);
};

/* The chain the scheduler applies, in order: "model", "unhealthy", "load-bound". Sets *<n>. */
const struct kv_filter_ops *const *kv_filter_chain(size_t *n);
/* A filter by name, or NULL. */
const struct kv_filter_ops *kv_filter_find(const char *name);

#endif /* KV_ROUTER_FILTER_H */
