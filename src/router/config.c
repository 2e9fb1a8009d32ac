/* SPDX-License-Identifier: MIT */
/* src/router/config.c - kvroute configuration: defaults, YAML (libyaml document API), flags.
 *
 * The YAML is loaded as a libyaml document (a node tree) and walked with a path string that
 * grows and shrinks as the walk descends, so every error can name its key exactly. Plain
 * settings are described by per-section field tables (key, type, offset, range); the lists
 * (backends, trusted proxies, plugins, profiles) have their own small walkers.
 */
#include "router/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

/* ---- plugin types and their parameters ------------------------------------------------- */

struct param_spec {
    const char *key;
    double min, max;
    bool integer;
};

static const struct param_spec no_params[] = {{NULL, 0, 0, false}};
static const struct param_spec prefix_params[] = {
    {"hashBlockSize", 1, 1 << 20, true},
    {"maxPrefixBlocksToMatch", 1, 1 << 24, true},
    {"lruCapacityPerServer", 1, 1e12, true},
    {NULL, 0, 0, false}};
static const struct param_spec load_params[] = {{"threshold", 1, 1e6, false},
                                                {NULL, 0, 0, false}};
static const struct param_spec picker_params[] = {{"maxNumOfEndpoints", 1, 1, true},
                                                  {NULL, 0, 0, false}};
/* Our cost model (sched.h, cache-aware): a whole policy, not a weighted column. */
static const struct param_spec cache_aware_params[] = {
    {"decodeCost", 0, 1e9, false},     {"waitingCost", 0, 1e9, false},
    {"utilCap", 0, 0.99, false},       {"utilFixed", -1, 0.99, false},
    {"utilTauSeconds", 0.001, 1e6, false}, {"evictWeight", 0, 1e6, false},
    {"workGuard", 0, 1, true},         {"guardRatio", 1, 1e6, false},
    {"guardServices", 0, 1e6, false},  {"decodeTokenCost", 0, 1e6, false},
    {"balanceWeight", 0, 1e6, false},  {"balanceSlack", 0, 10, false},
    {"balanceServices", 0, 1e6, false}, {"balanceSticky", 0, 1e6, false},
    {NULL, 0, 0, false}};
static const struct param_spec sglang_params[] = {{"cacheThreshold", 0, 1, false},
                                                  {"balanceAbsThreshold", 0, 1e9, false},
                                                  {"balanceRelThreshold", 1, 1e6, false},
                                                  {NULL, 0, 0, false}};
static const struct param_spec chwbl_params[] = {{"loadFactor", 1, 1e6, false},
                                                 {"replication", 1, 4096, true},
                                                 {"prefixBlocks", 1, 1 << 20, true},
                                                 {NULL, 0, 0, false}};

/* <policy>: the policy a profile referring to this plugin selects (a whole-policy plugin), or
 * NULL for a weighted scorer / a picker. <weighted>: a column of the weighted profile. */
struct plugin_kind {
    const char *type;
    const struct param_spec *params;
    const char *policy;
    bool weighted;
};

static const struct plugin_kind plugin_specs[] = {
    {"prefix-cache-scorer", prefix_params, NULL, true},
    {"queue-scorer", no_params, NULL, true},
    {"kv-cache-utilization-scorer", no_params, NULL, true},
    {"load-aware-scorer", load_params, NULL, true},
    {"session-affinity-scorer", no_params, NULL, true},
    {"active-request-scorer", no_params, NULL, true},
    {"inflight-prefill-scorer", no_params, NULL, true},
    {"cache-aware-scorer", cache_aware_params, "cache-aware", false},
    {"sglang-scorer", sglang_params, "sglang", false},
    {"chwbl-scorer", chwbl_params, "chwbl", false},
    {"max-score-picker", picker_params, NULL, false},
    {"single-profile-handler", no_params, NULL, false},
};

static const char *const policy_names[] = {"round-robin", "least-load", "session", "prefix",
                                           "sglang",      "chwbl",      "cache-aware"};

static const struct plugin_kind *find_plugin_spec(const char *type)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(plugin_specs); i++)
        if (strcmp(plugin_specs[i].type, type) == 0)
            return &plugin_specs[i];
    return NULL;
}

/* ---- defaults and cleanup -------------------------------------------------------------- */

void kv_config_init(struct kv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = kv_strdup("0.0.0.0");
    cfg->port = 8000;
    cfg->max_body_bytes = 8u << 20;
    cfg->max_header_bytes = 16u << 10;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->drain_timeout_ms = 30000;
    cfg->log_level = KV_LOG_INFO;
    cfg->dns_interval_ms = 5000;
    cfg->connect_timeout_ms = 2000;
    cfg->response_timeout_ms = 300000;
    cfg->max_idle = 64;
    cfg->health_path = kv_strdup("/health");
    cfg->health_interval_ms = 1000;
    cfg->health_timeout_ms = 1000;
    cfg->health_rise = 2;
    cfg->health_fall = 1;
    cfg->eject_on_5xx = true;
    cfg->scrape_interval_ms = 100;
    cfg->scrape_timeout_ms = 1000;
    cfg->affinity = KV_CONFIG_AFFINITY_HEADER;
    cfg->session_header = kv_strdup("x-session-id");
    cfg->session_ttl_s = 7200;
    cfg->session_max = 100000;
    cfg->index_max_entries = 4u << 20;
    cfg->index_default_capacity = 1u << 20;
    cfg->high_water_bytes = 256u << 10;
    cfg->max_attempts = 3;
    cfg->policy = kv_strdup("cache-aware");
}

static void free_backends(struct kv_config *cfg)
{
    for (size_t i = 0; i < cfg->nbackends; i++) {
        free(cfg->backends[i].url);
        free(cfg->backends[i].name);
        free(cfg->backends[i].host);
    }
    KV_FREE(&cfg->backends);
    cfg->nbackends = 0;
}

static void free_scheduling(struct kv_config *cfg)
{
    for (size_t i = 0; i < cfg->nplugins; i++) {
        struct kv_config_plugin *p = &cfg->plugins[i];
        for (size_t j = 0; j < p->nparams; j++) {
            free(p->params[j].key);
            free(p->params[j].text);
        }
        free(p->params);
        free(p->type);
        free(p->name);
    }
    KV_FREE(&cfg->plugins);
    cfg->nplugins = 0;
    for (size_t i = 0; i < cfg->nprofiles; i++) {
        free(cfg->profiles[i].name);
        free(cfg->profiles[i].refs);
    }
    KV_FREE(&cfg->profiles);
    cfg->nprofiles = 0;
}

void kv_config_cleanup(struct kv_config *cfg)
{
    free(cfg->host);
    free_backends(cfg);
    free(cfg->dns_host);
    free(cfg->health_path);
    free(cfg->session_header);
    free(cfg->trusted);
    free(cfg->policy);
    free_scheduling(cfg);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- small parsers ---------------------------------------------------------------------- */

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return KV_ECONFIG;
}

/* Whole-string number; false on trailing junk, empty text, NaN or overflow. */
static bool parse_number(const char *s, double *out)
{
    char *end;
    double v;

    if (!*s)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || end == s)
        return false;
    /* strtod also takes hex and "inf"; the YAML spec's numbers are decimal. */
    for (const char *p = s; *p; p++)
        if (*p == 'x' || *p == 'X' || *p == 'n' || *p == 'N')
            return false;
    *out = v;
    return true;
}

