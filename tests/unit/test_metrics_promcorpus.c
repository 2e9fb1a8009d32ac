/* SPDX-License-Identifier: MIT */
/* tests/unit/test_metrics_promcorpus.c - replays tests/fuzz/corpus/prom through the libFuzzer
 * driver tests/fuzz/fuzz_prom.c (which aborts on any disagreement), so the corpus and the
 * driver's checks run in every ctest, fuzzer or not. The repository is found from __FILE__.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fuzz/fuzz_prom.c"

static void corpus_dir(char *out, size_t cap)
{
    const char *me = __FILE__;
    const char *at = strstr(me, "tests/unit/");
    size_t root = at ? (size_t)(at - me) : 0;
    snprintf(out, cap, "%.*stests/fuzz/corpus/prom", (int)root, me);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    /* and every split point of small inputs, which the fuzzer would draw from byte 0 */
    for (size_t cut = 0; n > 0 && n < 512 && cut < 256; cut += 7) {
        uint8_t first = buf[0];
        buf[0] = (uint8_t)cut;
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        buf[0] = first;
    }
    free(buf);
    return 0;
}

static void test_replay_corpus(void **state)
{
    char dir[1024], path[2048];
    DIR *d;
    struct dirent *e;
    int files = 0;
    (void)state;
    corpus_dir(dir, sizeof(dir));
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        assert_int_equal(replay_file(path), 0);
        files++;
    }
    closedir(d);
    assert_true(files >= 7);
}

static void test_empty_and_tiny_inputs(void **state)
{
    static const char *const tiny[] = {"", "\n", "#", "a", "a 1", "\r", "{", "a{", "a{b=\"",
                                       "a{b=\"\\", "a 1 ", "\"", "a{b=\"c\"} 1\n"};
    (void)state;
    for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++)
        LLVMFuzzerTestOneInput((const uint8_t *)tiny[i], strlen(tiny[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_corpus),
        cmocka_unit_test(test_empty_and_tiny_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
