/* SPDX-License-Identifier: MIT */
/* src/openai/request.c - streaming OpenAI request parser on jsonscan's events (see request.h).
 *
 * The parser is a small pushdown automaton over JSON events. <frames> holds only containers
 * whose contents we keep (the top object, prompt lists, messages, a message, its content parts,
 * stop, stream_options); any other container is swallowed by counting its depth in <skip>, so
 * unknown keys cost one callback per token and nothing else. Only the innermost tracked frame
 * can be an object awaiting a key, hence the single <key>. Callbacks return 1 to continue and
 * 0 after recording an error in p.rc/p.err, which makes the scanner stop (CANCELED).
 *
 * Chat messages render straight into <text>: BOS for the first, then the header once the role
 * is known, then content pieces; at the message's end the content is trimmed in place and
 * "<|eot_id|>" appended. A role arriving after content (rare) is spliced in through <tmp>.
 * Numbers come through as raw text, so integers of any size never make the scanner fail
 * (Python accepts them) and token ids are converted by a short digit loop. strtod() assumes the
 * "C" locale, which these programs never change.
 */
#include "openai/request.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/mem.h"
#include "openai/chat.h"
#include "openai/json.h"
#include "openai/jsonscan.h"

#define LIT(s) s, sizeof(s) - 1

enum frame { F_TOP, F_PROMPT, F_TOKS, F_MSGS, F_MSG, F_CONTENT, F_PART, F_STOP, F_SOPTS };

enum key {
    K_SKIP = 0,
    K_MODEL,
    K_PROMPT,
    K_MESSAGES,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_USER,
    K_IGNORE_EOS,
    K_STOP,
    K_TEMPERATURE,
    K_SEED,
    K_N,
    K_ADD_GENERATION_PROMPT,
    K_CONTINUE_FINAL_MESSAGE,
    K_CACHE_SALT,
    K_REQUEST_ID,
    K_ROLE,
    K_CONTENT,
    K_TYPE,
    K_TEXT,
    K_INCLUDE_USAGE,
    K_CONTINUOUS_USAGE_STATS,
};

enum shape { SH_NONE = 0, SH_STRS, SH_IDS, SH_LISTS };
enum part { PT_NONE = 0, PT_TEXT, PT_OTHER };

enum vkind { V_NULL, V_BOOL, V_NUM, V_STR, V_MAP, V_ARR };

struct val {
    enum vkind k;
    bool b;
    const char *s;
    size_t n;
};

#define COMPL (1u << KV_REQUEST_COMPLETION)
#define CHAT (1u << KV_REQUEST_CHAT)

struct key_row {
    const char *name;
    uint8_t len;
    uint8_t key;
    uint8_t kinds;
};

static const struct key_row top_keys[] = {
    {LIT("model"), K_MODEL, COMPL | CHAT},
    {LIT("prompt"), K_PROMPT, COMPL},
    {LIT("messages"), K_MESSAGES, CHAT},
    {LIT("stream"), K_STREAM, COMPL | CHAT},
    {LIT("stream_options"), K_STREAM_OPTIONS, COMPL | CHAT},
    {LIT("max_tokens"), K_MAX_TOKENS, COMPL | CHAT},
    {LIT("max_completion_tokens"), K_MAX_COMPLETION_TOKENS, CHAT},
    {LIT("user"), K_USER, COMPL | CHAT},
    {LIT("ignore_eos"), K_IGNORE_EOS, COMPL | CHAT},
    {LIT("stop"), K_STOP, COMPL | CHAT},
    {LIT("temperature"), K_TEMPERATURE, COMPL | CHAT},
    {LIT("seed"), K_SEED, COMPL | CHAT},
    {LIT("n"), K_N, COMPL | CHAT},
    {LIT("add_generation_prompt"), K_ADD_GENERATION_PROMPT, CHAT},
    {LIT("continue_final_message"), K_CONTINUE_FINAL_MESSAGE, CHAT},
    {LIT("cache_salt"), K_CACHE_SALT, COMPL | CHAT},
    {LIT("request_id"), K_REQUEST_ID, COMPL | CHAT},
};

static const struct kv_request_limits default_limits = {
    .max_text = 32u << 20,
    .max_token_ids = 4u << 20,
    .max_prompts = 1024,
    .max_strings = 64u << 10,
    .max_stops = 64,
};

/* ---------------------------------------------------------------- errors */

/* Records the first error; returns 0 so callbacks can `return fail(...)` to stop the parse. */
__attribute__((format(printf, 3, 4))) static int fail(struct kv_request *r, int rc, const char *fmt,
                                                      ...)
{
    va_list ap;

    if (r->p.rc)
        return 0;
    r->p.rc = rc;
    va_start(ap, fmt);
    vsnprintf(r->p.err, sizeof(r->p.err), fmt, ap);
    va_end(ap);
    return 0;
}

static const char *key_name(uint8_t key)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(top_keys); i++)
        if (top_keys[i].key == key)
            return top_keys[i].name;
    if (key == K_INCLUDE_USAGE)
        return "stream_options.include_usage";
    if (key == K_CONTINUOUS_USAGE_STATS)
        return "stream_options.continuous_usage_stats";
    return "?";
}

static int too_long_text(struct kv_request *r)
{
    if (r->kind == KV_REQUEST_CHAT)
        return fail(r, KV_ETOOBIG, "messages: the rendered chat is longer than %zu bytes",
                    r->p.lim.max_text);
    return fail(r, KV_ETOOBIG, "prompt: longer than %zu bytes", r->p.lim.max_text);
}

static int text_append(struct kv_request *r, const char *s, size_t n)
{
    return kv_buf_append(&r->text, s, n) < 0 ? too_long_text(r) : 1;
}

