/* SPDX-License-Identifier: MIT */
/* src/base/mem.c - aborting allocators. */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "kvroute: out of memory allocating %zu bytes\n", n);
    abort();
}

void *kv_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *kv_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *kv_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *kv_strdup(const char *s)
{
    return kv_memdup(s, strlen(s) + 1);
}

char *kv_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = kv_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void *kv_memdup(const void *p, size_t n)
{
    void *d = kv_malloc(n);
    if (n)
        memcpy(d, p, n);
    return d;
}
