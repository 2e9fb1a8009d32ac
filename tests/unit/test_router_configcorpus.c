/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_configcorpus.c - replays tests/fuzz/corpus/config/ through the fuzz
 * driver's contract: every file loads and validates, or fails with a message naming why. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "router/config.h"

static void replay(const char *path, int *loaded, int *failed)
{
    char *text, err[512] = "";
    struct kv_config cfg;
    FILE *f = fopen(path, "rb");
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    kv_config_init(&cfg);
    if (kv_config_load_string(&cfg, text, (size_t)n, err, sizeof(err)) >= 0 &&
        kv_config_validate(&cfg, err, sizeof(err)) >= 0) {
        (*loaded)++;
    } else {
        assert_true(strlen(err) > 0);
        (*failed)++;
    }
    kv_config_cleanup(&cfg);
    free(text);
}

static void test_corpus(void **state)
{
    char dir[1024], path[2048];
    int loaded = 0, failed = 0;
    struct dirent *e;
    DIR *d;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/config", KV_SOURCE_DIR);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        replay(path, &loaded, &failed);
    }
    closedir(d);
    /* example.yaml and minimal.yaml load; the bad-* files, alias.yaml (not a mapping),
     * empty.yaml and dup-key.yaml (no backend given) must not. Inputs libFuzzer adds later
     * only add to these counts. */
    assert_true(loaded >= 2);
    assert_true(failed >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
