/* SPDX-License-Identifier: MIT */
/* src/router/backend.c - backend registry, health state machine, model lists. */
#include "router/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "base/err.h"
#include "base/mem.h"

void kv_backend_set_init(struct kv_backend_set *set, unsigned rise, unsigned fall)
{
    memset(set, 0, sizeof(*set));
    set->rise_needed = rise ? rise : 1;
    set->fall_needed = fall ? fall : 1;
}

void kv_backend_set_cleanup(struct kv_backend_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        kv_backend_free(set->items[i]);
    KV_FREE(&set->items);
    set->n = set->cap = 0;
}

static void free_models(struct kv_backend *b)
{
    for (size_t i = 0; i < b->nmodels; i++)
        KV_FREE(&b->models[i]);
    b->nmodels = 0;
}

void kv_backend_free(struct kv_backend *b)
{
    if (!b)
        return;
    free_models(b);
    free(b->name);
    free(b->host);
    free(b);
}

struct kv_backend *kv_backend_set_find(const struct kv_backend_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i]->name, name) == 0)
            return set->items[i];
    return NULL;
}

struct kv_backend *kv_backend_set_add(struct kv_backend_set *set, const char *name,
                                      const char *host, int port, bool from_dns)
{
    struct kv_backend *b;
    uint32_t id = 0;

    if (kv_backend_set_find(set, name))
        return NULL;
    while (id < KV_BACKEND_MAX && set->used[id])
        id++;
    if (id == KV_BACKEND_MAX)
        return NULL;
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 8;
        set->items = kv_realloc(set->items, set->cap * sizeof(*set->items));
    }
    b = kv_calloc(1, sizeof(*b));
    b->id = id;
    b->name = kv_strdup(name);
    b->host = kv_strdup(host);
    b->port = port;
    b->from_dns = from_dns;
    b->state = KV_BACKEND_NEW;
    snprintf(b->last_error, sizeof(b->last_error), "not probed yet");
    set->used[id] = true;
    set->items[set->n++] = b;
    return b;
}

bool kv_backend_set_retire(struct kv_backend_set *set, struct kv_backend *b)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->items[i] != b)
            continue;
        memmove(&set->items[i], &set->items[i + 1], (set->n - i - 1) * sizeof(*set->items));
        set->n--;
        break;
    }
    set->used[b->id] = false;
    b->retired = true;
    return b->refs == 0;
}

size_t kv_backend_set_up(const struct kv_backend_set *set)
{
    size_t up = 0;
    for (size_t i = 0; i < set->n; i++)
        up += set->items[i]->state == KV_BACKEND_UP;
    return up;
}

void kv_backend_ref(struct kv_backend *b)
{
    b->refs++;
}

bool kv_backend_unref(struct kv_backend *b)
{
    if (b->refs > 0)
        b->refs--;
    return b->retired && b->refs == 0;
}

static enum kv_backend_change set_state(struct kv_backend *b, enum kv_backend_state s,
                                        uint64_t now_ns)
{
    enum kv_backend_state old = b->state;

    if (old == s)
        return KV_BACKEND_SAME;
    b->state = s;
    b->state_ns = now_ns;
    if (s == KV_BACKEND_UP)
        return KV_BACKEND_WENT_UP;
    /* NEW -> DOWN is not a fall: the backend never took traffic. */
    return old == KV_BACKEND_UP ? KV_BACKEND_WENT_DOWN : KV_BACKEND_SAME;
}

static void note_error(struct kv_backend *b, const char *why)
{
    snprintf(b->last_error, sizeof(b->last_error), "%s", why ? why : "failed");
}

enum kv_backend_change kv_backend_probe(struct kv_backend_set *set, struct kv_backend *b, bool ok,
                                        const char *why, uint64_t now_ns)
{
    if (ok) {
        b->fall = 0;
        b->rise++;
        if (b->state == KV_BACKEND_NEW ||
            (b->state == KV_BACKEND_DOWN && b->rise >= set->rise_needed)) {
            b->last_error[0] = '\0';
            return set_state(b, KV_BACKEND_UP, now_ns);
        }
        return KV_BACKEND_SAME;
    }
    note_error(b, why);
    b->rise = 0;
    b->fall++;
    if (b->state == KV_BACKEND_NEW || b->fall >= set->fall_needed)
        return set_state(b, KV_BACKEND_DOWN, now_ns);
    return KV_BACKEND_SAME;
}

enum kv_backend_change kv_backend_passive_fail(struct kv_backend_set *set, struct kv_backend *b,
                                               const char *why, uint64_t now_ns)
{
    (void)set;
    b->failures++;
    note_error(b, why);
    b->rise = 0;
    return set_state(b, KV_BACKEND_DOWN, now_ns);
}

bool kv_backend_is_routable(const struct kv_backend *b)
{
    return b->state == KV_BACKEND_UP && !b->retired;
}

bool kv_backend_serves(const struct kv_backend *b, const char *model, size_t len)
{
    if (!model || !b->models_known)
        return true;
    for (size_t i = 0; i < b->nmodels; i++)
        if (strlen(b->models[i]) == len && memcmp(b->models[i], model, len) == 0)
            return true;
    return false;
}

const char *kv_backend_state_name(enum kv_backend_state s)
{
    switch (s) {
    case KV_BACKEND_NEW:
        return "new";
    case KV_BACKEND_UP:
        return "up";
    case KV_BACKEND_DOWN:
        return "down";
    }
    return "?";
}

int kv_backend_set_models_json(struct kv_backend *b, const char *json, size_t len)
{
    const char *data_path[] = {"data", NULL};
    const char *id_path[] = {"id", NULL};
    char *text = kv_strndup(json, len), errbuf[64];
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf)), data;
    char *ids[KV_BACKEND_MAX_MODELS];
    size_t n = 0;

    free(text);
    data = root ? yajl_tree_get(root, data_path, yajl_t_array) : NULL;
    if (!data) {
        yajl_tree_free(root);
        return KV_EPROTO;
    }
    for (size_t i = 0; i < data->u.array.len && n < KV_BACKEND_MAX_MODELS; i++) {
        yajl_val id = yajl_tree_get(data->u.array.values[i], id_path, yajl_t_string);
        if (id && YAJL_GET_STRING(id)[0])
            ids[n++] = kv_strdup(YAJL_GET_STRING(id));
    }
    yajl_tree_free(root);
    free_models(b);
    memcpy(b->models, ids, n * sizeof(*ids));
    b->nmodels = n;
    b->models_known = true;
    return (int)n;
}
