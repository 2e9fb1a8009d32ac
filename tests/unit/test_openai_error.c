/* SPDX-License-Identifier: MIT */
/* tests/unit/test_openai_error.c - the KV_E* -> HTTP status + vLLM error body table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "openai/error.h"

static void test_status_table(void **state)
{
    (void)state;
    assert_int_equal(kv_error_status(KV_EBADJSON), 400);
    assert_int_equal(kv_error_status(KV_EBADREQ), 400);
    assert_int_equal(kv_error_status(KV_ETOOLONG), 400);
    assert_int_equal(kv_error_status(KV_ENOMODEL), 404);
    assert_int_equal(kv_error_status(KV_ENOTFOUND), 404);
    assert_int_equal(kv_error_status(KV_EMETHOD), 405);
    assert_int_equal(kv_error_status(KV_ETOOBIG), 413);
    assert_int_equal(kv_error_status(KV_EUPSTREAM), 502);
    assert_int_equal(kv_error_status(KV_EPROTO), 502);
    assert_int_equal(kv_error_status(KV_EEOF), 502);
    assert_int_equal(kv_error_status(KV_ENOBACKEND), 503);
    assert_int_equal(kv_error_status(KV_EOVERLOAD), 503);
    assert_int_equal(kv_error_status(KV_ETIMEOUT), 504);
    assert_int_equal(kv_error_status(KV_ECONFIG), 500);
    assert_int_equal(kv_error_status(-ENOMEM), 500);
    assert_int_equal(kv_error_status(12345), 500);
    assert_string_equal(kv_error_type(400), "BadRequestError");
    assert_string_equal(kv_error_type(404), "NotFoundError");
    assert_string_equal(kv_error_type(500), "InternalServerError");
    assert_string_equal(kv_error_type(503), "ServiceUnavailableError");
    assert_string_equal(kv_error_type(418), "BadRequestError");
    assert_string_equal(kv_error_type(599), "InternalServerError");
    /* every KV_E* has its own message */
    for (int e = KV_EBASE + 1; e < KV_ELAST; e++)
        assert_true(strlen(kv_error_message(e)) > 0);
}

static void test_render(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 4096);
    assert_int_equal(kv_error_render(&b, KV_EBADREQ,
                                     "max_tokens: Input should be a valid "
                                     "integer"),
                     400);
    assert_string_equal(b.data, "{\"object\":\"error\",\"message\":\"max_tokens: Input should be "
                                "a valid integer\",\"type\":\"BadRequestError\",\"param\":null,"
                                "\"code\":400}");
    kv_buf_reset(&b);
    assert_int_equal(kv_error_render(&b, KV_ENOBACKEND, NULL), 503);
    assert_string_equal(b.data, "{\"object\":\"error\",\"message\":\"No healthy backend can serve "
                                "the request.\",\"type\":\"ServiceUnavailableError\","
                                "\"param\":null,\"code\":503}");
    kv_buf_reset(&b);
    assert_int_equal(kv_error_render_model(&b, "llama\"x", 7), 404);
    assert_string_equal(b.data, "{\"object\":\"error\",\"message\":\"The model `llama\\\"x` does "
                                "not exist.\",\"type\":\"NotFoundError\",\"param\":null,"
                                "\"code\":404}");
    kv_buf_reset(&b);
    assert_int_equal(kv_error_render_model(&b, "a\0b", 3), 404);
    assert_non_null(strstr(b.data, "\"The model `a\\u0000b` does not exist.\""));
    kv_buf_reset(&b);
    assert_int_equal(kv_error_render_status(&b, 405, NULL), 405);
    assert_string_equal(b.data, "{\"object\":\"error\",\"message\":\"Method Not Allowed\","
                                "\"type\":\"MethodNotAllowedError\",\"param\":null,\"code\":405}");
    kv_buf_cleanup(&b);
}

static void test_too_long(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 4096);
    assert_int_equal(kv_error_render_too_long(&b, 8192, 9000, -1), 400);
    assert_string_equal(b.data, "{\"object\":\"error\",\"message\":\"This model's maximum context "
                                "length is 8192 tokens. However, you requested 9000 tokens in the "
                                "messages, Please reduce the length of the messages.\",\"type\":"
                                "\"BadRequestError\",\"param\":null,\"code\":400}");
    kv_buf_reset(&b);
    assert_int_equal(kv_error_render_too_long(&b, 8192, 9000, 64), 400);
    assert_non_null(strstr(b.data, "However, you requested 9064 tokens (9000 in the messages, 64 "
                                   "in the completion). Please reduce the length of the messages "
                                   "or completion.\""));
    kv_buf_cleanup(&b);
}

static void test_render_toobig_rolls_back(void **state)
{
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 60);
    assert_int_equal(kv_buf_appends(&b, "x"), 0);
    assert_int_equal(kv_error_render(&b, KV_EBADREQ, "a long message that cannot fit here"),
                     KV_ETOOBIG);
    assert_int_equal(b.len, 1);
    assert_string_equal(b.data, "x");
    kv_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_render_toobig_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
