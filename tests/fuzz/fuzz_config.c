/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_config.c - libFuzzer driver for kvroute's YAML configuration loader.
 *
 * Every input must either load (and then validate, and dump) or fail with a message; never crash,
 * leak or read out of bounds. Build with -DKV_FUZZ=ON (clang); the corpus in
 * tests/fuzz/corpus/config/ is replayed by tests/unit/test_router_configcorpus.c in every build.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "router/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv_config cfg;
    struct kv_buf dump;
    char err[512];

    kv_config_init(&cfg);
    if (kv_config_load_string(&cfg, (const char *)data, size, err, sizeof(err)) >= 0 &&
        kv_config_validate(&cfg, err, sizeof(err)) >= 0) {
        kv_buf_init(&dump, 1 << 20);
        kv_config_dump(&cfg, &dump);
        kv_buf_cleanup(&dump);
    } else if (strnlen(err, sizeof(err)) == 0) {
        __builtin_trap(); /* a failure must say why */
    }
    kv_config_cleanup(&cfg);
    return 0;
}
