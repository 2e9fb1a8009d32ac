/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_openai.c - libFuzzer driver for the OpenAI request parser and JSON writer.
 *
 * Each input is a request body, parsed as both a completion and a chat request, once whole and
 * once fed in pieces whose sizes come from the input itself; the two parses must agree on the
 * result code, the error message and every extracted field (the incremental-feeding contract).
 * The rendered prompt is then escaped with kv_json_escape and checked to be raw-control-free,
 * and the error message rendered as an error body. The parsers are reused across inputs, which
 * also checks that no state leaks from one request into the next.
 *
 * Build by hand with clang, from the repository root (SRCS = the .c files of src/openai and
 * src/base):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc tests/fuzz/fuzz_openai.c \
 *     $SRCS -lyajl -lm -o fuzz_openai
 *   ./fuzz_openai -max_total_time=60 /tmp/new-corpus tests/fuzz/corpus/openai
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "openai/error.h"
#include "openai/json.h"
#include "openai/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_same(const struct kv_request *a, const struct kv_request *b)
{
    CHECK(a->stream == b->stream && a->include_usage == b->include_usage);
    CHECK(a->ignore_eos == b->ignore_eos && a->max_tokens == b->max_tokens && a->n == b->n);
    CHECK(a->seed == b->seed && a->n_messages == b->n_messages);
    CHECK(a->n_prompts == b->n_prompts && a->n_tokens == b->n_tokens && a->n_stops == b->n_stops);
    CHECK(a->text.len == b->text.len);
    CHECK(a->text.len == 0 || memcmp(a->text.data, b->text.data, a->text.len) == 0);
    CHECK(a->n_tokens == 0 || memcmp(a->tokens, b->tokens, a->n_tokens * sizeof(int32_t)) == 0);
    for (size_t i = 0; i < a->n_prompts; i++) {
        CHECK(a->prompts[i].is_tokens == b->prompts[i].is_tokens);
        CHECK(a->prompts[i].off == b->prompts[i].off && a->prompts[i].len == b->prompts[i].len);
        if (a->prompts[i].is_tokens)
            CHECK(a->prompts[i].off + a->prompts[i].len <= a->n_tokens);
        else
            CHECK(a->prompts[i].off + a->prompts[i].len <= a->text.len);
    }
}

/* Feeds <data> in pieces of 1..16 bytes, sizes taken from the data. */
static int parse_pieces(struct kv_request *r, enum kv_request_kind kind, const uint8_t *data,
                        size_t size)
{
    size_t off = 0, i = 0, n;
    int rc;

    kv_request_begin(r, kind);
    while (off < size) {
        n = 1 + (data[i++ % size] & 15);
        if (n > size - off)
            n = size - off;
        if ((rc = kv_request_feed(r, data + off, n)) < 0)
            return rc;
        off += n;
    }
    return kv_request_finish(r);
}

static void check_outputs(struct kv_request *r, int rc, struct kv_buf *out)
{
    kv_buf_reset(out);
    if (rc == 0) {
        CHECK(kv_json_escape(out, r->text.data ? r->text.data : "", r->text.len) == 0);
        for (size_t i = 0; i < out->len; i++)
            CHECK((unsigned char)out->data[i] >= 0x20);
        rc = kv_request_validate(r);
    }
    if (rc < 0)
        CHECK(kv_error_render(out, rc, kv_request_error(r)) >= 400);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kv_request whole, pieces;
    static struct kv_buf out;
    static int ready;
    int rc1, rc2;

    if (!ready) {
        kv_request_init(&whole, NULL);
        kv_request_init(&pieces, NULL);
        kv_buf_init(&out, 256u << 20);
        ready = 1;
    }
    for (int k = 0; k < 2; k++) {
        enum kv_request_kind kind = k ? KV_REQUEST_CHAT : KV_REQUEST_COMPLETION;
        rc1 = kv_request_parse(&whole, kind, data, size);
        rc2 = parse_pieces(&pieces, kind, data, size);
        CHECK(rc1 == rc2);
        CHECK(strcmp(kv_request_error(&whole), kv_request_error(&pieces)) == 0);
        if (rc1 == 0)
            check_same(&whole, &pieces);
        check_outputs(&whole, rc1, &out);
    }
    return 0;
}
