/* SPDX-License-Identifier: MIT */
/* src/router/main.c - kvroute: the KV-cache-aware router daemon (see docs/configuration.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "router/config.h"
#include "router/daemon.h"
#include "router/route.h"

#define KVROUTE_VERSION "0.1.0"

static int check_config(const struct kv_config *cfg)
{
    struct kv_sched_config scfg;
    struct kv_route_prefix pfx;
    char err[KV_CONFIG_ERR_MAX];
    struct kv_buf b;

    if (kv_route_sched_config(cfg, &scfg, &pfx, err, sizeof(err)) < 0) {
        fprintf(stderr, "kvroute: %s\n", err);
        return 2;
    }

    kv_buf_init(&b, 16u << 20);
    kv_config_dump(cfg, &b);
    fputs(b.data ? b.data : "", stdout);
    kv_buf_cleanup(&b);
    return 0;
}

static int run(const struct kv_config *cfg)
{
    uv_loop_t loop;
    struct kv_router *r;
    int rc;

    uv_loop_init(&loop);
    rc = kv_router_new(&loop, cfg, &r);
    if (rc < 0) {
        kv_error("cannot start: %s (%s:%d)", kv_strerror(rc), cfg->host, cfg->port);
        uv_loop_close(&loop);
        return 1;
    }
    kv_info("listening on %s:%d, policy %s, %zu static backends%s%s", cfg->host,
            kv_router_port(r), cfg->policy, cfg->nbackends, cfg->dns_host ? ", dns " : "",
            cfg->dns_host ? cfg->dns_host : "");
    uv_run(&loop, UV_RUN_DEFAULT);
    kv_router_free(r);
    rc = uv_loop_close(&loop);
    if (rc < 0)
        kv_warn("loop closed with handles open: %s", uv_strerror(rc));
    kv_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct kv_config cfg;
    enum kv_config_action action;
    char err[KV_CONFIG_ERR_MAX];
    int rc;

    /* A client that disconnects must cost an EPIPE on write, not the process. */
    signal(SIGPIPE, SIG_IGN);
    kv_config_init(&cfg);
    if (kv_config_parse_args(&cfg, argc, argv, &action, err, sizeof(err)) < 0) {
        fprintf(stderr, "kvroute: %s\n", err);
        kv_config_cleanup(&cfg);
        return 2;
    }
    kv_log_setup(cfg.log_level, "kvroute");
    switch (action) {
    case KV_CONFIG_HELP:
        fputs(kv_config_usage(), stdout);
        rc = 0;
        break;
    case KV_CONFIG_VERSION:
        printf("kvroute %s\n", KVROUTE_VERSION);
        rc = 0;
        break;
    case KV_CONFIG_CHECK:
        rc = check_config(&cfg);
        break;
    default:
        rc = run(&cfg);
        break;
    }
    kv_config_cleanup(&cfg);
    return rc;
}
