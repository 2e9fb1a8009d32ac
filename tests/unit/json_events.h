/* SPDX-License-Identifier: MIT */
/* tests/unit/json_events.h - JSON events as a string, for comparing jsonscan with yajl: the
 * callbacks of both parsers append one token per event ("{", "K3:key", "S5:value", "N2:12",
 * "T", "Z", ...) to a log, which can also cancel the parse at its n-th event. Header-only, for
 * tests/unit/test_openai_jsonscan.c and tests/fuzz/fuzz_json.c. */
#ifndef KV_TESTS_JSON_EVENTS_H
#define KV_TESTS_JSON_EVENTS_H

#include <stddef.h>

#include <yajl/yajl_parse.h>

#include "base/buf.h"
#include "openai/jsonscan.h"

struct jlog {
    struct kv_buf b;
    int cancel_at; /* cancel on this event (1-based), 0: never */
    int n;
};

static int jlog_ev(struct jlog *l, const char *tag, const void *s, size_t n)
{
    kv_buf_appends(&l->b, tag);
    if (s) {
        kv_buf_printf(&l->b, "%zu:", n);
        kv_buf_append(&l->b, s, n);
    }
    kv_buf_appendc(&l->b, '|');
    return ++l->n != l->cancel_at;
}

static int jlog_null(void *c)
{
    return jlog_ev(c, "Z", NULL, 0);
}

static int jlog_bool(void *c, int v)
{
    return jlog_ev(c, v ? "T" : "F", NULL, 0);
}

static int jlog_num(void *c, const char *s, size_t n)
{
    return jlog_ev(c, "N", s, n);
}

static int jlog_str(void *c, const unsigned char *s, size_t n)
{
    return jlog_ev(c, "S", s, n);
}

static int jlog_key(void *c, const unsigned char *s, size_t n)
{
    return jlog_ev(c, "K", s, n);
}

static int jlog_start_map(void *c)
{
    return jlog_ev(c, "{", NULL, 0);
}

static int jlog_end_map(void *c)
{
    return jlog_ev(c, "}", NULL, 0);
}

static int jlog_start_array(void *c)
{
    return jlog_ev(c, "[", NULL, 0);
}

static int jlog_end_array(void *c)
{
    return jlog_ev(c, "]", NULL, 0);
}

static const struct kv_jsonscan_callbacks jlog_scan_cb = {
    jlog_null, jlog_bool, jlog_num, jlog_str, jlog_start_map,
    jlog_key,  jlog_end_map, jlog_start_array, jlog_end_array,
};

static const yajl_callbacks jlog_yajl_cb = {
    .yajl_null = jlog_null,
    .yajl_boolean = jlog_bool,
    .yajl_number = jlog_num,
    .yajl_string = jlog_str,
    .yajl_start_map = jlog_start_map,
    .yajl_map_key = jlog_key,
    .yajl_end_map = jlog_end_map,
    .yajl_start_array = jlog_start_array,
    .yajl_end_array = jlog_end_array,
};

static inline void jlog_init(struct jlog *l)
{
    kv_buf_init(&l->b, 1 << 24);
    l->cancel_at = 0;
    l->n = 0;
}

#endif /* KV_TESTS_JSON_EVENTS_H */
