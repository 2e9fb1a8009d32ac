/* SPDX-License-Identifier: MIT */
/* src/router/proxy.c - proxied OpenAI requests: parse, route, forward, stream back, retry.
 *
 * A struct kv_proxy lives from the handler until both its client side (req: the response
 * ended, or the client left) and its backend side (call: on_done fired) are finished. Its
 * state says what the client has seen:
 *     WAIT    no response byte from the backend yet: a failure may be retried elsewhere
 *     GATHER  a Content-Length body is being collected: nothing sent yet, still retryable
 *     STREAM  the head went to the client: a failure can only abort the client's connection
 *     DONE    the client side is over (answered or gone)
 */
#include "router/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "http/client.h"
#include "http/server.h"
#include "openai/error.h"
#include "openai/json.h"
#include "prefix/blockhash.h"
#include "router/backend.h"
#include "router/config.h"
#include "router/daemon.h"
#include "router/rmetrics.h"
#include "router/route.h"

/* Responses with a Content-Length up to this are gathered, and so stay retryable. */
#define GATHER_MAX ((size_t)1 << 20)
/* Forwarded request headers beyond this count are dropped (the server caps header bytes). */
#define FWD_MAX_HEADERS 96
/* The backend's response headers forwarded to the client: at most this many, in this many
 * bytes (names and values); the rest are dropped. */
#define RHDR_MAX 16
#define RHDR_BYTES 1024

enum proxy_state { P_WAIT = 0, P_GATHER, P_STREAM, P_DONE };

struct kv_proxy {
    struct kv_router *r;
    struct kv_proxy *prev, *next;
    struct kv_http_req *req;   /* NULL once the client side is over */
    struct kv_http_call *call; /* NULL when no backend call is in flight */
    struct kv_backend *b;      /* backend of the current attempt (referenced) */
    enum proxy_state state;
    const char *path;
    struct kv_route_query q;   /* routing features, owned copies */
    uint64_t total_blocks;
    unsigned attempts;
    bool retry;                /* on_head cancelled the call to route again */
    bool paused;
    bool prefill_counted;      /* b->inflight_prefill includes <uncached> */
    uint32_t uncached;
    uint32_t matched;
    int status;
    char ctype[128];
    /* The backend's end-to-end response headers, forwarded: "name\0value\0" pairs. */
    char rhdr[RHDR_BYTES];
    size_t rhdr_len;
    unsigned nrhdr;
    size_t clen;               /* GATHER: the announced Content-Length */
    struct kv_buf body;        /* GATHER */
    uint64_t start_ns;
    char last_error[96];
    uint64_t mem[];            /* q.hashes, then q.model and q.session, NUL-terminated */
};

static void dispatch(struct kv_proxy *p);
static bool hop_by_hop(const char *name);

/* ---- small helpers ---------------------------------------------------------------------- */

static double secs_between(uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
}

static double secs_since(uint64_t t0)
{
    return secs_between(t0, kv_time_ns());
}

/* The status as the code label; <buf> has KV_BUF_U64_MAX bytes. */
static const char *status_code(int status, char *buf)
{
    kv_buf_fmt_u64(buf, status > 0 ? (uint64_t)status : 0);
    return buf;
}

/* snprintf(out, cap, "%s%s%s", a, b, c) without the format parsing: it runs per request. */
static void join3(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[] = {a, b, c};
    size_t n = 0;

    for (size_t i = 0; i < KV_ARRAY_LEN(parts); i++) {
        size_t m = KV_MIN(strlen(parts[i]), cap - 1 - n);
        memcpy(out + n, parts[i], m);
        n += m;
    }
    out[n] = '\0';
}

/* "<matched>/<total>", the x-kvroute-prefix-match value; <out> has 2 * KV_BUF_U64_MAX bytes. */
static void format_match(const struct kv_proxy *p, char *out)
{
    size_t n = kv_buf_fmt_u64(out, p->matched);

    out[n++] = '/';
    kv_buf_fmt_u64(out + n, p->total_blocks);
}

