/* SPDX-License-Identifier: MIT */
/* tests/unit/test_openai_request.c - OpenAI request parsing: every prompt shape, chat rendering,
 * each field and its wrong types with vLLM's message, invalid JSON, byte-by-byte feeding, reuse,
 * caps, and a replay of the fuzz corpus (tests/fuzz/corpus/openai, named
 * <c|chat>-<ok|bad|invalid>-*.json: ok passes both stages, bad fails finish, invalid fails
 * validate). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "openai/request.h"

#define C KV_REQUEST_COMPLETION
#define CHAT KV_REQUEST_CHAT
#define GEN "<|start_header_id|>assistant<|end_header_id|>\n\n"
#define BOS "<|begin_of_text|>"
#define HDR(role) "<|start_header_id|>" role "<|end_header_id|>\n\n"
#define EOT "<|eot_id|>"
#define P2(r, kind, lit) parse2(r, kind, lit, sizeof(lit) - 1)
#define PARSE(r, kind, lit) kv_request_parse(r, kind, lit, sizeof(lit) - 1)

/* Same request fed one byte at a time: must agree with the whole-body parse in every field. */
static void assert_same(const struct kv_request *a, const struct kv_request *b)
{
    size_t la, lb;
    const char *sa, *sb;

    assert_int_equal(a->stream, b->stream);
    assert_int_equal(a->include_usage, b->include_usage);
    assert_int_equal(a->ignore_eos, b->ignore_eos);
    assert_int_equal(a->max_tokens, b->max_tokens);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->seed, b->seed);
    assert_true(a->temperature == b->temperature);
    assert_int_equal(a->n_messages, b->n_messages);
    assert_int_equal(a->n_prompts, b->n_prompts);
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_int_equal(a->text.len, b->text.len);
    if (a->text.len)
        assert_memory_equal(a->text.data, b->text.data, a->text.len);
    if (a->n_tokens)
        assert_memory_equal(a->tokens, b->tokens, a->n_tokens * sizeof(int32_t));
    for (size_t i = 0; i < a->n_prompts; i++) {
        assert_int_equal(a->prompts[i].is_tokens, b->prompts[i].is_tokens);
        assert_int_equal(a->prompts[i].off, b->prompts[i].off);
        assert_int_equal(a->prompts[i].len, b->prompts[i].len);
    }
    assert_int_equal(a->n_stops, b->n_stops);
    for (size_t i = 0; i < a->n_stops; i++) {
        sa = kv_request_stop(a, i, &la);
        sb = kv_request_stop(b, i, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(sa, sb, la);
    }
    sa = kv_request_model(a, &la);
    sb = kv_request_model(b, &lb);
    assert_int_equal(la, lb);
    assert_true((sa == NULL) == (sb == NULL));
    if (sa)
        assert_memory_equal(sa, sb, la);
}

static int parse_bytewise(struct kv_request *r, enum kv_request_kind kind, const char *body,
                          size_t len)
{
    int rc;

    kv_request_begin(r, kind);
    for (size_t i = 0; i < len; i++)
        if ((rc = kv_request_feed(r, body + i, 1)) < 0)
            return rc;
    return kv_request_finish(r);
}

/* Parses <body> whole and byte by byte; both must give <want_rc> and the same message or the
 * same result. Leaves the whole-body parse in <r>. */
static int parse2(struct kv_request *r, enum kv_request_kind kind, const char *body, size_t len)
{
    struct kv_request b;
    int rc, rc2;

    kv_request_init(&b, NULL);
    rc = kv_request_parse(r, kind, body, len);
    rc2 = parse_bytewise(&b, kind, body, len);
    assert_int_equal(rc, rc2);
    assert_string_equal(kv_request_error(r), kv_request_error(&b));
    if (rc == 0) {
        assert_same(r, &b);
        assert_int_equal(kv_request_validate(r), kv_request_validate(&b));
        assert_string_equal(kv_request_error(r), kv_request_error(&b));
    }
    kv_request_cleanup(&b);
    return rc;
}

static struct kv_request *req_new(void)
{
    struct kv_request *r = malloc(sizeof(*r));
    kv_request_init(r, NULL);
    return r;
}

static void req_free(struct kv_request *r)
{
    kv_request_cleanup(r);
    free(r);
}

/* Expects finish to pass (and validate when <valid>), returning the request for checks. */
static struct kv_request *ok(enum kv_request_kind kind, const char *body)
{
    struct kv_request *r = req_new();
    int rc = parse2(r, kind, body, strlen(body));
    if (rc != 0)
        fail_msg("parse failed (%d): %s\nbody: %s", rc, kv_request_error(r), body);
    return r;
}

static void ok_valid(struct kv_request *r)
{
    if (kv_request_validate(r) != 0)
        fail_msg("validate failed: %s", kv_request_error(r));
}

/* Expects the stage-1 error <rc> with exactly <msg>. */
static void bad(enum kv_request_kind kind, const char *body, int rc, const char *msg)
{
    struct kv_request *r = req_new();
    assert_int_equal(parse2(r, kind, body, strlen(body)), rc);
    assert_string_equal(kv_request_error(r), msg);
    req_free(r);
}

