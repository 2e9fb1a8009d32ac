/* SPDX-License-Identifier: MIT */
/* tests/unit/test_router_config.c - kvroute config: defaults, YAML, flags, and one test per
 * configuration error (the message must name the key path and the reason). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "router/config.h"

static const char full_yaml[] =
    "server:\n"
    "  host: 127.0.0.1\n"
    "  port: 9000\n"
    "  max_body_bytes: 1048576\n"
    "log_level: debug\n"
    "backends:\n"
    "  static:\n"
    "    - http://127.0.0.1:8001\n"
    "    - url: http://[::1]:8002\n"
    "      name: gpu-b\n"
    "      capacity_blocks: 250000\n"
    "  connect_timeout_ms: 500\n"
    "health:\n"
    "  interval_ms: 200\n"
    "  rise: 1\n"
    "  eject_on_5xx: false\n"
    "scrape:\n"
    "  interval_ms: 50\n"
    "session:\n"
    "  source: client-ip\n"
    "  header: X-Conversation\n"
    "  trusted_proxies: [10.0.0.0/8, \"::1\"]\n"
    "  ttl_s: 60\n"
    "scheduling:\n"
    "  apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
    "  kind: EndpointPickerConfig\n"
    "  plugins:\n"
    "    - type: prefix-cache-scorer\n"
    "      parameters:\n"
    "        maxPrefixBlocksToMatch: 256\n"
    "    - type: queue-scorer\n"
    "    - type: kv-cache-utilization-scorer\n"
    "      name: kv\n"
    "    - type: max-score-picker\n"
    "  schedulingProfiles:\n"
    "    - name: default\n"
    "      plugins:\n"
    "        - pluginRef: prefix-cache-scorer\n"
    "          weight: 3\n"
    "        - pluginRef: queue-scorer\n"
    "          weight: 2\n"
    "        - pluginRef: kv\n"
    "          weight: 2\n"
    "        - pluginRef: max-score-picker\n";

static void test_defaults(void **state)
{
    struct kv_config c;
    char err[KV_CONFIG_ERR_MAX];
    (void)state;
    kv_config_init(&c);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 8000);
    assert_string_equal(c.policy, "cache-aware");
    assert_string_equal(c.session_header, "x-session-id");
    assert_int_equal(c.session_ttl_s, 7200);
    assert_int_equal(c.affinity, KV_CONFIG_AFFINITY_HEADER);
    assert_int_equal(c.scrape_interval_ms, 100);
    /* Defaults alone are not runnable: no backend. */
    assert_int_equal(kv_config_validate(&c, err, sizeof(err)), KV_ECONFIG);
    assert_non_null(strstr(err, "backends: no backend given"));
    kv_config_cleanup(&c);
}