static int parse_port(const char *s, int *out)
{
    double v;
    if (!parse_number(s, &v) || v != floor(v) || v < 1 || v > 65535)
        return KV_ECONFIG;
    *out = (int)v;
    return 0;
}

int kv_config_parse_url(const char *url, struct kv_config_backend *out, char *err, size_t errlen)
{
    const char *p = url, *host, *colon;
    size_t hlen;
    int port;
    char name[300];

    if (strncasecmp(p, "https://", 8) == 0)
        return errf(err, errlen, "'%s': https backends are not supported", url);
    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://"))
        return errf(err, errlen, "'%s': only http:// backends are supported", url);
    if (*p == '[') {
        host = p + 1;
        colon = strchr(host, ']');
        if (!colon || colon[1] != ':')
            return errf(err, errlen, "'%s': expected http://[v6-address]:port", url);
        hlen = (size_t)(colon - host);
        colon++;
    } else {
        host = p;
        colon = strrchr(p, ':');
        if (!colon)
            return errf(err, errlen, "'%s': missing :port", url);
        hlen = (size_t)(colon - host);
    }
    if (hlen == 0 || hlen > 253)
        return errf(err, errlen, "'%s': missing or too long host", url);
    if (strchr(colon + 1, '/') && strcmp(strchr(colon + 1, '/'), "/") != 0)
        return errf(err, errlen, "'%s': a path is not allowed in a backend URL", url);
    {
        char portbuf[16];
        size_t plen = strcspn(colon + 1, "/");
        if (plen == 0 || plen >= sizeof(portbuf))
            return errf(err, errlen, "'%s': bad port", url);
        memcpy(portbuf, colon + 1, plen);
        portbuf[plen] = '\0';
        if (parse_port(portbuf, &port) < 0)
            return errf(err, errlen, "'%s': port must be 1..65535", url);
    }
    out->host = kv_strndup(host, hlen);
    out->port = port;
    out->capacity_blocks = 0;
    out->url = kv_strdup(url);
    snprintf(name, sizeof(name), memchr(host, ':', hlen) ? "[%s]:%d" : "%s:%d", out->host, port);
    out->name = kv_strdup(name);
    return 0;
}

int kv_config_parse_cidr(const char *s, struct kv_config_cidr *out)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned maxbits;
    double bits;

    if (alen == 0 || alen >= sizeof(addr))
        return KV_ECONFIG;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else {
        return KV_ECONFIG;
    }
    out->bits = maxbits;
    if (slash) {
        if (!parse_number(slash + 1, &bits) || bits != floor(bits) || bits < 0 || bits > maxbits)
            return KV_ECONFIG;
        out->bits = (unsigned)bits;
    }
    return 0;
}

static bool cidr_match(const struct kv_config_cidr *c, int family, const uint8_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;

    if (c->family != family)
        return false;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((c->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool kv_config_is_trusted(const struct kv_config *cfg, const char *ip)
{
    uint8_t a[16];
    int family;

    if (inet_pton(AF_INET, ip, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, ip, a) == 1)
        family = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < cfg->ntrusted; i++)
        if (cidr_match(&cfg->trusted[i], family, a))
            return true;
    return false;
}

double kv_config_param(const struct kv_config_plugin *plugin, const char *key, double dflt)
{
    for (size_t i = 0; i < plugin->nparams; i++)
        if (plugin->params[i].is_num && strcmp(plugin->params[i].key, key) == 0)
            return plugin->params[i].num;
    return dflt;
}

const struct kv_config_profile *kv_config_profile(const struct kv_config *cfg)
{
    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, "default") == 0)
            return &cfg->profiles[i];
    return cfg->nprofiles ? &cfg->profiles[0] : NULL;
}

static bool known_policy(const char *name)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(policy_names); i++)
        if (strcmp(policy_names[i], name) == 0)
            return true;
    return false;
}

static int parse_affinity(const char *s, enum kv_config_affinity *out)
{
    if (strcmp(s, "header") == 0)
        *out = KV_CONFIG_AFFINITY_HEADER;
    else if (strcmp(s, "user") == 0)
        *out = KV_CONFIG_AFFINITY_USER;
    else if (strcmp(s, "client-ip") == 0)
        *out = KV_CONFIG_AFFINITY_CLIENT_IP;
    else if (strcmp(s, "none") == 0)
        *out = KV_CONFIG_AFFINITY_NONE;
    else
        return KV_ECONFIG;
    return 0;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = kv_strdup(s);
}

