/* SPDX-License-Identifier: MIT */
/* src/metrics/registry.h - metric registry rendered as Prometheus text format 0.0.4, byte for
 * byte as Python's prometheus_client renders it (which is what vLLM serves).
 *
 * A registry holds metric families (counter, gauge, histogram) in creation order; a family has
 * fixed label names and children, one per distinct tuple of label values, kept in creation
 * order (client_python renders a dict in insertion order). A family without labels has its one
 * child from the start. Lookup of a child by label values hashes the values into an open-
 * addressing table (O(labels) per lookup, no allocation once the child exists); hot paths keep
 * the struct kv_metric_child pointer and update it directly (a double add, or a bucket scan).
 * Each child pre-renders its escaped, name-sorted label string at creation, so rendering is
 * copying plus number formatting.
 *
 * Output follows client_python exactly: counters are exposed as <name>_total on HELP, TYPE and
 * sample lines (a "_total" given at creation is dropped first, as client_python does); labels
 * are sorted by name on every line (histogram "le" included); histograms print cumulative
 * _bucket lines, then _count, then _sum; values use kv_promfmt_double(). With the created
 * option, counters and histograms are followed by a "<name>_created" gauge family holding each
 * child's creation time (Unix seconds), as real vLLM /metrics has.
 *
 * Ownership: the registry owns families and children; pointers to them stay valid until
 * kv_registry_free(). Strings passed in are copied. Not thread-safe: one event loop owns it.
 */
#ifndef KV_METRICS_REGISTRY_H
#define KV_METRICS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum kv_registry_type {
    KV_REGISTRY_COUNTER = 0,
    KV_REGISTRY_GAUGE,
    KV_REGISTRY_HISTOGRAM,
};

/* Most label names per family, bounds per histogram, children per family. */
#define KV_REGISTRY_MAX_LABELS 32
#define KV_REGISTRY_MAX_BUCKETS 64
#define KV_REGISTRY_MAX_CHILDREN 4096

/* Returns the wall-clock time in Unix seconds, for _created values. */
typedef double (*kv_registry_clock_cb)(void *ud);

struct kv_registry_opts {
    bool created;              /* emit <name>_created families for counters and histograms */
    kv_registry_clock_cb clock; /* NULL: CLOCK_REALTIME */
    void *clock_ud;
};

/* What a family is; the arrays are read during kv_registry_add() only. */
struct kv_registry_desc {
    const char *name;   /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;   /* any text; escaped on output */
    enum kv_registry_type type;
    const char *const *labels; /* nlabels names, [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix */
    size_t nlabels;
    const double *buckets; /* histograms: strictly increasing finite upper bounds; +Inf is */
    size_t nbuckets;       /* implied (a trailing +Inf given is accepted and ignored) */
};

struct kv_registry;
struct kv_metric;
struct kv_metric_child;

/* Makes an empty registry; <opts> may be NULL (no _created families). Never NULL. */
struct kv_registry *kv_registry_new(const struct kv_registry_opts *opts);
/* Frees the registry, its families and children. NULL is a no-op. */
void kv_registry_free(struct kv_registry *r);

/* Adds a family described by <d>. Returns 0 and sets *out, or KV_ECONFIG for an invalid name,
 * label name, bucket list or a name already taken (counters compare without "_total"). */
int kv_registry_add(struct kv_registry *r, const struct kv_registry_desc *d,
                    struct kv_metric **out);
/* Finds a family by the name it was added with (a counter also by its name without
 * "_total"); NULL if none. */
struct kv_metric *kv_registry_find(const struct kv_registry *r, const char *name);

/* Returns, creating it on first use, the child of <m> with label values <values> (nlabels of
 * them, in the family's label order; ignored for a family without labels). Returns 0 and sets
 * *out, KV_EBADREQ for a NULL value, or KV_ETOOBIG past KV_REGISTRY_MAX_CHILDREN. */
int kv_registry_child(struct kv_metric *m, const char *const *values,
                      struct kv_metric_child **out);
/* Same with the values as arguments; NULL on error (see kv_registry_child). */
struct kv_metric_child *kv_registry_labels(struct kv_metric *m, ...);

/* Adds <v> to a counter (v < 0 and NaN are ignored, as a counter never decreases) or a gauge. */
void kv_registry_inc(struct kv_metric_child *c, double v);
/* Sets a gauge (a counter: only if it does not go down). */
void kv_registry_set(struct kv_metric_child *c, double v);
/* Records one observation in a histogram child: the first bucket with v <= bound. */
void kv_registry_observe(struct kv_metric_child *c, double v);
/* Counter or gauge value, or a histogram's sum. */
double kv_registry_value(const struct kv_metric_child *c);
/* A histogram child's observation count (0 for other types). */
uint64_t kv_registry_count(const struct kv_metric_child *c);

/* Adds a gauge <name> with label names <labels> and one child with <values>, set to 1: the
 * "info" metric vLLM emulates for vllm:cache_config_info. Returns 0 or an error as above. */
int kv_registry_info(struct kv_registry *r, const char *name, const char *help,
                     const char *const *labels, const char *const *values, size_t n);

/* Appends the whole exposition to <out>. Returns 0, or KV_ETOOBIG if <out>'s max was reached
 * (out then holds a truncated prefix). */
int kv_registry_render(const struct kv_registry *r, struct kv_buf *out);

#endif /* KV_METRICS_REGISTRY_H */
