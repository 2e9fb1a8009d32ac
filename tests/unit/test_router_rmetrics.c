/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_rmetrics.c - kvroute's own /metrics: after known observations, the
 * rendered text is parsed back (metrics/promparse.h) and every family is checked for its exact
 * name, # TYPE, label names and values (counters, histogram buckets, _count and _sum, per-backend
 * gauges read from a live backend set and prefix index). The observations are dyadic fractions,
 * so sums are exact in binary and compared with ==. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "metrics/promparse.h"
#include "prefix/index.h"
#include "router/backend.h"
#include "router/rmetrics.h"

#define EXACT(a, e)                                                                                \
    do {                                                                                           \
        double a_ = (a), e_ = (e);                                                                 \
        if (!(a_ == e_))                                                                           \
            fail_msg("%s = %.17g, want %.17g", #a, a_, e_);                                        \
    } while (0)

#define MAX_PAIRS 4

/* ---- reading the text back ---------------------------------------------------------------- */

struct want {
    const char *name;
    const char *kv[2 * MAX_PAIRS]; /* label name, value, ... */
    size_t npairs;
    size_t hits;
    double value;
};

static bool has_label(const struct kv_promparse_sample *s, const char *name, const char *value)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct kv_promparse_label *l = &s->labels[i];
        if (l->name_len == strlen(name) && memcmp(l->name, name, l->name_len) == 0)
            return !value ||
                   (l->value_len == strlen(value) && memcmp(l->value, value, l->value_len) == 0);
    }
    return false;
}

static int on_want(const struct kv_promparse_sample *s, void *ud)
{
    struct want *w = ud;

    if (s->name_len != strlen(w->name) || memcmp(s->name, w->name, s->name_len) != 0 ||
        s->nlabels != w->npairs)
        return 0;
    for (size_t i = 0; i < w->npairs; i++)
        if (!has_label(s, w->kv[2 * i], w->kv[2 * i + 1]))
            return 0;
    w->hits++;
    w->value = s->value;
    return 0;
}

/* Samples named <name> whose labels are exactly the NULL-terminated name, value pairs given. */
static struct want query(const struct kv_buf *out, const char *name, va_list ap)
{
    struct want w = {.name = name};
    const char *k;
    struct kv_promparse_stats st;

    while ((k = va_arg(ap, const char *)) != NULL) {
        assert_true(w.npairs < MAX_PAIRS);
        w.kv[2 * w.npairs] = k;
        w.kv[2 * w.npairs + 1] = va_arg(ap, const char *);
        w.npairs++;
    }
    assert_int_equal(kv_promparse_parse(out->data, out->len, on_want, NULL, &w, &st), 0);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.too_long, 0);
    return w;
}

static size_t count(const struct kv_buf *out, const char *name, ...)
{
    va_list ap;
    struct want w;

    va_start(ap, name);
    w = query(out, name, ap);
    va_end(ap);
    return w.hits;
}

/* The value of the one sample so named and labelled; fails unless there is exactly one. */
static double get(const struct kv_buf *out, const char *name, ...)
{
    va_list ap;
    struct want w;

    va_start(ap, name);
    w = query(out, name, ap);
    va_end(ap);
    if (w.hits != 1)
        fail_msg("%s with %zu label(s): %zu samples, want 1\n%.*s", name, w.npairs, w.hits,
                 (int)out->len, out->data);
    return w.value;
}

/* Lines of <out> that are exactly <line> (with <whole>) or start with it. */
static size_t lines(const struct kv_buf *out, const char *line, bool whole)
{
    size_t n = 0, len = strlen(line);
    const char *p = out->data, *end = out->data + out->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (ll >= len && memcmp(p, line, len) == 0 && (!whole || ll == len))
            n++;
        p += ll + 1;
    }
    return n;
}

/* ---- the families and their shapes --------------------------------------------------------- */

struct family {
    const char *name;
    const char *type;
    const char *labels[2];
    size_t nlabels;
};