static char *lower_dup(const char *s)
{
    char *d = kv_strdup(s);
    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(*s == '-' || *s == '_' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

/* Splits "host:port" (or "[v6]:port") for --backends-dns. */
static int parse_hostport(const char *s, char **host, int *port)
{
    struct kv_config_backend b;
    char e[8];

    if (strstr(s, "://"))
        return KV_ECONFIG;
    if (kv_config_parse_url(s, &b, e, sizeof(e)) < 0)
        return KV_ECONFIG;
    free(*host);
    *host = b.host;
    *port = b.port;
    free(b.url);
    free(b.name);
    return 0;
}

/* ---- YAML walk ------------------------------------------------------------------------- */

struct walk {
    yaml_document_t *doc;
    struct kv_config *cfg;
    char path[256];
    size_t plen;
    char *err;
    size_t errlen;
    int rc;
};

static size_t path_push(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct walk *w, const char *fmt, ...)
{
    size_t old = w->plen;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(w->path + w->plen, sizeof(w->path) - w->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->plen = KV_MIN(w->plen + (size_t)n, sizeof(w->path) - 1);
    return old;
}

static void path_pop(struct walk *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

static size_t push_key(struct walk *w, const char *key)
{
    return w->plen ? path_push(w, ".%s", key) : path_push(w, "%s", key);
}

static int fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct walk *w, const char *fmt, ...)
{
    char reason[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    w->rc = errf(w->err, w->errlen, "%s: %s", w->plen ? w->path : "(top level)", reason);
    return KV_ECONFIG;
}

static yaml_node_t *node(struct walk *w, int id)
{
    return yaml_document_get_node(w->doc, id);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

/* The scalar text of <n>, or NULL after a "must be a scalar" error. */
static const char *scalar(struct walk *w, yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        fail(w, "must be a scalar, not %s", node_kind(n));
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int want(struct walk *w, yaml_node_t *n, yaml_node_type_t type, const char *what)
{
    if (n->type == type)
        return 0;
    /* An empty value ("key:") is a null scalar: treat it as an empty list or mapping. */
    return fail(w, "must be %s, not %s", what, node_kind(n));
}

static bool is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static int get_number(struct walk *w, yaml_node_t *n, double min, double max, bool integer,
                      double *out)
{
    const char *s = scalar(w, n);
    double v;

    if (!s)
        return KV_ECONFIG;
    if (!parse_number(s, &v))
        return fail(w, "'%s' is not a number", s);
    if (integer && v != floor(v))
        return fail(w, "'%s' must be an integer", s);
    if (v < min || v > max)
        return fail(w, "%s is out of range [%.15g, %.15g]", s, min, max);
    *out = v;
    return 0;
}

static int get_bool(struct walk *w, yaml_node_t *n, bool *out)
{
    const char *s = scalar(w, n);
    if (!s)
        return KV_ECONFIG;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = false;
    else
        return fail(w, "'%s' is not a boolean (true/false)", s);
    return 0;
}

enum ftype { F_UINT, F_SIZE, F_PORT, F_STR, F_PATH, F_BOOL, F_LEVEL, F_AFFINITY, F_HEADER };

struct field {
    const char *key;
    enum ftype type;
    size_t off;
    double min, max;
};

#define FLD(k, t, member, lo, hi) {k, t, offsetof(struct kv_config, member), lo, hi}
#define MS_MAX 86400000.0

static int set_field(struct walk *w, const struct field *f, yaml_node_t *n)
{
    char *base = (char *)w->cfg + f->off;
    const char *s;
    double v;
    bool b = false;

    switch (f->type) {
    case F_UINT:
    case F_SIZE:
    case F_PORT:
        if (get_number(w, n, f->min, f->max, true, &v) < 0)
            return KV_ECONFIG;
        if (f->type == F_UINT)
            *(unsigned *)(void *)base = (unsigned)v;
        else if (f->type == F_SIZE)
            *(size_t *)(void *)base = (size_t)v;
        else
            *(int *)(void *)base = (int)v;
        return 0;
    case F_BOOL:
        if (get_bool(w, n, &b) < 0)
            return KV_ECONFIG;
        *(bool *)(void *)base = b;
        return 0;
    default:
        break;
    }
    if (!(s = scalar(w, n)))
        return KV_ECONFIG;
    switch (f->type) {
    case F_STR:
        if (!*s)
            return fail(w, "must not be empty");
        set_str((char **)(void *)base, s);
        return 0;
    case F_PATH:
        if (s[0] != '/' || strpbrk(s, " \r\n\t"))
            return fail(w, "'%s' must be a path starting with '/'", s);
        set_str((char **)(void *)base, s);
        return 0;
    case F_HEADER:
        if (!is_token(s))
            return fail(w, "'%s' is not a valid header name", s);
        free(*(char **)(void *)base);
        *(char **)(void *)base = lower_dup(s);
        return 0;
    case F_LEVEL:
        if (kv_log_parse_level(s, (enum kv_log_level *)(void *)base) < 0)
            return fail(w, "'%s' is not a log level (debug, info, warning, error, off)", s);
        return 0;
    case F_AFFINITY:
        if (parse_affinity(s, (enum kv_config_affinity *)(void *)base) < 0)
            return fail(w, "'%s' is not a session source (header, user, client-ip, none)", s);
        return 0;
    default:
        return fail(w, "internal: unhandled field type");
    }
}

typedef int (*special_fn)(struct walk *w, yaml_node_t *n);

struct special {
    const char *key;
    special_fn fn;
};

struct section {
    const char *key;
    const struct field *fields;
    size_t nfields;
    const struct special *specials; /* keys handled by a walker instead of the table */
    size_t nspecials;
};

/* Walks mapping <n> with <sec>'s fields; a key among <sec>'s specials goes to its walker. */
static int walk_fields(struct walk *w, yaml_node_t *n, const struct section *sec)
{
    yaml_node_pair_t *pair;

    if (is_null(n))
        return 0;
    if (want(w, n, YAML_MAPPING_NODE, "a mapping") < 0)
        return KV_ECONFIG;
    for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = node(w, pair->key), *vn = node(w, pair->value);
        const char *key = scalar(w, kn);
        const struct field *f = NULL;
        const struct special *sp = NULL;
        size_t old;
        int rc;

        if (!key)
            return KV_ECONFIG;
        old = push_key(w, key);
        for (size_t i = 0; i < sec->nfields; i++)
            if (strcmp(sec->fields[i].key, key) == 0)
                f = &sec->fields[i];
        for (size_t i = 0; i < sec->nspecials; i++)
            if (strcmp(sec->specials[i].key, key) == 0)
                sp = &sec->specials[i];
        if (f)
            rc = set_field(w, f, vn);
        else if (sp)
            rc = sp->fn(w, vn);
        else
            rc = fail(w, "unknown key");
        if (rc < 0)
            return rc;
        path_pop(w, old);
    }
    return 0;
}

static const struct field server_fields[] = {
    FLD("host", F_STR, host, 0, 0),
    FLD("port", F_PORT, port, 0, 65535),
    FLD("max_body_bytes", F_SIZE, max_body_bytes, 1024, 1 << 30),
    FLD("max_header_bytes", F_SIZE, max_header_bytes, 1024, 1 << 20),
    FLD("header_timeout_ms", F_UINT, header_timeout_ms, 1, MS_MAX),
    FLD("idle_timeout_ms", F_UINT, idle_timeout_ms, 1, MS_MAX),
    FLD("drain_timeout_ms", F_UINT, drain_timeout_ms, 0, MS_MAX),
};

static const struct field health_fields[] = {
    FLD("path", F_PATH, health_path, 0, 0),
    FLD("interval_ms", F_UINT, health_interval_ms, 10, MS_MAX),
    FLD("timeout_ms", F_UINT, health_timeout_ms, 10, MS_MAX),
    FLD("rise", F_UINT, health_rise, 1, 100),
    FLD("fall", F_UINT, health_fall, 1, 100),
    FLD("eject_on_5xx", F_BOOL, eject_on_5xx, 0, 0),
};

static const struct field scrape_fields[] = {
    FLD("interval_ms", F_UINT, scrape_interval_ms, 0, MS_MAX),
    FLD("timeout_ms", F_UINT, scrape_timeout_ms, 10, MS_MAX),
};

static const struct field index_fields[] = {
    FLD("max_entries", F_SIZE, index_max_entries, 1024, 1e10),
    FLD("default_capacity_blocks", F_SIZE, index_default_capacity, 1, 1e10),
};

static const struct field proxy_fields[] = {
    FLD("high_water_bytes", F_SIZE, high_water_bytes, 4096, 1 << 30),
    FLD("max_attempts", F_UINT, max_attempts, 1, 16),
    FLD("max_inflight", F_UINT, max_inflight, 0, 1000000),
};

static int walk_trusted(struct walk *w, yaml_node_t *n)
{
    size_t i = 0, count;

    if (is_null(n))
        return 0;
    if (want(w, n, YAML_SEQUENCE_NODE, "a list of address ranges") < 0)
        return KV_ECONFIG;
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    KV_FREE(&w->cfg->trusted);
    w->cfg->trusted = kv_calloc(count ? count : 1, sizeof(*w->cfg->trusted));
    w->cfg->ntrusted = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        size_t old = path_push(w, "[%zu]", i);
        const char *s = scalar(w, node(w, *it));
        if (!s)
            return KV_ECONFIG;
        if (kv_config_parse_cidr(s, &w->cfg->trusted[i]) < 0)
            return fail(w, "'%s' is not an address or address/bits range", s);
        w->cfg->ntrusted++;
        path_pop(w, old);
    }
    return 0;
}

static const struct special session_specials[] = {{"trusted_proxies", walk_trusted}};

static const struct field session_fields[] = {
    FLD("source", F_AFFINITY, affinity, 0, 0),
    FLD("header", F_HEADER, session_header, 0, 0),
    FLD("ttl_s", F_UINT, session_ttl_s, 1, 365.0 * 86400),
    FLD("max_sessions", F_SIZE, session_max, 1, 1e9),
};

/* One static backend: a URL string, or {url, name, capacity_blocks}. */
static int walk_backend(struct walk *w, yaml_node_t *n, struct kv_config_backend *b)
{
    const char *url = NULL, *name = NULL;
    double v = 0;
    char e[300];

    if (n->type == YAML_SCALAR_NODE) {
        url = scalar(w, n);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *key = scalar(w, node(w, p->key));
            size_t old;
            if (!key)
                return KV_ECONFIG;
            old = push_key(w, key);
            if (strcmp(key, "url") == 0 && (url = scalar(w, node(w, p->value))) != NULL)
                path_pop(w, old);
            else if (strcmp(key, "name") == 0 && (name = scalar(w, node(w, p->value))) != NULL)
                path_pop(w, old);
            else if (strcmp(key, "capacity_blocks") == 0 &&
                     get_number(w, node(w, p->value), 1, UINT32_MAX, true, &v) == 0)
                path_pop(w, old);
            else
                return w->rc ? w->rc : fail(w, "unknown key");
        }
        if (!url)
            return fail(w, "missing key 'url'");
    } else {
        return fail(w, "must be a URL or a mapping with 'url'");
    }
    if (!url)
        return KV_ECONFIG;
    if (kv_config_parse_url(url, b, e, sizeof(e)) < 0)
        return fail(w, "%s", e);
    if (name) {
        if (!*name || strlen(name) > 128 || strpbrk(name, "\"\\\r\n"))
            return fail(w, "name '%s' must be 1..128 characters without quotes", name);
        set_str(&b->name, name);
    }
    b->capacity_blocks = (uint32_t)v;
    return 0;
}

static int walk_static(struct walk *w, yaml_node_t *n)
{
    size_t i = 0, count;

    if (is_null(n))
        return 0;
    if (want(w, n, YAML_SEQUENCE_NODE, "a list of backend URLs") < 0)
        return KV_ECONFIG;
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    free_backends(w->cfg);
    w->cfg->backends = kv_calloc(count ? count : 1, sizeof(*w->cfg->backends));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        size_t old = path_push(w, "[%zu]", i);
        /* Counted first so that cleanup frees a half-parsed entry. */
        w->cfg->nbackends++;
        if (walk_backend(w, node(w, *it), &w->cfg->backends[i]) < 0)
            return KV_ECONFIG;
        for (size_t j = 0; j < i; j++)
            if (strcmp(w->cfg->backends[j].name, w->cfg->backends[i].name) == 0)
                return fail(w, "duplicate backend name '%s'", w->cfg->backends[i].name);
        path_pop(w, old);
    }
    return 0;
}

static int walk_dns(struct walk *w, yaml_node_t *n)
{
    const char *s;

    if (is_null(n))
        return 0;
    if (!(s = scalar(w, n)))
        return KV_ECONFIG;
    if (parse_hostport(s, &w->cfg->dns_host, &w->cfg->dns_port) < 0)
        return fail(w, "'%s' must be host:port", s);
    return 0;
}

static const struct field backend_fields[] = {
    FLD("dns_interval_ms", F_UINT, dns_interval_ms, 100, MS_MAX),
    FLD("connect_timeout_ms", F_UINT, connect_timeout_ms, 1, MS_MAX),
    FLD("response_timeout_ms", F_UINT, response_timeout_ms, 1, MS_MAX),
    FLD("max_idle", F_UINT, max_idle, 0, 100000),
};

/* "backends:" holds the "static:" list and "dns:" besides its plain fields. */
static int walk_backends(struct walk *w, yaml_node_t *n)
{
    static const struct special specials[] = {{"static", walk_static}, {"dns", walk_dns}};
    static const struct section sec = {"backends", backend_fields, KV_ARRAY_LEN(backend_fields),
                                       specials, KV_ARRAY_LEN(specials)};
    return walk_fields(w, n, &sec);
}

/* ---- scheduling ------------------------------------------------------------------------ */

static int walk_params(struct walk *w, yaml_node_t *n, struct kv_config_plugin *pl,
                       const struct plugin_kind *spec)
{
    size_t count;

    if (is_null(n))
        return 0;
    if (want(w, n, YAML_MAPPING_NODE, "a mapping") < 0)
        return KV_ECONFIG;
    count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    pl->params = kv_calloc(count ? count : 1, sizeof(*pl->params));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(w, node(w, p->key));
        const struct param_spec *ps = NULL;
        struct kv_config_param *out;
        size_t old;
        double v;

        if (!key)
            return KV_ECONFIG;
        old = push_key(w, key);
        for (const struct param_spec *q = spec->params; q->key; q++)
            if (strcmp(q->key, key) == 0)
                ps = q;
        if (!ps)
            return fail(w, "unknown parameter for plugin type '%s'", spec->type);
        for (size_t j = 0; j < pl->nparams; j++)
            if (strcmp(pl->params[j].key, key) == 0)
                return fail(w, "duplicate parameter");
        if (get_number(w, node(w, p->value), ps->min, ps->max, ps->integer, &v) < 0)
            return KV_ECONFIG;
        out = &pl->params[pl->nparams++];
        out->key = kv_strdup(key);
        out->text = kv_strdup((const char *)node(w, p->value)->data.scalar.value);
        out->num = v;
        out->is_num = true;
        path_pop(w, old);
    }
    return 0;
}

static int walk_plugin(struct walk *w, yaml_node_t *n, struct kv_config_plugin *pl)
{
    yaml_node_t *params = NULL;
    const struct plugin_kind *spec;

    if (want(w, n, YAML_MAPPING_NODE, "a mapping with 'type'") < 0)
        return KV_ECONFIG;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(w, node(w, p->key)), *v;
        size_t old;
        if (!key)
            return KV_ECONFIG;
        old = push_key(w, key);
        if (strcmp(key, "parameters") == 0) {
            params = node(w, p->value);
        } else if (strcmp(key, "type") == 0 || strcmp(key, "name") == 0) {
            if (!(v = scalar(w, node(w, p->value))))
                return KV_ECONFIG;
            if (!*v)
                return fail(w, "must not be empty");
            set_str(strcmp(key, "type") == 0 ? &pl->type : &pl->name, v);
        } else {
            return fail(w, "unknown key (expected type, name, parameters)");
        }
        path_pop(w, old);
    }
    if (!pl->type)
        return fail(w, "missing key 'type'");
    if (!(spec = find_plugin_spec(pl->type))) {
        size_t old = push_key(w, "type");
        int rc = fail(w, "unknown plugin type '%s'", pl->type);
        path_pop(w, old);
        return rc;
    }
    if (!pl->name)
        pl->name = kv_strdup(pl->type);
    if (params) {
        size_t old = push_key(w, "parameters");
        if (walk_params(w, params, pl, spec) < 0)
            return KV_ECONFIG;
        path_pop(w, old);
    }
    return 0;
}

