/* SPDX-License-Identifier: MIT */
/* src/router/config.h - kvroute's configuration: defaults, YAML file (libyaml), command line.
 *
 * One struct kv_config holds every setting, filled in three layers: kv_config_init() sets the
 * defaults, kv_config_load_file() / kv_config_load_string() applies a YAML document, and
 * kv_config_parse_args() applies the command line, which overrides the file (a --backend list
 * replaces the file's static list instead of adding to it). kv_config_validate() checks
 * cross-field rules at the end. The config is immutable once the daemon starts.
 *
 * The YAML's `scheduling:` section reads like llm-d's EndpointPickerConfig: `plugins:` is a list
 * of {type, name?, parameters}, `schedulingProfiles:` a list of {name, plugins: [{pluginRef,
 * weight?}]}. Plugin types and their parameters are checked against a table here (names,
 * numeric ranges), so a typo stops start-up instead of being ignored; what each plugin does is
 * the scheduler's business (src/router/sched.h).
 *
 * Errors: every failing call returns KV_ECONFIG and writes one message into the caller's
 * <err> buffer that names the key as a path (`scheduling.plugins[2].parameters.weight`) and the
 * reason. Ownership: the struct owns every string and array in it; kv_config_cleanup() frees
 * them all. Cost: start-up only; nothing here is on the request path.
 */
#ifndef KV_ROUTER_CONFIG_H
#define KV_ROUTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/log.h"

#define KV_CONFIG_ERR_MAX 512

/* One statically configured backend. */
struct kv_config_backend {
    char *url;  /* as given: http://host:port */
    char *name; /* label in metrics and headers; default "host:port" */
    char *host; /* numeric address or a name */
    int port;
    uint32_t capacity_blocks; /* its prefix-cache capacity in index blocks; 0: not configured
                               * (its cache_config_info, else index.default_capacity_blocks) */
};

/* Where the session-affinity key comes from. */
enum kv_config_affinity {
    KV_CONFIG_AFFINITY_HEADER = 0, /* a request header (session.header) */
    KV_CONFIG_AFFINITY_USER,       /* the body's "user" field */
    KV_CONFIG_AFFINITY_CLIENT_IP,  /* the peer address (X-Forwarded-For from trusted peers) */
    KV_CONFIG_AFFINITY_NONE
};

/* An address range for trusted proxies: family AF_INET or AF_INET6, address in network order. */
struct kv_config_cidr {
    int family;
    uint8_t addr[16];
    unsigned bits;
};

/* A plugin parameter: numbers are parsed at load time (is_num); other scalars stay text. */
struct kv_config_param {
    char *key;
    char *text;
    double num;
    bool is_num;
};

struct kv_config_plugin {
    char *type;
    char *name; /* defaults to type */
    struct kv_config_param *params;
    size_t nparams;
};

struct kv_config_ref {
    size_t plugin; /* index into kv_config.plugins */
    double weight; /* default 1 */
};

struct kv_config_profile {
    char *name;
    struct kv_config_ref *refs;
    size_t nrefs;
};

struct kv_config {
    /* server */
    char *host;
    int port;
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned header_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned drain_timeout_ms; /* SIGTERM: longest wait for in-flight requests */
    enum kv_log_level log_level;

    /* backends */
    struct kv_config_backend *backends;
    size_t nbackends;
    char *dns_host; /* NULL: no DNS discovery */
    int dns_port;
    unsigned dns_interval_ms;
    unsigned connect_timeout_ms;
    unsigned response_timeout_ms;
    unsigned max_idle;

    /* health */
    char *health_path;
    unsigned health_interval_ms;
    unsigned health_timeout_ms;
    unsigned health_rise; /* consecutive passing probes to come back */
    unsigned health_fall; /* consecutive failing probes to be ejected */
    bool eject_on_5xx;    /* passive ejection on a 5xx answer (connection errors always eject) */

    /* scrape */
    unsigned scrape_interval_ms; /* 0 disables scraping */
    unsigned scrape_timeout_ms;

    /* session affinity */
    enum kv_config_affinity affinity;
    char *session_header; /* lower-cased */
    struct kv_config_cidr *trusted;
    size_t ntrusted;
    unsigned session_ttl_s;
    size_t session_max;

