/* SPDX-License-Identifier: MIT */
/* src/bench/trace.c - Mooncake and Claude Code trace readers.
 *
 * Traces are read once at start-up, so yajl's tree API is fine here (it is not a hot path); each
 * Mooncake line and each Claude Code file is parsed on its own, which bounds memory by the
 * largest file.
 */
#include "bench/trace.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yajl/yajl_tree.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/rand.h"

#define MOONCAKE_BLOCK 512
#define MAX_TRACE_FILE (64u << 20)
#define CLAUDE_ID_STRIDE 10000000ull
/* Block ids of a trace live in their own space: tag them so they never meet generated ones. */
#define TRACE_TAG (0x7ace0000ull << 32)

void kv_trace_opts_init(struct kv_trace_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->speed = 1;
    o->token_scale = 1;
}

static yajl_val find(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    return yajl_tree_get(obj, path, yajl_t_any);
}

/* Reads a non-negative number field; returns 0 or KV_EBADREQ. */
static int get_num(yajl_val obj, const char *key, double *out)
{
    yajl_val v = find(obj, key);
    if (!v || !YAJL_IS_NUMBER(v) || YAJL_GET_DOUBLE(v) < 0 || !isfinite(YAJL_GET_DOUBLE(v)))
        return KV_EBADREQ;
    *out = YAJL_GET_DOUBLE(v);
    return 0;
}

/* yajl's messages span lines; keep the first, for one-line errors. */
static const char *first_line(char *msg)
{
    msg[strcspn(msg, "\n")] = '\0';
    return msg;
}

static uint32_t scaled(double tokens, const struct kv_trace_opts *o)
{
    double t = floor(tokens * o->token_scale + 0.5);
    return t < 1 ? 1 : (uint32_t)t;
}

/* Adds one user message of <n> blocks from <ids> and a tail, for <in> tokens in blocks of
 * <block> tokens. A request longer than its blocks gets a tail segment unique to it. */
static int add_blocks(struct kv_workload *w, yajl_val ids, uint32_t block, uint64_t id_base,
                      uint64_t tail_id, double in, const struct kv_trace_opts *o)
{
    uint32_t bbytes = scaled(block, o) * KV_WORKLOAD_BYTES_PER_TOKEN;
    uint64_t want = (uint64_t)scaled(in, o) * KV_WORKLOAD_BYTES_PER_TOKEN, have = 0;
    size_t n = ids->u.array.len;

    kv_workload_add_msg(w, KV_ROLE_USER);
    for (size_t i = 0; i < n && have < want; i++) {
        yajl_val v = ids->u.array.values[i];
        uint64_t left = want - have;
        if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
            return KV_EBADREQ;
        kv_workload_add_seg(w, TRACE_TAG ^ (id_base + (uint64_t)YAJL_GET_INTEGER(v)),
                            (uint32_t)(left < bbytes ? left : bbytes));
        have += left < bbytes ? left : bbytes;
    }
    if (have < want)
        kv_workload_add_seg(w, tail_id, (uint32_t)KV_MIN(want - have, (uint64_t)UINT32_MAX));
    return 0;
}

int kv_trace_parse_mooncake_line(struct kv_workload *w, const char *line, size_t len,
                                 uint32_t session, const struct kv_trace_opts *o, char *err,
                                 size_t errlen)
{
    char *text = kv_strndup(line, len), yerr[128] = "";
    yajl_val root = yajl_tree_parse(text, yerr, sizeof(yerr));
    double ts, in, out;
    yajl_val ids;
    int rc = KV_EBADREQ;

    free(text);
    if (!root || !YAJL_IS_OBJECT(root)) {
        snprintf(err, errlen, "not a JSON object%s%s", yerr[0] ? ": " : "", first_line(yerr));
        goto out;
    }
    ids = find(root, "hash_ids");
    if (get_num(root, "timestamp", &ts) || get_num(root, "input_length", &in) ||
        get_num(root, "output_length", &out)) {
        snprintf(err, errlen, "needs numbers timestamp, input_length, output_length >= 0");
        goto out;
    }
    if (!ids || !YAJL_IS_ARRAY(ids)) {
        snprintf(err, errlen, "missing hash_ids array");
        goto out;
    }
    kv_workload_add_req(w, session, ts / 1000.0 / o->speed, 0, scaled(out, o));
    rc = add_blocks(w, ids, MOONCAKE_BLOCK, 0, TRACE_TAG ^ (0x5a5aull << 40) ^ session, in, o);
    if (rc < 0)
        snprintf(err, errlen, "hash_ids must hold non-negative integers");
out:
    yajl_tree_free(root);
    return rc;
}