/* ---------------------------------------------------------------- scalar coercion */

enum num { NUM_INT, NUM_BIG, NUM_FLOAT, NUM_BAD };

/* An integer past int64: Python keeps it exact; we saturate and keep its double value. */
static enum num big_int(const char *digits, size_t n, bool neg, int64_t *iv, double *dv)
{
    double d = 0;

    for (size_t i = 0; i < n; i++)
        d = d * 10 + (digits[i] - '0');
    *iv = neg ? INT64_MIN : INT64_MAX;
    *dv = neg ? -d : d;
    return NUM_BIG;
}

/* Reads the JSON number text <s>: an exact int64 (NUM_INT), an integer past int64 (NUM_BIG,
 * *iv saturated), or a float (NUM_FLOAT, *dv). */
static enum num read_number(const char *s, size_t n, int64_t *iv, double *dv)
{
    char t[128];
    size_t i = (n && s[0] == '-') ? 1 : 0;
    uint64_t m = 0;
    bool neg = i == 1;

    if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n)) {
        if (n >= sizeof(t))
            n = sizeof(t) - 1; /* digits past 127 cannot change a double's rounding much */
        memcpy(t, s, n);
        t[n] = '\0';
        *dv = strtod(t, NULL);
        return NUM_FLOAT;
    }
    for (size_t j = i; j < n; j++) {
        if (m > (UINT64_MAX - 9) / 10)
            return big_int(s + i, n - i, neg, iv, dv);
        m = m * 10 + (uint64_t)(s[j] - '0');
    }
    if (m > (uint64_t)INT64_MAX + neg)
        return big_int(s + i, n - i, neg, iv, dv);
    *iv = neg ? (int64_t)(0 - m) : (int64_t)m;
    *dv = (double)*iv;
    return NUM_INT;
}

/* pydantic lax int from a float: only integral, finite values; saturates past int64. */
static enum num float_to_int(double d, int64_t *iv)
{
    if (!isfinite(d) || floor(d) != d)
        return NUM_BAD;
    if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
        *iv = d > 0 ? INT64_MAX : INT64_MIN;
        return NUM_BIG;
    }
    *iv = (int64_t)d;
    return NUM_INT;
}

static bool space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* pydantic lax int from a string: optional spaces, sign, digits, optional ".000". */
static enum num str_to_int(const char *s, size_t n, int64_t *iv)
{
    size_t a = 0, b = n, i, digits;
    double dv;

    while (a < b && space(s[a]))
        a++;
    while (b > a && space(s[b - 1]))
        b--;
    if (a < b && s[a] == '+')
        a++;
    i = a + (a < b && s[a] == '-');
    digits = i;
    while (i < b && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == digits)
        return NUM_BAD;
    digits = i;
    if (i < b && s[i++] != '.')
        return NUM_BAD;
    while (i < b && s[i] == '0')
        i++;
    if (i != b)
        return NUM_BAD;
    return read_number(s + a, digits - a, iv, &dv);
}

static bool truthy(const struct val *v)
{
    switch (v->k) {
    case V_BOOL:
        return v->b;
    case V_NUM:
        for (size_t i = 0; i < v->n && v->s[i] != 'e' && v->s[i] != 'E'; i++)
            if (v->s[i] >= '1' && v->s[i] <= '9')
                return true;
        return false;
    case V_STR:
        return v->n > 0;
    case V_NULL:
        return false;
    default:
        return true;
    }
}

/* An int field; <range> (if given) gets -1/+1 when the value lies beyond int64. Returns 1 ok
 * (*<isnull> set for null when <nullable>), 0 after fail(). */
static int want_int(struct kv_request *r, const struct val *v, const char *loc, bool nullable,
                    int64_t *out, bool *isnull, int *range)
{
    enum num k = NUM_BAD;
    double dv;

    *isnull = false;
    if (v->k == V_NULL && nullable) {
        *isnull = true;
        return 1;
    }
    if (v->k == V_BOOL) {
        *out = v->b;
        return 1;
    }
    if (v->k == V_NUM) {
        k = read_number(v->s, v->n, out, &dv);
        if (k == NUM_FLOAT && !isfinite(dv))
            return fail(r, KV_EBADREQ, "%s: Input should be a finite number", loc);
        if (k == NUM_FLOAT && (k = float_to_int(dv, out)) == NUM_BAD)
            return fail(r, KV_EBADREQ,
                        "%s: Input should be a valid integer, got a number "
                        "with a fractional part",
                        loc);
    } else if (v->k == V_STR) {
        if ((k = str_to_int(v->s, v->n, out)) == NUM_BAD)
            return fail(r, KV_EBADREQ,
                        "%s: Input should be a valid integer, unable to parse "
                        "string as an integer",
                        loc);
    } else {
        return fail(r, KV_EBADREQ, "%s: Input should be a valid integer", loc);
    }
    if (range)
        *range = k == NUM_BIG ? (*out < 0 ? -1 : 1) : 0;
    return 1;
}

/* pydantic's str -> bool table (case-insensitive). */
static int str_bool(const char *s, size_t n)
{
    static const char *const yes[] = {"1", "on", "t", "true", "y", "yes"};
    static const char *const no[] = {"0", "off", "f", "false", "n", "no"};

    for (size_t i = 0; i < KV_ARRAY_LEN(yes); i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
            return 1;
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
            return 0;
    }
    return -1;
}

