/* SPDX-License-Identifier: MIT */
/* src/openai/error.h - the one table from KV_E* codes and HTTP statuses to OpenAI error bodies.
 *
 * vLLM v0.10.0 answers every failed OpenAI call with
 *     {"object":"error","message":"...","type":"BadRequestError","param":null,"code":400}
 * (ErrorResponse in vllm/entrypoints/openai/protocol.py; request validation failures are 400
 * BadRequestError, an unknown model is 404 NotFoundError with "The model `x` does not exist.").
 * kvsim and kvroute render all their errors through here so clients see one format. The type
 * names follow the OpenAI client's exception classes where it has one (400 BadRequestError,
 * 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 409 ConflictError,
 * 422 UnprocessableEntityError, 429 RateLimitError, 500 InternalServerError), else the HTTP
 * reason phrase without spaces plus "Error" (503 ServiceUnavailableError).
 *
 * Mapping (err -> status): KV_EBADJSON, KV_EBADREQ, KV_ETOOLONG -> 400; KV_ENOMODEL,
 * KV_ENOTFOUND -> 404; KV_EMETHOD -> 405; KV_ETOOBIG -> 413; KV_EUPSTREAM, KV_EPROTO,
 * KV_EEOF -> 502; KV_ENOBACKEND -> 503; KV_ETIMEOUT -> 504; anything else (KV_ECONFIG, -errno)
 * -> 500. Renderers append to <out> and return the HTTP status (> 0) or KV_ETOOBIG.
 */
#ifndef KV_OPENAI_ERROR_H
#define KV_OPENAI_ERROR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* HTTP status for <err> (a KV_E* code or -errno), per the mapping above. */
int kv_error_status(int err);
/* OpenAI-style type name for an HTTP <status>; never NULL ("Error" for unknown ones). */
const char *kv_error_type(int status);
/* The default message for <err>, used when a renderer is given none. Static. */
const char *kv_error_message(int err);
/* Appends the body for <err> with <message> (NULL: kv_error_message(err)). */
int kv_error_render(struct kv_buf *out, int err, const char *message);
/* Appends the body for a plain HTTP <status> (NULL message: the reason phrase). */
int kv_error_render_status(struct kv_buf *out, int status, const char *message);
/* Appends vLLM's 404 for an unserved model: "The model `<model>` does not exist.". */
int kv_error_render_model(struct kv_buf *out, const char *model, size_t model_len);
/* Appends vLLM v0.10.0's 400 for a prompt over the context (serving_engine._validate_input):
 * with <max_tokens> < 0 (unset) "... you requested <prompt> tokens in the messages, Please
 * reduce the length of the messages.", else "... you requested <prompt + max> tokens (<prompt>
 * in the messages, <max> in the completion). Please reduce the length of the messages or
 * completion.". vLLM raises the first when prompt_tokens >= max_model_len, the second when
 * prompt_tokens + max_tokens > max_model_len; the caller decides that. */
int kv_error_render_too_long(struct kv_buf *out, int64_t max_model_len, int64_t prompt_tokens,
                             int64_t max_tokens);

#endif /* KV_OPENAI_ERROR_H */
