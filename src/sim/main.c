/* SPDX-License-Identifier: MIT */
/* src/sim/main.c - kvsim: a vLLM v0.10.0-compatible OpenAI server simulator (flags, start, exit).
 *
 * Flags carry vLLM's names and defaults (`vllm serve` on one H100: block size 16, 1024 seqs,
 * 8192 batched tokens, prefix caching and chunked prefill on, builtin hashing) plus kvsim's own
 * time scale and step-time coefficients. Like vLLM, it logs "non-default args: {...}" as a
 * Python dict of the flags given with a value different from the default. SIGTERM/SIGINT:
 * graceful (stop accepting, finish in-flight requests, exit 0); SIGPIPE is ignored.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "sim/api.h"
#include "sim/kvhash.h"
#include "sim/profile.h"

enum opt_type { T_STR, T_INT, T_DBL, T_BOOL, T_MULTI };

struct opt {
    const char *name; /* flag without "--"; a T_BOOL also accepts "--no-<name>" */
    enum opt_type type;
    const char *def;  /* default as text (NULL: None) */
    const char *help;
};

/* Indices into the table below. */
enum {
    O_HOST, O_PORT, O_MODEL, O_SERVED, O_BLOCK, O_NBLOCKS, O_UTIL, O_PREFIX, O_CHUNKED, O_ALGO,
    O_SEQS, O_BATCHED, O_MAXLEN, O_SEED, O_DETAILS, O_SCALE, O_BASE, O_PREFILL, O_DECODE, O_CTX,
    O_LOG, O_COUNT
};

static const struct opt opts[O_COUNT] = {
    {"host", T_STR, NULL, "Host name (default: all interfaces)."},
    {"port", T_INT, "8000", "Port number."},
    {"model", T_STR, "meta-llama/Llama-3.2-1B-Instruct", "Model name (picks the KV profile)."},
    {"served-model-name", T_MULTI, NULL, "Model name(s) served in the API (default: --model)."},
    {"block-size", T_INT, "16", "Tokens per KV cache block."},
    {"num-gpu-blocks-override", T_INT, NULL, "KV cache blocks, overriding the profile."},
    {"gpu-memory-utilization", T_DBL, "0.9", "Fraction of the 80 GB GPU for the model."},
    {"enable-prefix-caching", T_BOOL, "True", "Prefix caching (--no-enable-prefix-caching)."},
    {"enable-chunked-prefill", T_BOOL, "True", "Chunked prefill (--no-enable-chunked-prefill)."},
    {"prefix-caching-hash-algo", T_STR, "builtin", "builtin, sha256 or sha256_cbor_64bit."},
    {"max-num-seqs", T_INT, "1024", "Maximum running requests."},
    {"max-num-batched-tokens", T_INT, NULL, "Tokens per step (default 8192; with chunked "
                                            "prefill off, max(8192, max-model-len))."},
    {"max-model-len", T_INT, NULL, "Context length (default: the model's)."},
    {"seed", T_INT, "0", "Default seed of the generated text."},
    {"enable-prompt-tokens-details", T_BOOL, "False", "usage.prompt_tokens_details.cached_tokens."},
    {"time-scale", T_DBL, "1.0", "Model seconds per wall second (e.g. 100 runs 100x faster)."},
    {"step-base-ms", T_DBL, "3.0", "Step time: fixed model ms per step."},
    {"prefill-ms-per-token", T_DBL, "0.01", "Step time: model ms per prefill token."},
    {"decode-ms-per-seq", T_DBL, "0.02", "Step time: model ms per decoding sequence."},
    {"ctx-ms-per-ktoken", T_DBL, "0.01", "Step time: model ms per 1000 context tokens."},
    {"log-level", T_STR, "info", "debug, info, warning, error."},
};

struct args {
    const char *val[O_COUNT];
    bool given[O_COUNT];
    const char *served[64];
    size_t n_served;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kvsim [options]\n\nA vLLM v0.10.0-compatible OpenAI server simulator.\n\n");
    for (int i = 0; i < O_COUNT; i++)
        fprintf(f, "  --%-30s %s%s%s%s\n", opts[i].name, opts[i].help,
                opts[i].def ? " [" : "", opts[i].def ? opts[i].def : "", opts[i].def ? "]" : "");
    fprintf(f, "  --%-30s %s\n", "help", "Show this help.");
}