static const struct family families[] = {
    {"kvroute_requests_total", "counter", {"backend", "code"}, 2},
    {"kvroute_request_duration_seconds", "histogram", {NULL}, 0},
    {"kvroute_time_to_first_byte_seconds", "histogram", {NULL}, 0},
    {"kvroute_routing_decision_seconds", "histogram", {NULL}, 0},
    {"kvroute_prefix_match_ratio", "histogram", {NULL}, 0},
    {"kvroute_session_affinity_total", "counter", {"result"}, 1},
    {"kvroute_retries_total", "counter", {"reason"}, 1},
    {"kvroute_dns_resolutions_total", "counter", {"result"}, 1},
    {"kvroute_backend_up", "gauge", {"backend"}, 1},
    {"kvroute_backend_inflight_requests", "gauge", {"backend"}, 1},
    {"kvroute_index_blocks", "gauge", {"backend"}, 1},
    {"kvroute_index_capacity_blocks", "gauge", {"backend"}, 1},
    {"kvroute_backend_prefix_cache_hits_total", "counter", {"backend"}, 1},
    {"kvroute_backend_prefix_cache_queries_total", "counter", {"backend"}, 1},
    {"kvroute_backend_waiting_requests", "gauge", {"backend"}, 1},
    {"kvroute_backend_running_requests", "gauge", {"backend"}, 1},
    {"kvroute_backend_kv_cache_usage_ratio", "gauge", {"backend"}, 1},
};

#define NFAM (sizeof(families) / sizeof(families[0]))

struct shapes {
    size_t samples[NFAM];
    size_t unknown, bad_labels;
    char first_bad[128];
};

/* Which family a sample belongs to and whether it is a histogram's _bucket; -1 if none. */
static int family_of(const char *name, size_t len, bool *bucket)
{
    static const char *const suffix[] = {"_bucket", "_count", "_sum"};

    *bucket = false;
    for (size_t f = 0; f < NFAM; f++) {
        size_t fl = strlen(families[f].name);
        if (len < fl || memcmp(name, families[f].name, fl) != 0)
            continue;
        if (len == fl && strcmp(families[f].type, "histogram") != 0)
            return (int)f;
        for (size_t i = 0; i < 3 && strcmp(families[f].type, "histogram") == 0; i++)
            if (len - fl == strlen(suffix[i]) && memcmp(name + fl, suffix[i], len - fl) == 0) {
                *bucket = i == 0;
                return (int)f;
            }
    }
    return -1;
}

static int on_shape(const struct kv_promparse_sample *s, void *ud)
{
    struct shapes *sh = ud;
    bool bucket;
    int f = family_of(s->name, s->name_len, &bucket);
    bool ok;

    if (f < 0) {
        if (sh->unknown++ == 0)
            snprintf(sh->first_bad, sizeof sh->first_bad, "unknown %.*s", (int)s->name_len,
                     s->name);
        return 0;
    }
    sh->samples[f]++;
    ok = s->nlabels == families[f].nlabels + (bucket ? 1 : 0) &&
         (!bucket || has_label(s, "le", NULL));
    for (size_t i = 0; ok && i < families[f].nlabels; i++)
        ok = has_label(s, families[f].labels[i], NULL);
    if (!ok && sh->bad_labels++ == 0)
        snprintf(sh->first_bad, sizeof sh->first_bad, "labels of %.*s", (int)s->name_len, s->name);
    return 0;
}

/* Every family has one HELP and one exact TYPE line, every sample belongs to a family and
 * carries exactly its label names. Returns the samples per family in <sh>. */
static void check_shapes(const struct kv_buf *out, struct shapes *sh)
{
    char line[256];

    memset(sh, 0, sizeof *sh);
    for (size_t f = 0; f < NFAM; f++) {
        snprintf(line, sizeof line, "# TYPE %s ", families[f].name);
        assert_int_equal(lines(out, line, false), 1);
        snprintf(line, sizeof line, "# TYPE %s %s", families[f].name, families[f].type);
        if (lines(out, line, true) != 1)
            fail_msg("no line \"%s\"\n%.*s", line, (int)out->len, out->data);
        snprintf(line, sizeof line, "# HELP %s ", families[f].name);
        assert_int_equal(lines(out, line, false), 1);
    }
    assert_int_equal(lines(out, "# TYPE ", false), NFAM);
    assert_int_equal(lines(out, "# HELP ", false), NFAM);
    assert_int_equal(kv_promparse_parse(out->data, out->len, on_shape, NULL, sh, NULL), 0);
    if (sh->unknown || sh->bad_labels)
        fail_msg("%zu unknown, %zu mislabelled samples; first: %s", sh->unknown, sh->bad_labels,
                 sh->first_bad);
}

/* A histogram's _count, _sum, number of _bucket lines and the cumulative counts at <n> bounds
 * (le as rendered, client_python's float format). */
