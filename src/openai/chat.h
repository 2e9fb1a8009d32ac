/* SPDX-License-Identifier: MIT */
/* src/openai/chat.h - canonical chat prompt text: the Llama 3 chat template, rendered in C.
 *
 * vLLM turns chat messages into one prompt with the model's Jinja chat template; kvsim tokenizes
 * that text and kvroute hashes it, so both must produce it byte for byte the same. We render the
 * template of meta-llama/Meta-Llama-3-8B-Instruct (tokenizer_config.json):
 *
 *     for each message i:  (i == 0 ? "<|begin_of_text|>" : "")
 *                          + "<|start_header_id|>" + role + "<|end_header_id|>\n\n"
 *                          + content|trim + "<|eot_id|>"
 *     if add_generation_prompt: "<|start_header_id|>assistant<|end_header_id|>\n\n"
 *
 * Jinja's trim is Python's str.strip(): it removes Unicode whitespace (str.isspace), not only
 * ASCII, so kv_chat_space_prefix/suffix know the multi-byte ones too. With no messages there is
 * no BOS either (the template attaches it to the first message).
 *
 * Prefix property (what the router's cache affinity relies on): the rendering of turn n with
 * the generation prompt, followed by the assistant's (trimmed) answer, "<|eot_id|>" and the
 * next message's rendering, is exactly the rendering of turn n+1: each message's text depends
 * only on itself and on whether it is the first.
 *
 * The pieces are exported so that a streaming parser (request.c) can render a message as it
 * arrives; kv_chat_render() composes them for callers that hold whole messages (kvbench). All
 * functions append to <out> and return 0 or KV_ETOOBIG (the buffer then holds a partial text).
 */
#ifndef KV_OPENAI_CHAT_H
#define KV_OPENAI_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define KV_CHAT_BOS "<|begin_of_text|>"
#define KV_CHAT_HEADER_START "<|start_header_id|>"
#define KV_CHAT_HEADER_END "<|end_header_id|>\n\n"
#define KV_CHAT_EOT "<|eot_id|>"
#define KV_CHAT_GENERATION_PROMPT KV_CHAT_HEADER_START "assistant" KV_CHAT_HEADER_END

/* One message, borrowed for the call; content is the already-joined text. */
struct kv_chat_message {
    const char *role;
    size_t role_len;
    const char *content;
    size_t content_len;
};

/* Appends the whole template rendering of <msgs>[0, <n>). */
int kv_chat_render(struct kv_buf *out, const struct kv_chat_message *msgs, size_t n,
                   bool add_generation_prompt);
/* Appends one message: BOS when <first>, header, trimmed content, "<|eot_id|>". */
int kv_chat_append_message(struct kv_buf *out, bool first, const struct kv_chat_message *m);
/* Appends "<|start_header_id|>" role "<|end_header_id|>\n\n". */
int kv_chat_append_header(struct kv_buf *out, const char *role, size_t role_len);
/* Byte length of that header for a role of <role_len> bytes. */
size_t kv_chat_header_len(size_t role_len);
/* Appends the generation prompt (an assistant header). */
int kv_chat_append_generation_prompt(struct kv_buf *out);

/* Bytes of Python-whitespace at the start / end of the UTF-8 text <s>[0, <n>). Whitespace is
 * what str.isspace() accepts: \t \n \v \f \r, \x1c-\x1f, space, U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
size_t kv_chat_space_prefix(const char *s, size_t n);
size_t kv_chat_space_suffix(const char *s, size_t n);

#endif /* KV_OPENAI_CHAT_H */