/* Expects finish to pass and validate to fail with <msg>. */
static void invalid(enum kv_request_kind kind, const char *body, const char *msg)
{
    struct kv_request *r = ok(kind, body);
    assert_int_equal(kv_request_validate(r), KV_EBADREQ);
    assert_string_equal(kv_request_error(r), msg);
    req_free(r);
}

static void assert_text(const struct kv_request *r, size_t i, const char *want)
{
    size_t len;
    const char *s = kv_request_prompt_text(r, i, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

/* <len> is read after <s> was computed (argument order is unspecified in C). */
static void assert_str(const char *s, const size_t *len, const char *want)
{
    assert_non_null(s);
    assert_int_equal(*len, strlen(want));
    assert_memory_equal(s, want, *len);
}

/* ---------------------------------------------------------------- completion prompts */

static void test_prompt_string(void **state)
{
    struct kv_request *r;
    size_t len;
    (void)state;
    r = ok(C, "{\"model\":\"llama\",\"prompt\":\"Hello \\\"you\\\"\\n\"}");
    ok_valid(r);
    assert_int_equal(r->kind, C);
    assert_int_equal(r->n_prompts, 1);
    assert_text(r, 0, "Hello \"you\"\n");
    assert_null(kv_request_prompt_tokens(r, 0, NULL));
    assert_str(kv_request_model(r, &len), &len, "llama");
    assert_int_equal(r->max_tokens, 16); /* CompletionRequest default */
    assert_int_equal(r->n, 1);
    assert_false(r->stream);
    assert_false(r->include_usage);
    assert_false(r->has_seed);
    assert_false(r->has_temperature);
    assert_int_equal(r->n_stops, 0);
    assert_null(kv_request_user(r, NULL));
    req_free(r);
}

static void test_prompt_strings(void **state)
{
    struct kv_request *r;
    (void)state;
    r = ok(C, "{\"prompt\":[\"ab\",\"\",\"c\\u00e9\"]}");
    ok_valid(r);
    assert_int_equal(r->n_prompts, 3);
    assert_text(r, 0, "ab");
    assert_text(r, 1, "");
    assert_text(r, 2, "c\xc3\xa9");
    assert_int_equal(r->text.len, 5);
    assert_null(kv_request_model(r, NULL)); /* absent: vLLM serves its default model */
    req_free(r);
}

static void test_prompt_tokens(void **state)
{
    struct kv_request *r;
    const int32_t *t;
    size_t n;
    (void)state;
    r = ok(C, "{\"prompt\":[128000, 791, 0, 2147483647, 5.0]}");
    ok_valid(r);
    assert_int_equal(r->n_prompts, 1);
    assert_null(kv_request_prompt_text(r, 0, NULL));
    t = kv_request_prompt_tokens(r, 0, &n);
    assert_int_equal(n, 5);
    assert_int_equal(t[0], 128000);
    assert_int_equal(t[1], 791);
    assert_int_equal(t[2], 0);
    assert_int_equal(t[3], 2147483647);
    assert_int_equal(t[4], 5);
    req_free(r);

    r = ok(C, "{\"prompt\":[[1,2,3],[4],[5,6]]}");
    ok_valid(r);
    assert_int_equal(r->n_prompts, 3);
    t = kv_request_prompt_tokens(r, 2, &n);
    assert_int_equal(n, 2);
    assert_int_equal(t[0], 5);
    assert_int_equal(t[1], 6);
    t = kv_request_prompt_tokens(r, 1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0], 4);
    assert_int_equal(r->n_tokens, 6);
    req_free(r);
}

static void test_prompt_errors(void **state)
{
    const char *shape = "prompt: Input should be a valid string, a list of strings, a list of "
                        "integers or a list of lists of integers";
    (void)state;
    bad(C, "{\"prompt\":5}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":{}}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":true}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":[\"a\",1]}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":[1,\"a\"]}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":[[1],2]}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":[null]}", KV_EBADREQ, shape);
    bad(C, "{\"prompt\":[[1],[\"a\"]]}", KV_EBADREQ,
        "prompt.1: Input should be a list of integers");
    bad(C, "{\"prompt\":[[[1]]]}", KV_EBADREQ, "prompt.0: Input should be a list of integers");
    bad(C, "{\"prompt\":[1.5]}", KV_EBADREQ,
        "prompt: Input should be a valid integer, got a number with a fractional part");
    bad(C, "{\"prompt\":[-1]}", KV_EBADREQ, "Token id -1 is out of vocabulary");
    bad(C, "{\"prompt\":[[2147483648]]}", KV_EBADREQ, "Token id 2147483648 is out of vocabulary");
    bad(C, "{\"model\":\"m\"}", KV_EBADREQ,
        "Value error, At least one of `prompt` or `prompt_embeds` must be set.");
    bad(C, "{\"prompt\":null}", KV_EBADREQ,
        "Value error, At least one of `prompt` or `prompt_embeds` must be set.");
    invalid(C, "{\"prompt\":[]}", "please provide at least one prompt");
    invalid(C, "{\"prompt\":[[]]}", "please provide at least one prompt");
    invalid(C, "{\"prompt\":[[1],[]]}", "please provide at least one prompt");
}

/* ---------------------------------------------------------------- chat */

static void test_chat_string_content(void **state)
{
    struct kv_request *r;
    (void)state;
    r = ok(CHAT,
           "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\" Be brief.\\n\"},"
           "{\"role\":\"user\",\"content\":\"Hi\"}]}");
    ok_valid(r);
    assert_int_equal(r->kind, CHAT);
    assert_int_equal(r->n_messages, 2);
    assert_int_equal(r->n_prompts, 1);
    assert_text(r, 0, BOS HDR("system") "Be brief." EOT HDR("user") "Hi" EOT GEN);
    assert_int_equal(r->max_tokens, -1); /* chat: the rest of the context */
    assert_true(r->add_generation_prompt);
    req_free(r);
}

static void test_chat_parts(void **state)
{
    struct kv_request *r;
    (void)state;
    /* text parts joined by "\n", empty ones dropped, bare strings and input_text are text,
     * then the whole content trimmed */
    r = ok(CHAT,
           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\" a\"},"
           "{\"type\":\"text\",\"text\":\"\"},\"b\",{\"text\":\"c\",\"type\":\"input_text\"},"
           "{\"text\":\"d \",\"cache_control\":{\"x\":[1]}}]}]}");
    ok_valid(r);
    assert_text(r, 0, BOS HDR("user") "a\nb\nc\nd" EOT GEN);
    req_free(r);
    /* empty list and null content render empty */
    r = ok(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[]},{\"role\":\"assistant\","
                 "\"content\":null},{\"role\":\"tool\"}]}");
    assert_text(r, 0, BOS HDR("user") EOT HDR("assistant") EOT HDR("tool") EOT GEN);
    req_free(r);
}

static void test_chat_order_and_duplicates(void **state)
{
    struct kv_request *r;
    (void)state;
    /* role after content, repeated role and content: the last value wins, as in a dict */
    r = ok(CHAT,
           "{\"messages\":[{\"content\":\"  x y \",\"role\":\"user\"},"
           "{\"role\":\"a\",\"content\":\"old\",\"role\":\"assistant\",\"content\":[\"new\"]}],"
           "\"messages_extra\":1}");
    assert_int_equal(r->n_messages, 2);
    assert_text(r, 0, BOS HDR("user") "x y" EOT HDR("assistant") "new" EOT GEN);
    req_free(r);
    /* a repeated messages key replaces the conversation */
    r = ok(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"one\"}],"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"two\"}]}");
    assert_int_equal(r->n_messages, 1);
    assert_text(r, 0, BOS HDR("user") "two" EOT GEN);
    req_free(r);
    /* no messages: the template emits only the generation prompt */
    r = ok(CHAT, "{\"messages\":[]}");
    assert_text(r, 0, GEN);
    req_free(r);
}

static void test_chat_generation_flags(void **state)
{
    struct kv_request *r;
    (void)state;
    r = ok(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"add_generation_prompt\":false}");
    ok_valid(r);
    assert_false(r->add_generation_prompt);
    assert_text(r, 0, BOS HDR("user") "Hi" EOT);
    req_free(r);
    r = ok(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
                 "\"content\":\"Hello, I \"}],\"continue_final_message\":true,"
                 "\"add_generation_prompt\":false}");
    ok_valid(r);
    assert_text(r, 0, BOS HDR("user") "Hi" EOT HDR("assistant") "Hello, I");
    req_free(r);
    bad(CHAT, "{\"messages\":[],\"continue_final_message\":true,\"add_generation_prompt\":true}",
        KV_EBADREQ,
        "Value error, Cannot set both `continue_final_message` and "
        "`add_generation_prompt` to True.");
    invalid(CHAT, "{\"messages\":[],\"continue_final_message\":true}",
            "continue_final_message and add_generation_prompt are not compatible. Use "
            "continue_final_message when you want the model to continue the final message, and "
            "add_generation_prompt when you want to add a header that will prompt it to start a "
            "new assistant message instead.");
}

static void test_chat_errors(void **state)
{
    (void)state;
    bad(CHAT, "{\"model\":\"m\"}", KV_EBADREQ, "messages: Field required");
    bad(CHAT, "{\"messages\":\"x\"}", KV_EBADREQ, "messages: Input should be a valid list");
    bad(CHAT, "{\"messages\":null}", KV_EBADREQ, "messages: Input should be a valid list");
    bad(CHAT, "{\"messages\":[\"hi\"]}", KV_EBADREQ,
        "messages.0: Input should be a valid dictionary");
    bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"x\"}]}",
        KV_EBADREQ, "messages.1.role: Field required");
    bad(CHAT, "{\"messages\":[{\"role\":5,\"content\":\"x\"}]}", KV_EBADREQ,
        "messages.0.role: Input should be a valid string");
    bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", KV_EBADREQ,
        "messages.0.content: Input should be a valid string or a list of content parts");
    bad(CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":[\"a\",{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"http://x\"}}]}]}",
        KV_EBADREQ, "Unknown part type: image_url");
    bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[5]}]}", KV_EBADREQ,
        "messages.0.content.0: Input should be a valid dictionary");
    bad(CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":[\"a\",{\"type\":\"text\","
        "\"text\":7}]}]}",
        KV_EBADREQ, "messages.0.content.1.text: Input should be a valid string");
    bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":1}]}]}", KV_EBADREQ,
        "messages.0.content.0.type: Input should be a valid string");
    bad(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"x\":1}]}]}", KV_EBADREQ,
        "messages.0.content.0: Missing 'type' field in content part");
}

