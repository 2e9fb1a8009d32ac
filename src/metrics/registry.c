/* SPDX-License-Identifier: MIT */
/* src/metrics/registry.c - metric families, children and the text exposition (see registry.h).
 *
 * A child's identity is its label-value tuple; its hash (FNV-1a over the values, each followed
 * by a 0xff byte that no UTF-8 text contains) indexes an open-addressing table at most half
 * full. The values are kept NUL-separated in one allocation for comparison, and the escaped,
 * name-sorted label string for output; for histograms the string is split where "le" sorts in.
 */
#include "metrics/registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/mem.h"
#include "metrics/promfmt.h"

struct kv_metric {
    struct kv_registry *reg;
    enum kv_registry_type type;
    char *name;            /* as exposed minus the counter "_total" suffix */
    size_t name_len;
    char *help;            /* escaped */
    size_t help_len;
    size_t nlabels;
    char **labels;         /* creation order */
    size_t *sorted;        /* label indexes in name order */
    size_t le_at;          /* histograms: how many sorted labels come before "le" */
    size_t nbounds;
    double *bounds;
    char (*le)[KV_PROMFMT_DOUBLE_MAX]; /* nbounds + 1 formatted bounds, the last "+Inf" */
    struct kv_metric_child **children; /* creation order */
    size_t nchildren, capchildren;
    struct kv_metric_child **table;    /* tcap slots, power of two, NULL = empty */
    size_t tcap;
};

struct kv_metric_child {
    struct kv_metric *m;
    uint64_t hash;
    char *vals;            /* nlabels NUL-terminated values, back to back */
    size_t vals_len;
    char *lstr;            /* escaped k="v" pairs, sorted, comma-separated, NUL-terminated */
    size_t lstr_len;
    size_t lsplit;         /* histograms: bytes of lstr before the "le" position */
    double value;          /* counter or gauge value; histogram sum */
    double created;
    uint64_t total;        /* histogram observations */
    uint64_t counts[];     /* histogram: per bucket (not cumulative), nbounds + 1 */
};

struct kv_registry {
    struct kv_metric **fams;
    size_t nfams, capfams;
    bool created;
    kv_registry_clock_cb clock;
    void *clock_ud;
};

static double realtime(void *ud)
{
    struct timespec ts;
    (void)ud;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct kv_registry *kv_registry_new(const struct kv_registry_opts *opts)
{
    struct kv_registry *r = kv_calloc(1, sizeof(*r));

    r->clock = realtime;
    if (opts) {
        r->created = opts->created;
        if (opts->clock) {
            r->clock = opts->clock;
            r->clock_ud = opts->clock_ud;
        }
    }
    return r;
}

static void child_free(struct kv_metric_child *c)
{
    free(c->vals);
    free(c->lstr);
    free(c);
}

static void metric_free(struct kv_metric *m)
{
    for (size_t i = 0; i < m->nchildren; i++)
        child_free(m->children[i]);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->children);
    free(m->table);
    free(m->labels);
    free(m->sorted);
    free(m->bounds);
    free(m->le);
    free(m->name);
    free(m->help);
    free(m);
}

void kv_registry_free(struct kv_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfams; i++)
        metric_free(r->fams[i]);
    free(r->fams);
    free(r);
}

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (colon && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, colon))
            return false;
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Checks label names: valid, not reserved, distinct, "le" not on a histogram. */
static bool valid_labels(const struct kv_registry_desc *d)
{
    if (d->nlabels > KV_REGISTRY_MAX_LABELS || (d->nlabels && !d->labels))
        return false;
    for (size_t i = 0; i < d->nlabels; i++) {
        if (!valid_name(d->labels[i], false) || strncmp(d->labels[i], "__", 2) == 0)
            return false;
        if (d->type == KV_REGISTRY_HISTOGRAM && strcmp(d->labels[i], "le") == 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->labels[i], d->labels[j]) == 0)
                return false;
    }
    return true;
}

/* Counts the finite bounds of a histogram description; -1 if the list is invalid. */
static long finite_bounds(const struct kv_registry_desc *d)
{
    size_t n = d->nbuckets;

    if (n && !d->buckets)
        return -1;
    if (n && isinf(d->buckets[n - 1]) && d->buckets[n - 1] > 0)
        n--;
    if (n > KV_REGISTRY_MAX_BUCKETS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(d->buckets[i]) || (i > 0 && !(d->buckets[i] > d->buckets[i - 1])))
            return -1;
    }
    return (long)n;
}

static bool name_taken(const struct kv_registry *r, const char *name, size_t n)
{
    for (size_t i = 0; i < r->nfams; i++)
        if (r->fams[i]->name_len == n && memcmp(r->fams[i]->name, name, n) == 0)
            return true;
    return false;
}

