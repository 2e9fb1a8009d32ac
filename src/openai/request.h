/* SPDX-License-Identifier: MIT */
/* src/openai/request.h - streaming parser for /v1/completions and /v1/chat/completions bodies.
 *
 * A kv_request is fed the body in pieces as it arrives (jsonscan.h's event parser, no DOM: this
 * is the router's per-request cost) and keeps only what kvsim and kvroute use: model, the
 * prompt(s), stream flags, max_tokens, stop, sampling knobs, user. Every other key, with any
 * value however nested, is skipped. Chat messages are rendered as they arrive into one canonical
 * text with the Llama 3 template (chat.h), so prompts[0] of a chat request is exactly what vLLM
 * tokenizes.
 *
 * Data: <text> is one arena holding every text prompt (or the rendered chat) back to back;
 * <tokens> holds every token-id prompt back to back; <prompts> indexes both. Strings (model,
 * user, stop, ...) live in a private arena. All buffers keep their capacity across requests and
 * have hard caps from kv_request_limits, so a request costs no malloc in steady state and no
 * input grows memory past the caps. Cost: one pass of the scanner over the body plus one copy
 * of the prompt text.
 *
 * Semantics mirror vLLM v0.10.0 (protocol.py CompletionRequest / ChatCompletionRequest under
 * pydantic v2 lax validation, then serving_*.py): ints accept integral floats, numeric strings
 * and booleans; booleans accept 0/1 and "true"/"yes"/"on"/"1"/... strings; duplicate keys keep
 * the last value; a missing or empty model means the server's default model. Text content parts
 * are joined with "\n", empty ones dropped ("text" and "input_text" parts and bare strings are
 * text; any other part type is rejected). Errors come in two stages, as in vLLM:
 *   - kv_request_feed/finish: what FastAPI/pydantic reject before any handler runs (invalid
 *     JSON, wrong types, missing fields, the model validators) -> KV_EBADJSON / KV_EBADREQ, or
 *     KV_ETOOBIG past a cap;
 *   - kv_request_validate: what vLLM checks after it has accepted the model name (empty prompt,
 *     max_tokens < 1, n, negative temperature), so a caller can answer 404 for an unknown model
 *     first, exactly like vLLM.
 * Messages read "<field path>: <pydantic message>" (e.g. "max_tokens: Input should be a valid
 * integer, unable to parse string as an integer", "messages.1.role: Field required"), or vLLM's
 * own text for its ValueErrors ("max_tokens must be at least 1, got 0."). vLLM itself returns
 * FastAPI's list of all errors; we report the first.
 *
 * Invalid JSON reads "JSON decode error: <Python json's reason> (byte N)", e.g. "Expecting ','
 * delimiter (byte 17)", N counted from the body's start, so it does not depend on how the body
 * was split.
 *
 * Known differences: pydantic lists every error of a union (prompt, content); we give one
 * message. A body nested deeper than KV_REQUEST_MAX_DEPTH is rejected as invalid JSON. Token ids
 * must fit int32 ("Token id N is out of vocabulary"). n > 1 is refused (kvsim serves one choice).
 * An empty body is "Field required" (FastAPI reads it as a missing body).
 */
#ifndef KV_OPENAI_REQUEST_H
#define KV_OPENAI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "openai/jsonscan.h"

#define KV_REQUEST_MAX_DEPTH 512
#define KV_REQUEST_ERR_MAX 512
/* Frames the parser tracks: top object, messages, message, content, part. */
#define KV_REQUEST_FRAMES 8

enum kv_request_kind {
    KV_REQUEST_COMPLETION = 0, /* POST /v1/completions */
    KV_REQUEST_CHAT,           /* POST /v1/chat/completions */
};

/* Caps; 0 in a field means its default (in brackets). */
struct kv_request_limits {
    size_t max_text;      /* bytes of prompt text, all prompts or the rendered chat [32 MiB] */
    size_t max_token_ids; /* token ids over all prompts [4 Mi] */
    size_t max_prompts;   /* prompts in one completion request [1024] */
    size_t max_strings;   /* bytes of model + user + stop + cache_salt + request_id [64 KiB] */
    size_t max_stops;     /* stop strings [64] */
};

/* One prompt: bytes [off, off+len) of <text>, or ids [off, off+len) of <tokens>. */
struct kv_request_prompt {
    bool is_tokens;
    size_t off;
    size_t len;
};

/* Offsets into the private string arena; set = the key was present and not null. */
struct kv_request_span {
    uint32_t off;
    uint32_t len;
    bool set;
};