/* ---------------------------------------------------------------- fields */

static void test_fields(void **state)
{
    struct kv_request *r;
    size_t len;
    (void)state;
    r = ok(C, "{\"prompt\":\"p\",\"model\":\"m\",\"stream\":true,\"stream_options\":{"
              "\"include_usage\":false,\"continuous_usage_stats\":true},\"max_tokens\":100,"
              "\"user\":\"alice\",\"ignore_eos\":true,\"stop\":[\"\\n\",\"END\"],"
              "\"temperature\":0.25,\"seed\":-42,\"n\":1,\"cache_salt\":\"salt\","
              "\"request_id\":\"rid\"}");
    ok_valid(r);
    assert_true(r->stream);
    assert_false(r->include_usage);
    assert_true(r->continuous_usage_stats);
    assert_int_equal(r->max_tokens, 100);
    assert_str(kv_request_user(r, &len), &len, "alice");
    assert_true(r->ignore_eos);
    assert_int_equal(r->n_stops, 2);
    assert_str(kv_request_stop(r, 0, &len), &len, "\n");
    assert_str(kv_request_stop(r, 1, &len), &len, "END");
    assert_null(kv_request_stop(r, 2, &len));
    assert_true(r->has_temperature);
    assert_true(r->temperature == 0.25);
    assert_true(r->has_seed);
    assert_int_equal(r->seed, -42);
    assert_str(kv_request_cache_salt(r, &len), &len, "salt");
    assert_str(kv_request_request_id(r, &len), &len, "rid");
    req_free(r);

    /* stream_options given without include_usage: StreamOptions defaults it to true */
    r = ok(C, "{\"prompt\":\"p\",\"stream\":1,\"stream_options\":{},\"stop\":\"x\"}");
    assert_true(r->stream);
    assert_true(r->include_usage);
    assert_int_equal(r->n_stops, 1);
    req_free(r);
    /* an empty stream_options is falsy for vLLM's validator, so stream may be false */
    r = ok(C, "{\"prompt\":\"p\",\"stream_options\":{},\"model\":\"\"}");
    assert_false(r->stream);
    assert_null(kv_request_model(r, &len));
    assert_int_equal(len, 0);
    req_free(r);
    bad(C, "{\"prompt\":\"p\",\"stream_options\":{\"include_usage\":true}}", KV_EBADREQ,
        "Value error, Stream options can only be defined when `stream=True`.");
    bad(C, "{\"prompt\":\"p\",\"stream\":false,\"stream_options\":{\"x\":1}}", KV_EBADREQ,
        "Value error, Stream options can only be defined when `stream=True`.");
}

