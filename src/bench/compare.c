/* SPDX-License-Identifier: MIT */
/* src/bench/compare.c - fresh fleets, targets in front of them, and counter deltas. */
#include "bench/compare.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "bench/fetch.h"
#include "bench/fleet.h"
#include "metrics/promparse.h"

#define START_TIMEOUT_MS 20000

int kv_compare_scrape(const char *const *hosts, const int *ports, size_t n,
                      struct kv_report_backend *be)
{
    struct kv_buf b;
    int rc = 0;

    kv_buf_init(&b, 64u << 20);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        kv_buf_reset(&b);
        rc = kv_fetch_get(hosts ? hosts[i] : "127.0.0.1", ports[i], "/metrics", 5000, &b);
        if (rc != 200) {
            rc = rc < 0 ? rc : KV_EUPSTREAM;
            break;
        }
        struct kv_promparse_query q[] = {
            {.name = "vllm:prefix_cache_queries_total"}, {.name = "vllm:prefix_cache_hits_total"},
            {.name = "vllm:prompt_tokens_total"},        {.name = "vllm:generation_tokens_total"},
            {.name = "vllm:request_success_total"},      {.name = "vllm:num_preemptions_total"},
        };
        kv_promparse_query(b.data, b.len, q, KV_ARRAY_LEN(q), NULL);
        be[i].queries = q[0].sum;
        be[i].hits = q[1].sum;
        be[i].prompt_tokens = q[2].sum;
        be[i].gen_tokens = q[3].sum;
        be[i].requests = q[4].sum;
        be[i].preemptions = q[5].sum;
    }
    kv_buf_cleanup(&b);
    return rc < 0 ? rc : 0;
}

static void delta(struct kv_report_backend *after, const struct kv_report_backend *before)
{
    after->queries -= before->queries;
    after->hits -= before->hits;
    after->prompt_tokens -= before->prompt_tokens;
    after->gen_tokens -= before->gen_tokens;
    after->requests -= before->requests;
    after->preemptions -= before->preemptions;
}

static int start_backends(struct kv_fleet *f, const struct kv_compare_config *cfg, int *ports)
{
    char port[16], blocks[32], scale[32], name[32];
    for (unsigned i = 0; i < cfg->backends; i++) {
        const char *argv[64] = {cfg->kvsim, "--host", "127.0.0.1", "--port", port, "--model",
                                cfg->model, "--time-scale", scale, "--seed", "0"};
        size_t a = 11;
        ports[i] = kv_fleet_free_port();
        snprintf(port, sizeof(port), "%d", ports[i]);
        snprintf(scale, sizeof(scale), "%g", cfg->time_scale);
        if (cfg->blocks) {
            snprintf(blocks, sizeof(blocks), "%lu", cfg->blocks);
            argv[a++] = "--num-gpu-blocks-override";
            argv[a++] = blocks;
        }
        for (size_t k = 0; cfg->kvsim_args[k] && a < 62; k++)
            argv[a++] = cfg->kvsim_args[k];
        snprintf(name, sizeof(name), "kvsim-%u", i);
        if (kv_fleet_spawn(f, name, ports[i], (char *const *)argv) < 0)
            return -EIO;
    }
    for (unsigned i = 0; i < cfg->backends; i++)
        if (kv_fetch_wait_ok("127.0.0.1", ports[i], "/health", START_TIMEOUT_MS) < 0)
            return KV_ETIMEOUT;
    return 0;
}

static int start_kvroute(struct kv_fleet *f, const struct kv_compare_config *cfg,
                         const char *policy, const int *ports, int port)
{
    char portbuf[16], urls[KV_FLEET_MAX][48];
    const char *argv[160] = {cfg->kvroute, "--host", "127.0.0.1", "--port", portbuf, "--policy",
                             policy};
    size_t a = 7;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    for (unsigned i = 0; i < cfg->backends && i < KV_FLEET_MAX; i++) {
        snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d", ports[i]);
        argv[a++] = "--backend";
        argv[a++] = urls[i];
    }
    for (size_t k = 0; cfg->kvroute_args[k] && a < 158; k++)
        argv[a++] = cfg->kvroute_args[k];
    return kv_fleet_spawn(f, "kvroute", port, (char *const *)argv);
}

static int start_haproxy(struct kv_fleet *f, const struct kv_compare_config *cfg,
                         const int *ports, int port)
{
    struct kv_buf conf;
    char path[512];
    const char *argv[] = {"haproxy", "-db", "-f", path, NULL};
    int rc;

    kv_buf_init(&conf, 1 << 20);
    kv_buf_printf(&conf,
                  "global\n    maxconn 8192\n\ndefaults\n    mode http\n    timeout connect 5s\n"
                  "    timeout client 600s\n    timeout server 600s\n    option http-keep-alive\n"
                  "    option http-no-delay\n"
                  "\nfrontend fe\n    bind 127.0.0.1:%d\n    default_backend be\n\n"
                  "backend be\n    balance source\n",
                  port);
    for (unsigned i = 0; i < cfg->backends; i++)
        kv_buf_printf(&conf, "    server s%u 127.0.0.1:%d\n", i, ports[i]);
    rc = kv_fleet_write(f, "haproxy.cfg", conf.data, path, sizeof(path));
    kv_buf_cleanup(&conf);
    return rc < 0 ? rc : kv_fleet_spawn(f, "haproxy", port, (char *const *)argv);
}

