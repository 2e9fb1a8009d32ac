/* SPDX-License-Identifier: MIT */
/* src/openai/json.c - JSON string escaping and key/value appenders (see json.h). */
#include "openai/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* Short escapes for the bytes below 0x20 that have one; 'u' means \u00xx. */
static const char ctrl_escape[32] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
};

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Length of the valid UTF-8 sequence at <s> (lead byte >= 0x80), or 0 with *<bad> set to the
 * length of its maximal ill-formed subpart (>= 1), per Unicode Table 3-7. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, i;

    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4;
    else {
        *bad = 1;
        return 0;
    }
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

static int append_escape(struct kv_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    if (c == '"' || c == '\\') {
        e[1] = (char)c;
        return kv_buf_append(b, e, 2);
    }
    if (ctrl_escape[c] != 'u') {
        e[1] = ctrl_escape[c];
        return kv_buf_append(b, e, 2);
    }
    return kv_buf_append(b, e, 6);
}

int kv_json_escape(struct kv_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0, k, bad = 1;
    int rc;

    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80 && (k = utf8_seq(s + i, n - i, &bad)) > 0) {
            i += k;
            continue;
        }
        if ((rc = kv_buf_append(b, s + run, i - run)) < 0)
            return rc;
        if (c < 0x80) {
            rc = append_escape(b, c);
            i++;
        } else {
            rc = kv_buf_append(b, replacement, sizeof(replacement));
            i += bad;
        }
        if (rc < 0)
            return rc;
        run = i;
    }
    return kv_buf_append(b, s + run, n - run);
}

/* A comma is due when the last byte closes a value: a string, object, array, number or literal. */
static int comma(struct kv_buf *b)
{
    char c;

    if (b->len == 0)
        return 0;
    c = b->data[b->len - 1];
    if (c == '"' || c == '}' || c == ']' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return kv_buf_appendc(b, ',');
    return 0;
}

int kv_json_str(struct kv_buf *b, const char *s, size_t n)
{
    int rc;

    if ((rc = comma(b)) < 0 || (rc = kv_buf_appendc(b, '"')) < 0 ||
        (rc = kv_json_escape(b, s, n)) < 0)
        return rc;
    return kv_buf_appendc(b, '"');
}

int kv_json_strz(struct kv_buf *b, const char *s)
{
    return s ? kv_json_str(b, s, strlen(s)) : kv_json_null(b);
}

int kv_json_key(struct kv_buf *b, const char *key)
{
    int rc = kv_json_str(b, key, strlen(key));
    return rc < 0 ? rc : kv_buf_appendc(b, ':');
}

int kv_json_raw(struct kv_buf *b, const char *s, size_t n)
{
    int rc = comma(b);
    return rc < 0 ? rc : kv_buf_append(b, s, n);
}

int kv_json_int(struct kv_buf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    return kv_json_raw(b, t, (size_t)n);
}

int kv_json_bool(struct kv_buf *b, bool v)
{
    return v ? kv_json_raw(b, "true", 4) : kv_json_raw(b, "false", 5);
}

int kv_json_null(struct kv_buf *b)
{
    return kv_json_raw(b, "null", 4);
}

int kv_json_open(struct kv_buf *b, char c)
{
    return kv_json_raw(b, &c, 1);
}

int kv_json_double(struct kv_buf *b, double v)
{
    char t[KV_JSON_DOUBLE_MAX];
    size_t n;

    if (!isfinite(v))
        return kv_json_null(b);
    n = kv_json_format_double(t, v);
    return kv_json_raw(b, t, n);
}

/* Shortest "%.*e" that reads back as <v>: the digits Python's repr() picks (David Gay's
 * shortest round-trip). Returns the digit string (no point, trailing zeros dropped) and exponent.
 */
static size_t shortest_digits(double v, char digits[20], int *exp10)
{
    char e[40], *p;
    size_t nd = 0;
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    for (p = e; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    *exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    return nd;
}

/* Python's float_repr_style 'short': fixed notation for 1e-4 <= |v| < 1e16, else d.ddde+XX. */
size_t kv_json_format_double(char out[KV_JSON_DOUBLE_MAX], double v)
{
    char d[20];
    size_t nd, o = 0, i;
    int x;

    if (isnan(v))
        return (size_t)snprintf(out, KV_JSON_DOUBLE_MAX, "nan");
    if (isinf(v))
        return (size_t)snprintf(out, KV_JSON_DOUBLE_MAX, v < 0 ? "-inf" : "inf");
    if (signbit(v))
        out[o++] = '-';
    nd = shortest_digits(fabs(v), d, &x);
    if (x < -4 || x >= 16) {
        out[o++] = d[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, nd - 1);
            o += nd - 1;
        }
        return o + (size_t)snprintf(out + o, KV_JSON_DOUBLE_MAX - o, "e%c%02d", x < 0 ? '-' : '+',
                                    abs(x));
    }
    if (x < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (i = 0; i < (size_t)(-x - 1); i++)
            out[o++] = '0';
        memcpy(out + o, d, nd);
        o += nd;
    } else {
        for (i = 0; i <= (size_t)x; i++)
            out[o++] = i < nd ? d[i] : '0';
        out[o++] = '.';
        if (nd > (size_t)x + 1) {
            memcpy(out + o, d + x + 1, nd - (size_t)x - 1);
            o += nd - (size_t)x - 1;
        } else {
            out[o++] = '0';
        }
    }
    out[o] = '\0';
    return o;
}