static int cmp_label(const void *a, const void *b, void *ud)
{
    char **labels = ud;
    return strcmp(labels[*(const size_t *)a], labels[*(const size_t *)b]);
}

static void setup_labels(struct kv_metric *m, const struct kv_registry_desc *d)
{
    m->nlabels = d->nlabels;
    m->labels = kv_calloc(d->nlabels + 1, sizeof(char *));
    m->sorted = kv_calloc(d->nlabels + 1, sizeof(size_t));
    for (size_t i = 0; i < d->nlabels; i++) {
        m->labels[i] = kv_strdup(d->labels[i]);
        m->sorted[i] = i;
    }
    qsort_r(m->sorted, m->nlabels, sizeof(size_t), cmp_label, m->labels);
    m->le_at = 0;
    while (m->le_at < m->nlabels && strcmp(m->labels[m->sorted[m->le_at]], "le") < 0)
        m->le_at++;
}

static void setup_bounds(struct kv_metric *m, const struct kv_registry_desc *d, size_t n)
{
    m->nbounds = n;
    m->bounds = kv_calloc(n + 1, sizeof(double));
    m->le = kv_calloc(n + 1, sizeof(*m->le));
    for (size_t i = 0; i < n; i++) {
        m->bounds[i] = d->buckets[i];
        kv_promfmt_double(d->buckets[i], m->le[i]);
    }
    m->bounds[n] = INFINITY;
    strcpy(m->le[n], "+Inf");
}

int kv_registry_add(struct kv_registry *r, const struct kv_registry_desc *d,
                    struct kv_metric **out)
{
    struct kv_metric *m;
    size_t n;
    long nb = 0;

    if (!d || !valid_name(d->name, true) || !valid_labels(d) || d->type > KV_REGISTRY_HISTOGRAM)
        return KV_ECONFIG;
    if (d->type == KV_REGISTRY_HISTOGRAM && (nb = finite_bounds(d)) < 0)
        return KV_ECONFIG;
    n = strlen(d->name);
    if (d->type == KV_REGISTRY_COUNTER && ends_with(d->name, n, "_total"))
        n -= 6; /* client_python: Counter("x_total") is exposed as x_total, TYPE x counter */
    if (n == 0 || name_taken(r, d->name, n))
        return KV_ECONFIG;
    m = kv_calloc(1, sizeof(*m));
    m->reg = r;
    m->type = d->type;
    m->name = kv_strndup(d->name, n);
    m->name_len = n;
    n = d->help ? strlen(d->help) : 0;
    m->help_len = kv_promfmt_help_len(d->help ? d->help : "", n);
    m->help = kv_malloc(m->help_len + 1);
    kv_promfmt_help_escape(d->help ? d->help : "", n, m->help);
    m->help[m->help_len] = '\0';
    setup_labels(m, d);
    if (d->type == KV_REGISTRY_HISTOGRAM)
        setup_bounds(m, d, (size_t)nb);
    if (r->nfams == r->capfams) {
        r->capfams = r->capfams ? r->capfams * 2 : 16;
        r->fams = kv_realloc(r->fams, r->capfams * sizeof(*r->fams));
    }
    r->fams[r->nfams++] = m;
    if (m->nlabels == 0)
        kv_registry_child(m, NULL, NULL); /* client_python shows an unlabelled metric at once */
    if (out)
        *out = m;
    return 0;
}

struct kv_metric *kv_registry_find(const struct kv_registry *r, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < r->nfams; i++) {
        struct kv_metric *m = r->fams[i];
        size_t k = n;
        if (m->type == KV_REGISTRY_COUNTER && ends_with(name, n, "_total"))
            k -= 6;
        if ((m->name_len == n || m->name_len == k) && memcmp(m->name, name, m->name_len) == 0)
            return m;
    }
    return NULL;
}

static uint64_t hash_values(const struct kv_metric *m, const char *const *values)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < m->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    return h;
}

static bool same_values(const struct kv_metric_child *c, const char *const *values)
{
    const char *p = c->vals;

    for (size_t i = 0; i < c->m->nlabels; i++) {
        size_t n = strlen(p);
        if (strncmp(values[i], p, n + 1) != 0)
            return false;
        p += n + 1;
    }
    return true;
}

static void table_put(struct kv_metric_child **table, size_t cap, struct kv_metric_child *c)
{
    size_t i = (size_t)c->hash & (cap - 1);

    while (table[i])
        i = (i + 1) & (cap - 1);
    table[i] = c;
}

