/* SPDX-License-Identifier: MIT */
/* src/router/filter.c - serves-the-model, healthy and load-bound filters. */
#include "router/filter.h"

#include <string.h>

#include "base/err.h"
#include "base/mem.h"

/* A backend whose model list is not known yet serves anything, and a request without a model
 * (the server's default) is served by all: the same rule as kv_backend_serves(). */
static bool keep_model(const struct kv_sched_request *req, const struct kv_sched_backend *b)
{
    if (!req->model || b->nmodels == 0)
        return true;
    for (uint32_t i = 0; i < b->nmodels; i++) {
        const char *m = b->models[i];
        if (m && strlen(m) == req->model_len && memcmp(m, req->model, req->model_len) == 0)
            return true;
    }
    return false;
}

static bool keep_healthy(const struct kv_sched_request *req, const struct kv_sched_backend *b)
{
    return b->healthy;
}

static bool keep_under_bound(const struct kv_sched_request *req, const struct kv_sched_backend *b)
{
    return b->max_inflight == 0 || b->inflight < b->max_inflight;
}

static const struct kv_filter_ops model_filter = {"model", KV_ENOMODEL, keep_model};
static const struct kv_filter_ops healthy_filter = {"unhealthy", KV_ENOBACKEND, keep_healthy};
static const struct kv_filter_ops bound_filter = {"load-bound", KV_EOVERLOAD, keep_under_bound};

static const struct kv_filter_ops *const chain[] = {&model_filter, &healthy_filter,
                                                   &bound_filter};

const struct kv_filter_ops *const *kv_filter_chain(size_t *n)
{
    *n = KV_ARRAY_LEN(chain);
    return chain;
}

const struct kv_filter_ops *kv_filter_find(const char *name)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(chain); i++)
        if (strcmp(chain[i]->name, name) == 0)
            return chain[i];
    return NULL;
}