static int want_bool(struct kv_request *r, const struct val *v, const char *loc, bool nullable,
                     bool *out)
{
    int64_t iv;
    double dv = -1;
    int b = -1;

    switch (v->k) {
    case V_NULL:
        if (!nullable)
            break;
        *out = false;
        return 1;
    case V_BOOL:
        *out = v->b;
        return 1;
    case V_NUM:
        if (read_number(v->s, v->n, &iv, &dv) == NUM_BIG)
            dv = -1;
        b = dv == 0 ? 0 : dv == 1 ? 1 : -1;
        goto interpreted;
    case V_STR:
        b = str_bool(v->s, v->n);
        goto interpreted;
    default:
        break;
    }
    return fail(r, KV_EBADREQ, "%s: Input should be a valid boolean", loc);
interpreted:
    if (b < 0)
        return fail(r, KV_EBADREQ,
                    "%s: Input should be a valid boolean, unable to interpret "
                    "input",
                    loc);
    *out = b == 1;
    return 1;
}

static int want_double(struct kv_request *r, const struct val *v, const char *loc, double *out,
                       bool *set)
{
    char t[128], *end;
    int64_t iv;

    *set = v->k != V_NULL;
    if (v->k == V_NULL)
        return 1;
    if (v->k == V_BOOL) {
        *out = v->b;
        return 1;
    }
    if (v->k == V_NUM) {
        read_number(v->s, v->n, &iv, out);
        return 1;
    }
    if (v->k != V_STR)
        return fail(r, KV_EBADREQ, "%s: Input should be a valid number", loc);
    snprintf(t, sizeof(t), "%.*s", (int)KV_MIN(v->n, sizeof(t) - 1), v->s);
    *out = strtod(t, &end);
    while (space(*end))
        end++;
    if (v->n == 0 || v->n >= sizeof(t) || end == t || *end || strpbrk(t, "xX"))
        return fail(r, KV_EBADREQ,
                    "%s: Input should be a valid number, unable to parse string "
                    "as a number",
                    loc);
    return 1;
}

/* Copies a string value into the string arena. */
static int keep_str(struct kv_request *r, const struct val *v, const char *loc,
                    struct kv_request_span *span)
{
    struct kv_buf *s = &r->p.strings;

    if (v->k == V_NULL) {
        span->set = false;
        return 1;
    }
    if (v->k != V_STR)
        return fail(r, KV_EBADREQ, "%s: Input should be a valid string", loc);
    if (kv_buf_append(s, v->s, v->n) < 0)
        return fail(r, KV_ETOOBIG, "%s: strings in the request exceed %zu bytes", loc,
                    r->p.lim.max_strings);
    span->off = (uint32_t)(s->len - v->n);
    span->len = (uint32_t)v->n;
    span->set = true;
    return 1;
}

/* ---------------------------------------------------------------- frames */

static int push(struct kv_request *r, enum frame f)
{
    assert(r->p.sp < KV_REQUEST_FRAMES); /* the schema nests at most 5 tracked frames */
    r->p.frames[r->p.sp++] = (uint8_t)f;
    r->p.key = K_SKIP;
    return 1;
}

/* Ignores a value: containers are swallowed by depth counting. */
static int ignore(struct kv_request *r, const struct val *v)
{
    if (v->k == V_MAP || v->k == V_ARR)
        r->p.skip = 1;
    return 1;
}

/* ---------------------------------------------------------------- completion prompts */

static void reset_prompts(struct kv_request *r)
{
    kv_buf_reset(&r->text);
    r->n_tokens = 0;
    r->n_prompts = 0;
    r->p.empty_prompt = false;
    r->p.prompt_shape = SH_NONE;
    r->p.elem_index = 0;
}

static struct kv_request_prompt *new_prompt(struct kv_request *r, bool is_tokens)
{
    struct kv_request_prompt *pr;

    if (r->n_prompts == r->p.lim.max_prompts) {
        fail(r, KV_ETOOBIG, "prompt: more than %zu prompts", r->p.lim.max_prompts);
        return NULL;
    }
    pr = &r->prompts[r->n_prompts++];
    pr->is_tokens = is_tokens;
    pr->off = is_tokens ? r->n_tokens : r->text.len;
    pr->len = 0;
    return pr;
}

static int add_text_prompt(struct kv_request *r, const struct val *v)
{
    struct kv_request_prompt *pr = new_prompt(r, false);

    if (!pr || !text_append(r, v->s, v->n))
        return 0;
    pr->len = v->n;
    return 1;
}

/* Token ids are stored as int32: vLLM's vocabularies are far smaller. */
static int add_token(struct kv_request *r, const struct val *v)
{
    int64_t id = 0;
    double dv;
    size_t i;
    enum num k;

    for (i = 0; i < v->n && i < 10 && v->s[i] >= '0' && v->s[i] <= '9'; i++)
        id = id * 10 + (v->s[i] - '0');
    if (i != v->n || i == 10) {
        k = read_number(v->s, v->n, &id, &dv);
        if (k == NUM_FLOAT && float_to_int(dv, &id) == NUM_BAD)
            return fail(r, KV_EBADREQ,
                        "prompt: Input should be a valid integer, got a number "
                        "with a fractional part");
    }
    if (id < 0 || id > INT32_MAX)
        return fail(r, KV_EBADREQ, "Token id %.*s is out of vocabulary", (int)KV_MIN(v->n, 40),
                    v->s);
    if (r->n_tokens == r->p.tokens_cap) {
        if (r->n_tokens >= r->p.lim.max_token_ids)
            return fail(r, KV_ETOOBIG, "prompt: more than %zu token ids", r->p.lim.max_token_ids);
        r->p.tokens_cap = KV_MIN(KV_MAX(r->p.tokens_cap * 2, 1024), r->p.lim.max_token_ids);
        r->tokens = kv_realloc(r->tokens, r->p.tokens_cap * sizeof(*r->tokens));
    }
    r->tokens[r->n_tokens++] = (int32_t)id;
    return 1;
}

static int prompt_type_error(struct kv_request *r)
{
    return fail(r, KV_EBADREQ,
                "prompt: Input should be a valid string, a list of strings, a "
                "list of integers or a list of lists of integers");
}