static void test_max_tokens(void **state)
{
    struct kv_request *r;
    (void)state;
    r = ok(C, "{\"prompt\":\"p\",\"max_tokens\":null}");
    assert_int_equal(r->max_tokens, -1);
    req_free(r);
    r = ok(C, "{\"prompt\":\"p\",\"max_tokens\":\" 12 \"}"); /* pydantic lax: numeric string */
    assert_int_equal(r->max_tokens, 12);
    req_free(r);
    r = ok(C, "{\"prompt\":\"p\",\"max_tokens\":5.0}");
    assert_int_equal(r->max_tokens, 5);
    req_free(r);
    r = ok(C, "{\"prompt\":\"p\",\"max_tokens\":99999999999999999999999}");
    assert_int_equal(r->max_tokens, INT64_MAX);
    req_free(r);
    r = ok(CHAT, "{\"messages\":[],\"max_completion_tokens\":7,\"max_tokens\":9}");
    assert_int_equal(r->max_tokens, 7);
    req_free(r);
    /* get_max_tokens: `max_completion_tokens or max_tokens`: 0 falls through */
    r = ok(CHAT, "{\"messages\":[],\"max_completion_tokens\":0,\"max_tokens\":9}");
    assert_int_equal(r->max_tokens, 9);
    req_free(r);
    r = ok(CHAT, "{\"messages\":[],\"max_completion_tokens\":0}");
    assert_int_equal(r->max_tokens, -1);
    ok_valid(r);
    req_free(r);
    bad(C, "{\"prompt\":\"p\",\"max_tokens\":\"a\"}", KV_EBADREQ,
        "max_tokens: Input should be a valid integer, unable to parse string as an integer");
    bad(C, "{\"prompt\":\"p\",\"max_tokens\":5.5}", KV_EBADREQ,
        "max_tokens: Input should be a valid integer, got a number with a fractional part");
    bad(C, "{\"prompt\":\"p\",\"max_tokens\":[]}", KV_EBADREQ,
        "max_tokens: Input should be a valid integer");
    bad(CHAT, "{\"messages\":[],\"max_completion_tokens\":{}}", KV_EBADREQ,
        "max_completion_tokens: Input should be a valid integer");
    invalid(C, "{\"prompt\":\"p\",\"max_tokens\":-1}", "max_tokens must be at least 1, got -1.");
    invalid(C, "{\"prompt\":\"p\",\"max_tokens\":0}", "max_tokens must be at least 1, got 0.");
    invalid(CHAT, "{\"messages\":[],\"max_tokens\":-3}", "max_tokens must be at least 1, got -3.");
}

