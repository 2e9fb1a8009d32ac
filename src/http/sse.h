/* SPDX-License-Identifier: MIT */
/* src/http/sse.h - Server-Sent Events (text/event-stream) on a streamed kv_http response.
 *
 * The OpenAI streaming format is a sequence of "data: <json>\n\n" events ended by
 * "data: [DONE]\n\n". Each event goes out as one HTTP chunk, written with one writev: the
 * payload is not copied unless the client is slow. <json> must not contain a newline (JSON from
 * a generator never does; an SSE "data:" line would end at it).
 */
#ifndef KV_HTTP_SSE_H
#define KV_HTTP_SSE_H

#include <stddef.h>

#include "http/server.h"

/* Starts the event stream: 200, text/event-stream, Cache-Control: no-cache. Returns as
 * kv_http_stream_begin(). */
int kv_sse_begin(struct kv_http_req *req);
/* Sends "data: <json>\n\n". Returns as kv_http_stream_write(). */
int kv_sse_data(struct kv_http_req *req, const char *json, size_t len);
/* Sends "data: [DONE]\n\n" and ends the response (kv_http_stream_end). Returns 0 or < 0. */
int kv_sse_done(struct kv_http_req *req);

#endif /* KV_HTTP_SSE_H */