static int start_nginx(struct kv_fleet *f, const struct kv_compare_config *cfg, const int *ports,
                       int port)
{
    struct kv_buf conf;
    char path[512];
    const char *argv[] = {"nginx", "-p", f->dir, "-c", path, NULL};
    int rc;

    kv_buf_init(&conf, 1 << 20);
    kv_buf_printf(&conf,
                  "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx.err;\n"
                  "events { worker_connections 8192; }\nhttp {\n    access_log off;\n"
                  "    client_body_temp_path %s;\n    proxy_temp_path %s;\n"
                  "    client_max_body_size 64m;\n    client_body_buffer_size 1m;\n"
                  "    upstream be {\n        hash $remote_addr consistent;\n",
                  f->dir, f->dir, f->dir, f->dir);
    for (unsigned i = 0; i < cfg->backends; i++)
        kv_buf_printf(&conf, "        server 127.0.0.1:%d;\n", ports[i]);
    kv_buf_printf(&conf,
                  "        keepalive 256;\n    }\n    server {\n        listen 127.0.0.1:%d;\n"
                  "        location / {\n            proxy_pass http://be;\n"
                  "            proxy_http_version 1.1;\n"
                  "            proxy_set_header Connection \"\";\n"
                  "            proxy_buffering off;\n            proxy_read_timeout 600s;\n"
                  "        }\n    }\n}\n",
                  port);
    rc = kv_fleet_write(f, "nginx.conf", conf.data, path, sizeof(path));
    kv_buf_cleanup(&conf);
    return rc < 0 ? rc : kv_fleet_spawn(f, "nginx", port, (char *const *)argv);
}

static int start_target(struct kv_fleet *f, const struct kv_compare_config *cfg,
                        const char *target, const int *ports, int port)
{
    if (strncmp(target, "kvroute:", 8) == 0)
        return start_kvroute(f, cfg, target + 8, ports, port);
    if (strcmp(target, "haproxy") == 0)
        return start_haproxy(f, cfg, ports, port);
    if (strcmp(target, "nginx") == 0)
        return start_nginx(f, cfg, ports, port);
    return -EINVAL;
}

int kv_compare_run(const struct kv_compare_config *cfg, const struct kv_workload *w,
                   const char *host, int port, const char *const *hosts, const int *ports,
                   size_t n, struct kv_report_row *row)
{
    struct kv_report_backend before[KV_REPORT_MAX_BACKENDS];
    struct kv_runner_config rc_cfg = cfg->run;
    struct kv_runner_result res;
    int rc;

    row->n_backends = n;
    row->time_scale = cfg->time_scale;
    if ((rc = kv_compare_scrape(hosts, ports, n, before)) < 0)
        return rc;
    rc_cfg.host = host;
    rc_cfg.port = port;
    kv_runner_result_init(&res);
    rc = kv_runner_run(w, &rc_cfg, &res);
    if (rc == 0)
        rc = kv_compare_scrape(hosts, ports, n, row->be);
    for (size_t i = 0; rc == 0 && i < n; i++)
        delta(&row->be[i], &before[i]);
    if (rc == 0)
        kv_report_finish(row, &res, cfg->prefill_ms, cfg->decode_ms);
    kv_runner_result_cleanup(&res);
    return rc;
}

int kv_compare_target(const struct kv_compare_config *cfg, const struct kv_workload *w,
                      const char *target, struct kv_report_row *row)
{
    int ports[KV_REPORT_MAX_BACKENDS], port, rc;
    struct kv_fleet f;

    if (cfg->backends == 0 || cfg->backends > KV_REPORT_MAX_BACKENDS)
        return -EINVAL;
    if ((rc = kv_fleet_init(&f)) < 0)
        return rc;
    snprintf(row->target, sizeof(row->target), "%s", target);
    kv_info("%s: starting %u kvsim and the target (logs in %s)", target, cfg->backends, f.dir);
    rc = start_backends(&f, cfg, ports);
    port = kv_fleet_free_port();
    if (rc == 0)
        rc = start_target(&f, cfg, target, ports, port);
    if (rc == 0)
        rc = kv_fetch_wait_ok("127.0.0.1", port, "/health", START_TIMEOUT_MS);
    if (rc == 0)
        rc = kv_compare_run(cfg, w, "127.0.0.1", port, NULL, ports, cfg->backends, row);
    if (rc < 0)
        kv_error("%s: %s (logs kept in %s)", target, kv_strerror(rc), f.dir);
    if (rc < 0)
        setenv("KVBENCH_KEEP_LOGS", "1", 1);
    kv_fleet_cleanup(&f);
    return rc;
}