static int find_opt(const char *name, size_t len, bool *negated)
{
    *negated = false;
    if (len > 3 && strncmp(name, "no-", 3) == 0) {
        for (int i = 0; i < O_COUNT; i++)
            if (opts[i].type == T_BOOL && strlen(opts[i].name) == len - 3 &&
                strncmp(opts[i].name, name + 3, len - 3) == 0) {
                *negated = true;
                return i;
            }
    }
    for (int i = 0; i < O_COUNT; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Returns 0, 1 for --help, or -1 after printing the error. */
static int parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq;
        bool neg;
        int o;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "kvsim: unexpected argument '%s'\n", arg);
            return -1;
        }
        arg += 2;
        eq = strchr(arg, '=');
        o = find_opt(arg, eq ? (size_t)(eq - arg) : strlen(arg), &neg);
        if (o < 0) {
            fprintf(stderr, "kvsim: unrecognized arguments: %s\n", argv[i]);
            return -1;
        }
        a->given[o] = true;
        if (opts[o].type == T_BOOL) {
            a->val[o] = neg ? "False" : "True";
            continue;
        }
        if (opts[o].type == T_MULTI) {
            if (eq)
                a->served[a->n_served++] = eq + 1;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 && a->n_served < 64)
                a->served[a->n_served++] = argv[++i];
            if (a->n_served == 0) {
                fprintf(stderr, "kvsim: --%s needs at least one value\n", opts[o].name);
                return -1;
            }
            continue;
        }
        if (!eq && i + 1 >= argc) {
            fprintf(stderr, "kvsim: --%s needs a value\n", opts[o].name);
            return -1;
        }
        a->val[o] = eq ? eq + 1 : argv[++i];
    }
    for (int i = 0; i < O_COUNT; i++)
        if (!a->given[i])
            a->val[i] = opts[i].def;
    return 0;
}

static int get_long(const struct args *a, int o, long long lo, long long hi, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(a->val[o], &end, 10);
    if (errno || *end || end == a->val[o] || *out < lo || *out > hi) {
        fprintf(stderr, "kvsim: --%s: invalid value '%s'\n", opts[o].name, a->val[o]);
        return -1;
    }
    return 0;
}

static int get_double(const struct args *a, int o, double lo, double hi, double *out)
{
    char *end;

    *out = strtod(a->val[o], &end);
    if (*end || end == a->val[o] || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "kvsim: --%s: invalid value '%s'\n", opts[o].name, a->val[o]);
        return -1;
    }
    return 0;
}

/* Python repr of a flag's value, as vLLM logs its args dict. */
static void repr_value(struct kv_buf *b, const struct args *a, int o)
{
    if (opts[o].type == T_MULTI) {
        kv_buf_appendc(b, '[');
        for (size_t i = 0; i < a->n_served; i++)
            kv_buf_printf(b, "%s'%s'", i ? ", " : "", a->served[i]);
        kv_buf_appendc(b, ']');
    } else if (opts[o].type == T_STR) {
        kv_buf_printf(b, "'%s'", a->val[o]);
    } else if (opts[o].type == T_DBL && !strpbrk(a->val[o], ".eE")) {
        kv_buf_printf(b, "%s.0", a->val[o]);
    } else {
        kv_buf_appends(b, a->val[o]);
    }
}

/* vLLM compares values, not spellings: "--time-scale 1" is the default 1.0. */
static bool is_default(const struct args *a, int o)
{
    if (opts[o].def == NULL || a->val[o] == NULL)
        return false;
    if (opts[o].type == T_INT || opts[o].type == T_DBL)
        return strtod(a->val[o], NULL) == strtod(opts[o].def, NULL);
    return strcmp(a->val[o], opts[o].def) == 0;
}