static void table_grow(struct kv_metric *m)
{
    size_t cap = m->tcap ? m->tcap * 2 : 8;
    struct kv_metric_child **t = kv_calloc(cap, sizeof(*t));

    for (size_t i = 0; i < m->nchildren; i++)
        table_put(t, cap, m->children[i]);
    free(m->table);
    m->table = t;
    m->tcap = cap;
}

/* Writes the escaped, name-sorted k="v" list of <values> into c->lstr. */
static void render_labels(struct kv_metric_child *c, const char *const *values)
{
    const struct kv_metric *m = c->m;
    size_t len = 0, k = 0;

    for (size_t i = 0; i < m->nlabels; i++)
        len += strlen(m->labels[i]) + 4 + kv_promfmt_label_len(values[i], strlen(values[i]));
    c->lstr = kv_malloc(len + 1);
    for (size_t s = 0; s < m->nlabels; s++) {
        size_t i = m->sorted[s];
        if (s == m->le_at)
            c->lsplit = k;
        if (s > 0)
            c->lstr[k++] = ',';
        k += (size_t)(stpcpy(c->lstr + k, m->labels[i]) - (c->lstr + k));
        c->lstr[k++] = '=';
        c->lstr[k++] = '"';
        k += kv_promfmt_label_escape(values[i], strlen(values[i]), c->lstr + k);
        c->lstr[k++] = '"';
    }
    if (m->le_at == m->nlabels)
        c->lsplit = k;
    c->lstr[k] = '\0';
    c->lstr_len = k;
}

static struct kv_metric_child *child_new(struct kv_metric *m, const char *const *values,
                                         uint64_t h)
{
    size_t nb = m->type == KV_REGISTRY_HISTOGRAM ? m->nbounds + 1 : 0;
    struct kv_metric_child *c = kv_calloc(1, sizeof(*c) + nb * sizeof(uint64_t));
    size_t len = 0;

    c->m = m;
    c->hash = h;
    for (size_t i = 0; i < m->nlabels; i++)
        len += strlen(values[i]) + 1;
    c->vals = kv_malloc(len + 1);
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t n = strlen(values[i]) + 1;
        memcpy(c->vals + c->vals_len, values[i], n);
        c->vals_len += n;
    }
    render_labels(c, values);
    c->created = m->reg->clock(m->reg->clock_ud);
    return c;
}

int kv_registry_child(struct kv_metric *m, const char *const *values,
                      struct kv_metric_child **out)
{
    struct kv_metric_child *c;
    uint64_t h;
    size_t i;

    for (i = 0; i < m->nlabels; i++)
        if (!values || !values[i])
            return KV_EBADREQ;
    h = hash_values(m, values);
    for (i = m->tcap ? (size_t)h & (m->tcap - 1) : 0; m->tcap && m->table[i];
         i = (i + 1) & (m->tcap - 1)) {
        if (m->table[i]->hash == h && same_values(m->table[i], values)) {
            if (out)
                *out = m->table[i];
            return 0;
        }
    }
    if (m->nchildren >= KV_REGISTRY_MAX_CHILDREN)
        return KV_ETOOBIG;
    c = child_new(m, values, h);
    if (m->nchildren == m->capchildren) {
        m->capchildren = m->capchildren ? m->capchildren * 2 : 4;
        m->children = kv_realloc(m->children, m->capchildren * sizeof(*m->children));
    }
    m->children[m->nchildren++] = c;
    if (m->nchildren * 2 > m->tcap)
        table_grow(m);
    else
        table_put(m->table, m->tcap, c);
    if (out)
        *out = c;
    return 0;
}

struct kv_metric_child *kv_registry_labels(struct kv_metric *m, ...)
{
    const char *values[KV_REGISTRY_MAX_LABELS + 1];
    struct kv_metric_child *c = NULL;
    va_list ap;

    va_start(ap, m);
    for (size_t i = 0; i < m->nlabels; i++)
        values[i] = va_arg(ap, const char *);
    va_end(ap);
    if (kv_registry_child(m, values, &c) < 0)
        return NULL;
    return c;
}

void kv_registry_inc(struct kv_metric_child *c, double v)
{
    if (c->m->type == KV_REGISTRY_COUNTER && !(v >= 0))
        return;
    c->value += v;
}

void kv_registry_set(struct kv_metric_child *c, double v)
{
    if (c->m->type == KV_REGISTRY_COUNTER && !(v >= c->value))
        return;
    c->value = v;
}

void kv_registry_observe(struct kv_metric_child *c, double v)
{
    const struct kv_metric *m = c->m;
    size_t i = 0;

    if (m->type != KV_REGISTRY_HISTOGRAM || isnan(v))
        return; /* client_python would count a NaN in no bucket yet poison the sum */
    while (i < m->nbounds && !(v <= m->bounds[i]))
        i++;
    c->counts[i]++;
    c->total++;
    c->value += v;
}