int kv_trace_load_mooncake(struct kv_workload *w, const char *path, const struct kv_trace_opts *o,
                           char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, why[256];
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int added = 0, rc = 0;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len == 1 && line[0] == '\n')
            continue;
        if (o->max_requests && (uint32_t)added >= o->max_requests)
            break;
        rc = kv_trace_parse_mooncake_line(w, line, (size_t)len, (uint32_t)w->n_sessions, o, why,
                                          sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
            break;
        }
        if (o->max_time_s > 0 && w->reqs[w->n_reqs - 1].arrival_s * o->speed > o->max_time_s) {
            w->n_reqs--; /* past the window: drop it (its segments stay unreferenced) */
            w->n_sessions--;
            break;
        }
        added++;
    }
    free(line);
    fclose(f);
    return rc < 0 ? rc : added;
}

/* State of one Claude Code file while it is turned into sessions. */
struct claude_file {
    const char *path;
    uint32_t index;   /* file index: namespaces its block ids */
    uint32_t block;   /* block_size of the file (64) */
    uint32_t tails;   /* counter for the unique tail segment ids */
    int added;
    const struct kv_trace_opts *o;
};

static int claude_session(struct kv_workload *w, struct claude_file *cf, yajl_val reqs,
                          double start_s, char *err, size_t errlen);

static bool is_subagent(yajl_val type)
{
    const char *s = type && YAJL_IS_STRING(type) ? type->u.string : NULL;
    return s && strcmp(s, "subagent") == 0;
}

/* Adds request <r> (a "n"/"s" entry) of the current session. */
static int claude_request(struct kv_workload *w, struct claude_file *cf, yajl_val r,
                          uint32_t session, double arrival_s, bool first, char *err,
                          size_t errlen)
{
    double t, in, out, think = 0;
    yajl_val ids = find(r, "hash_ids");
    uint64_t base = (uint64_t)cf->index * CLAUDE_ID_STRIDE;

    if (get_num(r, "t", &t) || get_num(r, "in", &in) || get_num(r, "out", &out) || !ids ||
        !YAJL_IS_ARRAY(ids)) {
        snprintf(err, errlen, "needs numbers t, in, out >= 0 and a hash_ids array");
        return KV_EBADREQ;
    }
    get_num(r, "think_time", &think); /* optional: absent means no think time */
    kv_workload_add_req(w, session, arrival_s + (first ? t / cf->o->speed : 0),
                        first ? 0 : think / cf->o->speed, scaled(out, cf->o));
    if (add_blocks(w, ids, cf->block, base, TRACE_TAG ^ (0xc1ull << 48) ^ base ^ ++cf->tails, in,
                   cf->o) < 0) {
        snprintf(err, errlen, "hash_ids must hold non-negative integers");
        return KV_EBADREQ;
    }
    cf->added++;
    return 0;
}