static int on_prompt(struct kv_request *r, const struct val *v)
{
    reset_prompts(r);
    r->p.has_prompt = v->k != V_NULL;
    if (v->k == V_STR)
        return add_text_prompt(r, v);
    if (v->k == V_ARR)
        return push(r, F_PROMPT);
    return v->k == V_NULL ? 1 : prompt_type_error(r);
}

/* An element of the prompt list: its first element fixes the list's shape. */
static int prompt_elem(struct kv_request *r, const struct val *v)
{
    uint8_t want = v->k == V_STR   ? SH_STRS
                   : v->k == V_NUM ? SH_IDS
                   : v->k == V_ARR ? SH_LISTS
                                   : SH_NONE;

    if (want == SH_NONE || (r->p.prompt_shape != SH_NONE && r->p.prompt_shape != want))
        return prompt_type_error(r);
    if (r->p.prompt_shape == SH_NONE && want == SH_IDS && !new_prompt(r, true))
        return 0;
    r->p.prompt_shape = want;
    r->p.elem_index++;
    if (want == SH_STRS)
        return add_text_prompt(r, v);
    if (want == SH_IDS)
        return add_token(r, v);
    return new_prompt(r, true) ? push(r, F_TOKS) : 0;
}

static int token_elem(struct kv_request *r, const struct val *v)
{
    if (v->k != V_NUM)
        return fail(r, KV_EBADREQ, "prompt.%zu: Input should be a list of integers",
                    r->p.elem_index - 1);
    return add_token(r, v);
}

/* The last prompt's ids end here. */
static void close_token_prompt(struct kv_request *r)
{
    struct kv_request_prompt *pr = &r->prompts[r->n_prompts - 1];

    pr->len = r->n_tokens - pr->off;
    if (pr->len == 0)
        r->p.empty_prompt = true;
}

/* ---------------------------------------------------------------- chat messages */

static int on_messages(struct kv_request *r, const struct val *v)
{
    if (v->k != V_ARR)
        return fail(r, KV_EBADREQ, "messages: Input should be a valid list");
    kv_buf_reset(&r->text);
    r->n_messages = 0;
    r->p.has_messages = true;
    return push(r, F_MSGS);
}

static int message_begin(struct kv_request *r, const struct val *v)
{
    if (v->k != V_MAP)
        return fail(r, KV_EBADREQ, "messages.%zu: Input should be a valid dictionary",
                    r->n_messages);
    if (r->n_messages == 0 && !text_append(r, LIT(KV_CHAT_BOS)))
        return 0;
    r->p.msg_start = r->text.len;
    r->p.hdr_len = 0;
    r->p.pieces = 0;
    r->p.content_seen = false;
    return push(r, F_MSG);
}

/* Writes the header for <role> at msg_start; content already there is moved behind it. */
static int set_role(struct kv_request *r, const char *role, size_t n)
{
    struct kv_request_state *p = &r->p;
    size_t cs = p->msg_start + p->hdr_len;

    kv_buf_reset(&p->tmp);
    if (r->text.len > cs && kv_buf_append(&p->tmp, r->text.data + cs, r->text.len - cs) < 0)
        return too_long_text(r);
    r->text.len = p->msg_start;
    if (kv_chat_append_header(&r->text, role, n) < 0 ||
        kv_buf_append(&r->text, p->tmp.data, p->tmp.len) < 0)
        return too_long_text(r);
    p->hdr_len = kv_chat_header_len(n);
    return 1;
}

/* One piece of a message's content: vLLM joins non-empty text parts with "\n". */
static int add_piece(struct kv_request *r, const char *s, size_t n)
{
    if (n == 0)
        return 1;
    if (r->p.pieces++ > 0 && !text_append(r, "\n", 1))
        return 0;
    return text_append(r, s, n);
}

static int message_value(struct kv_request *r, const struct val *v)
{
    struct kv_request_state *p = &r->p;

    if (p->key == K_ROLE) {
        if (v->k != V_STR)
            return fail(r, KV_EBADREQ, "messages.%zu.role: Input should be a valid string",
                        r->n_messages);
        return set_role(r, v->s, v->n);
    }
    if (p->key != K_CONTENT)
        return ignore(r, v);
    if (p->content_seen) { /* a repeated key: the last one wins */
        r->text.len = p->msg_start + p->hdr_len;
        p->pieces = 0;
    }
    p->content_seen = true;
    p->part_index = 0;
    if (v->k == V_STR)
        return add_piece(r, v->s, v->n);
    if (v->k == V_ARR)
        return push(r, F_CONTENT);
    if (v->k == V_NULL)
        return 1;
    return fail(r, KV_EBADREQ,
                "messages.%zu.content: Input should be a valid string or a list "
                "of content parts",
                r->n_messages);
}

/* Trims the content in place (Jinja's |trim) and closes the message. */
static int message_end(struct kv_request *r)
{
    struct kv_request_state *p = &r->p;
    size_t cs = p->msg_start + p->hdr_len, pre, post;

    if (p->hdr_len == 0)
        return fail(r, KV_EBADREQ, "messages.%zu.role: Field required", r->n_messages);
    pre = kv_chat_space_prefix(r->text.data + cs, r->text.len - cs);
    post = kv_chat_space_suffix(r->text.data + cs + pre, r->text.len - cs - pre);
    r->text.len -= post;
    if (pre) {
        memmove(r->text.data + cs, r->text.data + cs + pre, r->text.len - cs - pre);
        r->text.len -= pre;
    }
    r->text.data[r->text.len] = '\0';
    r->n_messages++;
    return text_append(r, LIT(KV_CHAT_EOT));
}