static void log_non_default(const struct args *a)
{
    struct kv_buf b;
    bool first = true;

    kv_buf_init(&b, 1 << 16);
    kv_buf_appendc(&b, '{');
    for (int o = 0; o < O_COUNT; o++) {
        if (!a->given[o] || is_default(a, o))
            continue;
        kv_buf_printf(&b, "%s'", first ? "" : ", ");
        for (const char *p = opts[o].name; *p; p++)
            kv_buf_appendc(&b, *p == '-' ? '_' : *p);
        kv_buf_appends(&b, "': ");
        repr_value(&b, a, o);
        first = false;
    }
    kv_buf_appendc(&b, '}');
    kv_info("non-default args: %s", b.data);
    kv_buf_cleanup(&b);
}

struct sim {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct kv_api *api;
    struct kv_kvhash hash;
    char cache_labels[1024];
    int exit_code;
};

static void on_api_done(void *data)
{
    struct sim *s = data;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sim *s = h->data;
    kv_info("received signal %d, shutting down gracefully", signum);
    kv_api_shutdown(s->api, on_api_done, s);
}

/* Fills the engine part of <c>; returns 0 or -1 after printing the error. */
static int engine_config(const struct args *a, struct sim *s, struct kv_engine_config *e)
{
    const struct kv_profile *prof = kv_profile_find(a->val[O_MODEL]);
    long long bs, nb = 0, seqs, batched = 8192, maxlen = prof->max_model_len;
    double util;
    enum kv_kvhash_algo algo;

    kv_engine_config_default(e);
    if (get_long(a, O_BLOCK, 1, 1024, &bs) || get_long(a, O_SEQS, 1, 1 << 20, &seqs) ||
        get_double(a, O_UTIL, 0.01, 1.0, &util) ||
        (a->val[O_MAXLEN] && get_long(a, O_MAXLEN, 1, 1 << 24, &maxlen)) ||
        (a->val[O_NBLOCKS] && get_long(a, O_NBLOCKS, 2, 1 << 30, &nb)))
        return -1;
    if (kv_kvhash_parse_algo(a->val[O_ALGO], &algo) < 0) {
        fprintf(stderr, "kvsim: --prefix-caching-hash-algo: invalid choice '%s'\n", a->val[O_ALGO]);
        return -1;
    }
    e->enable_prefix_caching = strcmp(a->val[O_PREFIX], "True") == 0;
    e->enable_chunked_prefill = strcmp(a->val[O_CHUNKED], "True") == 0;
    if (!e->enable_chunked_prefill && maxlen > batched)
        batched = maxlen;
    if (a->val[O_BATCHED] && get_long(a, O_BATCHED, 1, 1 << 24, &batched))
        return -1;
    if (!e->enable_chunked_prefill && batched < maxlen) {
        fprintf(stderr, "kvsim: max_num_batched_tokens (%lld) is smaller than max_model_len "
                        "(%lld). Please increase max_num_batched_tokens or decrease "
                        "max_model_len.\n", batched, maxlen);
        return -1;
    }
    if (nb == 0)
        nb = (long long)kv_profile_num_blocks(prof, KV_PROFILE_GPU_BYTES, util, (uint32_t)bs);
    if (nb < 2) {
        fprintf(stderr, "kvsim: no memory left for the KV cache at this utilization\n");
        return -1;
    }
    if (kv_kvhash_init(&s->hash, algo, getenv("PYTHONHASHSEED")) < 0)
        return -1;
    if (algo == KV_KVHASH_SHA256_CBOR_64BIT && getenv("PYTHONHASHSEED") == NULL)
        kv_warn("PYTHONHASHSEED is not set. This will lead to non-reproducible block-hashes "
                "when using sha256_cbor_64bit as the hash function.Consider setting "
                "PYTHONHASHSEED to a fixed value for reproducibility.");
    e->num_blocks = (uint32_t)nb;
    e->block_size = (uint32_t)bs;
    e->max_num_seqs = (uint32_t)seqs;
    e->max_num_batched_tokens = (uint32_t)batched;
    e->max_model_len = (uint32_t)maxlen;
    e->hash = &s->hash;
    snprintf(s->cache_labels, sizeof(s->cache_labels),
             "block_size=\"%lld\",cache_dtype=\"auto\",calculate_kv_scales=\"False\","
             "cpu_kvcache_space_bytes=\"None\",cpu_offload_gb=\"0\","
             "enable_prefix_caching=\"%s\",engine=\"0\",gpu_memory_utilization=\"%s\","
             "is_attention_free=\"False\",mamba_page_size_padded=\"None\",num_cpu_blocks=\"None\","
             "num_gpu_blocks=\"%lld\",num_gpu_blocks_override=\"%s\","
             "prefix_caching_hash_algo=\"%s\",sliding_window=\"None\",swap_space=\"4\","
             "swap_space_bytes=\"4294967296\"",
             bs, a->val[O_PREFIX], a->val[O_UTIL], nb,
             a->val[O_NBLOCKS] ? a->val[O_NBLOCKS] : "None", a->val[O_ALGO]);
    return 0;
}

