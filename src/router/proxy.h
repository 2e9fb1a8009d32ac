/* SPDX-License-Identifier: MIT */
/* src/router/proxy.h - one proxied OpenAI request: parse, route, forward, stream back.
 *
 * For POST /v1/completions and /v1/chat/completions the handler parses the buffered body once
 * (openai/request.h on openai/jsonscan.h, no DOM), hashes the prompt into chained 64-byte text
 * blocks (prefix/blockhash.h; token-id prompts in 16-id blocks), takes the session key from the
 * configured source, and asks the scheduler (route.h) for a backend. The body is forwarded
 * unchanged over the backend's keep-alive pool. The answer goes back with the backend's status
 * and content type: a response with a Content-Length up to 1 MiB is gathered and sent whole
 * (so a backend failing mid-body can still be retried), anything else (SSE, chunked) is
 * streamed chunk by chunk as it arrives, byte for byte. Every answer carries
 * x-kvroute-backend and x-kvroute-prefix-match (<matched>/<total> blocks, estimated).
 *
 * Back-pressure: when the client's pending output passes proxy.high_water_bytes the backend
 * call is paused (its socket is not read, so TCP pushes back on the backend) and resumed from
 * the server's on_drain. A client that goes away cancels the backend call.
 *
 * Failures: a connection error before the response head, or a 5xx head, ejects the backend
 * (passive health) and, while nothing has been sent to the client and proxy.max_attempts is not
 * spent, the request is routed again excluding the backends that failed. A backend that dies
 * mid-stream aborts the client's connection (the client sees the truncation) and is ejected.
 *
 * State per request (struct kv_proxy, private): the request (until its response ends or the
 * client leaves), the backend call (until its on_done), a copy of the routing features for
 * retries; it is freed when both the request and the call are gone.
 */
#ifndef KV_ROUTER_PROXY_H
#define KV_ROUTER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "openai/request.h"

struct kv_router;
struct kv_http_req;
struct kv_route_query;

/* Route handlers: <data> is the struct kv_router. */
void kv_proxy_completions(struct kv_http_req *req, void *data);
void kv_proxy_chat(struct kv_http_req *req, void *data);
/* GET (or POST) /debug/route: parses the body like a proxied request (chat if it has
 * "messages", or ?kind=chat), and answers the scheduler's explanation without sending or
 * recording anything. */
void kv_proxy_debug_route(struct kv_http_req *req, void *data);

/* Appends the OpenAI error body for <err> (message may be NULL) and answers it. */
void kv_proxy_error(struct kv_router *r, struct kv_http_req *req, int err, const char *message);

/* Routing features of a parsed request, shared by the proxy and /debug/route: fills <q> from
 * r->parser (model, hashes into r->hashes, token estimates) and the session key of <req>.
 * <matched_total> receives the number of full blocks in the prompt. */
void kv_proxy_features(struct kv_router *r, struct kv_http_req *req, struct kv_route_query *q,
                       uint64_t *total_blocks);

/* The session key of <req> per the config: a header, the body's user, or the client address
 * (X-Forwarded-For's nearest untrusted hop when the peer is a trusted proxy). Returns NULL
 * when there is none; the string lives in <req>, r->parser or <scratch>. */
const char *kv_proxy_session_key(struct kv_router *r, struct kv_http_req *req, size_t *len,
                                 char *scratch, size_t scratch_len);

/* Ends every in-flight proxied request at once (drain timeout): clients see an abort. */
void kv_proxy_abort_all(struct kv_router *r);

#endif /* KV_ROUTER_PROXY_H */