static int content_elem(struct kv_request *r, const struct val *v)
{
    if (v->k == V_STR) {
        r->p.part_index++;
        return add_piece(r, v->s, v->n);
    }
    if (v->k != V_MAP)
        return fail(r, KV_EBADREQ,
                    "messages.%zu.content.%zu: Input should be a valid "
                    "dictionary",
                    r->n_messages, r->p.part_index);
    r->p.part_type = PT_NONE;
    r->p.part_text = false;
    return push(r, F_PART);
}

static int part_value(struct kv_request *r, const struct val *v)
{
    struct kv_request_state *p = &r->p;
    const char *what = p->key == K_TYPE ? "type" : "text";

    if (p->key != K_TYPE && p->key != K_TEXT)
        return ignore(r, v);
    if (v->k != V_STR)
        return fail(r, KV_EBADREQ,
                    "messages.%zu.content.%zu.%s: Input should be a valid "
                    "string",
                    r->n_messages, p->part_index, what);
    if (p->key == K_TEXT) {
        p->part_text = true;
        return add_piece(r, v->s, v->n);
    }
    if ((v->n == 4 && memcmp(v->s, "text", 4) == 0) ||
        (v->n == 10 && memcmp(v->s, "input_text", 10) == 0)) {
        p->part_type = PT_TEXT;
        return 1;
    }
    p->part_type = PT_OTHER;
    snprintf(p->part_name, sizeof(p->part_name), "%.*s", (int)KV_MIN(v->n, sizeof(p->part_name)),
             v->s);
    return 1;
}

static int part_end(struct kv_request *r)
{
    struct kv_request_state *p = &r->p;

    if (p->part_type == PT_OTHER)
        return fail(r, KV_EBADREQ, "Unknown part type: %s", p->part_name);
    if (p->part_type == PT_NONE && !p->part_text)
        return fail(r, KV_EBADREQ,
                    "messages.%zu.content.%zu: Missing 'type' field in "
                    "content part",
                    r->n_messages, p->part_index);
    p->part_index++;
    return 1;
}

/* ---------------------------------------------------------------- stop, stream_options */

static int add_stop(struct kv_request *r, const struct val *v)
{
    if (v->k != V_STR)
        return fail(r, KV_EBADREQ, "stop.%zu: Input should be a valid string", r->n_stops);
    if (r->n_stops == r->p.lim.max_stops)
        return fail(r, KV_ETOOBIG, "stop: more than %zu stop strings", r->p.lim.max_stops);
    return keep_str(r, v, "stop", &r->stops[r->n_stops++]);
}

static int on_stop(struct kv_request *r, const struct val *v)
{
    r->n_stops = 0;
    if (v->k == V_STR)
        return add_stop(r, v);
    if (v->k == V_ARR)
        return push(r, F_STOP);
    if (v->k == V_NULL)
        return 1;
    return fail(r, KV_EBADREQ, "stop: Input should be a valid string or a list of strings");
}

static int on_stream_options(struct kv_request *r, const struct val *v)
{
    r->include_usage = false;
    r->continuous_usage_stats = false;
    r->p.sopts_truthy = false;
    if (v->k == V_NULL)
        return 1;
    if (v->k != V_MAP)
        return fail(r, KV_EBADREQ,
                    "stream_options: Input should be a valid dictionary or "
                    "instance of StreamOptions");
    r->include_usage = true; /* StreamOptions.include_usage defaults to True */
    return push(r, F_SOPTS);
}

static int sopts_value(struct kv_request *r, const struct val *v)
{
    if (r->p.key == K_INCLUDE_USAGE)
        return want_bool(r, v, key_name(K_INCLUDE_USAGE), true, &r->include_usage);
    if (r->p.key == K_CONTINUOUS_USAGE_STATS)
        return want_bool(r, v, key_name(K_CONTINUOUS_USAGE_STATS), true,
                         &r->continuous_usage_stats);
    return ignore(r, v);
}

/* ---------------------------------------------------------------- top-level fields */

static int on_seed(struct kv_request *r, const struct val *v)
{
    bool isnull;
    int range = 0;

    if (!want_int(r, v, "seed", true, &r->seed, &isnull, &range))
        return 0;
    if (range > 0)
        return fail(r, KV_EBADREQ, "seed: Input should be less than or equal to %" PRId64,
                    INT64_MAX);
    if (range < 0)
        return fail(r, KV_EBADREQ, "seed: Input should be greater than or equal to %" PRId64,
                    INT64_MIN);
    r->has_seed = !isnull;
    return 1;
}

static int on_cache_salt(struct kv_request *r, const struct val *v)
{
    /* vLLM's before-validator: not None -> must be a non-empty str; reported at finish. */
    r->p.salt_bad = v->k != V_NULL && (v->k != V_STR || v->n == 0);
    if (r->p.salt_bad)
        return ignore(r, v);
    return keep_str(r, v, "cache_salt", &r->cache_salt);
}

static int on_int_field(struct kv_request *r, const struct val *v, int64_t *out, bool *set,
                        bool nullable)
{
    bool isnull;

    if (!want_int(r, v, key_name(r->p.key), nullable, out, &isnull, NULL))
        return 0;
    if (set)
        *set = !isnull;
    return 1;
}