static int timing_config(const struct args *a, struct kv_engine_config *e, double *scale)
{
    return get_double(a, O_SCALE, 1e-3, 1e9, scale) ||
                   get_double(a, O_BASE, 0, 1e6, &e->step_base_ms) ||
                   get_double(a, O_PREFILL, 0, 1e6, &e->prefill_ms_per_token) ||
                   get_double(a, O_DECODE, 0, 1e6, &e->decode_ms_per_seq) ||
                   get_double(a, O_CTX, 0, 1e6, &e->ctx_ms_per_ktoken)
               ? -1
               : 0;
}

static int start(struct sim *s, const struct args *a)
{
    struct kv_api_config c = {0};
    enum kv_log_level lvl;
    long long port, seed;
    int rc;

    if (kv_log_parse_level(a->val[O_LOG], &lvl) < 0) {
        fprintf(stderr, "kvsim: --log-level: invalid choice '%s'\n", a->val[O_LOG]);
        return -1;
    }
    kv_log_setup(lvl, "kvsim");
    if (get_long(a, O_PORT, 0, 65535, &port) || get_long(a, O_SEED, 0, INT64_MAX, &seed) ||
        engine_config(a, s, &c.engine) || timing_config(a, &c.engine, &c.time_scale))
        return -1;
    log_non_default(a);
    c.host = a->val[O_HOST] ? a->val[O_HOST] : "0.0.0.0";
    c.port = (int)port;
    c.model = a->val[O_MODEL];
    c.served = a->n_served ? a->served : &a->val[O_MODEL];
    c.n_served = a->n_served ? a->n_served : 1;
    c.enable_prompt_tokens_details = strcmp(a->val[O_DETAILS], "True") == 0;
    c.seed = (uint64_t)seed;
    c.cache_labels = s->cache_labels;
    kv_info("GPU KV cache size: %llu tokens (%u blocks of %u)",
            (unsigned long long)(c.engine.num_blocks - 1) * c.engine.block_size,
            c.engine.num_blocks, c.engine.block_size);
    if ((rc = kv_api_new(&s->loop, &c, &s->api)) < 0) {
        kv_error("cannot serve on %s:%lld: %s", c.host, port, kv_strerror(rc));
        return -1;
    }
    kv_info("Starting vLLM API server 0 on http://%s:%d", c.host, kv_api_port(s->api));
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct sim s = {0};
    int rc = parse_args(argc, argv, &a);

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&s.loop);
    if (start(&s, &a) < 0) {
        if (s.api) {
            kv_api_shutdown(s.api, NULL, NULL);
            uv_run(&s.loop, UV_RUN_DEFAULT);
            kv_api_free(s.api);
        }
        uv_loop_close(&s.loop);
        return 1;
    }
    uv_signal_init(&s.loop, &s.sigterm);
    uv_signal_init(&s.loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start_oneshot(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start_oneshot(&s.sigint, on_signal, SIGINT);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    kv_api_free(s.api);
    rc = uv_loop_close(&s.loop);
    kv_info("kvsim stopped%s", rc ? " (handles left open)" : "");
    return 0;
}
