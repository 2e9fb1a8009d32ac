/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_runner.c - the runner's event-stream scanning (TTFT and usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/runner.h"

static const char stream[] =
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}"
    "\r\n\r\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":2012,"
    "\"total_tokens\":2014,\"completion_tokens\":2,\"prompt_tokens_details\":"
    "{\"cached_tokens\":2000}}}\n\n"
    "data: [DONE]\n\n";

static void test_whole(void **state)
{
    struct kv_runner_sse s;
    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(kv_runner_sse_feed(&s, stream, strlen(stream)), 2);
    assert_int_equal(s.text_events, 2);
    assert_int_equal(s.completion_tokens, 2);
    assert_int_equal(s.prompt_tokens, 2012);
    assert_int_equal(s.cached_tokens, 2000);
    assert_true(s.done);
}

static void test_byte_by_byte(void **state)
{
    struct kv_runner_sse s;
    unsigned texts = 0;
    (void)state;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < strlen(stream); i++)
        texts += kv_runner_sse_feed(&s, stream + i, 1);
    assert_int_equal(texts, 2);
    assert_int_equal(s.cached_tokens, 2000);
    assert_true(s.done);
}

static void test_completions_text(void **state)
{
    const char *c = "data: {\"choices\":[{\"text\":\"\",\"index\":0}]}\n\n"
                    "data: {\"choices\":[{\"text\":\" the\",\"index\":0}]}\n\n";
    struct kv_runner_sse s;
    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(kv_runner_sse_feed(&s, c, strlen(c)), 1);
    assert_false(s.done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_completions_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
