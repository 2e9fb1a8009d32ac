/* SPDX-License-Identifier: MIT */
/* src/base/mem.h - allocation that aborts on out-of-memory (as Redis zmalloc and h2o do).
 *
 * Callers cap sizes from untrusted input before allocating (see kv_buf's max); an allocation
 * failure after that is an environment failure, not bad input, so aborting is the honest answer.
 */
#ifndef KV_BASE_MEM_H
#define KV_BASE_MEM_H

#include <stddef.h>

void *kv_malloc(size_t n);
void *kv_calloc(size_t count, size_t size);
void *kv_realloc(void *p, size_t n);
/* Copies NUL-terminated <s>; kv_strndup copies at most <n> bytes and always terminates. */
char *kv_strdup(const char *s);
char *kv_strndup(const char *s, size_t n);
/* Copies <n> bytes of <p> to a new allocation. */
void *kv_memdup(const void *p, size_t n);

/* Frees *<pp> and sets it to NULL. */
#define KV_FREE(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* The struct that embeds <ptr> as <member>. */
#define kv_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define KV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KV_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* KV_BASE_MEM_H */
