/* SPDX-License-Identifier: MIT */
/* src/base/buf.c - growable byte buffer with a hard maximum. */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

void kv_buf_init(struct kv_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void kv_buf_cleanup(struct kv_buf *b)
{
    KV_FREE(&b->data);
    b->len = 0;
    b->cap = 0;
}

void kv_buf_reset(struct kv_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for <n> more bytes plus the terminator; doubles to amortize. */
static int reserve(struct kv_buf *b, size_t n)
{
    size_t want, cap;

    if (n > b->max || b->len > b->max - n)
        return KV_ETOOBIG;
    want = b->len + n + 1;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = kv_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int kv_buf_reserve(struct kv_buf *b, size_t n)
{
    return reserve(b, n);
}

int kv_buf_append(struct kv_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kv_buf_appends(struct kv_buf *b, const char *s)
{
    return kv_buf_append(b, s, strlen(s));
}

int kv_buf_appendc(struct kv_buf *b, char c)
{
    return kv_buf_append(b, &c, 1);
}

int kv_buf_vprintf(struct kv_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    rc = reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int kv_buf_printf(struct kv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = kv_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

size_t kv_buf_fmt_u64(char *out, uint64_t v)
{
    /* Two digits per division: the numbers are short, the divisions are the cost. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    char tmp[KV_BUF_U64_MAX];
    char *p = tmp + sizeof(tmp);
    size_t n;

    while (v >= 100) {
        const char *d = pairs + (v % 100) * 2;
        v /= 100;
        *--p = d[1];
        *--p = d[0];
    }
    if (v >= 10) {
        *--p = pairs[v * 2 + 1];
        *--p = pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

int kv_buf_append_u64(struct kv_buf *b, uint64_t v)
{
    char num[KV_BUF_U64_MAX];

    return kv_buf_append(b, num, kv_buf_fmt_u64(num, v));
}

void kv_buf_consume(struct kv_buf *b, size_t n)
{
    if (n >= b->len) {
        kv_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *kv_buf_detach(struct kv_buf *b, size_t *len)
{
    char *d = b->data ? b->data : kv_calloc(1, 1);
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}
