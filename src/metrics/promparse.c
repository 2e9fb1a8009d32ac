/* SPDX-License-Identifier: MIT */
/* src/metrics/promparse.c - Prometheus text format parser (see promparse.h).
 *
 * A line is parsed by a cursor over [p, end); every step checks the bound, so a truncated or
 * hostile line can only be rejected, never read past. Numbers take Clinger's fast path (an
 * integer mantissa below 2^53 times or over an exact power of ten <= 1e22 is one correctly
 * rounded operation) and fall back to strtod on a bounded, NUL-terminated copy otherwise.
 */
#include "metrics/promparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

/* Per-line parse state: the cursor, the labels found, and room for unescaped values. */
struct line {
    const char *p, *end;
    struct kv_promparse_sample s;
    struct kv_promparse_label labels[KV_PROMPARSE_MAX_LABELS];
    char *scratch;
    size_t used;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_ws(struct line *l)
{
    while (l->p < l->end && is_ws(*l->p))
        l->p++;
}

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Scans [a-zA-Z_:][a-zA-Z0-9_:]* (colons only if <colon>); returns its length, 0 if none. */
static size_t scan_name(struct line *l, bool colon)
{
    const char *q = l->p;

    if (q >= l->end || !(is_alpha_(*q) || (colon && *q == ':')))
        return 0;
    for (q++; q < l->end && (is_alpha_(*q) || is_digit(*q) || (colon && *q == ':')); q++)
        ;
    return (size_t)(q - l->p);
}

/* Unescapes [v, v + n) into the scratch; \\ \" \n are escapes, others stay as written. */
static const char *unescape(struct line *l, const char *v, size_t n, size_t *out_len)
{
    char *o = l->scratch + l->used;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' && i + 1 < n && (v[i + 1] == '\\' || v[i + 1] == '"' ||
                                          v[i + 1] == 'n')) {
            i++;
            o[k++] = v[i] == 'n' ? '\n' : v[i];
        } else {
            o[k++] = v[i];
        }
    }
    l->used += k;
    *out_len = k;
    return o;
}

/* Parses a quoted value at the cursor into <lab>; false if unterminated. */
static bool quoted(struct line *l, struct kv_promparse_label *lab)
{
    const char *v;
    bool esc = false;

    if (l->p >= l->end || *l->p != '"')
        return false;
    v = ++l->p;
    while (l->p < l->end && *l->p != '"') {
        if (*l->p == '\\') {
            esc = true;
            if (++l->p == l->end)
                return false;
        }
        l->p++;
    }
    if (l->p >= l->end)
        return false;
    lab->value = v;
    lab->value_len = (size_t)(l->p - v);
    if (esc)
        lab->value = unescape(l, v, lab->value_len, &lab->value_len);
    l->p++;
    return true;
}

/* Parses "{ name="value", ... }" at the cursor (just past the brace). */
static bool labels(struct line *l)
{
    struct kv_promparse_label *lab;

    for (;;) {
        skip_ws(l);
        if (l->p < l->end && *l->p == '}')
            break;
        if (l->s.nlabels == KV_PROMPARSE_MAX_LABELS)
            return false;
        lab = &l->labels[l->s.nlabels];
        lab->name = l->p;
        if ((lab->name_len = scan_name(l, false)) == 0)
            return false;
        l->p += lab->name_len;
        skip_ws(l);
        if (l->p >= l->end || *l->p++ != '=')
            return false;
        skip_ws(l);
        if (!quoted(l, lab))
            return false;
        l->s.nlabels++;
        skip_ws(l);
        if (l->p < l->end && *l->p == ',')
            l->p++;
        else if (l->p >= l->end || *l->p != '}')
            return false;
    }
    l->p++;
    return true;
}

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool ieq(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lit[i])
            return false;
    return true;
}

/* Go's ParseFloat spellings: [+-]Inf, [+-]Infinity, NaN, in any case. */
static bool special_value(const char *t, size_t n, double *v)
{
    char sign = 0;

    if (n && (t[0] == '+' || t[0] == '-')) {
        sign = t[0];
        t++;
        n--;
    }
    if (ieq(t, n, "inf") || ieq(t, n, "infinity")) {
        *v = sign == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!sign && ieq(t, n, "nan")) {
        *v = NAN;
        return true;
    }
    return false;
}

/* A decimal token as the fast path sees it: exact when the mantissa fits in 53 bits. */
struct num {
    bool neg, exact;
    uint64_t mant;
    int e10;
};

static const char *digits(const char *p, const char *e, struct num *x, int *count, int *frac)
{
    for (; p < e && is_digit(*p); p++, (*count)++) {
        if (x->mant < (1ull << 53) / 10 + 1)
            x->mant = x->mant * 10 + (uint64_t)(*p - '0');
        else
            x->exact = false;
        if (frac)
            (*frac)++;
    }
    return p;
}