/* Parser state; private to request.c. */
struct kv_request_state {
    struct kv_jsonscan scan;
    struct kv_request_limits lim;
    struct kv_buf strings; /* model, user, stops, ... */
    struct kv_buf tmp;     /* scratch for the rare reordering paths */
    uint8_t frames[KV_REQUEST_FRAMES];
    int sp;               /* frames in use */
    uint32_t skip;        /* depth inside a value being ignored */
    uint8_t key;          /* field the next value belongs to */
    uint8_t prompt_shape; /* list prompt: unknown / strings / ids / lists */
    uint8_t part_type;    /* content part: none / text / other */
    char part_name[24];   /* its "type", for the error message */
    size_t tokens_cap;
    size_t index, part_index, elem_index; /* positions, for error paths */
    size_t msg_start;                     /* where the current message's header goes in <text> */
    size_t hdr_len;                       /* bytes of that header (0: role not seen yet) */
    size_t pieces;                        /* non-empty text pieces in the current message */
    size_t fed;                           /* bytes fed so far */
    bool began, done, seen_body, has_prompt, has_messages, content_seen, empty_prompt;
    bool stream_truthy, sopts_truthy, agp_truthy, salt_bad, part_text;
    bool mt_set, mct_set, eff_set;
    int64_t mt, mct, eff; /* max_tokens, max_completion_tokens as given; the effective one */
    int rc;
    char err[KV_REQUEST_ERR_MAX];
};

struct kv_request {
    /* Results: read-only for callers, valid once kv_request_finish() returned 0. */
    enum kv_request_kind kind;
    bool stream;
    bool include_usage;          /* stream_options.include_usage (default true inside it) */
    bool continuous_usage_stats; /* stream_options.continuous_usage_stats */
    bool ignore_eos;
    bool add_generation_prompt;  /* chat; default true */
    bool continue_final_message; /* chat: the last message is left open (no <|eot_id|>) */
    bool has_seed;
    bool has_temperature;
    int64_t max_tokens; /* effective, as vLLM's get_max_tokens() reads it; -1: unset
                         * (the rest of the context). Completions default to 16. */
    int64_t n;
    int64_t seed;
    double temperature;
    size_t n_messages; /* chat */
    struct kv_request_prompt *prompts;
    size_t n_prompts; /* chat: 1, the rendered text */
    struct kv_buf text;
    int32_t *tokens;
    size_t n_tokens;
    struct kv_request_span model, user, cache_salt, request_id;
    struct kv_request_span *stops;
    size_t n_stops;

    struct kv_request_state p; /* private */
};

/* Prepares <r> (caller storage) with caps <lim> (NULL: defaults). Allocates the fixed arrays;
 * aborts only on OOM. Call kv_request_begin() before each request. */
void kv_request_init(struct kv_request *r, const struct kv_request_limits *lim);
/* Frees everything <r> holds; <r> may be initialized again. */
void kv_request_cleanup(struct kv_request *r);
/* Starts a new request body of <kind>, forgetting the previous one (capacity kept). */
void kv_request_begin(struct kv_request *r, enum kv_request_kind kind);
/* Feeds the next <len> bytes of the body. Returns 0, or the stage-1 error (KV_EBADJSON,
 * KV_EBADREQ, KV_ETOOBIG) with kv_request_error() set; once failed, every later call returns
 * the same error. Pieces may split the body anywhere (even inside a number or a UTF-8 char). */
int kv_request_feed(struct kv_request *r, const void *data, size_t len);
/* Ends the body: flushes the parser, runs the model-level checks, renders the generation
 * prompt, computes max_tokens. Returns 0 or a stage-1 error as above. */
int kv_request_finish(struct kv_request *r);
/* Stage 2, after the caller has checked the model: returns 0 or KV_EBADREQ. */
int kv_request_validate(struct kv_request *r);
/* begin + feed + finish over a whole body. */
int kv_request_parse(struct kv_request *r, enum kv_request_kind kind, const void *body, size_t len);
/* The message of the last failure ("" if none); lives in <r> until the next begin. */
const char *kv_request_error(const struct kv_request *r);

/* Accessors (valid after a successful finish, until the next begin). Strings are not
 * NUL-terminated in general; *<len> gives their length. */
/* The model, or NULL when absent, null or "" (vLLM then serves its first model). */
const char *kv_request_model(const struct kv_request *r, size_t *len);
/* user, cache_salt, request_id; NULL when absent or null. */
const char *kv_request_user(const struct kv_request *r, size_t *len);
const char *kv_request_cache_salt(const struct kv_request *r, size_t *len);
const char *kv_request_request_id(const struct kv_request *r, size_t *len);
/* Stop string <i> < n_stops. */
const char *kv_request_stop(const struct kv_request *r, size_t i, size_t *len);
/* Prompt <i> < n_prompts as text (NULL if it is token ids) / as ids (NULL if it is text). */
const char *kv_request_prompt_text(const struct kv_request *r, size_t i, size_t *len);
const int32_t *kv_request_prompt_tokens(const struct kv_request *r, size_t i, size_t *n);

#endif /* KV_OPENAI_REQUEST_H */