static int walk_plugins(struct walk *w, yaml_node_t *n)
{
    struct kv_config *cfg = w->cfg;
    size_t i = 0, count;

    if (want(w, n, YAML_SEQUENCE_NODE, "a list of plugins") < 0)
        return KV_ECONFIG;
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    free_scheduling(cfg);
    cfg->plugins = kv_calloc(count ? count : 1, sizeof(*cfg->plugins));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        size_t old = path_push(w, "[%zu]", i);
        cfg->nplugins++;
        if (walk_plugin(w, node(w, *it), &cfg->plugins[i]) < 0)
            return KV_ECONFIG;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->plugins[j].name, cfg->plugins[i].name) == 0)
                return fail(w, "duplicate plugin name '%s' (give each instance a name)",
                            cfg->plugins[i].name);
        path_pop(w, old);
    }
    return 0;
}

static int walk_ref(struct walk *w, yaml_node_t *n, struct kv_config_ref *ref)
{
    const char *name = NULL;
    bool found = false;

    if (want(w, n, YAML_MAPPING_NODE, "a mapping with 'pluginRef'") < 0)
        return KV_ECONFIG;
    ref->weight = 1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(w, node(w, p->key));
        size_t old;
        if (!key)
            return KV_ECONFIG;
        old = push_key(w, key);
        if (strcmp(key, "pluginRef") == 0) {
            if (!(name = scalar(w, node(w, p->value))))
                return KV_ECONFIG;
            for (size_t j = 0; j < w->cfg->nplugins; j++)
                if (strcmp(w->cfg->plugins[j].name, name) == 0) {
                    ref->plugin = j;
                    found = true;
                }
            if (!found)
                return fail(w, "'%s' names no plugin in plugins", name);
        } else if (strcmp(key, "weight") == 0) {
            if (get_number(w, node(w, p->value), 0, 1e6, false, &ref->weight) < 0)
                return KV_ECONFIG;
        } else {
            return fail(w, "unknown key (expected pluginRef, weight)");
        }
        path_pop(w, old);
    }
    if (!name)
        return fail(w, "missing key 'pluginRef'");
    return 0;
}