/* Checks [-+]digits[.digits][(e|E)[-+]digits] and gathers what the fast path needs. */
static bool decimal(const char *t, size_t n, struct num *x)
{
    const char *p = t, *e = t + n;
    int count = 0, frac = 0, ex = 0, ecount = 0;
    bool eneg = false;

    x->exact = true;
    if (p < e && (*p == '+' || *p == '-'))
        x->neg = *p++ == '-';
    p = digits(p, e, x, &count, NULL);
    if (p < e && *p == '.')
        p = digits(p + 1, e, x, &count, &frac);
    if (count == 0)
        return false;
    if (p < e && (*p == 'e' || *p == 'E')) {
        if (++p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < e && is_digit(*p); p++, ecount++)
            ex = ex < 100000 ? ex * 10 + (*p - '0') : ex;
        if (ecount == 0)
            return false;
    }
    x->e10 = (eneg ? -ex : ex) - frac;
    if (x->mant > (1ull << 53))
        x->exact = false;
    return p == e;
}

static bool parse_double(const char *t, size_t n, double *v)
{
    struct num x = {0};
    char buf[128];

    if (!decimal(t, n, &x))
        return special_value(t, n, v);
    if (x.exact && x.e10 >= -22 && x.e10 <= 22) {
        double d = (double)x.mant;
        d = x.e10 < 0 ? d / pow10_exact[-x.e10] : d * pow10_exact[x.e10];
        *v = x.neg ? -d : d;
        return true;
    }
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, t, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    return true;
}

/* Parses "value [timestamp]" up to the end of the line. */
static bool value_and_ts(struct line *l)
{
    const char *t = l->p;
    int64_t ts = 0;
    bool neg = false;
    int nd = 0;

    while (l->p < l->end && !is_ws(*l->p))
        l->p++;
    if (!parse_double(t, (size_t)(l->p - t), &l->s.value))
        return false;
    skip_ws(l);
    if (l->p == l->end)
        return true;
    if (*l->p == '-' || *l->p == '+')
        neg = *l->p++ == '-';
    for (; l->p < l->end && is_digit(*l->p); l->p++, nd++) {
        if (nd == 18)
            return false; /* past int64 milliseconds, not a timestamp */
        ts = ts * 10 + (*l->p - '0');
    }
    skip_ws(l);
    if (nd == 0 || l->p != l->end)
        return false;
    l->s.has_ts = true;
    l->s.ts_ms = neg ? -ts : ts;
    return true;
}

/* Parses one line (without its \n); returns the callback's value or 0. */
static int parse_line(struct kv_promparse *pp, const char *s, size_t n)
{
    struct line l;
    char scratch[KV_PROMPARSE_MAX_LINE];

    pp->stats.lines++;
    if (n && s[n - 1] == '\r')
        n--;
    if (n > KV_PROMPARSE_MAX_LINE) {
        pp->stats.too_long++;
        return 0;
    }
    l.p = s;
    l.end = s + n;
    skip_ws(&l);
    if (l.p == l.end || *l.p == '#')
        return 0;
    memset(&l.s, 0, sizeof(l.s));
    l.scratch = scratch;
    l.used = 0;
    l.s.name = l.p;
    if ((l.s.name_len = scan_name(&l, true)) == 0)
        goto bad;
    l.p += l.s.name_len;
    if (pp->want && !pp->want(l.s.name, l.s.name_len, pp->ud)) {
        pp->stats.filtered++;
        return 0;
    }
    if (l.p < l.end && !is_ws(*l.p) && *l.p != '{')
        goto bad;
    skip_ws(&l);
    if (l.p < l.end && *l.p == '{') {
        l.p++;
        if (!labels(&l))
            goto bad;
    }
    skip_ws(&l);
    if (!value_and_ts(&l))
        goto bad;
    l.s.labels = l.labels;
    pp->stats.samples++;
    return pp->on_sample(&l.s, pp->ud);
bad:
    pp->stats.bad++;
    return 0;
}

void kv_promparse_init(struct kv_promparse *p, kv_promparse_sample_cb on_sample,
                       kv_promparse_want_cb want, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->on_sample = on_sample;
    p->want = want;
    p->ud = ud;
    /* + 1: the \r a line may carry before its \n */
    kv_buf_init(&p->carry, KV_PROMPARSE_MAX_LINE + 1);
}

void kv_promparse_cleanup(struct kv_promparse *p)
{
    kv_buf_cleanup(&p->carry);
}

/* Counts a line that outgrew the carry, and skips the rest of it. */
static void overlong(struct kv_promparse *p)
{
    p->stats.lines++;
    p->stats.too_long++;
    kv_buf_reset(&p->carry);
}

/* A line whose end is in this piece: whole in it, or the carried head plus this tail. */
static int complete(struct kv_promparse *p, const char *s, size_t n)
{
    int rc;

    if (p->skipping) {
        p->skipping = false;
        return 0;
    }
    if (p->carry.len == 0)
        return parse_line(p, s, n);
    if (kv_buf_append(&p->carry, s, n) < 0) {
        overlong(p);
        return 0;
    }
    rc = parse_line(p, p->carry.data, p->carry.len);
    kv_buf_reset(&p->carry);
    return rc;
}

