/* SPDX-License-Identifier: MIT */
/* src/http/sse.c - Server-Sent Events helpers over kv_http_stream_*. */
#include "http/sse.h"

#include "base/err.h"

int kv_sse_begin(struct kv_http_req *req)
{
    static const char *const headers[] = {"Cache-Control", "no-cache", NULL};

    return kv_http_stream_begin(req, 200, "text/event-stream", headers);
}

int kv_sse_data(struct kv_http_req *req, const char *json, size_t len)
{
    uv_buf_t iov[3];

    if (len > (1u << 30))
        return KV_ETOOBIG;
    iov[0] = uv_buf_init("data: ", 6);
    iov[1] = uv_buf_init((char *)json, (unsigned)len);
    iov[2] = uv_buf_init("\n\n", 2);
    return kv_http_stream_writev(req, iov, 3);
}

int kv_sse_done(struct kv_http_req *req)
{
    static const char done[] = "data: [DONE]\n\n";
    int rc = kv_http_stream_write(req, done, sizeof done - 1);
    int rc2 = kv_http_stream_end(req);

    return rc < 0 ? rc : rc2;
}