/* Dispatch on the key: one case per field, so longer than usual. */
static int top_value(struct kv_request *r, const struct val *v)
{
    bool chat = r->kind == KV_REQUEST_CHAT, isnull;

    switch (r->p.key) {
    case K_MODEL:
        return keep_str(r, v, "model", &r->model);
    case K_USER:
        return keep_str(r, v, "user", &r->user);
    case K_REQUEST_ID:
        if (v->k == V_NULL)
            return fail(r, KV_EBADREQ, "request_id: Input should be a valid string");
        return keep_str(r, v, "request_id", &r->request_id);
    case K_CACHE_SALT:
        return on_cache_salt(r, v);
    case K_PROMPT:
        return on_prompt(r, v);
    case K_MESSAGES:
        return on_messages(r, v);
    case K_STOP:
        return on_stop(r, v);
    case K_STREAM_OPTIONS:
        return on_stream_options(r, v);
    case K_STREAM:
        r->p.stream_truthy = truthy(v);
        return want_bool(r, v, "stream", true, &r->stream);
    case K_IGNORE_EOS:
        return want_bool(r, v, "ignore_eos", false, &r->ignore_eos);
    case K_ADD_GENERATION_PROMPT:
        r->p.agp_truthy = truthy(v);
        return want_bool(r, v, "add_generation_prompt", false, &r->add_generation_prompt);
    case K_CONTINUE_FINAL_MESSAGE:
        return want_bool(r, v, "continue_final_message", false, &r->continue_final_message);
    case K_MAX_TOKENS:
        return on_int_field(r, v, &r->p.mt, &r->p.mt_set, true);
    case K_MAX_COMPLETION_TOKENS:
        return on_int_field(r, v, &r->p.mct, &r->p.mct_set, true);
    case K_N:
        if (!want_int(r, v, "n", chat, &r->n, &isnull, NULL))
            return 0;
        if (isnull)
            r->n = 1;
        return 1;
    case K_SEED:
        return on_seed(r, v);
    case K_TEMPERATURE:
        return want_double(r, v, "temperature", &r->temperature, &r->has_temperature);
    default:
        return ignore(r, v);
    }
}

/* ---------------------------------------------------------------- JSON events */

static int on_value(struct kv_request *r, const struct val *v)
{
    if (r->p.sp == 0) {
        if (v->k != V_MAP)
            return fail(r, KV_EBADREQ,
                        "Input should be a valid dictionary or object to "
                        "extract fields from");
        r->p.seen_body = true;
        return push(r, F_TOP);
    }
    switch (r->p.frames[r->p.sp - 1]) {
    case F_TOP:
        return top_value(r, v);
    case F_PROMPT:
        return prompt_elem(r, v);
    case F_TOKS:
        return token_elem(r, v);
    case F_MSGS:
        return message_begin(r, v);
    case F_MSG:
        return message_value(r, v);
    case F_CONTENT:
        return content_elem(r, v);
    case F_PART:
        return part_value(r, v);
    case F_STOP:
        return add_stop(r, v);
    case F_SOPTS:
        return sopts_value(r, v);
    default:
        return fail(r, KV_EBADJSON, "internal parser state");
    }
}

static int on_end(struct kv_request *r)
{
    if (r->p.skip) {
        r->p.skip--;
        return 1;
    }
    switch (r->p.frames[--r->p.sp]) {
    case F_PROMPT:
        if (r->p.prompt_shape == SH_IDS)
            close_token_prompt(r);
        else if (r->p.prompt_shape == SH_NONE)
            r->p.empty_prompt = true;
        return 1;
    case F_TOKS:
        close_token_prompt(r);
        return 1;
    case F_MSG:
        return message_end(r);
    case F_PART:
        return part_end(r);
    default:
        return 1;
    }
}

static int cb_null(void *ctx)
{
    struct kv_request *r = ctx;
    return r->p.skip ? 1 : on_value(r, &(struct val){.k = V_NULL});
}

static int cb_boolean(void *ctx, int b)
{
    struct kv_request *r = ctx;
    return r->p.skip ? 1 : on_value(r, &(struct val){.k = V_BOOL, .b = b != 0});
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    struct kv_request *r = ctx;
    return r->p.skip ? 1 : on_value(r, &(struct val){.k = V_NUM, .s = s, .n = n});
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    struct kv_request *r = ctx;
    return r->p.skip ? 1 : on_value(r, &(struct val){.k = V_STR, .s = (const char *)s, .n = n});
}

static int start(struct kv_request *r, enum vkind k)
{
    if (r->p.skip) {
        if (r->p.skip + (uint32_t)r->p.sp >= KV_REQUEST_MAX_DEPTH)
            return fail(r, KV_EBADJSON, "JSON decode error: nested deeper than %d levels",
                        KV_REQUEST_MAX_DEPTH);
        r->p.skip++;
        return 1;
    }
    return on_value(r, &(struct val){.k = k});
}

static int cb_start_map(void *ctx)
{
    return start(ctx, V_MAP);
}

static int cb_start_array(void *ctx)
{
    return start(ctx, V_ARR);
}

static int cb_end(void *ctx)
{
    return on_end(ctx);
}

static uint8_t top_key(const struct kv_request *r, const char *s, size_t n)
{
    for (size_t i = 0; i < KV_ARRAY_LEN(top_keys); i++)
        if (top_keys[i].len == n && memcmp(top_keys[i].name, s, n) == 0)
            return (top_keys[i].kinds & (1u << r->kind)) ? top_keys[i].key : K_SKIP;
    return K_SKIP;
}

static bool is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t n)
{
    struct kv_request *r = ctx;
    const char *s = (const char *)key;

    if (r->p.skip)
        return 1;
    switch (r->p.frames[r->p.sp - 1]) {
    case F_TOP:
        r->p.key = top_key(r, s, n);
        break;
    case F_MSG:
        r->p.key = is(s, n, "role") ? K_ROLE : is(s, n, "content") ? K_CONTENT : K_SKIP;
        break;
    case F_PART:
        r->p.key = is(s, n, "type") ? K_TYPE : is(s, n, "text") ? K_TEXT : K_SKIP;
        break;
    case F_SOPTS:
        r->p.sopts_truthy = true;
        r->p.key = is(s, n, "include_usage")            ? K_INCLUDE_USAGE
                   : is(s, n, "continuous_usage_stats") ? K_CONTINUOUS_USAGE_STATS
                                                        : K_SKIP;
        break;
    default:
        r->p.key = K_SKIP;
        break;
    }
    return 1;
}