static void test_field_types(void **state)
{
    struct kv_request *r;
    (void)state;
    /* pydantic lax booleans */
    r = ok(C, "{\"prompt\":\"p\",\"stream\":\"yes\",\"ignore_eos\":\"On\"}");
    assert_true(r->stream);
    assert_true(r->ignore_eos);
    req_free(r);
    r = ok(C, "{\"prompt\":\"p\",\"stream\":0,\"ignore_eos\":1.0,\"temperature\":\"0.5\","
              "\"seed\":\"17\",\"n\":true}");
    assert_false(r->stream);
    assert_true(r->ignore_eos);
    assert_true(r->temperature == 0.5);
    assert_int_equal(r->seed, 17);
    assert_int_equal(r->n, 1);
    req_free(r);
    r = ok(CHAT, "{\"messages\":[],\"n\":null,\"stream\":null,\"temperature\":null,\"seed\":null,"
                 "\"user\":null,\"stop\":null,\"model\":null}");
    assert_int_equal(r->n, 1);
    assert_false(r->has_temperature);
    assert_false(r->has_seed);
    req_free(r);
    bad(C, "{\"prompt\":\"p\",\"stream\":\"maybe\"}", KV_EBADREQ,
        "stream: Input should be a valid boolean, unable to interpret input");
    bad(C, "{\"prompt\":\"p\",\"stream\":2}", KV_EBADREQ,
        "stream: Input should be a valid boolean, unable to interpret input");
    bad(C, "{\"prompt\":\"p\",\"stream\":{}}", KV_EBADREQ,
        "stream: Input should be a valid boolean");
    bad(C, "{\"prompt\":\"p\",\"ignore_eos\":null}", KV_EBADREQ,
        "ignore_eos: Input should be a valid boolean");
    bad(C, "{\"prompt\":\"p\",\"model\":5}", KV_EBADREQ, "model: Input should be a valid string");
    bad(C, "{\"prompt\":\"p\",\"user\":[]}", KV_EBADREQ, "user: Input should be a valid string");
    bad(C, "{\"prompt\":\"p\",\"stop\":5}", KV_EBADREQ,
        "stop: Input should be a valid string or a list of strings");
    bad(C, "{\"prompt\":\"p\",\"stop\":[\"a\",null]}", KV_EBADREQ,
        "stop.1: Input should be a valid string");
    bad(C, "{\"prompt\":\"p\",\"temperature\":\"hot\"}", KV_EBADREQ,
        "temperature: Input should be a valid number, unable to parse string as a number");
    bad(C, "{\"prompt\":\"p\",\"temperature\":[1]}", KV_EBADREQ,
        "temperature: Input should be a valid number");
    bad(C, "{\"prompt\":\"p\",\"seed\":9223372036854775808}", KV_EBADREQ,
        "seed: Input should be less than or equal to 9223372036854775807");
    bad(C, "{\"prompt\":\"p\",\"seed\":-9223372036854775809}", KV_EBADREQ,
        "seed: Input should be greater than or equal to -9223372036854775808");
    bad(C, "{\"prompt\":\"p\",\"n\":null}", KV_EBADREQ, "n: Input should be a valid integer");
    bad(C, "{\"prompt\":\"p\",\"stream_options\":5,\"stream\":true}", KV_EBADREQ,
        "stream_options: Input should be a valid dictionary or instance of StreamOptions");
    bad(C, "{\"prompt\":\"p\",\"stream\":true,\"stream_options\":{\"include_usage\":\"x\"}}",
        KV_EBADREQ,
        "stream_options.include_usage: Input should be a valid boolean, unable to "
        "interpret input");
    bad(C, "{\"prompt\":\"p\",\"cache_salt\":\"\"}", KV_EBADREQ,
        "Value error, Parameter 'cache_salt' must be a non-empty string if provided.");
    bad(C, "{\"prompt\":\"p\",\"cache_salt\":{\"a\":1}}", KV_EBADREQ,
        "Value error, Parameter 'cache_salt' must be a non-empty string if provided.");
    bad(C, "{\"prompt\":\"p\",\"request_id\":null}", KV_EBADREQ,
        "request_id: Input should be a valid string");
    invalid(C, "{\"prompt\":\"p\",\"n\":2}", "n > 1 is not supported");
    invalid(C, "{\"prompt\":\"p\",\"n\":0}", "n must be at least 1, got 0.");
    invalid(CHAT, "{\"messages\":[],\"temperature\":-0.5}",
            "temperature must be non-negative, got -0.5.");
    invalid(CHAT, "{\"messages\":[],\"temperature\":-1}",
            "temperature must be non-negative, got -1.0.");
}