    /* prefix index */
    size_t index_max_entries;      /* hard cap on blocks remembered over all backends */
    size_t index_default_capacity; /* per-backend blocks until its cache_config_info is scraped */

    /* proxy */
    size_t high_water_bytes; /* client output above it pauses the backend read */
    unsigned max_attempts;   /* backends tried per request (1 = no retry) */
    unsigned max_inflight;   /* load bound: requests in flight per backend; 0 = none */

    /* scheduling */
    char *policy; /* round-robin, least-load, session, prefix, sglang, chwbl, cache-aware; a
                   * file with schedulingProfiles and no policy gets the one its profile names
                   * (cache-aware-scorer -> cache-aware, ...), else prefix with its weights */
    struct kv_config_plugin *plugins;
    size_t nplugins;
    struct kv_config_profile *profiles;
    size_t nprofiles;
};

/* Fills <cfg> with the defaults (documented in docs/configuration.md). Allocates. */
void kv_config_init(struct kv_config *cfg);
/* Frees everything <cfg> owns; it must be kv_config_init()ed again before reuse. */
void kv_config_cleanup(struct kv_config *cfg);

/* Applies the YAML document in <text> (<len> bytes) over <cfg>. Keys absent from the document
 * keep their value. Returns 0, or KV_ECONFIG with a message in <err> (<errlen> bytes); <cfg> may
 * then be partly updated and should be cleaned up. */
int kv_config_load_string(struct kv_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen);
/* Reads <path> and applies it as above; a missing or unreadable file is KV_ECONFIG too. */
int kv_config_load_file(struct kv_config *cfg, const char *path, char *err, size_t errlen);

/* Result of kv_config_parse_args beyond the config itself. */
enum kv_config_action {
    KV_CONFIG_RUN = 0,
    KV_CONFIG_HELP,    /* --help: print kv_config_usage() and exit 0 */
    KV_CONFIG_VERSION, /* --version */
    KV_CONFIG_CHECK,   /* --check-config: validated; print kv_config_dump() and exit 0 */
};

/* Parses argv: --config FILE is loaded first (wherever it stands), then every other flag is
 * applied over it in order, then kv_config_validate() runs. Returns 0 and sets *<action>, or
 * KV_ECONFIG with a message naming the flag. <argv> is borrowed. */
int kv_config_parse_args(struct kv_config *cfg, int argc, char *const *argv,
                         enum kv_config_action *action, char *err, size_t errlen);
/* Cross-field checks (policy exists, profiles refer to plugins, a backend source is given, ...).
 * Returns 0 or KV_ECONFIG with a message. */
int kv_config_validate(const struct kv_config *cfg, char *err, size_t errlen);
/* Appends the effective configuration to <b> as YAML that kv_config_load_string() reads back
 * to the same values. Returns 0 or KV_ETOOBIG. */
int kv_config_dump(const struct kv_config *cfg, struct kv_buf *b);
/* The --help text (static). */
const char *kv_config_usage(void);

/* Parses "http://host:port" (also "http://[v6]:port", "host:port"; no path) into a backend with
 * name "host:port". Returns 0 or KV_ECONFIG (message in <err>). */
int kv_config_parse_url(const char *url, struct kv_config_backend *out, char *err, size_t errlen);
/* Parses "10.0.0.0/8", "::1/128" or a bare address. Returns 0 or KV_ECONFIG. */
int kv_config_parse_cidr(const char *s, struct kv_config_cidr *out);
/* True if textual address <ip> falls in one of <cfg>'s trusted ranges. */
bool kv_config_is_trusted(const struct kv_config *cfg, const char *ip);

/* Looks up numeric parameter <key> of <plugin>; returns <dflt> when absent. */
double kv_config_param(const struct kv_config_plugin *plugin, const char *key, double dflt);
/* The first plugin of <type> in the file's plugins list, or NULL: where a policy reads its
 * parameters (e.g. cache-aware-scorer's). */
const struct kv_config_plugin *kv_config_plugin_of(const struct kv_config *cfg, const char *type);
/* True if plugin <type> is a weighted scorer (a column of the prefix policy's profile). */
bool kv_config_is_weighted(const char *type);
/* The profile to schedule with: the one named "default", else the first; NULL if none. */
const struct kv_config_profile *kv_config_profile(const struct kv_config *cfg);

#endif /* KV_ROUTER_CONFIG_H */