static void check_hist(const struct kv_buf *out, const char *name, size_t nbuckets, double cnt,
                       double sum, const char *const *le, const double *cum, size_t n)
{
    char b[128], c[128], s[128];
    struct shapes sh;
    bool bucket;
    int f;

    snprintf(b, sizeof b, "%s_bucket", name);
    snprintf(c, sizeof c, "%s_count", name);
    snprintf(s, sizeof s, "%s_sum", name);
    EXACT(get(out, c, NULL), cnt);
    EXACT(get(out, s, NULL), sum);
    EXACT(get(out, b, "le", "+Inf", NULL), cnt);
    for (size_t i = 0; i < n; i++)
        if (get(out, b, "le", le[i], NULL) != cum[i])
            fail_msg("%s{le=\"%s\"} = %.17g, want %.17g", b, le[i], get(out, b, "le", le[i], NULL),
                     cum[i]);
    f = family_of(b, strlen(b), &bucket);
    assert_true(f >= 0 && bucket);
    check_shapes(out, &sh);
    assert_int_equal(sh.samples[f], nbuckets + 3); /* finite bounds, +Inf, _count and _sum */
}

/* ---- the fixture ---------------------------------------------------------------------------- */

struct fix {
    struct kv_rmetrics *m;
    struct kv_backend_set set;
    struct kv_index *ix;
    struct kv_backend *b0, *b1, *odd;
    struct kv_buf out;
};

/* Three live backends (b0 up, b1 down, one named with a quote and a backslash never probed) and
 * one added then retired (DNS removed it), with known figures and index contents. */
static void fix_init(struct fix *x)
{
    static const uint64_t chain0[] = {11, 12, 13, 14, 15}, chain1[] = {21, 22};
    struct kv_backend *gone;

    memset(x, 0, sizeof *x);
    x->m = kv_rmetrics_new();
    assert_non_null(x->m);
    kv_backend_set_init(&x->set, 1, 1);
    x->b0 = kv_backend_set_add(&x->set, "b0", "127.0.0.1", 8001, false);
    x->b1 = kv_backend_set_add(&x->set, "b1", "127.0.0.1", 8002, false);
    x->odd = kv_backend_set_add(&x->set, "q\"x\\y", "127.0.0.1", 8003, true);
    gone = kv_backend_set_add(&x->set, "gone", "127.0.0.1", 8004, true);
    assert_non_null(x->b0);
    assert_non_null(x->b1);
    assert_non_null(x->odd);
    assert_non_null(gone);
    assert_int_equal(kv_backend_probe(&x->set, x->b0, true, NULL, 1), KV_BACKEND_WENT_UP);
    assert_int_equal(kv_backend_probe(&x->set, x->b1, false, "refused", 1), KV_BACKEND_SAME);
    assert_int_equal(kv_backend_probe(&x->set, gone, true, NULL, 1), KV_BACKEND_WENT_UP);

    x->ix = kv_index_new(4096, KV_BACKEND_MAX, 100, 0);
    assert_non_null(x->ix);
    assert_int_equal(kv_index_set_capacity(x->ix, x->b0->id, 64), 0);
    assert_int_equal(kv_index_record(x->ix, x->b0->id, chain0, 5, 1000), 5);
    assert_int_equal(kv_index_record(x->ix, x->b1->id, chain1, 2, 1000), 2);
    assert_int_equal(kv_index_record(x->ix, gone->id, chain1, 2, 1000), 2);
    assert_true(kv_backend_set_retire(&x->set, gone));
    kv_backend_free(gone);

    x->b0->inflight = 3;
    x->odd->inflight = 1;
    x->b0->stats = (struct kv_backend_stats){.scraped = true,
                                             .waiting = 2,
                                             .running = 5,
                                             .kv_usage = 0.375,
                                             .prefix_hits = 1536,
                                             .prefix_queries = 4096};
    x->b1->stats =
        (struct kv_backend_stats){.scraped = true, .prefix_hits = 7, .prefix_queries = 9};
    kv_buf_init(&x->out, 1 << 20);
}

static void fix_render(struct fix *x)
{
    kv_buf_reset(&x->out);
    assert_int_equal(kv_rmetrics_render(x->m, &x->set, x->ix, &x->out), 0);
}

static void fix_cleanup(struct fix *x)
{
    kv_buf_cleanup(&x->out);
    kv_index_free(x->ix);
    kv_backend_set_cleanup(&x->set);
    kv_rmetrics_free(x->m);
}