void kv_proxy_error(struct kv_router *r, struct kv_http_req *req, int err, const char *message)
{
    struct kv_buf b;
    int status;

    (void)r;
    kv_buf_init(&b, 64 * 1024);
    status = kv_error_render(&b, err, message);
    if (status < 0)
        status = 500;
    kv_http_respond(req, status, "application/json", NULL, b.data ? b.data : "", b.len);
    kv_buf_cleanup(&b);
}

/* Answers an error for a request that never reached a backend, and counts it. */
static void reject(struct kv_router *r, struct kv_http_req *req, int err, const char *message)
{
    char code[KV_BUF_U64_MAX];
    uint64_t t0 = kv_http_req_start_ns(req);

    kv_proxy_error(r, req, err, message);
    kv_rmetrics_request(r->metrics, "none", status_code(kv_error_status(err), code),
                        secs_since(t0));
}

static void reject_model(struct kv_router *r, struct kv_http_req *req, const char *model,
                         size_t len)
{
    struct kv_buf b;
    uint64_t t0 = kv_http_req_start_ns(req);
    int status;

    kv_buf_init(&b, 64 * 1024);
    status = kv_error_render_model(&b, model, len);
    kv_http_respond(req, status > 0 ? status : 404, "application/json", NULL,
                    b.data ? b.data : "", b.len);
    kv_buf_cleanup(&b);
    kv_rmetrics_request(r->metrics, "none", "404", secs_since(t0));
}

/* ---- session key and features ----------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The client address behind trusted proxies: X-Forwarded-For read from the right, skipping
 * trusted hops (the left part is whatever the client claimed, so it is not believed). */
static const char *client_ip(struct kv_router *r, struct kv_http_req *req, size_t *len,
                             char *scratch, size_t cap)
{
    const char *peer = kv_http_req_peer(req), *xff, *end;

    *len = strlen(peer);
    if (!r->cfg->ntrusted || !kv_config_is_trusted(r->cfg, peer))
        return peer;
    if (!(xff = kv_http_req_header(req, "x-forwarded-for")))
        return peer;
    end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        size_t n;
        while (start > xff && start[-1] != ',')
            start--;
        n = (size_t)(end - start);
        trim(&start, &n);
        end = start > xff ? start - 1 : xff;
        if (n == 0 || n >= cap)
            continue;
        memcpy(scratch, start, n);
        scratch[n] = '\0';
        if (!kv_config_is_trusted(r->cfg, scratch) || end == xff) {
            *len = n;
            return scratch;
        }
    }
    return peer;
}

const char *kv_proxy_session_key(struct kv_router *r, struct kv_http_req *req, size_t *len,
                                 char *scratch, size_t scratch_len)
{
    const char *v;

    switch (r->cfg->affinity) {
    case KV_CONFIG_AFFINITY_HEADER:
        v = kv_http_req_header(req, r->cfg->session_header);
        *len = v ? strlen(v) : 0;
        return v && *v ? v : NULL;
    case KV_CONFIG_AFFINITY_USER:
        v = kv_request_user(&r->parser, len);
        return v && *len ? v : NULL;
    case KV_CONFIG_AFFINITY_CLIENT_IP:
        return client_ip(r, req, len, scratch, scratch_len);
    default:
        *len = 0;
        return NULL;
    }
}

/* Chain root: per model (two models never share blocks) and per cache_salt (vLLM keeps salted
 * prompts apart too). */
static uint64_t chain_root(struct kv_router *r)
{
    const char *model, *salt;
    size_t mlen, slen;
    uint64_t root = 0;

    if ((model = kv_request_model(&r->parser, &mlen)) != NULL)
        root = kv_blockhash_root(r->seed, model, mlen);
    if ((salt = kv_request_cache_salt(&r->parser, &slen)) != NULL)
        root ^= kv_blockhash_root(r->seed ^ 0x9e3779b97f4a7c15ull, salt, slen);
    return root;
}