static int walk_profile(struct walk *w, yaml_node_t *n, struct kv_config_profile *pr)
{
    if (want(w, n, YAML_MAPPING_NODE, "a mapping with 'name' and 'plugins'") < 0)
        return KV_ECONFIG;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(w, node(w, p->key)), *v;
        yaml_node_t *vn = node(w, p->value);
        size_t old, i = 0;
        if (!key)
            return KV_ECONFIG;
        old = push_key(w, key);
        if (strcmp(key, "name") == 0) {
            if (!(v = scalar(w, vn)))
                return KV_ECONFIG;
            set_str(&pr->name, v);
        } else if (strcmp(key, "plugins") == 0) {
            if (want(w, vn, YAML_SEQUENCE_NODE, "a list of {pluginRef, weight}") < 0)
                return KV_ECONFIG;
            free(pr->refs);
            pr->nrefs = 0;
            pr->refs = kv_calloc((size_t)(vn->data.sequence.items.top -
                                          vn->data.sequence.items.start) + 1,
                                 sizeof(*pr->refs));
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++, i++) {
                size_t o2 = path_push(w, "[%zu]", i);
                if (walk_ref(w, node(w, *it), &pr->refs[i]) < 0)
                    return KV_ECONFIG;
                pr->nrefs++;
                path_pop(w, o2);
            }
        } else {
            return fail(w, "unknown key (expected name, plugins)");
        }
        path_pop(w, old);
    }
    if (!pr->name)
        return fail(w, "missing key 'name'");
    return 0;
}

static int walk_profiles(struct walk *w, yaml_node_t *n)
{
    struct kv_config *cfg = w->cfg;
    size_t i = 0, count;

    if (want(w, n, YAML_SEQUENCE_NODE, "a list of profiles") < 0)
        return KV_ECONFIG;
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    for (size_t j = 0; j < cfg->nprofiles; j++) {
        free(cfg->profiles[j].name);
        free(cfg->profiles[j].refs);
    }
    free(cfg->profiles);
    cfg->nprofiles = 0;
    cfg->profiles = kv_calloc(count ? count : 1, sizeof(*cfg->profiles));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        size_t old = path_push(w, "[%zu]", i);
        cfg->nprofiles++;
        if (walk_profile(w, node(w, *it), &cfg->profiles[i]) < 0)
            return KV_ECONFIG;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->profiles[j].name, cfg->profiles[i].name) == 0)
                return fail(w, "duplicate profile name '%s'", cfg->profiles[i].name);
        path_pop(w, old);
    }
    return 0;
}

/* fail() with "[<i>]" appended to the path. */
static int fail_at(struct walk *w, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct walk *w, size_t i, const char *fmt, ...)
{
    char reason[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    path_push(w, "[%zu]", i);
    return fail(w, "%s", reason);
}

/* A whole-policy plugin (cache-aware-scorer, ...) decides alone: mixing it with weighted
 * scorers in one profile would silently ignore the weights, so it is an error. */
static int check_profiles(struct walk *w)
{
    const struct kv_config *cfg = w->cfg;

    for (size_t i = 0; i < cfg->nprofiles; i++) {
        const char *whole = NULL, *weighted = NULL;
        for (size_t j = 0; j < cfg->profiles[i].nrefs; j++) {
            const struct kv_config_ref *ref = &cfg->profiles[i].refs[j];
            const struct plugin_kind *k = find_plugin_spec(cfg->plugins[ref->plugin].type);
            if (k->policy && whole && strcmp(whole, k->type) != 0)
                return fail_at(w, i, "%s and %s are both whole policies; use one", whole,
                               k->type);
            if (k->policy)
                whole = k->type;
            if (k->weighted && ref->weight > 0)
                weighted = k->type;
        }
        if (whole && weighted)
            return fail_at(w, i, "%s is a whole policy and cannot be mixed with weighted "
                                 "scorers (%s)", whole, weighted);
    }
    return 0;
}

/* The policy a file's profile selects when it names none: the whole-policy plugin it refers
 * to, else "prefix" (the weighted scorers of the profile and a max-score picker). */
static const char *profile_policy(const struct kv_config *cfg)
{
    const struct kv_config_profile *pr = kv_config_profile(cfg);

    for (size_t j = 0; pr && j < pr->nrefs; j++) {
        const struct plugin_kind *k = find_plugin_spec(cfg->plugins[pr->refs[j].plugin].type);
        if (k->policy)
            return k->policy;
    }
    return "prefix";
}

bool kv_config_is_weighted(const char *type)
{
    const struct plugin_kind *k = find_plugin_spec(type);
    return k && k->weighted;
}

const struct kv_config_plugin *kv_config_plugin_of(const struct kv_config *cfg, const char *type)
{
    for (size_t i = 0; i < cfg->nplugins; i++)
        if (strcmp(cfg->plugins[i].type, type) == 0)
            return &cfg->plugins[i];
    return NULL;
}

/* Sections of llm-d's EndpointPickerConfig that kvroute has no counterpart for: accepted, so a
 * pasted llm-d file loads, and ignored with a warning. */
static bool llmd_ignored(struct walk *w, const char *key)
{
    static const char *const keys[] = {"featureGates", "saturationDetector", "dataLayer",
                                       "flowControl",  "parser",             "requestHandler"};

    for (size_t i = 0; i < KV_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0) {
            size_t old = push_key(w, key);
            kv_warn("config: %s: an llm-d section kvroute has no counterpart for; ignored",
                    w->path);
            path_pop(w, old);
            return true;
        }
    return false;
}

/* The scheduling mapping (also accepted at the top level, as an llm-d file would be). Plugins
 * are walked before profiles whatever their order in the file, so refs can be resolved. */
static int walk_scheduling_keys(struct walk *w, yaml_node_t *n, bool top)
{
    yaml_node_t *plugins = NULL, *profiles = NULL;
    bool policy_set = false;

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(w, node(w, p->key)), *v;
        yaml_node_t *vn = node(w, p->value);
        size_t old;
        if (!key)
            return KV_ECONFIG;
        if (strcmp(key, "plugins") == 0) {
            plugins = vn;
            continue;
        }
        if (strcmp(key, "schedulingProfiles") == 0) {
            profiles = vn;
            continue;
        }
        if (top)
            continue; /* the top-level walker handles (or rejects) everything else */
        if (llmd_ignored(w, key))
            continue;
        old = push_key(w, key);
        if (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0) {
            if (!scalar(w, vn))
                return KV_ECONFIG;
        } else if (strcmp(key, "policy") == 0) {
            if (!(v = scalar(w, vn)))
                return KV_ECONFIG;
            if (!known_policy(v))
                return fail(w, "unknown policy '%s' (round-robin, least-load, session, prefix, "
                               "sglang, chwbl, cache-aware)", v);
            set_str(&w->cfg->policy, v);
            policy_set = true;
        } else {
            return fail(w, "unknown key");
        }
        path_pop(w, old);
    }
    if (plugins) {
        size_t old = push_key(w, "plugins");
        if (walk_plugins(w, plugins) < 0)
            return KV_ECONFIG;
        path_pop(w, old);
    }
    if (profiles) {
        size_t old = push_key(w, "schedulingProfiles");
        if (!plugins)
            return fail(w, "needs a plugins list to refer to");
        if (walk_profiles(w, profiles) < 0 || check_profiles(w) < 0)
            return KV_ECONFIG;
        path_pop(w, old);
        if (!policy_set)
            set_str(&w->cfg->policy, profile_policy(w->cfg));
    }
    return 0;
}

