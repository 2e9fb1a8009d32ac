/* SPDX-License-Identifier: MIT */
/* src/openai/json.h - fast JSON writing into a kv_buf: string escaping and key/value helpers.
 *
 * Responses and SSE chunks are built by appending to a kv_buf; no DOM and no yajl_gen on the hot
 * path. Escaping follows RFC 8259 the way Python's json / pydantic write it for vLLM: '"' and
 * '\\' get a backslash, \b \f \n \r \t their short forms, the other bytes below 0x20 \u00xx
 * (lower-case hex); every other byte of valid UTF-8 passes through unchanged (no \u escaping of
 * non-ASCII, so U+2028 and DEL stay raw). Bytes that are not valid UTF-8 become U+FFFD, one per
 * maximal ill-formed subpart (Unicode 15, section 3.9, as WHATWG decoders do), so the output is
 * always valid UTF-8 JSON whatever the input.
 *
 * Commas are automatic: kv_json_key() and the value helpers insert ',' when the buffer's last
 * byte ends a JSON value (one of } ] " or a letter or digit), so a caller writes
 *     kv_buf_appendc(b, '{'); kv_json_key(b, "id"); kv_json_str(b, id, n);
 *     kv_json_key(b, "n"); kv_json_int(b, 3); kv_buf_appendc(b, '}');
 * and gets {"id":"...","n":3}. Text such as "data: " before a value never gets a comma.
 *
 * Every function appends to <b> and returns 0, or KV_ETOOBIG when <b>'s maximum would be passed;
 * on KV_ETOOBIG the buffer may hold part of the value, so the caller abandons (resets) it. Cost:
 * escaping copies runs of plain bytes with memcpy, about one pass over the input.
 */
#ifndef KV_OPENAI_JSON_H
#define KV_OPENAI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Longest text kv_json_format_double() writes, with its NUL. */
#define KV_JSON_DOUBLE_MAX 32

/* Appends the escaped form of <s>[0, <n>) with no quotes and no comma: for building one JSON
 * string from several pieces. */
int kv_json_escape(struct kv_buf *b, const char *s, size_t n);
/* Appends <s>[0, <n>) as a quoted JSON string (comma first if needed). */
int kv_json_str(struct kv_buf *b, const char *s, size_t n);
/* Same for a NUL-terminated <s>; NULL writes null. */
int kv_json_strz(struct kv_buf *b, const char *s);
/* Appends "<key>": (comma first if needed). <key> is escaped like any string. */
int kv_json_key(struct kv_buf *b, const char *key);
/* Value helpers (comma first if needed). */
int kv_json_int(struct kv_buf *b, int64_t v);
int kv_json_bool(struct kv_buf *b, bool v);
int kv_json_null(struct kv_buf *b);
/* A double as Python's repr() writes it (shortest round-trip, "1.0", "1e-05", "1e+16"); NaN and
 * infinities, which JSON cannot hold, become null. */
int kv_json_double(struct kv_buf *b, double v);
/* Appends <n> bytes of already-rendered JSON as one value (comma first if needed). */
int kv_json_raw(struct kv_buf *b, const char *s, size_t n);
/* Appends '{' or '[' (<c>), comma first if needed. Close with kv_buf_appendc(b, '}' or ']'). */
int kv_json_open(struct kv_buf *b, char c);

/* Writes <v> into <out> the way Python's repr(float) does (see kv_json_double), "nan", "inf" or
 * "-inf" for non-finite values; returns the length. Used for vLLM-identical error messages. */
size_t kv_json_format_double(char out[KV_JSON_DOUBLE_MAX], double v);

#endif /* KV_OPENAI_JSON_H */