double kv_registry_value(const struct kv_metric_child *c)
{
    return c->value;
}

uint64_t kv_registry_count(const struct kv_metric_child *c)
{
    return c->total;
}

int kv_registry_info(struct kv_registry *r, const char *name, const char *help,
                     const char *const *labels, const char *const *values, size_t n)
{
    struct kv_registry_desc d = {
        .name = name, .help = help, .type = KV_REGISTRY_GAUGE, .labels = labels, .nlabels = n,
    };
    struct kv_metric *m;
    struct kv_metric_child *c;
    int rc;

    if ((rc = kv_registry_add(r, &d, &m)) < 0)
        return rc;
    if ((rc = kv_registry_child(m, values, &c)) < 0)
        return rc;
    kv_registry_set(c, 1.0);
    return 0;
}

/* Output cursor: the first append error sticks, later appends are skipped. */
struct out {
    struct kv_buf *b;
    int err;
};

static void put(struct out *o, const char *p, size_t n)
{
    if (o->err == 0)
        o->err = kv_buf_append(o->b, p, n);
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_double(struct out *o, double v)
{
    char tmp[KV_PROMFMT_DOUBLE_MAX];
    put(o, tmp, kv_promfmt_double(v, tmp));
}

/* "# HELP <name><suffix> <help>\n# TYPE <name><suffix> <type>\n" */
static void header(struct out *o, const struct kv_metric *m, const char *suffix, const char *type)
{
    puts_(o, "# HELP ");
    put(o, m->name, m->name_len);
    puts_(o, suffix);
    put(o, " ", 1);
    put(o, m->help, m->help_len);
    puts_(o, "\n# TYPE ");
    put(o, m->name, m->name_len);
    puts_(o, suffix);
    put(o, " ", 1);
    puts_(o, type);
    put(o, "\n", 1);
}

/* One sample line: name suffix {labels} value. */
static void sample(struct out *o, const struct kv_metric_child *c, const char *suffix, double v)
{
    put(o, c->m->name, c->m->name_len);
    puts_(o, suffix);
    if (c->lstr_len) {
        put(o, "{", 1);
        put(o, c->lstr, c->lstr_len);
        put(o, "}", 1);
    }
    put(o, " ", 1);
    put_double(o, v);
    put(o, "\n", 1);
}

/* A _bucket line, "le" placed where it sorts among the child's labels. */
static void bucket(struct out *o, const struct kv_metric_child *c, size_t i, double cum)
{
    const char *rest = c->lstr + c->lsplit;
    size_t nrest = c->lstr_len - c->lsplit;

    put(o, c->m->name, c->m->name_len);
    puts_(o, "_bucket{");
    put(o, c->lstr, c->lsplit);
    if (c->lsplit)
        put(o, ",", 1);
    puts_(o, "le=\"");
    puts_(o, c->m->le[i]);
    put(o, "\"", 1);
    if (nrest) {
        if (*rest == ',') {
            rest++;
            nrest--;
        }
        put(o, ",", 1);
        put(o, rest, nrest);
    }
    puts_(o, "} ");
    put_double(o, cum);
    put(o, "\n", 1);
}

static void render_histogram(struct out *o, const struct kv_metric_child *c)
{
    uint64_t cum = 0;

    for (size_t i = 0; i <= c->m->nbounds; i++) {
        cum += c->counts[i];
        bucket(o, c, i, (double)cum);
    }
    sample(o, c, "_count", (double)cum);
    sample(o, c, "_sum", c->value);
}

static void render_family(struct out *o, const struct kv_metric *m, bool created)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    header(o, m, m->type == KV_REGISTRY_COUNTER ? "_total" : "", types[m->type]);
    for (size_t i = 0; i < m->nchildren; i++) {
        if (m->type == KV_REGISTRY_HISTOGRAM)
            render_histogram(o, m->children[i]);
        else
            sample(o, m->children[i], m->type == KV_REGISTRY_COUNTER ? "_total" : "",
                   m->children[i]->value);
    }
    /* client_python moves the OpenMetrics _created samples into a gauge family of their own. */
    if (!created || m->type == KV_REGISTRY_GAUGE || m->nchildren == 0)
        return;
    header(o, m, "_created", "gauge");
    for (size_t i = 0; i < m->nchildren; i++)
        sample(o, m->children[i], "_created", m->children[i]->created);
}

int kv_registry_render(const struct kv_registry *r, struct kv_buf *out)
{
    struct out o = {.b = out, .err = 0};

    for (size_t i = 0; i < r->nfams && o.err == 0; i++)
        render_family(&o, r->fams[i], r->created);
    return o.err;
}