static const struct kv_jsonscan_callbacks callbacks = {
    .null = cb_null,
    .boolean = cb_boolean,
    .number = cb_number,
    .string = cb_string,
    .start_map = cb_start_map,
    .map_key = cb_map_key,
    .end_map = cb_end,
    .start_array = cb_start_array,
    .end_array = cb_end,
};

/* ---------------------------------------------------------------- lifecycle */

void kv_request_init(struct kv_request *r, const struct kv_request_limits *lim)
{
    struct kv_request_limits l = lim ? *lim : default_limits;

    memset(r, 0, sizeof(*r));
    l.max_text = l.max_text ? l.max_text : default_limits.max_text;
    l.max_token_ids = l.max_token_ids ? l.max_token_ids : default_limits.max_token_ids;
    l.max_prompts = l.max_prompts ? l.max_prompts : default_limits.max_prompts;
    /* spans are 32-bit offsets */
    l.max_strings =
        KV_MIN(l.max_strings ? l.max_strings : default_limits.max_strings, (size_t)UINT32_MAX);
    l.max_stops = l.max_stops ? l.max_stops : default_limits.max_stops;
    r->p.lim = l;
    kv_buf_init(&r->text, l.max_text);
    kv_buf_init(&r->p.strings, l.max_strings);
    kv_buf_init(&r->p.tmp, l.max_text);
    r->prompts = kv_calloc(l.max_prompts, sizeof(*r->prompts));
    r->stops = kv_calloc(l.max_stops, sizeof(*r->stops));
    /* Deeper than the limit start() enforces, so that message wins; a string as written is at
     * most 6 bytes per decoded byte (\u escapes), so the text cap is what stops a prompt. */
    kv_jsonscan_init(&r->p.scan, &callbacks, r, KV_REQUEST_MAX_DEPTH + KV_REQUEST_FRAMES + 1,
                     KV_MIN(l.max_text, SIZE_MAX / 8) * 6 + 64);
}

void kv_request_cleanup(struct kv_request *r)
{
    kv_jsonscan_cleanup(&r->p.scan);
    kv_buf_cleanup(&r->text);
    kv_buf_cleanup(&r->p.strings);
    kv_buf_cleanup(&r->p.tmp);
    KV_FREE(&r->prompts);
    KV_FREE(&r->stops);
    KV_FREE(&r->tokens);
}

/* Clears the results to their vLLM defaults. */
static void reset_results(struct kv_request *r, enum kv_request_kind kind)
{
    r->kind = kind;
    r->stream = r->include_usage = r->continuous_usage_stats = false;
    r->ignore_eos = r->continue_final_message = false;
    r->add_generation_prompt = true;
    r->has_seed = r->has_temperature = false;
    r->max_tokens = -1;
    r->n = 1;
    r->seed = 0;
    r->temperature = 0;
    r->n_messages = 0;
    r->n_stops = 0;
    r->model.set = r->user.set = r->cache_salt.set = r->request_id.set = false;
    reset_prompts(r);
}

void kv_request_begin(struct kv_request *r, enum kv_request_kind kind)
{
    struct kv_request_state *p = &r->p;

    kv_jsonscan_reset(&p->scan);
    reset_results(r, kind);
    kv_buf_reset(&p->strings);
    p->sp = 0;
    p->skip = 0;
    p->key = K_SKIP;
    p->fed = 0;
    p->began = true;
    p->done = p->seen_body = p->has_prompt = p->has_messages = false;
    p->stream_truthy = p->sopts_truthy = p->agp_truthy = p->salt_bad = false;
    p->mct_set = p->eff_set = false;
    p->mt_set = kind == KV_REQUEST_COMPLETION; /* CompletionRequest.max_tokens = 16 */
    p->mt = 16;
    p->rc = 0;
    p->err[0] = '\0';
}

/* The scanner stopped: a callback's error is already recorded; otherwise the JSON was invalid
 * (its message gives the byte offset from the body's start, the same however it was split). */
static int scan_stopped(struct kv_request *r)
{
    if (r->p.rc)
        return r->p.rc;
    fail(r, KV_EBADJSON, "JSON decode error: %s", kv_jsonscan_error(&r->p.scan));
    return r->p.rc;
}

int kv_request_feed(struct kv_request *r, const void *data, size_t len)
{
    if (!r->p.began || r->p.done)
        return r->p.rc ? r->p.rc : -EINVAL;
    if (r->p.rc)
        return r->p.rc;
    if (kv_jsonscan_feed(&r->p.scan, data, len) != KV_JSONSCAN_OK)
        return scan_stopped(r);
    r->p.fed += len;
    return 0;
}

/* The model validators (mode="before") of vLLM's request classes. */
static int check_model_validators(struct kv_request *r)
{
    const struct kv_request_state *p = &r->p;

    if (!p->seen_body)
        return fail(r, KV_EBADREQ, "Field required");
    if (p->salt_bad)
        return fail(r, KV_EBADREQ,
                    "Value error, Parameter 'cache_salt' must be a non-empty "
                    "string if provided.");
    if (p->sopts_truthy && !p->stream_truthy)
        return fail(r, KV_EBADREQ,
                    "Value error, Stream options can only be defined when "
                    "`stream=True`.");
    if (r->kind == KV_REQUEST_COMPLETION && !p->has_prompt)
        return fail(r, KV_EBADREQ,
                    "Value error, At least one of `prompt` or `prompt_embeds` "
                    "must be set.");
    if (r->kind == KV_REQUEST_CHAT && !p->has_messages)
        return fail(r, KV_EBADREQ, "messages: Field required");
    if (r->kind == KV_REQUEST_CHAT && r->continue_final_message && p->agp_truthy)
        return fail(r, KV_EBADREQ,
                    "Value error, Cannot set both `continue_final_message` and "
                    "`add_generation_prompt` to True.");
    return 1;
}

