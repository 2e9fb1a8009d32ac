/* SPDX-License-Identifier: MIT */
/* src/metrics/promfmt.c - prometheus_client's number and string formatting (see promfmt.h).
 *
 * Shortest round-trip digits come from glibc's correctly rounded "%.*e": if the value survives a
 * trip through 15 significant digits, the 15-digit text with its trailing zeros removed is the
 * shortest one (a normal double's error is below half a 15-digit unit), else 16, else 17
 * always do.
 */
#include "metrics/promfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest decimal digits of <a> (finite, > 0) into <d> (no dot, no trailing zeros); returns
 * their count and sets *decpt to the position of the decimal point relative to d[0]. */
static size_t shortest_digits(double a, char *d, int *decpt)
{
    char tmp[40];
    size_t n = 0;
    int prec, exp10;
    char *e;

    /* Subnormals carry fewer digits than 15, so their shortest form may be shorter still. */
    for (prec = a < DBL_MIN ? 1 : 15; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, a);
        if (strtod(tmp, NULL) == a)
            break;
    }
    if (prec == 17)
        snprintf(tmp, sizeof(tmp), "%.16e", a);
    e = strchr(tmp, 'e');
    exp10 = atoi(e + 1);
    for (const char *p = tmp; p < e; p++)
        if (*p != '.')
            d[n++] = *p;
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = '\0';
    *decpt = exp10 + 1;
    return n;
}

/* Python's repr() layout of digits <d> (n of them) with decimal point position <decpt>. */
static size_t layout_repr(const char *d, size_t n, int decpt, char *o)
{
    size_t k = 0;
    int e;

    if (decpt <= -4 || decpt > 16) {
        o[k++] = d[0];
        if (n > 1) {
            o[k++] = '.';
            memcpy(o + k, d + 1, n - 1);
            k += n - 1;
        }
        e = decpt - 1;
        k += (size_t)sprintf(o + k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (decpt <= 0) {
        o[k++] = '0';
        o[k++] = '.';
        for (int i = 0; i < -decpt; i++)
            o[k++] = '0';
        memcpy(o + k, d, n);
        k += n;
    } else if ((size_t)decpt >= n) {
        memcpy(o + k, d, n);
        k += n;
        for (size_t i = n; i < (size_t)decpt; i++)
            o[k++] = '0';
        o[k++] = '.';
        o[k++] = '0';
    } else {
        memcpy(o + k, d, (size_t)decpt);
        k += (size_t)decpt;
        o[k++] = '.';
        memcpy(o + k, d + decpt, n - (size_t)decpt);
        k += n - (size_t)decpt;
    }
    o[k] = '\0';
    return k;
}

/* Handles the values that have no digits; returns 0 if <v> has some. */
static size_t special(double v, char *out, int go)
{
    const char *s = NULL;

    if (isnan(v))
        s = go ? "NaN" : "nan";
    else if (isinf(v))
        s = v > 0 ? (go ? "+Inf" : "inf") : (go ? "-Inf" : "-inf");
    else if (v == 0)
        s = signbit(v) ? "-0.0" : "0.0";
    if (!s)
        return 0;
    strcpy(out, s);
    return strlen(s);
}

size_t kv_promfmt_repr(double v, char *out)
{
    char d[24];
    int decpt;
    size_t n, k;

    if ((k = special(v, out, 0)) > 0)
        return k;
    n = shortest_digits(fabs(v), d, &decpt);
    k = 0;
    if (v < 0)
        out[k++] = '-';
    return k + layout_repr(d, n, decpt, out + k);
}

/* Small integers, most of what /metrics holds (bucket counts, gauges): "<digits>.0". */
static size_t small_integer(double v, char *out)
{
    char tmp[8];
    long i = (long)v;
    size_t n = 0, k = 0;

    if (!(v > -1e6 && v < 1e6) || (double)i != v || i == 0)
        return 0;
    if (i < 0) {
        out[k++] = '-';
        i = -i;
    }
    for (; i > 0; i /= 10)
        tmp[n++] = (char)('0' + i % 10);
    while (n > 0)
        out[k++] = tmp[--n];
    memcpy(out + k, ".0", 3);
    return k + 2;
}

size_t kv_promfmt_double(double v, char *out)
{
    char d[24];
    int decpt;
    size_t n, k;

    if ((k = special(v, out, 1)) > 0 || (k = small_integer(v, out)) > 0)
        return k;
    n = shortest_digits(fabs(v), d, &decpt);
    /* floatToGoString: a positive repr whose dot sits past index 6 becomes d.ddd "e+0" n. */
    if (v > 0 && decpt > 6 && decpt <= 16) {
        k = 0;
        out[k++] = d[0];
        if (n > 1) {
            out[k++] = '.';
            memcpy(out + k, d + 1, n - 1);
            k += n - 1;
        }
        k += (size_t)sprintf(out + k, "e+0%d", decpt - 1);
        return k;
    }
    return kv_promfmt_repr(v, out);
}

static size_t escape(const char *s, size_t n, char *out, int quote)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || (quote && c == '"')) {
            if (out) {
                out[k] = '\\';
                out[k + 1] = c;
            }
            k += 2;
        } else if (c == '\n') {
            if (out) {
                out[k] = '\\';
                out[k + 1] = 'n';
            }
            k += 2;
        } else {
            if (out)
                out[k] = c;
            k++;
        }
    }
    return k;
}

size_t kv_promfmt_label_len(const char *s, size_t n)
{
    return escape(s, n, NULL, 1);
}

size_t kv_promfmt_label_escape(const char *s, size_t n, char *out)
{
    return escape(s, n, out, 1);
}

size_t kv_promfmt_help_len(const char *s, size_t n)
{
    return escape(s, n, NULL, 0);
}

size_t kv_promfmt_help_escape(const char *s, size_t n, char *out)
{
    return escape(s, n, out, 0);
}
