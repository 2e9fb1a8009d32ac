/* SPDX-License-Identifier: MIT */
/* src/openai/chat.c - the Llama 3 chat template and Python's str.strip() whitespace. */
#include "openai/chat.h"

#include <string.h>

#include "base/err.h"

#define LIT(s) s, sizeof(s) - 1

/* Length of the whitespace code point at <s> (valid UTF-8 assumed, as the JSON scanner
 * validates), else 0.
 * ASCII: \t..\r and \x1c..\x1f have bidi class B/S, so Python counts them as whitespace. */
static size_t space_at(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];

    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F))
        return 1;
    if (c < 0xC2 || n < 2)
        return 0;
    if (c == 0xC2)
        return (s[1] == 0x85 || s[1] == 0xA0) ? 2 : 0;
    if (n < 3)
        return 0;
    if (c == 0xE1)
        return (s[1] == 0x9A && s[2] == 0x80) ? 3 : 0;
    if (c == 0xE2 && s[1] == 0x80)
        return ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF) ? 3
                                                                                                : 0;
    if (c == 0xE2 && s[1] == 0x81)
        return s[2] == 0x9F ? 3 : 0;
    if (c == 0xE3)
        return (s[1] == 0x80 && s[2] == 0x80) ? 3 : 0;
    return 0;
}

size_t kv_chat_space_prefix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, k;

    while (i < n && (k = space_at(s + i, n - i)) > 0)
        i += k;
    return i;
}

/* Walks back over whole code points: a continuation byte (10xxxxxx) never starts one. */
size_t kv_chat_space_suffix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t end = n, start;

    while (end > 0) {
        start = end - 1;
        while (start > 0 && end - start < 4 && (s[start] & 0xC0) == 0x80)
            start--;
        if (space_at(s + start, end - start) != end - start)
            break;
        end = start;
    }
    return n - end;
}

size_t kv_chat_header_len(size_t role_len)
{
    return sizeof(KV_CHAT_HEADER_START) - 1 + role_len + sizeof(KV_CHAT_HEADER_END) - 1;
}

int kv_chat_append_header(struct kv_buf *out, const char *role, size_t role_len)
{
    int rc;

    if ((rc = kv_buf_append(out, LIT(KV_CHAT_HEADER_START))) < 0 ||
        (rc = kv_buf_append(out, role, role_len)) < 0)
        return rc;
    return kv_buf_append(out, LIT(KV_CHAT_HEADER_END));
}

int kv_chat_append_generation_prompt(struct kv_buf *out)
{
    return kv_buf_append(out, LIT(KV_CHAT_GENERATION_PROMPT));
}

int kv_chat_append_message(struct kv_buf *out, bool first, const struct kv_chat_message *m)
{
    size_t pre = kv_chat_space_prefix(m->content, m->content_len);
    size_t post =
        pre < m->content_len ? kv_chat_space_suffix(m->content + pre, m->content_len - pre) : 0;
    int rc;

    if (first && (rc = kv_buf_append(out, LIT(KV_CHAT_BOS))) < 0)
        return rc;
    if ((rc = kv_chat_append_header(out, m->role, m->role_len)) < 0 ||
        (rc = kv_buf_append(out, m->content + pre, m->content_len - pre - post)) < 0)
        return rc;
    return kv_buf_append(out, LIT(KV_CHAT_EOT));
}

int kv_chat_render(struct kv_buf *out, const struct kv_chat_message *msgs, size_t n,
                   bool add_generation_prompt)
{
    int rc;

    for (size_t i = 0; i < n; i++)
        if ((rc = kv_chat_append_message(out, i == 0, &msgs[i])) < 0)
            return rc;
    return add_generation_prompt ? kv_chat_append_generation_prompt(out) : 0;
}