static int walk_scheduling(struct walk *w, yaml_node_t *n)
{
    if (is_null(n))
        return 0;
    if (want(w, n, YAML_MAPPING_NODE, "a mapping") < 0)
        return KV_ECONFIG;
    return walk_scheduling_keys(w, n, false);
}

static int walk_section(struct walk *w, const char *key, yaml_node_t *vn)
{
    static const struct section sections[] = {
        {"server", server_fields, KV_ARRAY_LEN(server_fields), NULL, 0},
        {"health", health_fields, KV_ARRAY_LEN(health_fields), NULL, 0},
        {"scrape", scrape_fields, KV_ARRAY_LEN(scrape_fields), NULL, 0},
        {"index", index_fields, KV_ARRAY_LEN(index_fields), NULL, 0},
        {"proxy", proxy_fields, KV_ARRAY_LEN(proxy_fields), NULL, 0},
        {"session", session_fields, KV_ARRAY_LEN(session_fields), session_specials, 1},
    };
    static const struct field level_field = FLD("log_level", F_LEVEL, log_level, 0, 0);

    for (size_t i = 0; i < KV_ARRAY_LEN(sections); i++)
        if (strcmp(sections[i].key, key) == 0)
            return walk_fields(w, vn, &sections[i]);
    if (strcmp(key, "backends") == 0)
        return walk_backends(w, vn);
    if (strcmp(key, "scheduling") == 0)
        return walk_scheduling(w, vn);
    if (strcmp(key, "log_level") == 0)
        return set_field(w, &level_field, vn);
    if (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0)
        return scalar(w, vn) ? 0 : KV_ECONFIG;
    if (strcmp(key, "plugins") == 0 || strcmp(key, "schedulingProfiles") == 0)
        return 0; /* walked by walk_scheduling_keys(top) */
    return fail(w, "unknown key");
}

static int walk_root(struct walk *w, yaml_node_t *root)
{
    if (!root || is_null(root))
        return 0; /* an empty file is a valid, empty config */
    if (want(w, root, YAML_MAPPING_NODE, "a mapping") < 0)
        return KV_ECONFIG;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *key = scalar(w, node(w, p->key));
        size_t old;
        if (!key)
            return KV_ECONFIG;
        if (llmd_ignored(w, key))
            continue;
        old = push_key(w, key);
        if (walk_section(w, key, node(w, p->value)) < 0)
            return KV_ECONFIG;
        path_pop(w, old);
    }
    return walk_scheduling_keys(w, root, true);
}

int kv_config_load_string(struct kv_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct walk w;
    int rc;

    memset(&w, 0, sizeof(w));
    if (!yaml_parser_initialize(&parser))
        return errf(err, errlen, "cannot initialize the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = errf(err, errlen, "YAML syntax error at line %zu column %zu: %s",
                  parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                  parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return rc;
    }
    w.doc = &doc;
    w.cfg = cfg;
    w.err = err;
    w.errlen = errlen;
    rc = walk_root(&w, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc < 0 ? KV_ECONFIG : 0;
}

int kv_config_load_file(struct kv_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long size;
    int rc;

    if (!f)
        return errf(err, errlen, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > (16 << 20) ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return errf(err, errlen, "%s: unreadable or larger than 16 MiB", path);
    }
    text = kv_malloc((size_t)size + 1);
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        fclose(f);
        return errf(err, errlen, "%s: read error", path);
    }
    fclose(f);
    {
        char inner[KV_CONFIG_ERR_MAX];
        rc = kv_config_load_string(cfg, text, (size_t)size, inner, sizeof(inner));
        if (rc < 0)
            errf(err, errlen, "%s: %s", path, inner);
    }
    free(text);
    return rc;
}

/* ---- validation ------------------------------------------------------------------------- */

int kv_config_validate(const struct kv_config *cfg, char *err, size_t errlen)
{
    if (cfg->nbackends == 0 && !cfg->dns_host)
        return errf(err, errlen, "backends: no backend given (use --backend URL, --backends-dns "
                                 "host:port, backends.static or backends.dns)");
    if (!known_policy(cfg->policy))
        return errf(err, errlen, "scheduling.policy: unknown policy '%s'", cfg->policy);
    if (strcmp(cfg->policy, "prefix") == 0 && kv_config_profile(cfg)) {
        const struct kv_config_profile *pr = kv_config_profile(cfg);
        bool scorer = false;
        for (size_t i = 0; i < pr->nrefs; i++)
            if (kv_config_is_weighted(cfg->plugins[pr->refs[i].plugin].type) &&
                pr->refs[i].weight > 0)
                scorer = true;
        if (!scorer)
            return errf(err, errlen, "scheduling.schedulingProfiles: profile '%s' has no "
                                     "weighted scorer with a weight above 0 (policy prefix)",
                        pr->name);
    }
    if (cfg->health_timeout_ms > cfg->health_interval_ms * 10u)
        return errf(err, errlen, "health.timeout_ms: %u is more than 10 x health.interval_ms",
                    cfg->health_timeout_ms);
    if (cfg->affinity == KV_CONFIG_AFFINITY_HEADER && !cfg->session_header)
        return errf(err, errlen, "session.header: needed when session.source is header");
    return 0;
}

/* ---- command line ----------------------------------------------------------------------- */

const char *kv_config_usage(void)
{
    return "Usage: kvroute [options]\n"
           "KV-cache-aware router for OpenAI-compatible LLM servers (vLLM, kvsim).\n"
           "\n"
           "Options (flags override the config file):\n"
           "  --config FILE            YAML configuration (see docs/configuration.md)\n"
           "  --host ADDR              listen address (default 0.0.0.0)\n"
           "  --port N                 listen port (default 8000; 0 picks a free port)\n"
           "  --backend URL            a backend, http://host:port; repeat for more (replaces\n"
           "                           the file's backends.static list)\n"
           "  --backends-dns HOST:PORT discover backends by resolving HOST (e.g. a Kubernetes\n"
           "                           headless Service); every address becomes a backend\n"
           "  --dns-interval-ms N      re-resolve interval (default 5000)\n"
           "  --policy NAME            round-robin, least-load, session, prefix, sglang, chwbl,\n"
           "                           cache-aware (default); prefix uses the file's\n"
           "                           schedulingProfiles weights when it has some\n"
           "  --health-interval-ms N   active /health probe interval (default 1000)\n"
           "  --health-timeout-ms N    probe timeout (default 1000)\n"
           "  --scrape-interval-ms N   backend /metrics scrape interval (default 100; 0 = off)\n"
           "  --connect-timeout-ms N   backend connect timeout (default 2000)\n"
           "  --response-timeout-ms N  backend response timeout, to the head and between reads\n"
           "                           (default 300000)\n"
           "  --session-source SRC     affinity key: header (default), user, client-ip, none\n"
           "  --session-header NAME    header carrying the session key (default x-session-id)\n"
           "  --trusted-proxy CIDR     peer allowed to set X-Forwarded-For (repeatable)\n"
           "  --session-ttl-s N        session lifetime after last use (default 7200)\n"
           "  --max-body-bytes N       request body limit (default 8388608)\n"
           "  --max-inflight N         load bound: a backend with N requests in flight takes no\n"
           "                           more until one ends; all at the bound: 503 (default 0,\n"
           "                           no bound)\n"
           "  --drain-timeout-ms N     on SIGTERM, longest wait for in-flight requests\n"
           "                           (default 30000)\n"
           "  --log-level LEVEL        debug, info (default), warning, error, off\n"
           "  --check-config           validate the configuration, print it, and exit\n"
           "  --help                   this text\n"
           "  --version                print the version\n";
}