void kv_proxy_features(struct kv_router *r, struct kv_http_req *req, struct kv_route_query *q,
                       uint64_t *total_blocks)
{
    const struct kv_route_prefix *pfx = kv_route_prefix(r->route);
    const struct kv_request *pr = &r->parser;
    uint64_t root = chain_root(r);
    const char *text;
    const int32_t *ids;
    size_t len = 0;
    int n = 0;

    memset(q, 0, sizeof(*q));
    *total_blocks = 0;
    q->model = kv_request_model(pr, &q->model_len);
    q->max_tokens = pr->max_tokens > 0 ? (uint32_t)KV_MIN(pr->max_tokens, UINT32_MAX) : 0;
    if (pr->n_prompts > 0 && (text = kv_request_prompt_text(pr, 0, &len)) != NULL) {
        n = kv_blockhash_text(r->seed, root, pfx->block_bytes, text, len, r->hashes,
                              pfx->max_blocks);
        *total_blocks = len / pfx->block_bytes;
        q->prompt_tokens = (uint32_t)KV_MIN(len / 4, UINT32_MAX);
    } else if (pr->n_prompts > 0 && (ids = kv_request_prompt_tokens(pr, 0, &len)) != NULL) {
        n = kv_blockhash_tokens(r->seed, root, pfx->block_bytes / 4, ids, len, r->hashes,
                                pfx->max_blocks);
        *total_blocks = len / (pfx->block_bytes / 4);
        q->prompt_tokens = (uint32_t)KV_MIN(len, UINT32_MAX);
    }
    q->hashes = r->hashes;
    q->nhashes = n > 0 ? (uint32_t)n : 0;
}

/* ---- lifetime --------------------------------------------------------------------------- */

static void maybe_free(struct kv_proxy *p)
{
    struct kv_router *r = p->r;

    if (p->req || p->call)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        r->proxies = p->next;
    if (p->next)
        p->next->prev = p->prev;
    r->nproxies--;
    if (p->paused)
        r->npaused--;
    kv_buf_cleanup(&p->body);
    free(p);
}

/* The client side is over: count it. */
static void client_done(struct kv_proxy *p, const char *backend, const char *code)
{
    kv_rmetrics_request(p->r->metrics, backend, code, secs_since(p->start_ns));
    p->req = NULL;
    p->state = P_DONE;
}

static void fail_client(struct kv_proxy *p, int err, const char *message)
{
    char code[KV_BUF_U64_MAX];

    kv_proxy_error(p->r, p->req, err, message);
    client_done(p, "none", status_code(kv_error_status(err), code));
}

/* ---- backend call callbacks ------------------------------------------------------------- */

static void release_prefill(struct kv_proxy *p)
{
    if (p->prefill_counted && p->b) {
        p->b->inflight_prefill -= KV_MIN(p->b->inflight_prefill, p->uncached);
        p->prefill_counted = false;
    }
}

/* The passive health check: the backend failed this request. */
static void eject(struct kv_proxy *p, const char *why)
{
    struct kv_backend *b = p->b;

    snprintf(p->last_error, sizeof(p->last_error), "%s: %s", b->name, why);
    if (b->retired)
        return;
    kv__daemon_backend_changed(p->r, b,
                               kv_backend_passive_fail(&p->r->backends, b, why, kv_time_ns()));
}

