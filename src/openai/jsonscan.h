/* SPDX-License-Identifier: MIT */
/* src/openai/jsonscan.h - incremental, validating JSON event parser for request bodies.
 *
 * Why not yajl: the request parser is on kvroute's hot path, and with yajl it was the largest
 * item of the router's own CPU: 2.1 us of about 9.5 us of user time per 9 KB completion request
 * (docs/benchmarks.md "Parsers"), more than half of what HAProxy spends on a whole request.
 * yajl walks strings a byte at a time; prompts are long runs of plain text. This parser finds the
 * end of a plain run 16 bytes at a time (SSE2, or 8 with a portable fallback) and hands strings
 * without escapes to the callback as pointers into the input (no copy). jansson and json-c build
 * a DOM and are slower than yajl. It is measured against yajl in tests/micro/micro_openai_parse.c
 * and checked event for event against yajl in tests/unit/test_openai_jsonscan.c.
 *
 * Interface: yajl's event callbacks with yajl's signatures (number as raw text), each returning
 * nonzero to go on or 0 to stop the parse (status KV_JSONSCAN_CANCELED). Feed the document in
 * pieces split anywhere, then call kv_jsonscan_finish(). A token split across pieces is carried
 * in an internal buffer (bounded by <max_token>) and lexed once it is complete, so events are
 * the same however the input is split; string and key events always carry the whole, decoded
 * string.
 *
 * Grammar: RFC 8259, strict: one value (any type) surrounded by optional whitespace; strings are
 * UTF-8 validated as Python's decoder does (no overlongs, no surrogates, nothing past U+10FFFF);
 * control characters below 0x20 must be escaped; numbers follow the RFC exactly (no leading zeros,
 * no NaN/Infinity). \u escapes decode to UTF-8; a valid surrogate pair gives one code point, and
 * a lone surrogate gives U+FFFD (the text must stay valid UTF-8 for hashing and forwarding).
 * Nesting past <max_depth> is an error. Errors read like Python's json module ("Expecting value",
 * "Expecting ',' delimiter", ...) followed by " (byte N)", N counted from the document's start,
 * so the message does not depend on how the body was split.
 *
 * Data: a stack of container kinds (max_depth bytes, allocated at init), the carried token and a
 * scratch buffer for strings with escapes; both keep their capacity across documents, so a parse
 * costs no allocation in steady state. Cost: one pass over the input. Not thread-safe.
 */
#ifndef KV_OPENAI_JSONSCAN_H
#define KV_OPENAI_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define KV_JSONSCAN_ERR_MAX 128

enum kv_jsonscan_status {
    KV_JSONSCAN_OK = 0,
    KV_JSONSCAN_CANCELED, /* a callback returned 0 */
    KV_JSONSCAN_ERROR,    /* invalid JSON, too deep, or a token over max_token */
};

/* yajl_callbacks' shape. A NULL member accepts the event silently. Strings are not
 * NUL-terminated and may contain NUL (from \u0000); they live until the callback returns. */
struct kv_jsonscan_callbacks {
    int (*null)(void *ctx);
    int (*boolean)(void *ctx, int value);
    int (*number)(void *ctx, const char *s, size_t len);
    int (*string)(void *ctx, const unsigned char *s, size_t len);
    int (*start_map)(void *ctx);
    int (*map_key)(void *ctx, const unsigned char *s, size_t len);
    int (*end_map)(void *ctx);
    int (*start_array)(void *ctx);
    int (*end_array)(void *ctx);
};

struct kv_jsonscan {
    const struct kv_jsonscan_callbacks *cb;
    void *ctx;
    uint8_t *stack; /* container kinds, max_depth of them */
    uint32_t depth, max_depth;
    size_t max_token;
    uint8_t state;
    uint8_t status;   /* enum kv_jsonscan_status, sticky */
    uint8_t carry;    /* kind of the token in <pend>, 0 if none */
    uint8_t carry_bs; /* the carried string's last byte is an unconsumed backslash */
    uint64_t base;    /* document bytes before the current piece */
    uint64_t carry_at; /* document offset of the carried token's first byte */
    struct kv_buf pend; /* a token split across pieces */
    struct kv_buf str;  /* a string with escapes, decoded */
    char err[KV_JSONSCAN_ERR_MAX];
};

/* Prepares <s> (caller storage) to call <cb> with <ctx>, for documents nested at most
 * <max_depth> (>= 1) deep and with no token (a string as written, escapes included) longer than
 * <max_token> bytes. Allocates the stack; aborts only on OOM. Call kv_jsonscan_reset() before
 * each document. */
void kv_jsonscan_init(struct kv_jsonscan *s, const struct kv_jsonscan_callbacks *cb, void *ctx,
                      uint32_t max_depth, size_t max_token);
/* Frees what <s> holds. Safe on a zeroed struct. */
void kv_jsonscan_cleanup(struct kv_jsonscan *s);
/* Starts a new document (capacity kept). */
void kv_jsonscan_reset(struct kv_jsonscan *s);
/* Parses the next <len> bytes. Returns KV_JSONSCAN_OK, or the sticky CANCELED/ERROR status that
 * stopped the parse (every later call returns it too). */
int kv_jsonscan_feed(struct kv_jsonscan *s, const void *data, size_t len);
/* Ends the document: lexes a carried number or literal, and checks that exactly one complete
 * value was seen. Returns as kv_jsonscan_feed(). */
int kv_jsonscan_finish(struct kv_jsonscan *s);
/* Why the parse failed ("" unless the status is ERROR). */
const char *kv_jsonscan_error(const struct kv_jsonscan *s);

#endif /* KV_OPENAI_JSONSCAN_H */
