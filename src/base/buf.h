/* SPDX-License-Identifier: MIT */
/* src/base/buf.h - growable byte buffer with a hard maximum (after curl's dynbuf).
 *
 * A kv_buf owns its bytes; len <= cap <= max always holds, and data is kept NUL-terminated
 * (one spare byte beyond len) so text can be passed to C string functions. Appending past max
 * fails with KV_ETOOBIG and leaves the buffer unchanged, so untrusted input can never make it
 * grow without bound.
 */
#ifndef KV_BASE_BUF_H
#define KV_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct kv_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

/* Initializes an empty buffer that may hold at most <max> bytes. Allocates nothing yet. */
void kv_buf_init(struct kv_buf *b, size_t max);
/* Frees the bytes; the buffer is empty and reusable after. */
void kv_buf_cleanup(struct kv_buf *b);
/* Empties the buffer, keeping its allocation. */
void kv_buf_reset(struct kv_buf *b);
/* Appends; returns 0 or KV_ETOOBIG (buffer unchanged). */
int kv_buf_append(struct kv_buf *b, const void *p, size_t n);
int kv_buf_appends(struct kv_buf *b, const char *s);
int kv_buf_appendc(struct kv_buf *b, char c);
int kv_buf_printf(struct kv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kv_buf_vprintf(struct kv_buf *b, const char *fmt, va_list ap);
/* Appends the decimal digits of <v>; returns 0 or KV_ETOOBIG (buffer unchanged). */
int kv_buf_append_u64(struct kv_buf *b, uint64_t v);

/* Bytes kv_buf_fmt_u64() may write: 20 digits and the NUL. */
#define KV_BUF_U64_MAX 21
/* Writes the decimal digits of <v> and a NUL into <out> (KV_BUF_U64_MAX bytes); returns the
 * digit count. For per-request numbers (status codes, lengths), where snprintf's format
 * parsing costs more than the digits. */
size_t kv_buf_fmt_u64(char *out, uint64_t v);
/* Makes room for <n> more bytes (and the NUL) without changing len, for a writer that fills
 * data + len itself, then adds to len and terminates. Returns 0 or KV_ETOOBIG (unchanged). */
int kv_buf_reserve(struct kv_buf *b, size_t n);
/* Removes the first <n> bytes (n <= len). */
void kv_buf_consume(struct kv_buf *b, size_t n);
/* Hands the bytes to the caller (free() them); the buffer is empty after. Never NULL. */
char *kv_buf_detach(struct kv_buf *b, size_t *len);

#endif /* KV_BASE_BUF_H */
