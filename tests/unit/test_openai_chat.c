/* SPDX-License-Identifier: MIT */
/* tests/unit/test_openai_chat.c - Llama 3 template rendering, Python strip, turn extension. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "openai/chat.h"

#define MSG(role, content)                                                                         \
    {                                                                                              \
        role, sizeof(role) - 1, content, sizeof(content) - 1                                       \
    }

static void test_render_exact(void **state)
{
    const struct kv_chat_message m[] = {
        MSG("system", "You are helpful."),
        MSG("user", "  Hi there!\n"),
    };
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 1 << 16);
    assert_int_equal(kv_chat_render(&b, m, 2, true), 0);
    assert_string_equal(b.data,
                        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                        "You are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                        "Hi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    kv_buf_reset(&b);
    assert_int_equal(kv_chat_render(&b, m + 1, 1, false), 0);
    assert_string_equal(b.data, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
                                "Hi there!<|eot_id|>");
    /* no messages: no BOS either (the template ties it to the first message) */
    kv_buf_reset(&b);
    assert_int_equal(kv_chat_render(&b, NULL, 0, true), 0);
    assert_string_equal(b.data, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    assert_int_equal(kv_chat_header_len(4), strlen("<|start_header_id|>user<|end_header_id|>\n\n"));
    kv_buf_cleanup(&b);
}

static void test_python_strip(void **state)
{
    const char *ws = " \t\n\v\f\r\x1c\x1d\x1e\x1f\xc2\x85\xc2\xa0\xe1\x9a\x80\xe2\x80\x80"
                     "\xe2\x80\x8a\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\x9f\xe3\x80\x80";
    size_t n = strlen(ws);
    const char *content = "\xe3\x80\x80 x \xc2\xa0y\xe2\x80\xa8 ";
    const struct kv_chat_message m = {"user", 4, content, strlen(content)};
    struct kv_buf b;
    (void)state;

    assert_int_equal(kv_chat_space_prefix(ws, n), n);
    assert_int_equal(kv_chat_space_suffix(ws, n), n);
    /* not whitespace for Python: ZWSP U+200B, U+180E, NUL, 'a', é */
    assert_int_equal(kv_chat_space_prefix("\xe2\x80\x8b ", 4), 0);
    assert_int_equal(kv_chat_space_suffix(" \xe2\x80\x8b", 4), 0);
    assert_int_equal(kv_chat_space_suffix(" \xe1\xa0\x8e", 4), 0);
    assert_int_equal(kv_chat_space_prefix("\0 ", 2), 0);
    assert_int_equal(kv_chat_space_suffix("a\xc3\xa9 \n", 5), 2);
    assert_int_equal(kv_chat_space_prefix("", 0), 0);
    assert_int_equal(kv_chat_space_suffix("", 0), 0);
    kv_buf_init(&b, 1024);
    assert_int_equal(kv_chat_append_message(&b, false, &m), 0);
    assert_string_equal(b.data, "<|start_header_id|>user<|end_header_id|>\n\nx \xc2\xa0y"
                                "<|eot_id|>");
    kv_buf_cleanup(&b);
}

/* Turn n+1's rendering = turn n's + the answer + <|eot_id|> + the new message's rendering. */
static void test_turn_extension(void **state)
{
    struct kv_chat_message conv[6] = {
        MSG("system", "Be brief."), MSG("user", "What is 2+2?"), MSG("assistant", " 4 \n"),
        MSG("user", "And 3+3?"),    MSG("assistant", "6"),       MSG("user", "Thanks"),
    };
    struct kv_buf prev, next;
    (void)state;
    kv_buf_init(&prev, 1 << 16);
    kv_buf_init(&next, 1 << 16);
    /* a user turn with the generation prompt is a prefix of every later turn */
    for (size_t k = 2; k <= 4; k += 2) {
        kv_buf_reset(&prev);
        kv_buf_reset(&next);
        assert_int_equal(kv_chat_render(&prev, conv, k, true), 0);
        assert_int_equal(kv_chat_render(&next, conv, k + 2, true), 0);
        assert_true(next.len > prev.len);
        assert_memory_equal(next.data, prev.data, prev.len);
    }
    /* without it, any rendering is a prefix of the next */
    for (size_t k = 0; k < 6; k++) {
        kv_buf_reset(&prev);
        kv_buf_reset(&next);
        assert_int_equal(kv_chat_render(&prev, conv, k, false), 0);
        assert_int_equal(kv_chat_render(&next, conv, k + 1, false), 0);
        assert_memory_equal(next.data, prev.len ? prev.data : "", prev.len);
    }
    kv_buf_reset(&prev);
    assert_int_equal(kv_chat_render(&prev, conv, 2, true), 0);
    assert_int_equal(kv_buf_appends(&prev, "4<|eot_id|><|start_header_id|>user<|end_header_id|>"
                                           "\n\nAnd 3+3?<|eot_id|>"),
                     0);
    assert_int_equal(kv_chat_append_generation_prompt(&prev), 0);
    kv_buf_reset(&next);
    assert_int_equal(kv_chat_render(&next, conv, 4, true), 0);
    assert_string_equal(prev.data, next.data);
    kv_buf_cleanup(&prev);
    kv_buf_cleanup(&next);
}

static void test_toobig(void **state)
{
    const struct kv_chat_message m = MSG("user", "hello");
    struct kv_buf b;
    (void)state;
    kv_buf_init(&b, 40);
    assert_int_equal(kv_chat_render(&b, &m, 1, true), KV_ETOOBIG);
    kv_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_python_strip),
        cmocka_unit_test(test_turn_extension),
        cmocka_unit_test(test_toobig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