int kv_promparse_feed(struct kv_promparse *p, const char *data, size_t len)
{
    const char *end = data + len, *nl;
    int rc;

    while (data < end) {
        nl = memchr(data, '\n', (size_t)(end - data));
        if (!nl) {
            if (!p->skipping && kv_buf_append(&p->carry, data, (size_t)(end - data)) < 0) {
                overlong(p);
                p->skipping = true;
            }
            return 0;
        }
        if ((rc = complete(p, data, (size_t)(nl - data))) != 0)
            return rc;
        data = nl + 1;
    }
    return 0;
}

int kv_promparse_finish(struct kv_promparse *p)
{
    int rc = 0;

    if (!p->skipping && p->carry.len)
        rc = parse_line(p, p->carry.data, p->carry.len);
    p->skipping = false;
    kv_buf_reset(&p->carry);
    return rc;
}

int kv_promparse_parse(const char *text, size_t len, kv_promparse_sample_cb on_sample,
                       kv_promparse_want_cb want, void *ud, struct kv_promparse_stats *st)
{
    struct kv_promparse p;
    const char *end = text + len, *nl;
    int rc = 0;

    kv_promparse_init(&p, on_sample, want, ud);
    while (rc == 0 && text < end) {
        nl = memchr(text, '\n', (size_t)(end - text));
        if (!nl) {
            rc = parse_line(&p, text, (size_t)(end - text));
            break;
        }
        rc = parse_line(&p, text, (size_t)(nl - text));
        text = nl + 1;
    }
    if (st)
        *st = p.stats;
    kv_promparse_cleanup(&p);
    return rc;
}

/* True if [s, s + n) equals the C string <z>. */
static bool span_is(const char *s, size_t n, const char *z)
{
    return strncmp(s, z, n) == 0 && z[n] == '\0';
}

static const struct kv_promparse_label *find_label(const struct kv_promparse_sample *s,
                                                   const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (span_is(s->labels[i].name, s->labels[i].name_len, name))
            return &s->labels[i];
    return NULL;
}

struct queries {
    struct kv_promparse_query *q;
    size_t nq;
};

static bool want_query(const char *name, size_t len, void *ud)
{
    const struct queries *qs = ud;

    for (size_t i = 0; i < qs->nq; i++)
        if (span_is(name, len, qs->q[i].name))
            return true;
    return false;
}

static int on_query_sample(const struct kv_promparse_sample *s, void *ud)
{
    struct queries *qs = ud;

    for (size_t i = 0; i < qs->nq; i++) {
        struct kv_promparse_query *q = &qs->q[i];
        const struct kv_promparse_label *l;
        if (!span_is(s->name, s->name_len, q->name))
            continue;
        if (q->label && (!(l = find_label(s, q->label)) ||
                         !span_is(l->value, l->value_len, q->value ? q->value : "")))
            continue;
        q->sum += s->value;
        q->count++;
    }
    return 0;
}

int kv_promparse_query(const char *text, size_t len, struct kv_promparse_query *q, size_t nq,
                       struct kv_promparse_stats *st)
{
    struct queries qs = {q, nq};

    for (size_t i = 0; i < nq; i++) {
        q[i].sum = 0;
        q[i].count = 0;
    }
    return kv_promparse_parse(text, len, on_query_sample, want_query, &qs, st);
}

int kv_promparse_sum(const char *text, size_t len, const char *name, const char *label,
                     const char *value, double *sum)
{
    struct kv_promparse_query q = {.name = name, .label = label, .value = value};

    kv_promparse_query(text, len, &q, 1, NULL);
    *sum = q.sum;
    return (int)KV_MIN(q.count, (size_t)0x7fffffff);
}

struct label_ask {
    const char *name, *label;
    char *out;
    size_t cap;
    int rc;
};

static bool want_name(const char *name, size_t len, void *ud)
{
    return span_is(name, len, ((struct label_ask *)ud)->name);
}

static int on_label_sample(const struct kv_promparse_sample *s, void *ud)
{
    struct label_ask *a = ud;
    const struct kv_promparse_label *l = find_label(s, a->label);

    if (!l)
        a->rc = KV_ENOTFOUND;
    else if (l->value_len >= a->cap)
        a->rc = KV_ETOOBIG;
    else {
        memcpy(a->out, l->value, l->value_len);
        a->out[l->value_len] = '\0';
        a->rc = (int)l->value_len;
    }
    return 1; /* the first sample decides */
}

int kv_promparse_label(const char *text, size_t len, const char *name, const char *label,
                       char *out, size_t cap)
{
    struct label_ask a = {name, label, out, cap, KV_ENOTFOUND};

    kv_promparse_parse(text, len, on_label_sample, want_name, &a, NULL);
    return a.rc;
}
