/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_prom.c - libFuzzer driver for the Prometheus text parser (src/metrics).
 *
 * Each input is parsed whole and, split at a point drawn from its first byte, fed in two
 * pieces; both must see the same samples. The first sample's label values then go through the
 * registry's writer and back through the parser, and must come back unchanged.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc
 *        tests/fuzz/fuzz_prom.c src/metrics/[a-z]*.c src/base/[a-z]*.c -lm -o fuzz_prom
 * Run:   ./fuzz_prom tests/fuzz/corpus/prom   (tests/unit/test_metrics_promcorpus.c replays it)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "metrics/promparse.h"
#include "metrics/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
    size_t samples;
    uint64_t digest; /* over names, labels and value bits, so both parses must agree exactly */
    char first[4][64];
    size_t nfirst;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void keep_first(struct tally *t, const struct kv_promparse_sample *s)
{
    for (size_t i = 0; i < s->nlabels && i < 4; i++) {
        size_t n = s->labels[i].value_len < 63 ? s->labels[i].value_len : 63;
        if (memchr(s->labels[i].value, '\0', n))
            return;
        memcpy(t->first[i], s->labels[i].value, n);
        t->first[i][n] = '\0';
        t->nfirst = i + 1;
    }
}

static int on_sample(const struct kv_promparse_sample *s, void *ud)
{
    struct tally *t = ud;
    uint64_t h = t->digest;

    if (t->samples++ == 0)
        keep_first(t, s);
    h = mix(h, s->name, s->name_len);
    for (size_t i = 0; i < s->nlabels; i++) {
        h = mix(h, s->labels[i].name, s->labels[i].name_len);
        h = mix(h, s->labels[i].value, s->labels[i].value_len);
    }
    if (s->value == s->value) /* NaN payloads may differ; NaN-ness may not */
        h = mix(h, &s->value, sizeof(s->value));
    t->digest = mix(h, &s->ts_ms, sizeof(s->ts_ms));
    return 0;
}

/* Label values written by the registry parse back to the same bytes. */
static void round_trip(const struct tally *t)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    const char *vals[4];
    struct kv_registry *r = kv_registry_new(NULL);
    struct kv_registry_desc d = {"fz", "h", KV_REGISTRY_GAUGE, names, t->nfirst, NULL, 0};
    struct kv_metric *m;
    struct kv_metric_child *c;
    struct kv_buf b;
    char got[64];

    for (size_t i = 0; i < t->nfirst; i++)
        vals[i] = t->first[i];
    if (kv_registry_add(r, &d, &m) < 0 || kv_registry_child(m, vals, &c) < 0)
        abort();
    kv_registry_set(c, 1.5);
    kv_buf_init(&b, 1 << 16);
    if (kv_registry_render(r, &b) < 0)
        abort();
    for (size_t i = 0; i < t->nfirst; i++) {
        if (kv_promparse_label(b.data, b.len, "fz", names[i], got, sizeof(got)) < 0 ||
            strcmp(got, t->first[i]) != 0)
            abort();
    }
    kv_buf_cleanup(&b);
    kv_registry_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct tally whole = {0}, parts = {0};
    struct kv_promparse p;
    struct kv_promparse_stats st;
    size_t cut = size ? (size_t)data[0] * size / 256 : 0;

    kv_promparse_parse(text, size, on_sample, NULL, &whole, &st);
    kv_promparse_init(&p, on_sample, NULL, &parts);
    kv_promparse_feed(&p, text, cut);
    kv_promparse_feed(&p, text + cut, size - cut);
    kv_promparse_finish(&p);
    if (parts.samples != whole.samples || parts.digest != whole.digest ||
        p.stats.bad != st.bad || p.stats.lines != st.lines)
        abort();
    kv_promparse_cleanup(&p);
    if (whole.nfirst)
        round_trip(&whole);
    return 0;
}