static void test_unknown_fields_skipped(void **state)
{
    struct kv_request *r;
    (void)state;
    r = ok(CHAT, "{\"top_p\":0.9,\"logit_bias\":{\"1\":2},\"tools\":[{\"a\":[{\"b\":{\"c\":[1,2,"
                 "{\"d\":null,\"messages\":[]}]}}]}],\"prompt\":[\"ignored in chat\"],"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"bob\","
                 "\"tool_calls\":[{\"x\":{\"y\":[],\"role\":5}}]}],\"x\":{\"model\":5},"
                 "\"huge\":[1e999999,123456789012345678901234567890,-0.0e-5],\"model\":\"m\"}");
    ok_valid(r);
    assert_text(r, 0, BOS HDR("user") "x" EOT GEN);
    req_free(r);
    r = ok(C, "{\"messages\":\"not for completions\",\"prompt\":\"p\","
              "\"max_completion_tokens\":\"x\",\"add_generation_prompt\":7}");
    assert_int_equal(r->max_tokens, 16);
    req_free(r);
}

static void test_invalid_json(void **state)
{
    struct kv_request *r = req_new();
    (void)state;
    assert_int_equal(P2(r, C, "{\"prompt\":\"a\",}"), KV_EBADJSON);
    assert_string_equal(kv_request_error(r), "JSON decode error: Expecting property name "
                                             "enclosed in double quotes (byte 14)");
    assert_int_equal(P2(r, C, "{\"prompt\":\"abc"), KV_EBADJSON);
    assert_string_equal(kv_request_error(r), "JSON decode error: Unterminated string (byte 10)");
    assert_int_equal(P2(r, C, "{\"prompt\":\"a\" \"x"), KV_EBADJSON); /* yajl let this pass */
    assert_string_equal(kv_request_error(r), "JSON decode error: Expecting ',' delimiter "
                                             "(byte 14)");
    assert_int_equal(P2(r, C, "{\"prompt\":\"a\"} x"), KV_EBADJSON);
    assert_int_equal(P2(r, C, "{\"prompt\":\"\xff\"}"), KV_EBADJSON);
    assert_int_equal(P2(r, C, "{/* c */\"prompt\":\"a\"}"), KV_EBADJSON);
    assert_int_equal(P2(r, C, "{'prompt':'a'}"), KV_EBADJSON);
    assert_int_equal(P2(r, C, ""), KV_EBADREQ);
    assert_string_equal(kv_request_error(r), "Field required");
    assert_int_equal(P2(r, C, "  \n"), KV_EBADJSON); /* non-empty: json.loads fails */
    assert_int_equal(P2(r, C, "[]"), KV_EBADREQ);
    assert_string_equal(kv_request_error(r), "Input should be a valid dictionary or object to "
                                             "extract fields from");
    assert_int_equal(P2(r, CHAT, "\"x\""), KV_EBADREQ);
    req_free(r);
}

static void test_depth_limit(void **state)
{
    struct kv_buf b;
    struct kv_request *r = req_new();
    (void)state;
    kv_buf_init(&b, 1 << 20);
    kv_buf_appends(&b, "{\"prompt\":\"a\",\"x\":");
    for (int i = 0; i < KV_REQUEST_MAX_DEPTH - 3; i++)
        kv_buf_appendc(&b, '[');
    for (int i = 0; i < KV_REQUEST_MAX_DEPTH - 3; i++)
        kv_buf_appendc(&b, ']');
    kv_buf_appendc(&b, '}');
    assert_int_equal(parse2(r, C, b.data, b.len), 0);
    kv_buf_reset(&b);
    kv_buf_appends(&b, "{\"prompt\":\"a\",\"x\":");
    for (int i = 0; i < KV_REQUEST_MAX_DEPTH + 10; i++)
        kv_buf_appendc(&b, '{'), kv_buf_appends(&b, "\"k\":");
    kv_buf_appends(&b, "1");
    for (int i = 0; i < KV_REQUEST_MAX_DEPTH + 10; i++)
        kv_buf_appendc(&b, '}');
    kv_buf_appendc(&b, '}');
    assert_int_equal(parse2(r, C, b.data, b.len), KV_EBADJSON);
    assert_string_equal(kv_request_error(r), "JSON decode error: nested deeper than 512 levels");
    kv_buf_cleanup(&b);
    req_free(r);
}