/* The observations the value tests check, all dyadic (exact sums). */
static void observe(struct kv_rmetrics *m)
{
    kv_rmetrics_request(m, "b0", "200", 0.25);
    kv_rmetrics_request(m, "b0", "200", 0.5);
    kv_rmetrics_request(m, "b1", "503", 0.0078125);
    kv_rmetrics_request(m, "none", "404", 3);
    kv_rmetrics_request(m, "b0", "499", 0);
    kv_rmetrics_ttfb(m, 0.0009765625);
    kv_rmetrics_ttfb(m, 1.5);
    kv_rmetrics_decision(m, 0x1p-18); /* 3.8e-6: the 5e-06 bucket */
    kv_rmetrics_decision(m, 0x1p-9);  /* 0.00195: the 0.0025 bucket */
    kv_rmetrics_decision(m, 0.5);     /* a slow upload: the 1 s bucket */
    kv_rmetrics_decision(m, 7);       /* above the last bound (5): +Inf only */
    kv_rmetrics_prefix_ratio(m, 0);
    kv_rmetrics_prefix_ratio(m, 0.0625);
    kv_rmetrics_prefix_ratio(m, 0.5);
    kv_rmetrics_prefix_ratio(m, 0.75);
    kv_rmetrics_prefix_ratio(m, 1);
    kv_rmetrics_affinity(m, "hit");
    kv_rmetrics_affinity(m, "hit");
    kv_rmetrics_affinity(m, "miss");
    kv_rmetrics_affinity(m, "new");
    kv_rmetrics_affinity(m, "overridden");
    kv_rmetrics_affinity(m, "none");
    kv_rmetrics_retry(m, "connect");
    kv_rmetrics_retry(m, "connect");
    kv_rmetrics_retry(m, "5xx");
    kv_rmetrics_dns(m, true);
    kv_rmetrics_dns(m, false);
    kv_rmetrics_dns(m, true);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_families(void **state)
{
    struct fix x;
    struct shapes sh;
    (void)state;
    fix_init(&x);
    observe(x.m);
    fix_render(&x);
    check_shapes(&x.out, &sh);
    assert_int_equal(sh.samples[0], 4);      /* requests: four (backend, code) pairs */
    assert_int_equal(sh.samples[1], 16 + 3); /* latency buckets, +Inf, _count, _sum */
    assert_int_equal(sh.samples[2], 16 + 3);
    assert_int_equal(sh.samples[3], 17 + 3);
    assert_int_equal(sh.samples[4], 12 + 3);
    assert_int_equal(sh.samples[5], 4); /* hit, miss, new, overridden; "none" not counted */
    assert_int_equal(sh.samples[6], 2);
    assert_int_equal(sh.samples[7], 2); /* ok, failed */
    for (size_t f = 8; f < NFAM; f++)
        assert_int_equal(sh.samples[f], 3); /* the live backends; the retired one is gone */
    /* The decision time includes the body's upload (server message begin to dispatch). */
    assert_int_equal(lines(&x.out,
                           "# HELP kvroute_routing_decision_seconds Time from the request's "
                           "first byte to its first dispatch to a backend: receiving the body, "
                           "parsing, hashing and scheduling.",
                           true),
                     1);
    fix_cleanup(&x);
}

static void test_requests(void **state)
{
    static const char *const le[] = {"0.001", "0.005", "0.01", "0.1", "0.25",
                                     "0.5",   "1.0",   "2.5",  "5.0", "80.0"};
    static const double cum[] = {1, 1, 2, 2, 3, 4, 4, 4, 5, 5};
    struct fix x;
    (void)state;
    fix_init(&x);
    observe(x.m);
    fix_render(&x);
    EXACT(get(&x.out, "kvroute_requests_total", "backend", "b0", "code", "200", NULL), 2);
    EXACT(get(&x.out, "kvroute_requests_total", "backend", "b1", "code", "503", NULL), 1);
    EXACT(get(&x.out, "kvroute_requests_total", "backend", "none", "code", "404", NULL), 1);
    EXACT(get(&x.out, "kvroute_requests_total", "backend", "b0", "code", "499", NULL), 1);
    assert_int_equal(count(&x.out, "kvroute_requests_total", "backend", "b1", "code", "200", NULL),
                     0);
    check_hist(&x.out, "kvroute_request_duration_seconds", 16, 5, 3.7578125, le, cum,
               KV_ARRAY_LEN(le));
    fix_cleanup(&x);
}

static void test_ttfb_decision_ratio(void **state)
{
    static const char *const tle[] = {"0.001", "0.0025", "1.0", "2.5"};
    static const double tcum[] = {1, 1, 1, 2};
    static const char *const dle[] = {"1e-06", "2.5e-06", "5e-06", "0.001", "0.0025", "0.1",
                                      "0.25", "1.0", "5.0"};
    static const double dcum[] = {0, 0, 1, 1, 2, 2, 2, 3, 3};
    static const char *const rle[] = {"0.0", "0.1", "0.4", "0.5", "0.7", "0.8", "0.95", "1.0"};
    static const double rcum[] = {1, 2, 2, 3, 3, 4, 4, 5};
    struct fix x;
    (void)state;
    fix_init(&x);
    observe(x.m);
    fix_render(&x);
    check_hist(&x.out, "kvroute_time_to_first_byte_seconds", 16, 2, 1.5009765625, tle, tcum,
               KV_ARRAY_LEN(tle));
    check_hist(&x.out, "kvroute_routing_decision_seconds", 17, 4, 7.5 + 0x1p-9 + 0x1p-18, dle,
               dcum, KV_ARRAY_LEN(dle));
    check_hist(&x.out, "kvroute_prefix_match_ratio", 12, 5, 2.3125, rle, rcum, KV_ARRAY_LEN(rle));
    fix_cleanup(&x);
}

static void test_affinity_retries(void **state)
{
    struct fix x;
    (void)state;
    fix_init(&x);
    observe(x.m);
    fix_render(&x);
    EXACT(get(&x.out, "kvroute_session_affinity_total", "result", "hit", NULL), 2);
    EXACT(get(&x.out, "kvroute_session_affinity_total", "result", "miss", NULL), 1);
    EXACT(get(&x.out, "kvroute_session_affinity_total", "result", "new", NULL), 1);
    EXACT(get(&x.out, "kvroute_session_affinity_total", "result", "overridden", NULL), 1);
    assert_int_equal(count(&x.out, "kvroute_session_affinity_total", "result", "none", NULL), 0);
    EXACT(get(&x.out, "kvroute_retries_total", "reason", "connect", NULL), 2);
    EXACT(get(&x.out, "kvroute_retries_total", "reason", "5xx", NULL), 1);
    EXACT(get(&x.out, "kvroute_dns_resolutions_total", "result", "ok", NULL), 2);
    EXACT(get(&x.out, "kvroute_dns_resolutions_total", "result", "failed", NULL), 1);
    fix_cleanup(&x);
}

struct per_backend {
    const char *family;
    double b0, b1, odd;
};

static void test_backends(void **state)
{
    static const struct per_backend want[] = {
        {"kvroute_backend_up", 1, 0, 0},
        {"kvroute_backend_inflight_requests", 3, 0, 1},
        {"kvroute_index_blocks", 5, 2, 0},
        {"kvroute_index_capacity_blocks", 64, 100, 100},
        {"kvroute_backend_prefix_cache_hits_total", 1536, 7, 0},
        {"kvroute_backend_prefix_cache_queries_total", 4096, 9, 0},
        {"kvroute_backend_waiting_requests", 2, 0, 0},
        {"kvroute_backend_running_requests", 5, 0, 0},
        {"kvroute_backend_kv_cache_usage_ratio", 0.375, 0, 0},
    };
    struct fix x;
    double sum;
    (void)state;
    fix_init(&x);
    fix_render(&x);
    for (size_t i = 0; i < KV_ARRAY_LEN(want); i++) {
        EXACT(get(&x.out, want[i].family, "backend", "b0", NULL), want[i].b0);
        EXACT(get(&x.out, want[i].family, "backend", "b1", NULL), want[i].b1);
        /* the label is escaped on output and unescaped by the parser: the name comes back */
        EXACT(get(&x.out, want[i].family, "backend", "q\"x\\y", NULL), want[i].odd);
        assert_int_equal(count(&x.out, want[i].family, "backend", "gone", NULL), 0);
    }
    assert_int_equal(lines(&x.out, "kvroute_backend_up{backend=\"q\\\"x\\\\y\"} 0.0", true), 1);
    /* The fleet's hit rate is the ratio of these sums across backends. */
    assert_int_equal(kv_promparse_sum(x.out.data, x.out.len,
                                      "kvroute_backend_prefix_cache_hits_total", NULL, NULL, &sum),
                     3);
    EXACT(sum, 1543);
    assert_int_equal(kv_promparse_sum(x.out.data, x.out.len,
                                      "kvroute_backend_prefix_cache_queries_total", NULL, NULL,
                                      &sum),
                     3);
    EXACT(sum, 4105);

    /* Figures are read at render time: a fall and new scrapes show at once. */
    assert_int_equal(kv_backend_passive_fail(&x.set, x.b0, "reset", 2), KV_BACKEND_WENT_DOWN);
    x.b0->stats.prefix_hits = 2048;
    x.b0->inflight = 0;
    kv_index_remove_backend(x.ix, x.b0->id);
    fix_render(&x);
    EXACT(get(&x.out, "kvroute_backend_up", "backend", "b0", NULL), 0);
    EXACT(get(&x.out, "kvroute_backend_inflight_requests", "backend", "b0", NULL), 0);
    EXACT(get(&x.out, "kvroute_index_blocks", "backend", "b0", NULL), 0);
    EXACT(get(&x.out, "kvroute_backend_prefix_cache_hits_total", "backend", "b0", NULL), 2048);
    fix_cleanup(&x);
}

/* Nothing observed, no backends: every family is still declared, histograms read zero. */
static void test_empty(void **state)
{
    struct kv_rmetrics *m = kv_rmetrics_new();
    struct kv_backend_set set;
    struct kv_buf out;
    struct shapes sh;
    (void)state;
    kv_backend_set_init(&set, 1, 1);
    kv_buf_init(&out, 1 << 20);
    assert_int_equal(kv_rmetrics_render(m, &set, NULL, &out), 0);
    check_shapes(&out, &sh);
    assert_int_equal(sh.samples[0], 0);
    for (size_t f = 1; f <= 4; f++) {
        char name[128];
        snprintf(name, sizeof name, "%s_count", families[f].name);
        EXACT(get(&out, name, NULL), 0);
        snprintf(name, sizeof name, "%s_sum", families[f].name);
        EXACT(get(&out, name, NULL), 0);
        snprintf(name, sizeof name, "%s_bucket", families[f].name);
        EXACT(get(&out, name, "le", "+Inf", NULL), 0);
    }
    for (size_t f = 5; f < NFAM; f++)
        assert_int_equal(sh.samples[f], 0);
    /* Every byte short of the whole text is refused, family headers included: a partial
     * exposition would read as families that vanished. */
    for (size_t cut = 1; cut <= 200; cut++) {
        struct kv_buf small;
        kv_buf_init(&small, out.len - cut);
        assert_int_equal(kv_rmetrics_render(m, &set, NULL, &small), KV_ETOOBIG);
        kv_buf_cleanup(&small);
    }

    /* Without an index the index gauges read 0. */
    assert_non_null(kv_backend_set_add(&set, "b0", "127.0.0.1", 8001, false));
    kv_buf_reset(&out);
    assert_int_equal(kv_rmetrics_render(m, &set, NULL, &out), 0);
    EXACT(get(&out, "kvroute_index_blocks", "backend", "b0", NULL), 0);
    EXACT(get(&out, "kvroute_index_capacity_blocks", "backend", "b0", NULL), 0);
    EXACT(get(&out, "kvroute_backend_up", "backend", "b0", NULL), 0); /* NEW is not routable */

    kv_buf_cleanup(&out);
    kv_backend_set_cleanup(&set);
    kv_rmetrics_free(m);
}

static void test_too_big(void **state)
{
    struct fix x;
    struct kv_buf small;
    (void)state;
    fix_init(&x);
    observe(x.m);
    fix_render(&x);
    /* Short of the whole text by one byte (the registry part or a backend line): KV_ETOOBIG. */
    kv_buf_init(&small, x.out.len - 1);
    assert_int_equal(kv_rmetrics_render(x.m, &x.set, x.ix, &small), KV_ETOOBIG);
    kv_buf_cleanup(&small);
    kv_buf_init(&small, 256);
    assert_int_equal(kv_rmetrics_render(x.m, &x.set, x.ix, &small), KV_ETOOBIG);
    kv_buf_cleanup(&small);
    fix_cleanup(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_ttfb_decision_ratio),
        cmocka_unit_test(test_affinity_retries),
        cmocka_unit_test(test_backends),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