static void test_full_file(void **state)
{
    struct kv_config c;
    char err[KV_CONFIG_ERR_MAX] = "";
    const struct kv_config_profile *pr;
    (void)state;
    kv_config_init(&c);
    assert_int_equal(kv_config_load_string(&c, full_yaml, strlen(full_yaml), err, sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(kv_config_validate(&c, err, sizeof(err)), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.log_level, KV_LOG_DEBUG);
    assert_int_equal(c.nbackends, 2);
    assert_string_equal(c.backends[0].name, "127.0.0.1:8001");
    assert_string_equal(c.backends[1].host, "::1");
    assert_int_equal(c.backends[1].port, 8002);
    assert_int_equal(c.backends[0].capacity_blocks, 0);
    assert_int_equal(c.backends[1].capacity_blocks, 250000);
    assert_string_equal(c.backends[1].name, "gpu-b");
    assert_int_equal(c.connect_timeout_ms, 500);
    assert_int_equal(c.health_interval_ms, 200);
    assert_int_equal(c.health_rise, 1);
    assert_false(c.eject_on_5xx);
    assert_int_equal(c.scrape_interval_ms, 50);
    assert_int_equal(c.affinity, KV_CONFIG_AFFINITY_CLIENT_IP);
    assert_string_equal(c.session_header, "x-conversation");
    assert_int_equal(c.ntrusted, 2);
    assert_true(kv_config_is_trusted(&c, "10.1.2.3"));
    assert_true(kv_config_is_trusted(&c, "::1"));
    assert_false(kv_config_is_trusted(&c, "11.0.0.1"));
    assert_false(kv_config_is_trusted(&c, "127.0.0.1"));
    assert_int_equal(c.session_ttl_s, 60);
    assert_string_equal(c.policy, "prefix");
    assert_int_equal(c.nplugins, 4);
    assert_string_equal(c.plugins[2].name, "kv");
    assert_true(kv_config_param(&c.plugins[0], "maxPrefixBlocksToMatch", 0) == 256);
    assert_true(kv_config_param(&c.plugins[0], "hashBlockSize", 64) == 64);
    pr = kv_config_profile(&c);
    assert_non_null(pr);
    assert_string_equal(pr->name, "default");
    assert_int_equal(pr->nrefs, 4);
    assert_int_equal(pr->refs[2].plugin, 2);
    assert_true(pr->refs[0].weight == 3);
    assert_true(pr->refs[3].weight == 1);
    kv_config_cleanup(&c);
}

/* Loads <yaml> (and validates when it loads) and checks the error message is exactly <msg>. */
static void expect_error(const char *yaml, const char *msg)
{
    struct kv_config c;
    char err[KV_CONFIG_ERR_MAX] = "";
    int rc;

    kv_config_init(&c);
    rc = kv_config_load_string(&c, yaml, strlen(yaml), err, sizeof(err));
    if (rc == 0)
        rc = kv_config_validate(&c, err, sizeof(err));
    assert_int_equal(rc, KV_ECONFIG);
    if (strcmp(err, msg) != 0)
        fail_msg("expected \"%s\"\n     got \"%s\"", msg, err);
    kv_config_cleanup(&c);
}

#define BK "backends: {static: [http://127.0.0.1:8001]}\n"

static void test_error_yaml_syntax(void **state)
{
    (void)state;
    expect_error("server:\n  port: [1, 2\n",
                 "YAML syntax error at line 3 column 1: did not find expected ',' or ']'");
}

static void test_error_unknown_keys(void **state)
{
    (void)state;
    expect_error("servr:\n  port: 1\n", "servr: unknown key");
    expect_error("server:\n  prot: 1\n", "server.prot: unknown key");
    expect_error("- a\n- b\n", "(top level): must be a mapping, not a list");
}

static void test_error_server(void **state)
{
    (void)state;
    expect_error("server:\n  port: 70000\n", "server.port: 70000 is out of range [0, 65535]");
    expect_error("server:\n  port: eighty\n", "server.port: 'eighty' is not a number");
    expect_error("server:\n  port: 80.5\n", "server.port: '80.5' must be an integer");
    expect_error("server:\n  host: [a]\n", "server.host: must be a scalar, not a list");
    expect_error("server:\n  max_body_bytes: 10\n",
                 "server.max_body_bytes: 10 is out of range [1024, 1073741824]");
    expect_error("server: 5\n", "server: must be a mapping, not a scalar");
    expect_error("log_level: loud\n",
                 "log_level: 'loud' is not a log level (debug, info, warning, error, off)");
}

static void test_error_backends(void **state)
{
    (void)state;
    expect_error("backends:\n  static:\n    - http://a:1\n    - http://b\n",
                 "backends.static[1]: 'http://b': missing :port");
    expect_error("backends:\n  static: [https://a:443]\n",
                 "backends.static[0]: 'https://a:443': https backends are not supported");
    expect_error("backends:\n  static: [http://a:0]\n",
                 "backends.static[0]: 'http://a:0': port must be 1..65535");
    expect_error("backends:\n  static: [http://a:1/v1]\n",
                 "backends.static[0]: 'http://a:1/v1': a path is not allowed in a backend URL");
    expect_error("backends:\n  static: [http://a:1, http://a:1]\n",
                 "backends.static[1]: duplicate backend name 'a:1'");
    expect_error("backends:\n  static: [{name: x}]\n", "backends.static[0]: missing key 'url'");
    expect_error("backends:\n  static: [{url: 'http://a:1', weight: 2}]\n",
                 "backends.static[0].weight: unknown key");
    expect_error("backends:\n  static: http://a:1\n",
                 "backends.static: must be a list of backend URLs, not a scalar");
    expect_error("backends:\n  dns: vllm.svc\n", "backends.dns: 'vllm.svc' must be host:port");
    expect_error("backends:\n  dns: vllm:1\n  dns_interval_ms: 5\n",
                 "backends.dns_interval_ms: 5 is out of range [100, 86400000]");
    expect_error("server: {port: 1}\n",
                 "backends: no backend given (use --backend URL, --backends-dns host:port, "
                 "backends.static or backends.dns)");
}

static void test_error_health_session(void **state)
{
    (void)state;
    expect_error(BK "health:\n  interval_ms: 1\n",
                 "health.interval_ms: 1 is out of range [10, 86400000]");
    expect_error(BK "health:\n  eject_on_5xx: maybe\n",
                 "health.eject_on_5xx: 'maybe' is not a boolean (true/false)");
    expect_error(BK "health:\n  path: health\n",
                 "health.path: 'health' must be a path starting with '/'");
    expect_error(BK "health:\n  rise: 0\n", "health.rise: 0 is out of range [1, 100]");
    expect_error(BK "health:\n  interval_ms: 10\n  timeout_ms: 1000\n",
                 "health.timeout_ms: 1000 is more than 10 x health.interval_ms");
    expect_error(BK "session:\n  source: cookie\n",
                 "session.source: 'cookie' is not a session source (header, user, client-ip, "
                 "none)");
    expect_error(BK "session:\n  header: 'x session'\n",
                 "session.header: 'x session' is not a valid header name");
    expect_error(BK "session:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
                 "session.trusted_proxies[1]: '10.0.0.0/33' is not an address or address/bits "
                 "range");
    expect_error(BK "session:\n  trusted_proxies: [nothost]\n",
                 "session.trusted_proxies[0]: 'nothost' is not an address or address/bits range");
    expect_error(BK "proxy:\n  max_attempts: 0\n", "proxy.max_attempts: 0 is out of range [1, 16]");
    expect_error("backends:\n  static:\n    - url: http://a:1\n      capacity_blocks: 2.5\n",
                 "backends.static[0].capacity_blocks: '2.5' must be an integer");
    expect_error("backends:\n  static:\n    - url: http://a:1\n      capacity_blocks: 0\n",
                 "backends.static[0].capacity_blocks: 0 is out of range [1, 4294967295]");
    expect_error(BK "proxy:\n  max_inflight: -1\n",
                 "proxy.max_inflight: -1 is out of range [0, 1000000]");
}

static void test_error_scheduling(void **state)
{
    (void)state;
    expect_error(BK "scheduling:\n  plugins:\n    - type: queue-scorer\n    - type: max-score-picker\n"
                    "    - type: prefix-cache-scorer\n      parameters:\n        weight: 2\n",
                 "scheduling.plugins[2].parameters.weight: unknown parameter for plugin type "
                 "'prefix-cache-scorer'");
    expect_error(BK "scheduling:\n  plugins:\n    - type: fancy-scorer\n",
                 "scheduling.plugins[0].type: unknown plugin type 'fancy-scorer'");
    expect_error(BK "scheduling:\n  plugins:\n    - type: queue-scorer\n    - name: x\n",
                 "scheduling.plugins[1]: missing key 'type'");
    expect_error(BK "scheduling:\n  plugins:\n    - type: sglang-scorer\n      parameters:\n"
                    "        cacheThreshold: 1.5\n",
                 "scheduling.plugins[0].parameters.cacheThreshold: 1.5 is out of range [0, 1]");
    expect_error(BK "scheduling:\n  plugins:\n    - type: cache-aware-scorer\n      parameters:\n"
                    "        workGuard: 0.5\n",
                 "scheduling.plugins[0].parameters.workGuard: '0.5' must be an integer");
    expect_error(BK "scheduling:\n  plugins:\n    - type: cache-aware-scorer\n"
                    "    - type: queue-scorer\n  schedulingProfiles:\n    - name: default\n"
                    "      plugins:\n        - pluginRef: cache-aware-scorer\n"
                    "        - pluginRef: queue-scorer\n",
                 "scheduling.schedulingProfiles[0]: cache-aware-scorer is a whole policy and "
                 "cannot be mixed with weighted scorers (queue-scorer)");
    expect_error(BK "scheduling:\n  plugins:\n    - type: prefix-cache-scorer\n      parameters:\n"
                    "        maxPrefixBlocksToMatch: lots\n",
                 "scheduling.plugins[0].parameters.maxPrefixBlocksToMatch: 'lots' is not a "
                 "number");
    expect_error(BK "scheduling:\n  plugins:\n    - type: queue-scorer\n    - type: queue-scorer\n",
                 "scheduling.plugins[1]: duplicate plugin name 'queue-scorer' (give each "
                 "instance a name)");
    expect_error(BK "scheduling:\n  plugins:\n    - type: queue-scorer\n  schedulingProfiles:\n"
                    "    - name: default\n      plugins:\n        - pluginRef: queue-scorer\n"
                    "        - pluginRef: prefix\n",
                 "scheduling.schedulingProfiles[0].plugins[1].pluginRef: 'prefix' names no "
                 "plugin in plugins");
    expect_error(BK "scheduling:\n  plugins:\n    - type: queue-scorer\n  schedulingProfiles:\n"
                    "    - name: default\n      plugins:\n        - pluginRef: queue-scorer\n"
                    "          weight: -1\n",
                 "scheduling.schedulingProfiles[0].plugins[0].weight: -1 is out of range [0, "
                 "1000000]");
    expect_error(BK "scheduling:\n  plugins:\n    - type: max-score-picker\n  schedulingProfiles:\n"
                    "    - name: p\n      plugins:\n        - pluginRef: max-score-picker\n",
                 "scheduling.schedulingProfiles: profile 'p' has no weighted scorer with a weight "
                 "above 0 (policy prefix)");
    expect_error(BK "scheduling:\n  schedulingProfiles: []\n",
                 "scheduling.schedulingProfiles: needs a plugins list to refer to");
    expect_error(BK "scheduling:\n  policy: fastest\n",
                 "scheduling.policy: unknown policy 'fastest' (round-robin, least-load, session, "
                 "prefix, sglang, chwbl, cache-aware)");
    expect_error(BK "scheduling:\n  plugins: {type: queue-scorer}\n",
                 "scheduling.plugins: must be a list of plugins, not a mapping");
}

static void test_top_level_llmd_file(void **state)
{
    /* An llm-d EndpointPickerConfig pasted at the top level works too. */
    static const char yaml[] = "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                               "kind: EndpointPickerConfig\n"
                               "plugins:\n"
                               "- type: queue-scorer\n"
                               "- type: max-score-picker\n"
                               "schedulingProfiles:\n"
                               "- name: default\n"
                               "  plugins:\n"
                               "  - pluginRef: queue-scorer\n"
                               "    weight: 2\n"
                               "  - pluginRef: max-score-picker\n"
                               /* llm-d sections kvroute has no counterpart for: ignored */
                               "featureGates: [flowControl]\n"
                               "saturationDetector:\n  queueDepthThreshold: 5\n"
                               "dataLayer:\n  sources: []\n";
    static const char nested[] = BK "scheduling:\n  featureGates: [x]\n"
                                    "  flowControl:\n    maxBytes: 1\n  policy: session\n";
    struct kv_config c;
    char err[KV_CONFIG_ERR_MAX];
    (void)state;
    kv_config_init(&c);
    assert_int_equal(kv_config_load_string(&c, yaml, strlen(yaml), err, sizeof(err)), 0);
    assert_string_equal(c.policy, "prefix");
    assert_int_equal(c.nprofiles, 1);
    assert_true(c.profiles[0].refs[0].weight == 2);
    kv_config_cleanup(&c);
    kv_config_init(&c);
    assert_int_equal(kv_config_load_string(&c, nested, strlen(nested), err, sizeof(err)), 0);
    assert_string_equal(c.policy, "session");
    kv_config_cleanup(&c);
    /* Not every key passes: a misspelt one is still an error. */
    expect_error("featureGate: [x]\n", "featureGate: unknown key");
}

static void test_profile_selects_policy(void **state)
{
    static const char yaml[] = BK "scheduling:\n  plugins:\n"
                               "    - type: cache-aware-scorer\n      parameters:\n"
                               "        evictWeight: 0.5\n        workGuard: 1\n"
                               "    - type: max-score-picker\n"
                               "  schedulingProfiles:\n    - name: default\n      plugins:\n"
                               "        - pluginRef: cache-aware-scorer\n"
                               "        - pluginRef: max-score-picker\n";
    struct kv_config c;
    char err[KV_CONFIG_ERR_MAX] = "";
    const struct kv_config_plugin *p;
    (void)state;
    kv_config_init(&c);
    assert_int_equal(kv_config_load_string(&c, yaml, strlen(yaml), err, sizeof(err)), 0);
    assert_int_equal(kv_config_validate(&c, err, sizeof(err)), 0);
    assert_string_equal(c.policy, "cache-aware");
    p = kv_config_plugin_of(&c, "cache-aware-scorer");
    assert_non_null(p);
    assert_true(kv_config_param(p, "evictWeight", 1) == 0.5);
    assert_true(kv_config_param(p, "workGuard", 0) == 1);
    assert_null(kv_config_plugin_of(&c, "queue-scorer"));
    assert_true(kv_config_is_weighted("queue-scorer"));
    assert_false(kv_config_is_weighted("cache-aware-scorer"));
    kv_config_cleanup(&c);
}

static int run_args(struct kv_config *c, enum kv_config_action *action, char *err,
                    const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"kvroute";
    while (*args)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return kv_config_parse_args(c, argc, argv, action, err, KV_CONFIG_ERR_MAX);
}

static void test_flags_override_file(void **state)
{
    char path[] = "/tmp/kvroute-config-XXXXXX";
    int fd = mkstemp(path);
    struct kv_config c;
    enum kv_config_action action;
    char err[KV_CONFIG_ERR_MAX] = "";
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, full_yaml, strlen(full_yaml)), (ssize_t)strlen(full_yaml));
    close(fd);
    kv_config_init(&c);
    {
        const char *args[] = {"--port", "7000", "--backend", "http://127.0.0.1:9001",
                              "--config", path, "--policy", "round-robin", "--backend",
                              "127.0.0.1:9002", "--session-header", "X-Thread",
                              "--log-level", "warning", "--max-inflight", "12", NULL};
        assert_int_equal(run_args(&c, &action, err, args), 0);
    }
    assert_int_equal(action, KV_CONFIG_RUN);
    assert_int_equal(c.port, 7000);                     /* flag beats the file's 9000 */
    assert_string_equal(c.host, "127.0.0.1");           /* from the file */
    assert_int_equal(c.nbackends, 2);                   /* flags replace the file's list */
    assert_string_equal(c.backends[0].name, "127.0.0.1:9001");
    assert_string_equal(c.backends[1].name, "127.0.0.1:9002");
    assert_string_equal(c.policy, "round-robin");
    assert_string_equal(c.session_header, "x-thread");
    assert_int_equal(c.log_level, KV_LOG_WARN);
    assert_int_equal(c.health_interval_ms, 200);        /* from the file */
    assert_int_equal(c.max_inflight, 12);
    kv_config_cleanup(&c);
    unlink(path);
}