/* Feeding after an error keeps returning it; finish without begin is refused. */
static void test_feed_protocol(void **state)
{
    struct kv_request r;
    (void)state;
    kv_request_init(&r, NULL);
    assert_int_equal(kv_request_feed(&r, "{}", 2), -EINVAL);
    kv_request_begin(&r, C);
    /* a number at the end of a piece is only complete when the next byte arrives */
    assert_int_equal(kv_request_feed(&r, "{\"prompt\":5", 11), 0);
    assert_int_equal(kv_request_feed(&r, "}", 1), KV_EBADREQ);
    assert_int_equal(kv_request_feed(&r, "}", 1), KV_EBADREQ);
    assert_int_equal(kv_request_finish(&r), KV_EBADREQ);
    assert_int_equal(kv_request_validate(&r), KV_EBADREQ);
    kv_request_begin(&r, C);
    assert_string_equal(kv_request_error(&r), "");
    assert_int_equal(kv_request_feed(&r, "{\"prompt\":\"a", 12), 0);
    assert_int_equal(kv_request_feed(&r, "b\"}", 3), 0);
    assert_int_equal(kv_request_finish(&r), 0);
    assert_int_equal(kv_request_finish(&r), -EINVAL);
    assert_int_equal(kv_request_feed(&r, " ", 1), -EINVAL);
    assert_text(&r, 0, "ab");
    kv_request_cleanup(&r);
}

/* ---------------------------------------------------------------- reuse, caps */

static void test_reuse(void **state)
{
    struct kv_request r;
    size_t cap = 0, text_cap = 0;
    char body[256];
    (void)state;
    kv_request_init(&r, NULL);
    for (int i = 0; i < 300; i++) {
        if (i % 3 == 0) {
            snprintf(body, sizeof(body), "{\"prompt\":[%d,%d],\"model\":\"m%d\"}", i, i + 1, i);
            assert_int_equal(kv_request_parse(&r, C, body, strlen(body)), 0);
            assert_int_equal(r.n_tokens, 2);
            assert_int_equal(r.tokens[1], i + 1);
            assert_int_equal(r.text.len, 0);
        } else if (i % 3 == 1) {
            snprintf(body, sizeof(body),
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"q%d\"}],"
                     "\"stream\":true}",
                     i);
            assert_int_equal(kv_request_parse(&r, CHAT, body, strlen(body)), 0);
            assert_int_equal(r.n_messages, 1);
            assert_true(r.stream);
            assert_int_equal(r.n_tokens, 0);
        } else {
            snprintf(body, sizeof(body), "{\"prompt\":\"p%d\",\"stop\":[\"s\"],\"seed\":", i);
            assert_int_equal(kv_request_parse(&r, C, body, strlen(body)), KV_EBADJSON);
            continue;
        }
        assert_int_equal(kv_request_validate(&r), 0);
        assert_false(r.n_tokens && r.stream); /* results never leak across requests */
        assert_int_equal(r.n_stops, 0);
        if (i == 30) {
            cap = r.p.scan.str.cap;
            text_cap = r.text.cap;
        }
        if (i > 30) { /* steady state: nothing grows */
            assert_int_equal(r.p.scan.str.cap, cap);
            assert_int_equal(r.text.cap, text_cap);
        }
    }
    kv_request_cleanup(&r);
}

/* A long string split across pieces is carried and decoded once; the second time the carry and
 * decode buffers already fit (no allocation in steady state). */
static void test_split_string(void **state)
{
    struct kv_request r;
    struct kv_buf b;
    size_t pend_cap = 0, str_cap = 0;
    (void)state;
    kv_request_init(&r, NULL);
    kv_buf_init(&b, 1 << 22);
    kv_buf_appends(&b, "{\"prompt\":\"");
    for (int i = 0; i < 100000; i++)
        kv_buf_appends(&b, "ab\\n");
    kv_buf_appends(&b, "\"}");
    for (int k = 0; k < 2; k++) {
        kv_request_begin(&r, C);
        assert_int_equal(kv_request_feed(&r, b.data, b.len / 2), 0);
        assert_int_equal(kv_request_feed(&r, b.data + b.len / 2, b.len - b.len / 2), 0);
        assert_int_equal(kv_request_finish(&r), 0);
        assert_int_equal(r.text.len, 300000);
        assert_memory_equal(r.text.data, "ab\nab\n", 6);
        if (k == 1) {
            assert_int_equal(r.p.scan.pend.cap, pend_cap);
            assert_int_equal(r.p.scan.str.cap, str_cap);
        }
        pend_cap = r.p.scan.pend.cap;
        str_cap = r.p.scan.str.cap;
        assert_true(pend_cap >= 400000 && str_cap >= 300000);
    }
    kv_buf_cleanup(&b);
    kv_request_cleanup(&r);
}

