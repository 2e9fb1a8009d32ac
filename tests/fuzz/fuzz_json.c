/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_json.c - libFuzzer driver for the JSON event parser (openai/jsonscan.h),
 * differential against yajl.
 *
 * Each input is parsed whole and in pieces whose sizes come from the input (the events and the
 * verdict must be identical), then compared with yajl: same verdict, and the same events when
 * valid. Where the two are known to differ on purpose the comparison is skipped: yajl accepts
 * trailing bytes that lex as an unfinished token after the top value ("Extra data" here), is lax
 * about UTF-8 (overlongs, encoded surrogates), and pairs a high surrogate escape with any \u
 * escape that follows (U+FFFD here), and takes \f and \v for whitespace (RFC 8259 and Python
 * do not).
 *
 * Build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DKV_FUZZ=ON && cmake --build
 * build-fuzz --target fuzz_json; then ./build-fuzz/tests/fuzz_json -max_total_time=60
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "../unit/json_events.h"
#include "base/buf.h"
#include "openai/jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int scan(const uint8_t *d, size_t n, size_t step, struct jlog *out, char *err, size_t el)
{
    struct kv_jsonscan s;
    int rc = KV_JSONSCAN_OK;

    kv_jsonscan_init(&s, &jlog_scan_cb, out, 64, 1 << 20);
    kv_jsonscan_reset(&s);
    for (size_t at = 0; at < n && rc == KV_JSONSCAN_OK; at += step)
        rc = kv_jsonscan_feed(&s, d + at, n - at < step ? n - at : step);
    if (rc == KV_JSONSCAN_OK)
        rc = kv_jsonscan_finish(&s);
    strncpy(err, kv_jsonscan_error(&s), el - 1);
    err[el - 1] = '\0';
    kv_jsonscan_cleanup(&s);
    return rc;
}

static bool has_surrogate_escape(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (d[i] == '\\' && d[i + 1] == 'u' && (d[i + 2] == 'd' || d[i + 2] == 'D'))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jlog whole, split, ref;
    char e1[KV_JSONSCAN_ERR_MAX], e2[KV_JSONSCAN_ERR_MAX];
    size_t step = size ? 1 + data[0] % 13 : 1;
    int rc1, rc2, yok;

    jlog_init(&whole);
    jlog_init(&split);
    jlog_init(&ref);
    rc1 = scan(data, size, size ? size : 1, &whole, e1, sizeof(e1));
    rc2 = scan(data, size, step, &split, e2, sizeof(e2));
    CHECK(rc1 == rc2 && strcmp(e1, e2) == 0);
    CHECK(rc1 != KV_JSONSCAN_OK ||
          (whole.b.len == split.b.len && memcmp(whole.b.data, split.b.data, whole.b.len) == 0));

    yajl_handle y = yajl_alloc(&jlog_yajl_cb, NULL, &ref);
    yok = yajl_parse(y, data, size) == yajl_status_ok && yajl_complete_parse(y) == yajl_status_ok;
    yajl_free(y);
    const char *at = strstr(e1, "(byte ");
    size_t off = at ? strtoul(at + 6, NULL, 10) : size;
    bool quirk = (yok && rc1 == KV_JSONSCAN_ERROR &&
                  (strncmp(e1, "Extra data", 10) == 0 || strncmp(e1, "Invalid UTF-8", 13) == 0 ||
                   strncmp(e1, "nested deeper", 13) == 0 ||
                   (off < size && (data[off] == '\f' || data[off] == '\v'))));
    if (!quirk) {
        CHECK(yok == (rc1 == KV_JSONSCAN_OK));
        if (yok && !has_surrogate_escape(data, size))
            CHECK(whole.b.len == ref.b.len && memcmp(whole.b.data, ref.b.data, ref.b.len) == 0);
    }
    kv_buf_cleanup(&whole.b);
    kv_buf_cleanup(&split.b);
    kv_buf_cleanup(&ref.b);
    return 0;
}