enum {
    OPT_CONFIG = 256,
    OPT_HOST,
    OPT_PORT,
    OPT_BACKEND,
    OPT_DNS,
    OPT_DNS_INTERVAL,
    OPT_POLICY,
    OPT_HEALTH_INTERVAL,
    OPT_HEALTH_TIMEOUT,
    OPT_SCRAPE_INTERVAL,
    OPT_CONNECT_TIMEOUT,
    OPT_RESPONSE_TIMEOUT,
    OPT_SESSION_SOURCE,
    OPT_SESSION_HEADER,
    OPT_TRUSTED,
    OPT_SESSION_TTL,
    OPT_MAX_BODY,
    OPT_MAX_INFLIGHT,
    OPT_DRAIN,
    OPT_LOG_LEVEL,
    OPT_CHECK,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"backends-dns", required_argument, NULL, OPT_DNS},
    {"dns-interval-ms", required_argument, NULL, OPT_DNS_INTERVAL},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"health-interval-ms", required_argument, NULL, OPT_HEALTH_INTERVAL},
    {"health-timeout-ms", required_argument, NULL, OPT_HEALTH_TIMEOUT},
    {"scrape-interval-ms", required_argument, NULL, OPT_SCRAPE_INTERVAL},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"response-timeout-ms", required_argument, NULL, OPT_RESPONSE_TIMEOUT},
    {"session-source", required_argument, NULL, OPT_SESSION_SOURCE},
    {"session-header", required_argument, NULL, OPT_SESSION_HEADER},
    {"trusted-proxy", required_argument, NULL, OPT_TRUSTED},
    {"session-ttl-s", required_argument, NULL, OPT_SESSION_TTL},
    {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"drain-timeout-ms", required_argument, NULL, OPT_DRAIN},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int opt)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

static int flag_uint(const char *arg, double min, double max, double *out)
{
    double v;
    if (!parse_number(arg, &v) || v != floor(v) || v < min || v > max)
        return KV_ECONFIG;
    *out = v;
    return 0;
}

/* Numeric flags: (option, destination kind, offset, range). */
struct num_flag {
    int opt;
    enum ftype type;
    size_t off;
    double min, max;
};

static const struct num_flag num_flags[] = {
    {OPT_PORT, F_PORT, offsetof(struct kv_config, port), 0, 65535},
    {OPT_DNS_INTERVAL, F_UINT, offsetof(struct kv_config, dns_interval_ms), 100, MS_MAX},
    {OPT_HEALTH_INTERVAL, F_UINT, offsetof(struct kv_config, health_interval_ms), 10, MS_MAX},
    {OPT_HEALTH_TIMEOUT, F_UINT, offsetof(struct kv_config, health_timeout_ms), 10, MS_MAX},
    {OPT_SCRAPE_INTERVAL, F_UINT, offsetof(struct kv_config, scrape_interval_ms), 0, MS_MAX},
    {OPT_CONNECT_TIMEOUT, F_UINT, offsetof(struct kv_config, connect_timeout_ms), 1, MS_MAX},
    {OPT_RESPONSE_TIMEOUT, F_UINT, offsetof(struct kv_config, response_timeout_ms), 1, MS_MAX},
    {OPT_SESSION_TTL, F_UINT, offsetof(struct kv_config, session_ttl_s), 1, 365.0 * 86400},
    {OPT_MAX_BODY, F_SIZE, offsetof(struct kv_config, max_body_bytes), 1024, 1 << 30},
    {OPT_MAX_INFLIGHT, F_UINT, offsetof(struct kv_config, max_inflight), 0, 1000000},
    {OPT_DRAIN, F_UINT, offsetof(struct kv_config, drain_timeout_ms), 0, MS_MAX},
};

static int apply_num_flag(struct kv_config *cfg, const struct num_flag *nf, const char *arg,
                          char *err, size_t errlen)
{
    char *base = (char *)cfg + nf->off;
    double v;

    if (flag_uint(arg, nf->min, nf->max, &v) < 0)
        return errf(err, errlen, "--%s: '%s' must be an integer in [%.15g, %.15g]",
                    opt_name(nf->opt), arg, nf->min, nf->max);
    if (nf->type == F_UINT)
        *(unsigned *)(void *)base = (unsigned)v;
    else if (nf->type == F_SIZE)
        *(size_t *)(void *)base = (size_t)v;
    else
        *(int *)(void *)base = (int)v;
    return 0;
}

static int add_backend_flag(struct kv_config *cfg, const char *arg, bool *first, char *err,
                            size_t errlen)
{
    struct kv_config_backend b;
    char e[300];

    if (kv_config_parse_url(arg, &b, e, sizeof(e)) < 0)
        return errf(err, errlen, "--backend: %s", e);
    if (*first) {
        free_backends(cfg);
        *first = false;
    }
    for (size_t i = 0; i < cfg->nbackends; i++) {
        if (strcmp(cfg->backends[i].name, b.name) == 0) {
            int rc = errf(err, errlen, "--backend: '%s' given twice", arg);
            free(b.url);
            free(b.name);
            free(b.host);
            return rc;
        }
    }
    cfg->backends = kv_realloc(cfg->backends, (cfg->nbackends + 1) * sizeof(*cfg->backends));
    cfg->backends[cfg->nbackends++] = b;
    return 0;
}