static void test_caps(void **state)
{
    const struct kv_request_limits lim = {
        .max_text = 10,
        .max_token_ids = 3,
        .max_prompts = 2,
        .max_strings = 8,
        .max_stops = 2,
    };
    struct kv_request r;
    (void)state;
    kv_request_init(&r, &lim);
    assert_int_equal(PARSE(&r, C, "{\"prompt\":\"0123456789\"}"), 0);
    assert_int_equal(PARSE(&r, C, "{\"prompt\":\"0123456789a\"}"), KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r), "prompt: longer than 10 bytes");
    assert_int_equal(PARSE(&r, C, "{\"prompt\":[1,2,3]}"), 0);
    assert_int_equal(PARSE(&r, C, "{\"prompt\":[[1,2],[3,4]]}"), KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r), "prompt: more than 3 token ids");
    assert_int_equal(PARSE(&r, C, "{\"prompt\":[\"a\",\"b\",\"c\"]}"), KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r), "prompt: more than 2 prompts");
    assert_int_equal(PARSE(&r, C, "{\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\"]}"), KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r), "stop: more than 2 stop strings");
    assert_int_equal(PARSE(&r, C, "{\"prompt\":\"a\",\"model\":\"123456789\"}"), KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r), "model: strings in the request exceed 8 bytes");
    assert_int_equal(PARSE(&r, CHAT, "{\"messages\":[{\"role\":\"u\",\"content\":\"x\"}]}"),
                     KV_ETOOBIG);
    assert_string_equal(kv_request_error(&r),
                        "messages: the rendered chat is longer than 10 bytes");
    kv_request_cleanup(&r);
}

/* A long conversation, fed in odd-sized pieces, renders like the reference template. */
static void test_large_chat(void **state)
{
    struct kv_buf body, want;
    struct kv_request r;
    size_t off = 0, step = 1;
    (void)state;
    kv_buf_init(&body, 1 << 22);
    kv_buf_init(&want, 1 << 22);
    kv_request_init(&r, NULL);
    kv_buf_appends(&body, "{\"model\":\"m\",\"messages\":[");
    kv_buf_appends(&want, BOS);
    for (int i = 0; i < 200; i++) {
        const char *role = i % 2 ? "assistant" : "user";
        kv_buf_printf(&body, "%s{\"role\":\"%s\",\"content\":\"", i ? "," : "", role);
        kv_buf_printf(&want, HDR("%s"), role);
        for (int k = 0; k < 20; k++) {
            kv_buf_printf(&body, "turn %d line %d \\u00e9\\t\\\"q\\\"\\n", i, k);
            kv_buf_printf(&want, "turn %d line %d \xc3\xa9\t\"q\"%s", i, k, k < 19 ? "\n" : "");
        }
        kv_buf_appends(&body, "\"}");
        kv_buf_appends(&want, EOT);
    }
    kv_buf_appends(&body, "],\"stream\":true}");
    kv_buf_appends(&want, GEN);
    kv_request_begin(&r, CHAT);
    while (off < body.len) {
        size_t n = KV_MIN(step, body.len - off);
        assert_int_equal(kv_request_feed(&r, body.data + off, n), 0);
        off += n;
        step = step * 7 % 1021 + 1;
    }
    assert_int_equal(kv_request_finish(&r), 0);
    assert_int_equal(r.n_messages, 200);
    assert_text(&r, 0, want.data);
    kv_request_cleanup(&r);
    kv_buf_cleanup(&body);
    kv_buf_cleanup(&want);
}

/* ---------------------------------------------------------------- fuzz corpus replay */

static void replay_file(const char *dir, const char *name)
{
    char path[1024];
    struct kv_request *r = req_new();
    enum kv_request_kind kind = strncmp(name, "chat-", 5) == 0 ? CHAT : C;
    const char *expect = strchr(name, '-') + 1;
    char *data;
    long n;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "rb"));
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)n + 1);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    rc = parse2(r, kind, data, (size_t)n);
    if (strncmp(expect, "ok-", 3) == 0 || strncmp(expect, "invalid-", 8) == 0) {
        if (rc != 0)
            fail_msg("%s: %s", name, kv_request_error(r));
        assert_int_equal(kv_request_validate(r), strncmp(expect, "ok-", 3) == 0 ? 0 : KV_EBADREQ);
    } else {
        assert_true(strncmp(expect, "bad-", 4) == 0);
        if (rc >= 0)
            fail_msg("%s: expected a parse error", name);
    }
    /* the other kind must not crash either */
    parse2(r, kind == CHAT ? C : CHAT, data, (size_t)n);
    free(data);
    req_free(r);
}

static void test_corpus_replay(void **state)
{
    char dir[1024];
    struct dirent *e;
    DIR *d;
    int files = 0;
    char *slash;
    (void)state;
    /* __FILE__ is .../tests/unit/test_openai_request.c */
    snprintf(dir, sizeof(dir), "%s", __FILE__);
    for (int i = 0; i < 2 && (slash = strrchr(dir, '/')); i++)
        *slash = '\0';
    strncat(dir, "/fuzz/corpus/openai", sizeof(dir) - strlen(dir) - 1);
    assert_non_null(d = opendir(dir));
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            replay_file(dir, e->d_name);
            files++;
        }
    closedir(d);
    assert_true(files >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_string),
        cmocka_unit_test(test_prompt_strings),
        cmocka_unit_test(test_prompt_tokens),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_chat_string_content),
        cmocka_unit_test(test_chat_parts),
        cmocka_unit_test(test_chat_order_and_duplicates),
        cmocka_unit_test(test_chat_generation_flags),
        cmocka_unit_test(test_chat_errors),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_feed_protocol),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_split_string),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_large_chat),
        cmocka_unit_test(test_corpus_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
