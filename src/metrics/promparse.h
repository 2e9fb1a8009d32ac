/* SPDX-License-Identifier: MIT */
/* src/metrics/promparse.h - tolerant, allocation-free parser of the Prometheus text format
 * 0.0.4, as served by vLLM (prometheus_client) and kvsim on /metrics.
 *
 * Input is split into lines (\n, with an optional \r before it; the last line may lack its
 * newline). Blank lines and # lines (HELP, TYPE, comments) are skipped. A sample line is
 *   name [ "{" label="value" {, label="value"} [,] "}" ] value [ timestamp ]
 * with spaces or tabs between tokens; label values unescape \\, \" and \n (other escapes are
 * kept as written); the value is a float ("NaN", "+Inf", "-Inf", exponents; any case) and the
 * optional timestamp an integer of milliseconds. Any other line is malformed: it is counted
 * and skipped, never fatal. Lines longer than KV_PROMPARSE_MAX_LINE are counted and skipped,
 * as are samples with more than KV_PROMPARSE_MAX_LABELS labels.
 *
 * Cost: one pass; no allocation per sample (the sample handed to the callback points into the
 * input, or into a stack scratch for escaped label values). Values with at most 15 significant
 * digits and a small exponent convert exactly without strtod. A name filter lets the caller
 * skip the labels and value of samples it does not want. The streaming form carries at most
 * one partial line (<= KV_PROMPARSE_MAX_LINE bytes) between feeds.
 */
#ifndef KV_METRICS_PROMPARSE_H
#define KV_METRICS_PROMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define KV_PROMPARSE_MAX_LINE 16384
#define KV_PROMPARSE_MAX_LABELS 32

struct kv_promparse_label {
    const char *name;
    size_t name_len;
    const char *value; /* unescaped; not NUL-terminated */
    size_t value_len;
};

/* One sample; every pointer is valid only during the callback that receives it. */
struct kv_promparse_sample {
    const char *name; /* full sample name, e.g. "vllm:prefix_cache_hits_total" */
    size_t name_len;
    const struct kv_promparse_label *labels; /* in the order written */
    size_t nlabels;
    double value;
    bool has_ts;
    int64_t ts_ms;
};

struct kv_promparse_stats {
    size_t lines;    /* lines seen, blank and comment lines included */
    size_t samples;  /* samples handed to the callback */
    size_t filtered; /* sample lines the name filter declined (not checked further) */
    size_t bad;      /* malformed lines skipped */
    size_t too_long; /* lines over KV_PROMPARSE_MAX_LINE skipped */
};

/* Receives one sample. Return 0 to go on; any other value stops the parse, which then returns
 * that value. */
typedef int (*kv_promparse_sample_cb)(const struct kv_promparse_sample *s, void *ud);
/* Optional name filter: return false to skip a sample named <name> (len bytes) unparsed. */
typedef bool (*kv_promparse_want_cb)(const char *name, size_t len, void *ud);

/* Streaming state; fields are private but the stats, which callers may read. */
struct kv_promparse {
    kv_promparse_sample_cb on_sample;
    kv_promparse_want_cb want;
    void *ud;
    struct kv_promparse_stats stats;
    struct kv_buf carry; /* a partial line between feeds */
    bool skipping;       /* inside a line already found too long */
};

/* Parses all of <text> (len bytes, NUL not needed). <want> may be NULL (all samples); <st> may
 * be NULL, else it is overwritten with this parse's counts. Returns 0, or the callback's
 * non-zero value that stopped it. */
int kv_promparse_parse(const char *text, size_t len, kv_promparse_sample_cb on_sample,
                       kv_promparse_want_cb want, void *ud, struct kv_promparse_stats *st);

/* Streaming form, for a body that arrives in pieces: init, feed each piece, finish once (it
 * parses a last line that has no newline), cleanup. feed and finish return as
 * kv_promparse_parse does; after a non-zero return, stop feeding. */
void kv_promparse_init(struct kv_promparse *p, kv_promparse_sample_cb on_sample,
                       kv_promparse_want_cb want, void *ud);
int kv_promparse_feed(struct kv_promparse *p, const char *data, size_t len);
int kv_promparse_finish(struct kv_promparse *p);
void kv_promparse_cleanup(struct kv_promparse *p);

/* One question for kv_promparse_query(): the sum and count of the samples named <name>,
 * restricted, when <label> is not NULL, to those whose label <label> equals <value>. */
struct kv_promparse_query {
    const char *name;
    const char *label;
    const char *value;
    double sum;   /* out */
    size_t count; /* out: samples matched */
};

/* Answers <nq> queries in one pass over <text> (outputs reset first). <st> may be NULL.
 * Returns 0. */
int kv_promparse_query(const char *text, size_t len, struct kv_promparse_query *q, size_t nq,
                       struct kv_promparse_stats *st);
/* Sum of the samples named <name> (filtered by <label>=<value> when <label> is not NULL) into
 * *sum. Returns how many samples matched (0 leaves *sum at 0). */
int kv_promparse_sum(const char *text, size_t len, const char *name, const char *label,
                     const char *value, double *sum);
/* Copies the value of label <label> of the first sample named <name> into <out> (cap bytes,
 * NUL-terminated). Returns its length, KV_ENOTFOUND if there is no such sample or it lacks the
 * label, or KV_ETOOBIG if it does not fit. */
int kv_promparse_label(const char *text, size_t len, const char *name, const char *label,
                       char *out, size_t cap);

#endif /* KV_METRICS_PROMPARSE_H */