/* Adds the sessions of sub-agent entries of <reqs>, after their parent session is complete. */
static int claude_subagents(struct kv_workload *w, struct claude_file *cf, yajl_val reqs,
                            double start_s, char *err, size_t errlen)
{
    for (size_t i = 0; i < reqs->u.array.len; i++) {
        yajl_val r = reqs->u.array.values[i], type = find(r, "type"), sub = find(r, "requests");
        double t;
        int rc;
        if (!is_subagent(type))
            continue;
        if (get_num(r, "t", &t) || !sub || !YAJL_IS_ARRAY(sub)) {
            snprintf(err, errlen, "request %zu: sub-agent needs t and requests", i);
            return KV_EBADREQ;
        }
        rc = claude_session(w, cf, sub, start_s + t / cf->o->speed, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int claude_session(struct kv_workload *w, struct claude_file *cf, yajl_val reqs,
                          double start_s, char *err, size_t errlen)
{
    uint32_t session = w->n_sessions;
    bool first = true;
    char why[192];

    for (size_t i = 0; i < reqs->u.array.len; i++) {
        yajl_val r = reqs->u.array.values[i], type = find(r, "type");
        if (!YAJL_IS_OBJECT(r)) {
            snprintf(err, errlen, "request %zu: not an object", i);
            return KV_EBADREQ;
        }
        if (is_subagent(type))
            continue;
        if (cf->o->max_requests && w->n_reqs >= cf->o->max_requests)
            break;
        if (claude_request(w, cf, r, session, start_s, first, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "request %zu: %s", i, why);
            return KV_EBADREQ;
        }
        first = false;
    }
    return claude_subagents(w, cf, reqs, start_s, err, errlen);
}

/* Reads the whole of <path> (capped) into a NUL-terminated string. */
static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *text;

    if (!f || fstat(fileno(f), &st) < 0 || st.st_size > (off_t)MAX_TRACE_FILE) {
        snprintf(err, errlen, "%s: %s", path, f ? "too large" : strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    text = kv_malloc((size_t)st.st_size + 1);
    text[fread(text, 1, (size_t)st.st_size, f)] = '\0';
    fclose(f);
    return text;
}

static int claude_file(struct kv_workload *w, const char *path, uint32_t index, double start_s,
                       const struct kv_trace_opts *o, char *err, size_t errlen)
{
    struct claude_file cf = {path, index, 64, 0, 0, o};
    char yerr[128] = "", why[256];
    char *text = slurp(path, err, errlen);
    yajl_val root, reqs;
    double bs;
    int rc = KV_EBADREQ;

    if (!text)
        return -EIO;
    root = yajl_tree_parse(text, yerr, sizeof(yerr));
    free(text);
    reqs = root ? find(root, "requests") : NULL;
    if (!root || !YAJL_IS_OBJECT(root) || !reqs || !YAJL_IS_ARRAY(reqs)) {
        snprintf(err, errlen, "%s: not a Claude Code trace (needs an object with requests)%s%s",
                 path, yerr[0] ? ": " : "", first_line(yerr));
        goto out;
    }
    if (get_num(root, "block_size", &bs) == 0 && bs >= 1 && bs <= 4096)
        cf.block = (uint32_t)bs;
    rc = claude_session(w, &cf, reqs, start_s, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, why);
out:
    yajl_tree_free(root);
    return rc < 0 ? rc : cf.added;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists <dir>'s trace_*.json files, sorted. Returns the count; *<out> is freed by the caller. */
static int list_traces(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "trace_", 6) != 0 || len < 6 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = kv_realloc(names, cap * sizeof(*names));
        }
        names[n] = kv_malloc(strlen(dir) + len + 2);
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    return (int)n;
}

int kv_trace_load_claude(struct kv_workload *w, const char *path, const struct kv_trace_opts *o,
                         char *err, size_t errlen)
{
    struct stat st;
    struct kv_rand rnd;
    char **files = NULL;
    int n, added = 0, rc = 0;

    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode))
        return claude_file(w, path, 0, 0, o, err, errlen);
    n = list_traces(path, &files);
    if (n <= 0) {
        snprintf(err, errlen, "%s: no trace_*.json files", path);
        return n < 0 ? n : -ENOENT;
    }
    kv_rand_seed(&rnd, o->seed);
    for (int i = 0; i < n && rc >= 0; i++) {
        double start = o->session_spread_s > 0 ? kv_rand_double(&rnd) * o->session_spread_s : 0;
        if ((o->max_sessions && (uint32_t)i >= o->max_sessions) ||
            (o->max_requests && w->n_reqs >= o->max_requests))
            break;
        rc = claude_file(w, files[i], (uint32_t)i, start, o, err, errlen);
        if (rc > 0)
            added += rc;
    }
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return rc < 0 ? rc : added;
}