static int apply_flag(struct kv_config *cfg, int opt, const char *arg, bool *first_backend,
                      bool *first_trusted, char *err, size_t errlen)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(num_flags); i++)
        if (num_flags[i].opt == opt)
            return apply_num_flag(cfg, &num_flags[i], arg, err, errlen);
    switch (opt) {
    case OPT_HOST:
        if (!*arg)
            return errf(err, errlen, "--host: must not be empty");
        set_str(&cfg->host, arg);
        return 0;
    case OPT_BACKEND:
        return add_backend_flag(cfg, arg, first_backend, err, errlen);
    case OPT_DNS:
        if (parse_hostport(arg, &cfg->dns_host, &cfg->dns_port) < 0)
            return errf(err, errlen, "--backends-dns: '%s' must be host:port", arg);
        return 0;
    case OPT_POLICY:
        if (!known_policy(arg))
            return errf(err, errlen, "--policy: unknown policy '%s'", arg);
        set_str(&cfg->policy, arg);
        return 0;
    case OPT_SESSION_SOURCE:
        if (parse_affinity(arg, &cfg->affinity) < 0)
            return errf(err, errlen, "--session-source: '%s' is not header, user, client-ip "
                                     "or none", arg);
        return 0;
    case OPT_SESSION_HEADER:
        if (!is_token(arg))
            return errf(err, errlen, "--session-header: '%s' is not a header name", arg);
        free(cfg->session_header);
        cfg->session_header = lower_dup(arg);
        return 0;
    case OPT_TRUSTED: {
        struct kv_config_cidr c;
        if (kv_config_parse_cidr(arg, &c) < 0)
            return errf(err, errlen, "--trusted-proxy: '%s' is not an address range", arg);
        if (*first_trusted) {
            cfg->ntrusted = 0;
            *first_trusted = false;
        }
        cfg->trusted = kv_realloc(cfg->trusted, (cfg->ntrusted + 1) * sizeof(c));
        cfg->trusted[cfg->ntrusted++] = c;
        return 0;
    }
    case OPT_LOG_LEVEL:
        if (kv_log_parse_level(arg, &cfg->log_level) < 0)
            return errf(err, errlen, "--log-level: '%s' is not a log level", arg);
        return 0;
    default:
        return errf(err, errlen, "internal: unhandled option %d", opt);
    }
}

int kv_config_parse_args(struct kv_config *cfg, int argc, char *const *argv,
                         enum kv_config_action *action, char *err, size_t errlen)
{
    bool first_backend = true, first_trusted = true;
    int opt, rc;

    *action = KV_CONFIG_RUN;
    /* Pass 1: --help/--version and --config, so the file sits under every other flag. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *action = KV_CONFIG_HELP;
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            *action = KV_CONFIG_VERSION;
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return errf(err, errlen, "--config: needs a file name");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        if (path && (rc = kv_config_load_file(cfg, path, err, errlen)) < 0)
            return rc;
    }
    /* Pass 2: everything else, in order. getopt keeps state in globals: reset it. */
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
        if (opt == '?')
            return errf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
        if (opt == ':')
            return errf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
        if (opt == OPT_CONFIG || opt == OPT_HELP || opt == OPT_VERSION)
            continue;
        if (opt == OPT_CHECK) {
            *action = KV_CONFIG_CHECK;
            continue;
        }
        if ((rc = apply_flag(cfg, opt, optarg, &first_backend, &first_trusted, err, errlen)) < 0)
            return rc;
    }
    if (optind < argc)
        return errf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return kv_config_validate(cfg, err, errlen);
}

/* ---- dump ------------------------------------------------------------------------------- */

static const char *affinity_name(enum kv_config_affinity a)
{
    static const char *const names[] = {"header", "user", "client-ip", "none"};
    return (unsigned)a < KV_ARRAY_LEN(names) ? names[a] : "?";
}

static void dump_scheduling(const struct kv_config *cfg, struct kv_buf *b)
{
    kv_buf_printf(b, "scheduling:\n  policy: %s\n", cfg->policy);
    if (cfg->nplugins)
        kv_buf_appends(b, "  plugins:\n");
    for (size_t i = 0; i < cfg->nplugins; i++) {
        const struct kv_config_plugin *p = &cfg->plugins[i];
        kv_buf_printf(b, "    - type: %s\n      name: %s\n", p->type, p->name);
        if (p->nparams)
            kv_buf_appends(b, "      parameters:\n");
        for (size_t j = 0; j < p->nparams; j++)
            kv_buf_printf(b, "        %s: %.15g\n", p->params[j].key, p->params[j].num);
    }
    if (cfg->nprofiles)
        kv_buf_appends(b, "  schedulingProfiles:\n");
    for (size_t i = 0; i < cfg->nprofiles; i++) {
        kv_buf_printf(b, "    - name: %s\n      plugins:\n", cfg->profiles[i].name);
        for (size_t j = 0; j < cfg->profiles[i].nrefs; j++)
            kv_buf_printf(b, "        - pluginRef: %s\n          weight: %.15g\n",
                          cfg->plugins[cfg->profiles[i].refs[j].plugin].name,
                          cfg->profiles[i].refs[j].weight);
    }
}

int kv_config_dump(const struct kv_config *cfg, struct kv_buf *b)
{
    kv_buf_printf(b, "server:\n  host: %s\n  port: %d\n  max_body_bytes: %zu\n"
                     "  max_header_bytes: %zu\n  header_timeout_ms: %u\n  idle_timeout_ms: %u\n"
                     "  drain_timeout_ms: %u\n",
                  cfg->host, cfg->port, cfg->max_body_bytes, cfg->max_header_bytes,
                  cfg->header_timeout_ms, cfg->idle_timeout_ms, cfg->drain_timeout_ms);
    kv_buf_appends(b, "backends:\n  static:\n");
    for (size_t i = 0; i < cfg->nbackends; i++) {
        kv_buf_printf(b, "    - url: %s\n      name: %s\n", cfg->backends[i].url,
                      cfg->backends[i].name);
        if (cfg->backends[i].capacity_blocks)
            kv_buf_printf(b, "      capacity_blocks: %u\n", cfg->backends[i].capacity_blocks);
    }
    if (cfg->dns_host)
        kv_buf_printf(b, strchr(cfg->dns_host, ':') ? "  dns: \"[%s]:%d\"\n" : "  dns: %s:%d\n",
                      cfg->dns_host, cfg->dns_port);
    kv_buf_printf(b, "  dns_interval_ms: %u\n  connect_timeout_ms: %u\n"
                     "  response_timeout_ms: %u\n  max_idle: %u\n",
                  cfg->dns_interval_ms, cfg->connect_timeout_ms, cfg->response_timeout_ms,
                  cfg->max_idle);
    kv_buf_printf(b, "health:\n  path: %s\n  interval_ms: %u\n  timeout_ms: %u\n  rise: %u\n"
                     "  fall: %u\n  eject_on_5xx: %s\n",
                  cfg->health_path, cfg->health_interval_ms, cfg->health_timeout_ms,
                  cfg->health_rise, cfg->health_fall, cfg->eject_on_5xx ? "true" : "false");
    kv_buf_printf(b, "scrape:\n  interval_ms: %u\n  timeout_ms: %u\n", cfg->scrape_interval_ms,
                  cfg->scrape_timeout_ms);
    kv_buf_printf(b, "session:\n  source: %s\n  header: %s\n  ttl_s: %u\n  max_sessions: %zu\n",
                  affinity_name(cfg->affinity), cfg->session_header, cfg->session_ttl_s,
                  cfg->session_max);
    if (cfg->ntrusted) {
        kv_buf_appends(b, "  trusted_proxies:\n");
        for (size_t i = 0; i < cfg->ntrusted; i++) {
            char a[64];
            inet_ntop(cfg->trusted[i].family, cfg->trusted[i].addr, a, sizeof(a));
            kv_buf_printf(b, "    - \"%s/%u\"\n", a, cfg->trusted[i].bits);
        }
    }
    kv_buf_printf(b, "index:\n  max_entries: %zu\n  default_capacity_blocks: %zu\n",
                  cfg->index_max_entries, cfg->index_default_capacity);
    kv_buf_printf(b, "proxy:\n  high_water_bytes: %zu\n  max_attempts: %u\n  max_inflight: %u\n",
                  cfg->high_water_bytes, cfg->max_attempts, cfg->max_inflight);
    dump_scheduling(cfg, b);
    return kv_buf_printf(b, "log_level: %s\n",
                         (const char *[]){"debug", "info", "warning", "error",
                                          "off"}[cfg->log_level]);
}
