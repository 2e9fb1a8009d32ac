/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bench_trace.c - trace readers: Mooncake lines, Claude Code sessions, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/trace.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_mooncake(void **state)
{
    char path[] = "/tmp/kvtrace_mc_XXXXXX", err[256] = "";
    struct kv_workload w;
    struct kv_trace_opts o;
    int fd = mkstemp(path);
    (void)state;
    close(fd);
    write_file(path, "{\"timestamp\": 0, \"input_length\": 1100, \"output_length\": 5, "
                     "\"hash_ids\": [0, 1, 2]}\n"
                     "\n"
                     "{\"timestamp\": 3000, \"input_length\": 600, \"output_length\": 7, "
                     "\"hash_ids\": [0, 3]}\n");
    kv_trace_opts_init(&o);
    o.speed = 2;
    kv_workload_init(&w, "mc", false, 0);
    assert_int_equal(kv_trace_load_mooncake(&w, path, &o, err, sizeof(err)), 2);
    assert_int_equal(w.n_sessions, 2);
    assert_true(w.reqs[1].arrival_s == 1.5);
    assert_int_equal(w.reqs[0].prompt_bytes, 4400);
    assert_int_equal(w.reqs[0].max_tokens, 5);
    /* 512-token blocks: two whole ones then the 76-token rest of block 2. */
    assert_int_equal(w.segs[0].bytes, 2048);
    assert_int_equal(w.segs[2].bytes, 304);
    /* Shared id 0 becomes the same block; ids 1 and 3 differ. */
    assert_true(w.segs[0].block == w.segs[3].block);
    assert_true(w.segs[1].block != w.segs[4].block);
    kv_workload_cleanup(&w);

    write_file(path, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, "
                     "\"hash_ids\": [0]}\n{\"timestamp\": 1, \"input_length\": \"x\"}\n");
    kv_workload_init(&w, "mc", false, 0);
    assert_true(kv_trace_load_mooncake(&w, path, &o, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, ":2: needs numbers timestamp, input_length, output_length"));
    kv_workload_cleanup(&w);

    write_file(path, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, "
                     "\"hash_ids\": [0]}\n{oops\n");
    kv_workload_init(&w, "mc", false, 0);
    assert_true(kv_trace_load_mooncake(&w, path, &o, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, ":2: not a JSON object"));
    kv_workload_cleanup(&w);
    unlink(path);
}

static void test_claude(void **state)
{
    char path[] = "/tmp/kvtrace_cc_XXXXXX", err[256] = "";
    struct kv_workload w;
    struct kv_trace_opts o;
    int fd = mkstemp(path);
    (void)state;
    close(fd);
    write_file(path,
               "{\"block_size\": 64, \"requests\": ["
               "{\"t\": 2.0, \"type\": \"n\", \"in\": 140, \"out\": 9, \"hash_ids\": [1, 2]},"
               "{\"t\": 30.0, \"type\": \"subagent\", \"requests\": ["
               "  {\"t\": 1.0, \"type\": \"n\", \"in\": 64, \"out\": 3, \"hash_ids\": [1]}]},"
               "{\"t\": 50.0, \"type\": \"s\", \"in\": 192, \"out\": 4, \"hash_ids\": [1, 2, 3],"
               " \"think_time\": 8.0}]}");
    kv_trace_opts_init(&o);
    kv_workload_init(&w, "cc", false, 0);
    assert_int_equal(kv_trace_load_claude(&w, path, &o, err, sizeof(err)), 3);
    assert_int_equal(w.n_sessions, 2);
    /* Parent: request 0 at t=2, request 1 eight seconds after request 0 completes. */
    assert_int_equal(w.reqs[0].session, 0);
    assert_true(w.reqs[0].arrival_s == 2.0);
    assert_int_equal(w.reqs[1].turn, 1);
    assert_true(w.reqs[1].think_s == 8.0);
    /* Sub-agent: its own session starting at 30 + 1 s, sharing the parent's block ids. */
    assert_int_equal(w.reqs[2].session, 1);
    assert_true(w.reqs[2].arrival_s == 31.0);
    /* Request 0: blocks 1, 2 and a 12-token tail unique to it. */
    assert_int_equal(w.msgs[0].seg_count, 3);
    assert_int_equal(w.segs[2].bytes, 48);
    assert_true(w.segs[0].block == w.segs[3].block);
    assert_true(w.segs[0].block == w.segs[6].block);
    kv_workload_cleanup(&w);

    write_file(path, "{\"requests\": [{\"t\": 1, \"in\": 5}]}");
    kv_workload_init(&w, "cc", false, 0);
    assert_true(kv_trace_load_claude(&w, path, &o, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, ": request 0: needs numbers t, in, out"));
    kv_workload_cleanup(&w);
    unlink(path);
}

static void test_real_traces(void **state)
{
    char err[512] = "";
    struct kv_workload w;
    struct kv_trace_opts o;
    (void)state;
    kv_trace_opts_init(&o);
    o.max_requests = 500;
    kv_workload_init(&w, "real", false, 0);
    if (access("../shared/data/traces/mooncake_conversation_trace.jsonl", R_OK) != 0 &&
        chdir(KV_SOURCE_DIR) != 0)
        skip();
    if (access("../shared/data/traces/mooncake_conversation_trace.jsonl", R_OK) != 0)
        skip();
    assert_int_equal(kv_trace_load_mooncake(
                         &w, "../shared/data/traces/mooncake_conversation_trace.jsonl", &o, err,
                         sizeof(err)),
                     500);
    kv_workload_cleanup(&w);
    kv_workload_init(&w, "real", false, 0);
    o.max_requests = 0;
    int n = kv_trace_load_claude(&w, "../shared/data/traces/weka_claude_code", &o, err,
                                 sizeof(err));
    assert_int_equal(n, 2180); /* the README's count for the 68-session sample */
    kv_workload_cleanup(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mooncake),
        cmocka_unit_test(test_claude),
        cmocka_unit_test(test_real_traces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
