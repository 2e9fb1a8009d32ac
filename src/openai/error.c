/* SPDX-License-Identifier: MIT */
/* src/openai/error.c - KV_E* and HTTP status -> OpenAI error JSON (see error.h). */
#include "openai/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "openai/json.h"

struct err_row {
    int err;
    int status;
    const char *message;
};

/* THE table: every KV_E* that reaches a client. */
static const struct err_row err_rows[] = {
    {KV_EBADJSON, 400, "Invalid JSON in the request body."},
    {KV_EBADREQ, 400, "Invalid request."},
    {KV_ETOOLONG, 400, "The prompt is longer than the model's maximum context length."},
    {KV_ENOMODEL, 404, "The model does not exist."},
    {KV_ENOTFOUND, 404, "Not Found"},
    {KV_EMETHOD, 405, "Method Not Allowed"},
    {KV_ETOOBIG, 413, "The request is larger than this server accepts."},
    {KV_EUPSTREAM, 502, "The backend failed to answer."},
    {KV_EPROTO, 502, "The backend broke the protocol."},
    {KV_EEOF, 502, "The backend closed the connection."},
    {KV_ENOBACKEND, 503, "No healthy backend can serve the request."},
    {KV_EOVERLOAD, 503, "Every backend is at its load bound (max_inflight); retry later."},
    {KV_ETIMEOUT, 504, "The backend did not answer in time."},
    {KV_ECONFIG, 500, "Internal server error."},
};

struct status_row {
    int status;
    const char *type;
    const char *phrase;
};

static const struct status_row status_rows[] = {
    {400, "BadRequestError", "Bad Request"},
    {401, "AuthenticationError", "Unauthorized"},
    {403, "PermissionDeniedError", "Forbidden"},
    {404, "NotFoundError", "Not Found"},
    {405, "MethodNotAllowedError", "Method Not Allowed"},
    {408, "RequestTimeoutError", "Request Timeout"},
    {409, "ConflictError", "Conflict"},
    {413, "RequestEntityTooLargeError", "Request Entity Too Large"},
    {415, "UnsupportedMediaTypeError", "Unsupported Media Type"},
    {422, "UnprocessableEntityError", "Unprocessable Entity"},
    {429, "RateLimitError", "Too Many Requests"},
    {431, "RequestHeaderFieldsTooLargeError", "Request Header Fields Too Large"},
    {500, "InternalServerError", "Internal Server Error"},
    {501, "NotImplementedError", "Not Implemented"},
    {502, "BadGatewayError", "Bad Gateway"},
    {503, "ServiceUnavailableError", "Service Unavailable"},
    {504, "GatewayTimeoutError", "Gateway Timeout"},
};

static const struct err_row *find_err(int err)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(err_rows); i++)
        if (err_rows[i].err == err)
            return &err_rows[i];
    return NULL;
}

static const struct status_row *find_status(int status)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(status_rows); i++)
        if (status_rows[i].status == status)
            return &status_rows[i];
    return NULL;
}

int kv_error_status(int err)
{
    const struct err_row *r = find_err(err);
    return r ? r->status : 500;
}

const char *kv_error_type(int status)
{
    const struct status_row *r = find_status(status);
    if (r)
        return r->type;
    return status >= 500 ? "InternalServerError" : status >= 400 ? "BadRequestError" : "Error";
}

const char *kv_error_message(int err)
{
    const struct err_row *r = find_err(err);
    return r ? r->message : "Internal server error.";
}

/* Field order and spelling as pydantic dumps vLLM's ErrorResponse. */
static int render(struct kv_buf *out, int status, const char *msg, size_t msg_len)
{
    size_t mark = out->len;
    int rc;

    if ((rc = kv_buf_appends(out, "{\"object\":\"error\",\"message\":")) < 0 ||
        (rc = kv_json_str(out, msg, msg_len)) < 0 || (rc = kv_json_key(out, "type")) < 0 ||
        (rc = kv_json_strz(out, kv_error_type(status))) < 0 ||
        (rc = kv_buf_appends(out, ",\"param\":null,\"code\":")) < 0 ||
        (rc = kv_buf_printf(out, "%d}", status)) < 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        return rc;
    }
    return status;
}

int kv_error_render(struct kv_buf *out, int err, const char *message)
{
    const char *m = message ? message : kv_error_message(err);
    return render(out, kv_error_status(err), m, strlen(m));
}

int kv_error_render_status(struct kv_buf *out, int status, const char *message)
{
    const struct status_row *r = find_status(status);
    const char *m = message ? message : r ? r->phrase : "Error";
    return render(out, status, m, strlen(m));
}

int kv_error_render_model(struct kv_buf *out, const char *model, size_t model_len)
{
    static const char pre[] = "The model `", post[] = "` does not exist.";
    char msg[sizeof(pre) + 256 + sizeof(post)];
    size_t n = KV_MIN(model_len, (size_t)256); /* memcpy: a name may hold NUL bytes */

    memcpy(msg, pre, sizeof(pre) - 1);
    memcpy(msg + sizeof(pre) - 1, model, n);
    memcpy(msg + sizeof(pre) - 1 + n, post, sizeof(post) - 1);
    return render(out, 404, msg, sizeof(pre) - 1 + n + sizeof(post) - 1);
}

int kv_error_render_too_long(struct kv_buf *out, int64_t max_model_len, int64_t prompt_tokens,
                             int64_t max_tokens)
{
    char msg[320];
    int n;

    if (max_tokens < 0)
        n = snprintf(msg, sizeof(msg),
                     "This model's maximum context length is %" PRId64 " tokens. However, you "
                     "requested %" PRId64 " tokens in the messages, Please reduce the length of "
                     "the messages.",
                     max_model_len, prompt_tokens);
    else
        n = snprintf(msg, sizeof(msg),
                     "This model's maximum context length is %" PRId64 " tokens. However, you "
                     "requested %" PRId64 " tokens (%" PRId64 " in the messages, %" PRId64 " in "
                     "the completion). Please reduce the length of the messages or completion.",
                     max_model_len, prompt_tokens + max_tokens, prompt_tokens, max_tokens);
    return render(out, 400, msg, (size_t)n);
}