static void test_flag_errors(void **state)
{
    static const struct {
        const char *args[6];
        const char *msg;
    } cases[] = {
        {{"--backend", "http://a:1", "--port", "x", NULL},
         "--port: 'x' must be an integer in [0, 65535]"},
        {{"--backend", "ftp://a", NULL}, "--backend: 'ftp://a': only http:// backends are supported"},
        {{"--backend", "http://a:1", "--policy", "best", NULL}, "--policy: unknown policy 'best'"},
        {{"--backend", "http://a:1", "--frobnicate", NULL},
         "unknown option '--frobnicate' (see --help)"},
        {{"--backend", NULL}, "option '--backend' needs a value"},
        {{"--backends-dns", "svc", NULL}, "--backends-dns: 'svc' must be host:port"},
        {{"--backend", "http://a:1", "--backend", "http://a:1", NULL},
         "--backend: 'http://a:1' given twice"},
        {{"--backend", "http://a:1", "--session-source", "cookie", NULL},
         "--session-source: 'cookie' is not header, user, client-ip or none"},
        {{"--backend", "http://a:1", "--trusted-proxy", "1.2.3/8", NULL},
         "--trusted-proxy: '1.2.3/8' is not an address range"},
        {{"--config", "/nonexistent/kvroute.yaml", NULL},
         "/nonexistent/kvroute.yaml: No such file or directory"},
        {{"--backend", "http://a:1", "stray", NULL}, "unexpected argument 'stray' (see --help)"},
        {{"--backend", "http://a:1", "--max-inflight", "1.5", NULL},
         "--max-inflight: '1.5' must be an integer in [0, 1000000]"},
        {{"--scrape-interval-ms", "50", NULL},
         "backends: no backend given (use --backend URL, --backends-dns host:port, "
         "backends.static or backends.dns)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kv_config c;
        enum kv_config_action action;
        char err[KV_CONFIG_ERR_MAX] = "";
        kv_config_init(&c);
        assert_int_equal(run_args(&c, &action, err, cases[i].args), KV_ECONFIG);
        if (strcmp(err, cases[i].msg) != 0)
            fail_msg("case %zu: expected \"%s\"\n     got \"%s\"", i, cases[i].msg, err);
        kv_config_cleanup(&c);
    }
}

static void test_help_and_dns(void **state)
{
    struct kv_config c;
    enum kv_config_action action;
    char err[KV_CONFIG_ERR_MAX] = "";
    (void)state;
    kv_config_init(&c);
    {
        const char *args[] = {"--port", "bad", "--help", NULL};
        assert_int_equal(run_args(&c, &action, err, args), 0);
        assert_int_equal(action, KV_CONFIG_HELP);
    }
    {
        const char *args[] = {"--backends-dns", "vllm.default.svc:8000", "--dns-interval-ms",
                              "250", "--check-config", NULL};
        assert_int_equal(run_args(&c, &action, err, args), 0);
        assert_int_equal(action, KV_CONFIG_CHECK);
    }
    assert_string_equal(c.dns_host, "vllm.default.svc");
    assert_int_equal(c.dns_port, 8000);
    assert_int_equal(c.dns_interval_ms, 250);
    /* Every flag is documented. */
    assert_non_null(strstr(kv_config_usage(), "--backends-dns"));
    assert_non_null(strstr(kv_config_usage(), "--trusted-proxy"));
    kv_config_cleanup(&c);
}

static void test_dump_round_trip(void **state)
{
    struct kv_config a, b;
    struct kv_buf d1, d2;
    char err[KV_CONFIG_ERR_MAX] = "";
    (void)state;
    kv_config_init(&a);
    kv_config_init(&b);
    kv_buf_init(&d1, 1 << 20);
    kv_buf_init(&d2, 1 << 20);
    assert_int_equal(kv_config_load_string(&a, full_yaml, strlen(full_yaml), err, sizeof(err)),
                     0);
    assert_int_equal(kv_config_dump(&a, &d1), 0);
    if (kv_config_load_string(&b, d1.data, d1.len, err, sizeof(err)) != 0)
        fail_msg("reload: %s\n%s", err, d1.data);
    assert_int_equal(kv_config_dump(&b, &d2), 0);
    assert_string_equal(d1.data, d2.data);
    kv_buf_cleanup(&d1);
    kv_buf_cleanup(&d2);
    kv_config_cleanup(&a);
    kv_config_cleanup(&b);
}

static void test_url_and_cidr(void **state)
{
    struct kv_config_backend b;
    struct kv_config_cidr c;
    char err[128];
    (void)state;
    assert_int_equal(kv_config_parse_url("http://[fe80::1]:8000/", &b, err, sizeof(err)), 0);
    assert_string_equal(b.host, "fe80::1");
    assert_int_equal(b.port, 8000);
    assert_string_equal(b.name, "[fe80::1]:8000");
    free(b.url);
    free(b.name);
    free(b.host);
    assert_int_equal(kv_config_parse_url("http://[::1]8000", &b, err, sizeof(err)), KV_ECONFIG);
    assert_int_equal(kv_config_parse_cidr("192.168.0.0/16", &c), 0);
    assert_int_equal(c.bits, 16);
    assert_int_equal(kv_config_parse_cidr("192.168.0.0/", &c), KV_ECONFIG);
    assert_int_equal(kv_config_parse_cidr("fd00::/7", &c), 0);
    assert_int_equal(c.bits, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_error_yaml_syntax),
        cmocka_unit_test(test_error_unknown_keys),
        cmocka_unit_test(test_error_server),
        cmocka_unit_test(test_error_backends),
        cmocka_unit_test(test_error_health_session),
        cmocka_unit_test(test_error_scheduling),
        cmocka_unit_test(test_top_level_llmd_file),
        cmocka_unit_test(test_profile_selects_policy),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_help_and_dns),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_url_and_cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