/* The whole chat is one text prompt; continue_final_message leaves the last message open. */
static int finish_chat(struct kv_request *r)
{
    size_t eot = sizeof(KV_CHAT_EOT) - 1;

    if (r->continue_final_message) {
        if (r->n_messages > 0) {
            r->text.len -= eot;
            r->text.data[r->text.len] = '\0';
        }
    } else if (r->add_generation_prompt && kv_chat_append_generation_prompt(&r->text) < 0) {
        return too_long_text(r);
    }
    r->n_prompts = 1;
    r->prompts[0] = (struct kv_request_prompt){.is_tokens = false, .off = 0, .len = r->text.len};
    return 1;
}

int kv_request_finish(struct kv_request *r)
{
    struct kv_request_state *p = &r->p;

    if (!p->began || p->done || p->rc)
        return p->rc ? p->rc : -EINVAL;
    if (p->fed == 0) /* FastAPI reads an empty body as a missing one */
        return fail(r, KV_EBADREQ, "Field required"), p->rc;
    if (kv_jsonscan_finish(&p->scan) != KV_JSONSCAN_OK)
        return scan_stopped(r);
    if (!check_model_validators(r) || (r->kind == KV_REQUEST_CHAT && !finish_chat(r)))
        return p->rc;
    /* get_max_tokens(): `max_completion_tokens or max_tokens`, so 0 falls through */
    if (p->mct_set && p->mct != 0) {
        p->eff = p->mct;
        p->eff_set = true;
    } else {
        p->eff = p->mt;
        p->eff_set = p->mt_set;
    }
    r->max_tokens = p->eff_set && p->eff >= 1 ? p->eff : -1;
    p->done = true;
    return 0;
}

int kv_request_validate(struct kv_request *r)
{
    char t[KV_JSON_DOUBLE_MAX];

    if (!r->p.done || r->p.rc)
        return r->p.rc ? r->p.rc : -EINVAL;
    if (r->kind == KV_REQUEST_COMPLETION && (r->n_prompts == 0 || r->p.empty_prompt))
        return fail(r, KV_EBADREQ, "please provide at least one prompt"), r->p.rc;
    if (r->kind == KV_REQUEST_CHAT && r->continue_final_message && r->add_generation_prompt)
        return fail(r, KV_EBADREQ,
                    "continue_final_message and add_generation_prompt are not "
                    "compatible. Use continue_final_message when you want the model to "
                    "continue the final message, and add_generation_prompt when you want to "
                    "add a header that will prompt it to start a new assistant message "
                    "instead."),
               r->p.rc;
    if (r->n < 1)
        return fail(r, KV_EBADREQ, "n must be at least 1, got %" PRId64 ".", r->n), r->p.rc;
    if (r->n > 1)
        return fail(r, KV_EBADREQ, "n > 1 is not supported"), r->p.rc;
    if (r->has_temperature && r->temperature < 0) {
        kv_json_format_double(t, r->temperature);
        return fail(r, KV_EBADREQ, "temperature must be non-negative, got %s.", t), r->p.rc;
    }
    if (r->p.eff_set && r->p.eff < 1)
        return fail(r, KV_EBADREQ, "max_tokens must be at least 1, got %" PRId64 ".", r->p.eff),
               r->p.rc;
    return 0;
}

int kv_request_parse(struct kv_request *r, enum kv_request_kind kind, const void *body, size_t len)
{
    int rc;

    kv_request_begin(r, kind);
    if ((rc = kv_request_feed(r, body, len)) < 0)
        return rc;
    return kv_request_finish(r);
}

const char *kv_request_error(const struct kv_request *r)
{
    return r->p.err;
}

/* ---------------------------------------------------------------- accessors */

static const char *span_str(const struct kv_request *r, const struct kv_request_span *s,
                            size_t *len)
{
    if (!s->set) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = s->len;
    return r->p.strings.data + s->off;
}

const char *kv_request_model(const struct kv_request *r, size_t *len)
{
    size_t n;
    const char *s = span_str(r, &r->model, &n);

    if (len)
        *len = s && n ? n : 0;
    return s && n ? s : NULL;
}

const char *kv_request_user(const struct kv_request *r, size_t *len)
{
    return span_str(r, &r->user, len);
}

const char *kv_request_cache_salt(const struct kv_request *r, size_t *len)
{
    return span_str(r, &r->cache_salt, len);
}

const char *kv_request_request_id(const struct kv_request *r, size_t *len)
{
    return span_str(r, &r->request_id, len);
}

const char *kv_request_stop(const struct kv_request *r, size_t i, size_t *len)
{
    return i < r->n_stops ? span_str(r, &r->stops[i], len) : NULL;
}

const char *kv_request_prompt_text(const struct kv_request *r, size_t i, size_t *len)
{
    if (i >= r->n_prompts || r->prompts[i].is_tokens)
        return NULL;
    if (len)
        *len = r->prompts[i].len;
    return r->text.data ? r->text.data + r->prompts[i].off : "";
}

const int32_t *kv_request_prompt_tokens(const struct kv_request *r, size_t i, size_t *n)
{
    static const int32_t none[1];

    if (i >= r->n_prompts || !r->prompts[i].is_tokens)
        return NULL;
    if (n)
        *n = r->prompts[i].len;
    return r->tokens ? r->tokens + r->prompts[i].off : none;
}