/* <name> in lower case: the client lower-cases response header names. */
static const char *header_value(const struct kv_http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name[0] == name[0] && strcmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* True if <name> (lower-cased) is one of the comma-separated tokens of <list>: a header the
 * backend's Connection header names is for this hop only (RFC 9110, 7.6.1). */
static bool listed_in(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (list && *list) {
        size_t len;
        list += strspn(list, " \t,");
        len = strcspn(list, " \t,");
        if (len == n && strncasecmp(list, name, n) == 0)
            return true;
        list += len;
    }
    return false;
}

/* A response header the server writes itself, or that is only for this hop, or ours. */
static bool not_forwarded(const char *name, const char *connection)
{
    return hop_by_hop(name) || strcmp(name, "content-type") == 0 || strcmp(name, "date") == 0 ||
           strcmp(name, "server") == 0 || strcmp(name, "proxy-authenticate") == 0 ||
           strncmp(name, "x-kvroute-", 10) == 0 || listed_in(connection, name);
}

/* Keeps the backend's headers to forward (as many as fit RHDR_BYTES and RHDR_MAX; vLLM sends a
 * handful, e.g. x-request-id). */
static void keep_headers(struct kv_proxy *p, const struct kv_http_header *h, size_t n)
{
    const char *connection = header_value(h, n, "connection");

    p->rhdr_len = 0;
    p->nrhdr = 0;
    for (size_t i = 0; i < n && p->nrhdr < RHDR_MAX; i++) {
        size_t ln = strlen(h[i].name) + 1, lv = strlen(h[i].value) + 1;
        if (not_forwarded(h[i].name, connection) || p->rhdr_len + ln + lv > sizeof(p->rhdr))
            continue;
        memcpy(p->rhdr + p->rhdr_len, h[i].name, ln);
        memcpy(p->rhdr + p->rhdr_len + ln, h[i].value, lv);
        p->rhdr_len += ln + lv;
        p->nrhdr++;
    }
}

/* Fills <out> (2 * RHDR_MAX + 5 slots) with the response's extra headers: ours (<match> has
 * 2 * KV_BUF_U64_MAX bytes), then the backend's, NULL-terminated. */
static const char *const *response_headers(struct kv_proxy *p, char *match, const char **out)
{
    const char *at = p->rhdr;
    size_t k = 0;

    format_match(p, match);
    out[k++] = "x-kvroute-backend";
    out[k++] = p->b->name;
    out[k++] = "x-kvroute-prefix-match";
    out[k++] = match;
    for (unsigned i = 0; i < p->nrhdr; i++) {
        out[k++] = at;
        at += strlen(at) + 1;
        out[k++] = at;
        at += strlen(at) + 1;
    }
    out[k] = NULL;
    return out;
}

static int begin_stream(struct kv_proxy *p)
{
    char match[2 * KV_BUF_U64_MAX];
    const char *hdrs[2 * RHDR_MAX + 5];

    p->state = P_STREAM;
    return kv_http_stream_begin(p->req, p->status, p->ctype, response_headers(p, match, hdrs));
}

static int on_head(struct kv_http_call *call, int status, const struct kv_http_header *headers,
                   size_t count, void *data)
{
    struct kv_proxy *p = data;
    const char *ct, *cl;
    unsigned long long clen;

    release_prefill(p);
    if (!p->req)
        return 1;
    if (status >= 500 && p->r->cfg->eject_on_5xx) {
        char why[32];
        snprintf(why, sizeof(why), "HTTP %d", status);
        eject(p, why);
        if (p->attempts < p->r->cfg->max_attempts) {
            p->retry = true;
            kv_rmetrics_retry(p->r->metrics, "5xx");
            return 1;
        }
    }
    /* The head goes to the client: time to its first byte (a 5xx head retried elsewhere is not
     * one, and the client waits on). */
    kv_rmetrics_ttfb(p->r->metrics, secs_between(p->start_ns, kv_http_call_first_byte_ns(call)));
    p->status = status;
    keep_headers(p, headers, count);
    ct = header_value(headers, count, "content-type");
    join3(p->ctype, sizeof(p->ctype), ct ? ct : "application/octet-stream", "", "");
    cl = header_value(headers, count, "content-length");
    if (cl && (clen = strtoull(cl, NULL, 10)) <= GATHER_MAX) {
        p->state = P_GATHER;
        p->clen = (size_t)clen;
        return 0;
    }
    return begin_stream(p) < 0 ? 1 : 0;
}

/* Answers the gathered body <data> whole, with a Content-Length. */
static void respond_whole(struct kv_proxy *p, const char *data, size_t len)
{
    char code[KV_BUF_U64_MAX], match[2 * KV_BUF_U64_MAX];
    const char *hdrs[2 * RHDR_MAX + 5];

    kv_http_respond(p->req, p->status, p->ctype, response_headers(p, match, hdrs), data, len);
    client_done(p, p->b->name, status_code(p->status, code));
}

static int on_body(struct kv_http_call *call, const char *buf, size_t len, void *data)
{
    struct kv_proxy *p = data;

    if (!p->req)
        return 1;
    if (p->state == P_GATHER) {
        /* The usual case: the whole body in one piece, framing complete. Answer from the
         * backend's buffer, no copy; on_done then only cleans up. */
        if (p->body.len == 0 && len == p->clen) {
            respond_whole(p, buf, len);
            return 0;
        }
        if (kv_buf_append(&p->body, buf, len) == 0)
            return 0;
        /* Longer than announced: stream what we have and go on streaming. */
        if (begin_stream(p) < 0 || kv_http_stream_write(p->req, p->body.data, p->body.len) < 0)
            return 1;
        kv_buf_cleanup(&p->body);
    }
    if (kv_http_stream_write(p->req, buf, len) < 0)
        return 1;
    if (!p->paused && kv_http_req_pending(p->req) > p->r->cfg->high_water_bytes) {
        p->paused = true;
        p->r->npaused++;
        p->r->pauses++;
        kv_http_call_pause(call);
    }
    return 0;
}

static void finish_ok(struct kv_proxy *p)
{
    char code[KV_BUF_U64_MAX];

    if (p->state == P_GATHER) {
        respond_whole(p, p->body.data ? p->body.data : "", p->body.len);
        return;
    }
    kv_http_stream_end(p->req);
    client_done(p, p->b->name, status_code(p->status, code));
}

/* The attempt failed with <status> (< 0). */
static void finish_failed(struct kv_proxy *p, int status)
{
    char why[64];

    snprintf(why, sizeof(why), "%s", kv_strerror(status));
    eject(p, why);
    if (p->state == P_STREAM) {
        /* Bytes went out: the only honest end is a cut the client can see. */
        kv_http_stream_abort(p->req);
        client_done(p, p->b->name, "aborted");
        return;
    }
    if (p->attempts < p->r->cfg->max_attempts) {
        p->retry = true;
        kv_rmetrics_retry(p->r->metrics, p->state == P_GATHER ? "body" : "connect");
        return;
    }
    fail_client(p, status == KV_ETIMEOUT ? KV_ETIMEOUT : KV_EUPSTREAM, p->last_error);
}

static void on_done(struct kv_http_call *call, int status, void *data)
{
    struct kv_proxy *p = data;
    struct kv_backend *b = p->b;
    (void)call;

    p->call = NULL;
    release_prefill(p);
    b->inflight--;
    if (p->req && !p->retry) {
        if (status == 0)
            finish_ok(p);
        else
            finish_failed(p, status);
    }
    if (p->retry && p->req) {
        p->retry = false;
        if (p->q.nexcluded < KV_ROUTE_MAX_EXCLUDED)
            p->q.excluded[p->q.nexcluded++] = b->id;
        p->state = P_WAIT;
        kv_buf_reset(&p->body);
        p->b = NULL;
        kv__daemon_backend_unref(p->r, b);
        dispatch(p);
        return;
    }
    p->b = NULL;
    kv__daemon_backend_unref(p->r, b);
    maybe_free(p);
}

static const struct kv_http_call_cbs call_cbs = {on_head, on_body, on_done};

/* ---- client side callbacks -------------------------------------------------------------- */

static void on_client_close(struct kv_http_req *req, void *data)
{
    struct kv_proxy *p = data;
    (void)req;

    client_done(p, p->b ? p->b->name : "none", "499");
    if (p->call)
        kv_http_call_cancel(p->call);
    maybe_free(p);
}

static void on_client_drain(struct kv_http_req *req, void *data)
{
    struct kv_proxy *p = data;
    (void)req;

    if (p->paused && p->call) {
        p->paused = false;
        p->r->npaused--;
        kv_http_call_resume(p->call);
    }
}

/* ---- dispatch --------------------------------------------------------------------------- */

/* <name> is lower-cased (the server does it). Compared by length first: most names match
 * none of these lengths. */
static bool hop_by_hop(const char *name)
{
    static const struct {
        const char *s;
        size_t len;
    } hop[] = {
#define HOP(lit) {lit, sizeof(lit) - 1}
        HOP("connection"),     HOP("keep-alive"), HOP("proxy-connection"),
        HOP("transfer-encoding"), HOP("te"),      HOP("trailer"),
        HOP("upgrade"),        HOP("host"),       HOP("content-length"),
        HOP("expect"),         HOP("x-forwarded-for"),
#undef HOP
    };
    size_t n = strlen(name);

    for (size_t i = 0; i < KV_ARRAY_LEN(hop); i++)
        if (hop[i].len == n && memcmp(name, hop[i].s, n) == 0)
            return true;
    return false;
}

/* Starts the call to p->b with the client's headers minus hop-by-hop ones, plus
 * X-Forwarded-For. The body is lent: the request outlives the call's sending (the client's
 * close cancels the call first, and the request is answered only after the response head). */
static int start_call(struct kv_proxy *p)
{
    const struct kv_http_header *h;
    const char *fwd[2 * FWD_MAX_HEADERS + 3], *body, *xff = NULL;
    char xffbuf[512];
    size_t n, k = 0, len;

    h = kv_http_req_headers(p->req, &n);
    for (size_t i = 0; i < n; i++) {
        if (!hop_by_hop(h[i].name)) {
            if (k < 2 * FWD_MAX_HEADERS) {
                fwd[k++] = h[i].name;
                fwd[k++] = h[i].value;
            }
        } else if (!xff && strcmp(h[i].name, "x-forwarded-for") == 0) {
            xff = h[i].value;
        }
    }
    if (xff)
        join3(xffbuf, sizeof(xffbuf), xff, ", ", kv_http_req_peer(p->req));
    else
        join3(xffbuf, sizeof(xffbuf), kv_http_req_peer(p->req), "", "");
    fwd[k++] = "x-forwarded-for";
    fwd[k++] = xffbuf;
    fwd[k] = NULL;
    body = kv_http_req_body(p->req, &len);
    return kv_http_call_start_lent(p->b->pool, "POST", p->path, fwd, body, len, &call_cbs, p,
                                   &p->call);
}

static void dispatch(struct kv_proxy *p)
{
    struct kv_router *r = p->r;
    struct kv_route_choice ch;
    struct kv_backend *b;
    int rc;

    rc = kv_route_choose(r, &p->q, true, &ch, NULL);
    if (rc < 0) {
        if (p->attempts == 0)
            fail_client(p, rc, NULL);
        else
            fail_client(p, KV_EUPSTREAM, p->last_error);
        maybe_free(p);
        return;
    }
    b = p->b = ch.backend;
    kv_backend_ref(b);
    p->attempts++;
    p->matched = ch.matched;
    p->uncached = ch.uncached_tokens;
    if (p->attempts == 1) {
        kv_rmetrics_decision(r->metrics, secs_since(p->start_ns));
        if (p->total_blocks) /* a prompt of no whole block has no ratio to count */
            kv_rmetrics_prefix_ratio(r->metrics, (double)ch.matched / (double)p->total_blocks);
        if (p->q.session)
            kv_rmetrics_affinity(r->metrics, ch.affinity);
    }
    b->inflight++;
    b->requests++;
    b->work += ch.work;
    b->inflight_prefill += p->uncached;
    p->prefill_counted = true;
    rc = start_call(p);
    if (rc < 0) {
        /* Could not even start (e.g. the pool is closing): same as a refused connection. */
        on_done(NULL, rc, p);
    }
}

/* Copies <s> and a NUL to <*at>, moving it on; NULL stays NULL. */
static const char *stash_str(char **at, const char *s, size_t n)
{
    char *d = *at;

    if (!s)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    *at = d + n + 1;
    return d;
}

/* One allocation holds the proxy and its copies of the query's hashes, model and session. */
static struct kv_proxy *proxy_new(struct kv_router *r, struct kv_http_req *req, const char *path,
                                  const struct kv_route_query *q, uint64_t total_blocks)
{
    size_t hbytes = q->nhashes * sizeof(uint64_t);
    size_t extra = hbytes + (q->model ? q->model_len + 1 : 0) +
                   (q->session ? q->session_len + 1 : 0);
    struct kv_proxy *p = kv_malloc(sizeof(*p) + extra);
    char *at = (char *)p->mem + hbytes;

    memset(p, 0, sizeof(*p));
    p->r = r;
    p->req = req;
    p->path = path;
    p->start_ns = kv_http_req_start_ns(req);
    p->q = *q;
    if (hbytes)
        memcpy(p->mem, q->hashes, hbytes);
    p->q.hashes = hbytes ? p->mem : NULL;
    p->q.model = stash_str(&at, q->model, q->model_len);
    p->q.session = stash_str(&at, q->session, q->session_len);
    p->total_blocks = total_blocks;
    kv_buf_init(&p->body, GATHER_MAX);
    p->next = r->proxies;
    if (r->proxies)
        r->proxies->prev = p;
    r->proxies = p;
    r->nproxies++;
    kv_http_req_set_callbacks(req, on_client_close, on_client_drain, p);
    return p;
}

/* vLLM answers an unknown model before checking the rest (404 first); a fleet with nothing
 * routable answers 503 at once. */
static int check_fleet(struct kv_router *r, const char *model, size_t len)
{
    bool any = false;

    for (size_t i = 0; i < r->backends.n; i++) {
        const struct kv_backend *b = r->backends.items[i];
        if (!kv_backend_is_routable(b))
            continue;
        any = true;
        if (kv_backend_serves(b, model, len))
            return 0;
    }
    return any ? KV_ENOMODEL : KV_ENOBACKEND;
}

/* Parses the body and the model checks shared by the proxy and /debug/route. Answers the
 * error itself and returns < 0 when the request cannot be routed. */
static int parse_request(struct kv_router *r, struct kv_http_req *req, enum kv_request_kind kind)
{
    const char *body, *model;
    size_t len, mlen;
    int rc;

    body = kv_http_req_body(req, &len);
    rc = kv_request_parse(&r->parser, kind, body, len);
    if (rc < 0) {
        reject(r, req, rc, kv_request_error(&r->parser));
        return rc;
    }
    model = kv_request_model(&r->parser, &mlen);
    rc = check_fleet(r, model, mlen);
    if (rc == KV_ENOMODEL) {
        reject_model(r, req, model, mlen);
        return rc;
    }
    if (rc < 0) {
        reject(r, req, rc, NULL); /* the error table's message */
        return rc;
    }
    rc = kv_request_validate(&r->parser);
    if (rc < 0)
        reject(r, req, rc, kv_request_error(&r->parser));
    return rc;
}

static void handle(struct kv_http_req *req, struct kv_router *r, enum kv_request_kind kind,
                   const char *path)
{
    struct kv_route_query q;
    uint64_t total;
    char scratch[64];
    struct kv_proxy *p;

    if (parse_request(r, req, kind) < 0)
        return;
    kv_proxy_features(r, req, &q, &total);
    q.session = kv_proxy_session_key(r, req, &q.session_len, scratch, sizeof(scratch));
    p = proxy_new(r, req, path, &q, total);
    dispatch(p);
}

void kv_proxy_completions(struct kv_http_req *req, void *data)
{
    handle(req, data, KV_REQUEST_COMPLETION, "/v1/completions");
}

void kv_proxy_chat(struct kv_http_req *req, void *data)
{
    handle(req, data, KV_REQUEST_CHAT, "/v1/chat/completions");
}

void kv_proxy_abort_all(struct kv_router *r)
{
    for (struct kv_proxy *p = r->proxies, *next; p; p = next) {
        next = p->next;
        if (p->req) {
            if (p->state == P_STREAM)
                kv_http_stream_abort(p->req);
            else
                kv_proxy_error(r, p->req, KV_ENOBACKEND, "kvroute is shutting down");
            client_done(p, p->b ? p->b->name : "none", "aborted");
        }
        if (p->call)
            kv_http_call_cancel(p->call);
        else
            maybe_free(p);
    }
}

/* ---- /debug/route ----------------------------------------------------------------------- */

static enum kv_request_kind debug_kind(struct kv_http_req *req)
{
    const char *query = kv_http_req_query(req), *body;
    size_t len;

    if (strstr(query, "kind=chat"))
        return KV_REQUEST_CHAT;
    if (strstr(query, "kind=completion"))
        return KV_REQUEST_COMPLETION;
    body = kv_http_req_body(req, &len);
    return strstr(body, "\"messages\"") ? KV_REQUEST_CHAT : KV_REQUEST_COMPLETION;
}

void kv_proxy_debug_route(struct kv_http_req *req, void *data)
{
    struct kv_router *r = data;
    enum kv_request_kind kind = debug_kind(req);
    struct kv_route_query q;
    struct kv_route_choice ch;
    struct kv_buf out;
    uint64_t total;
    char scratch[64];
    int rc;

    if (parse_request(r, req, kind) < 0)
        return;
    kv_proxy_features(r, req, &q, &total);
    q.session = kv_proxy_session_key(r, req, &q.session_len, scratch, sizeof(scratch));
    kv_buf_init(&out, 16u << 20);
    kv_json_open(&out, '{');
    kv_json_key(&out, "kind");
    kv_json_strz(&out, kind == KV_REQUEST_CHAT ? "chat" : "completion");
    kv_json_key(&out, "model");
    if (q.model)
        kv_json_str(&out, q.model, q.model_len);
    else
        kv_json_null(&out);
    kv_json_key(&out, "policy");
    kv_json_strz(&out, kv_route_policy(r->route));
    kv_json_key(&out, "prompt_blocks");
    kv_json_int(&out, (int64_t)total);
    kv_json_key(&out, "hashed_blocks");
    kv_json_int(&out, q.nhashes);
    kv_json_key(&out, "session_key");
    kv_json_bool(&out, q.session != NULL);
    kv_json_key(&out, "explain");
    rc = kv_route_choose(r, &q, false, &ch, &out);
    if (rc < 0 && out.data[out.len - 1] == ':')
        kv_json_null(&out);
    kv_json_key(&out, "choice");
    kv_json_strz(&out, rc == 0 ? ch.backend->name : NULL);
    kv_json_key(&out, "matched_blocks");
    kv_json_int(&out, rc == 0 ? ch.matched : 0);
    kv_json_key(&out, "affinity");
    kv_json_strz(&out, rc == 0 ? ch.affinity : NULL);
    kv_json_key(&out, "error");
    kv_json_strz(&out, rc == 0 ? NULL : kv_strerror(rc));
    kv_buf_appendc(&out, '}');
    kv_http_respond(req, 200, "application/json", NULL, out.data, out.len);
    kv_buf_cleanup(&out);
}
