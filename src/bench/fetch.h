/* SPDX-License-Identifier: MIT */
/* src/bench/fetch.h - blocking HTTP/1.1 GET for kvbench's control plane.
 *
 * kvbench reads /metrics before and after a run and polls /health while it starts a fleet: a
 * handful of requests, off the measured path, so a plain blocking socket with a deadline is the
 * simplest correct tool (the measured traffic goes through the libuv client in runner.c).
 * Responses must carry Content-Length or close the connection (chunked is decoded too).
 */
#ifndef KV_BENCH_FETCH_H
#define KV_BENCH_FETCH_H

#include "base/buf.h"

/* GETs http://<host>:<port><path> within <timeout_ms>; appends the body to <out>. Returns the
 * HTTP status (> 0) or < 0 (-errno, KV_ETIMEOUT, KV_EPROTO, KV_ETOOBIG). */
int kv_fetch_get(const char *host, int port, const char *path, unsigned timeout_ms,
                 struct kv_buf *out);
/* Polls GET <path> until it answers 200 or <timeout_ms> passes. Returns 0 or KV_ETIMEOUT. */
int kv_fetch_wait_ok(const char *host, int port, const char *path, unsigned timeout_ms);

#endif /* KV_BENCH_FETCH_H */
