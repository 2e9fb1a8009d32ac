/* SPDX-License-Identifier: MIT */
/* src/openai/jsonscan.c - JSON event parser: a state machine over the structure, vector scans
 * over string bodies, and a carried buffer for tokens split across pieces.
 *
 * The state says what may come next (a value, a key, ':', ',' or a close); the stack says which
 * container a ',' or close belongs to. A token that reaches the end of a piece is not half-lexed:
 * its raw bytes are carried in <pend>, the next pieces are scanned only for the token's end (an
 * unescaped quote, or the first byte that cannot continue a number or a literal), and the whole
 * token is then lexed from <pend> by the same code as an in-piece token. So every token is lexed
 * once, from contiguous bytes, and no lexer needs resumable state.
 */
#include "openai/jsonscan.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KV_JSONSCAN_AVX2 1
#endif

#include "base/mem.h"

enum container { C_OBJ = 1, C_ARR };
enum state { S_VALUE = 0, S_ARR_FIRST, S_OBJ_FIRST, S_KEY, S_COLON, S_AFTER, S_DONE };
enum token { T_NONE = 0, T_STRING, T_KEY, T_NUMBER, T_LITERAL };
enum lex { L_OK = 0, L_MORE, L_STOP };

/* Where a buffer sits in the document: <org> is the byte at offset <at>. */
struct in {
    const uint8_t *org;
    uint64_t at;
};

static uint64_t off(const struct in *in, const uint8_t *q)
{
    return in->at + (uint64_t)(q - in->org);
}

static int fail(struct kv_jsonscan *s, uint64_t at, const char *msg)
{
    if (s->status == KV_JSONSCAN_OK) {
        s->status = KV_JSONSCAN_ERROR;
        snprintf(s->err, sizeof(s->err), "%s (byte %llu)", msg, (unsigned long long)at);
    }
    return L_STOP;
}

static int emitted(struct kv_jsonscan *s, int ok)
{
    if (ok)
        return L_OK;
    s->status = KV_JSONSCAN_CANCELED;
    return L_STOP;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_numch(uint8_t c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static bool is_letter(uint8_t c)
{
    return c >= 'a' && c <= 'z';
}

/* A byte that a string body can hold as is: not '"', '\\', a control character or non-ASCII. */
static bool is_plain(uint8_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#if KV_JSONSCAN_AVX2
/* scan_plain's 64 bytes a step, for CPUs with AVX2 (chosen at run time: the build targets plain
 * x86-64). Returns at the first non-plain byte, or with fewer than 64 bytes left. */
__attribute__((target("avx2"))) static const uint8_t *scan_plain_avx2(const uint8_t *p,
                                                                      const uint8_t *end)
{
    const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
    const __m256i space = _mm256_set1_epi8(0x20);

    while (end - p >= 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        /* signed compare, as below: bytes >= 0x80 test below 0x20 */
        __m256i ma = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(a, quote), _mm256_cmpeq_epi8(a, bslash)),
            _mm256_cmpgt_epi8(space, a));
        __m256i mb = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(b, quote), _mm256_cmpeq_epi8(b, bslash)),
            _mm256_cmpgt_epi8(space, b));
        uint64_t bits = (uint64_t)(uint32_t)_mm256_movemask_epi8(ma) |
                        (uint64_t)(uint32_t)_mm256_movemask_epi8(mb) << 32;
        if (bits)
            return p + __builtin_ctzll(bits);
        p += 64;
    }
    return p;
}
#endif

/* The first byte in [p, end) that is not plain, or end. This is the hot loop: prompts are long
 * runs of plain bytes. */
static const uint8_t *scan_plain(const uint8_t *p, const uint8_t *end)
{
#if KV_JSONSCAN_AVX2
    if (end - p >= 64 && __builtin_cpu_supports("avx2")) {
        p = scan_plain_avx2(p, end);
        if (end - p >= 64)
            return p;
    }
#endif
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so they test below 0x20 too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
    while (p < end && is_plain(*p))
        p++;
    return p;
#else
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

    for (;;) {
        while (end - p >= 8) {
            uint64_t v, q, b;
            memcpy(&v, p, 8);
            q = v ^ (ones * '"');
            b = v ^ (ones * '\\');
            /* may flag a clean word (borrows): the byte loop below settles it */
            if ((((q - ones) & ~q) | ((b - ones) & ~b) | (v - ones * 0x20) | v) & highs)
                break;
            p += 8;
        }
        const uint8_t *lim = end - p >= 8 ? p + 8 : end;
        while (p < lim && is_plain(*p))
            p++;
        if (p < lim || p == end)
            return p;
    }
#endif
}

/* Length of the well-formed UTF-8 sequence at <p> (lead byte >= 0x80), as Python's decoder
 * accepts it (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF); 0 if [p, end) ends
 * inside a valid prefix; -1 if ill-formed. */
static int utf8_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    int n;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return -1;
    }
    for (int i = 1; i < n; i++) {
        if (p + i >= end)
            return 0;
        if (p[i] < lo || p[i] > hi)
            return -1;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

/* Four hex digits at <p>: the value, -1 if a digit is not hex, -2 if [p, end) ends first. */
static int hex4(const uint8_t *p, const uint8_t *end)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        if (p + i >= end)
            return -2;
        uint8_t c = p[i];
        uint8_t l = (uint8_t)(c | 0x20);
        int d = is_digit(c) ? c - '0' : l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static int put_utf8(struct kv_buf *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return kv_buf_append(b, u, n);
}

/* The code point of the \u escape at <q> (q[0..1] is "\u"), pairing a high surrogate with a low
 * one that follows. Sets *<used> to the bytes consumed; returns the code point, -1 for a bad
 * escape (error recorded), or -2 if [q, end) ends before it can tell. */
static long unicode_escape(struct kv_jsonscan *s, const struct in *in, const uint8_t *q,
                           const uint8_t *end, int *used)
{
    int hi = hex4(q + 2, end), lo;

    *used = 6;
    if (hi == -1)
        return fail(s, off(in, q), "Invalid \\uXXXX escape"), -1;
    if (hi < 0)
        return -2;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return 0xFFFD;
    if (hi < 0xD800 || hi > 0xDBFF)
        return hi;
    /* A high surrogate: is "\u" next? */
    if (end - q < 7 || (q[6] == '\\' && end - q < 8))
        return -2;
    if (q[6] != '\\' || q[7] != 'u')
        return 0xFFFD;
    lo = hex4(q + 8, end);
    if (lo == -1)
        return fail(s, off(in, q + 6), "Invalid \\uXXXX escape"), -1;
    if (lo < 0)
        return -2;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return 0xFFFD; /* the second escape is decoded on its own next */
    *used = 12;
    return 0x10000 + (((long)hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* Decodes the escape at <q> (a backslash) into s->str. Returns the bytes consumed, 0 if
 * [q, end) ends inside it, or -1 after recording an error. */
static int unescape(struct kv_jsonscan *s, const struct in *in, const uint8_t *q,
                    const uint8_t *end)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    long cp;
    int used;

    if (end - q < 2)
        return 0;
    if (q[1] != 'u') {
        hit = q[1] ? strchr(from, q[1]) : NULL;
        if (!hit)
            return fail(s, off(in, q), "Invalid \\escape"), -1;
        if (kv_buf_appendc(&s->str, to[hit - from]) < 0)
            return fail(s, off(in, q), "string too long"), -1;
        return 2;
    }
    cp = unicode_escape(s, in, q, end, &used);
    if (cp < 0)
        return cp == -2 ? 0 : -1;
    if (put_utf8(&s->str, (unsigned)cp) < 0)
        return fail(s, off(in, q), "string too long"), -1;
    return used;
}

/* Lexes the string whose body starts at <p> (just past the quote) and delivers it as a value or
 * a key. L_OK sets *<next> past the closing quote; L_MORE means [p, end) ended first. */
static int lex_string(struct kv_jsonscan *s, const struct in *in, const uint8_t *p,
                      const uint8_t *end, bool key, const uint8_t **next)
{
    const uint8_t *q = p, *run = p, *sp = p;
    bool escaped = false;
    size_t sn;
    int n;

    for (;;) {
        q = scan_plain(q, end);
        if (q == end)
            return L_MORE;
        if (*q == '"')
            break;
        if (*q == '\\') {
            if (!escaped)
                kv_buf_reset(&s->str);
            escaped = true;
            if (kv_buf_append(&s->str, run, (size_t)(q - run)) < 0)
                return fail(s, off(in, q), "string too long");
            if ((n = unescape(s, in, q, end)) <= 0)
                return n == 0 ? L_MORE : L_STOP;
            run = q += n;
        } else if (*q < 0x20) {
            return fail(s, off(in, q), "Invalid control character in string");
        } else if ((n = utf8_len(q, end)) <= 0) {
            return n == 0 ? L_MORE : fail(s, off(in, q), "Invalid UTF-8 in string");
        } else {
            q += n;
        }
    }
    if ((size_t)(q - p) > s->max_token)
        return fail(s, off(in, p - 1), "string too long");
    sn = (size_t)(q - p);
    if (escaped) {
        if (kv_buf_append(&s->str, run, (size_t)(q - run)) < 0)
            return fail(s, off(in, q), "string too long");
        sp = (const uint8_t *)s->str.data;
        sn = s->str.len;
    }
    *next = q + 1;
    if (key)
        return emitted(s, s->cb->map_key ? s->cb->map_key(s->ctx, sp, sn) : 1);
    return emitted(s, s->cb->string ? s->cb->string(s->ctx, sp, sn) : 1);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? over exactly [p, q). */
static bool number_ok(const uint8_t *p, const uint8_t *q)
{
    if (p < q && *p == '-')
        p++;
    if (p == q || !is_digit(*p))
        return false;
    if (*p++ != '0')
        while (p < q && is_digit(*p))
            p++;
    if (p < q && *p == '.') {
        if (++p == q || !is_digit(*p))
            return false;
        while (p < q && is_digit(*p))
            p++;
    }
    if (p < q && (*p == 'e' || *p == 'E')) {
        if (++p < q && (*p == '+' || *p == '-'))
            p++;
        if (p == q || !is_digit(*p))
            return false;
        while (p < q && is_digit(*p))
            p++;
    }
    return p == q;
}

static int lex_number(struct kv_jsonscan *s, const struct in *in, const uint8_t *p,
                      const uint8_t *end, bool final, const uint8_t **next)
{
    const uint8_t *q = p;

    while (q < end && is_numch(*q))
        q++;
    if (q == end && !final)
        return L_MORE;
    if (!number_ok(p, q))
        return fail(s, off(in, p), "Invalid number");
    *next = q;
    return emitted(s, s->cb->number ? s->cb->number(s->ctx, (const char *)p, (size_t)(q - p)) : 1);
}

static int lex_literal(struct kv_jsonscan *s, const struct in *in, const uint8_t *p,
                       const uint8_t *end, bool final, const uint8_t **next)
{
    const uint8_t *q = p;
    size_t n;

    while (q < end && is_letter(*q))
        q++;
    if (q == end && !final)
        return L_MORE;
    n = (size_t)(q - p);
    *next = q;
    if (n == 4 && memcmp(p, "null", 4) == 0)
        return emitted(s, s->cb->null ? s->cb->null(s->ctx) : 1);
    if (n == 4 && memcmp(p, "true", 4) == 0)
        return emitted(s, s->cb->boolean ? s->cb->boolean(s->ctx, 1) : 1);
    if (n == 5 && memcmp(p, "false", 5) == 0)
        return emitted(s, s->cb->boolean ? s->cb->boolean(s->ctx, 0) : 1);
    return fail(s, off(in, p), "Expecting value");
}

static void value_done(struct kv_jsonscan *s)
{
    s->state = s->depth ? S_AFTER : S_DONE;
}

/* Lexes the token of <kind> at <p> and moves the state past it. */
static int token(struct kv_jsonscan *s, const struct in *in, const uint8_t *p, const uint8_t *end,
                 bool final, uint8_t kind, const uint8_t **next)
{
    int rc;

    switch (kind) {
    case T_KEY:
        if ((rc = lex_string(s, in, p + 1, end, true, next)) == L_OK)
            s->state = S_COLON;
        return rc;
    case T_STRING:
        rc = lex_string(s, in, p + 1, end, false, next);
        break;
    case T_NUMBER:
        rc = lex_number(s, in, p, end, final, next);
        break;
    default:
        rc = lex_literal(s, in, p, end, final, next);
        break;
    }
    if (rc == L_OK)
        value_done(s);
    return rc;
}

static int open_container(struct kv_jsonscan *s, const struct in *in, const uint8_t *p)
{
    bool obj = *p == '{';

    if (s->depth == s->max_depth) {
        char m[64];
        snprintf(m, sizeof(m), "nested deeper than %u levels", s->max_depth);
        return fail(s, off(in, p), m);
    }
    s->stack[s->depth++] = obj ? C_OBJ : C_ARR;
    s->state = obj ? S_OBJ_FIRST : S_ARR_FIRST;
    if (obj)
        return emitted(s, s->cb->start_map ? s->cb->start_map(s->ctx) : 1);
    return emitted(s, s->cb->start_array ? s->cb->start_array(s->ctx) : 1);
}

static int close_container(struct kv_jsonscan *s)
{
    bool obj = s->stack[--s->depth] == C_OBJ;

    value_done(s);
    if (obj)
        return emitted(s, s->cb->end_map ? s->cb->end_map(s->ctx) : 1);
    return emitted(s, s->cb->end_array ? s->cb->end_array(s->ctx) : 1);
}

/* Starts carrying the token at <p> that [p, end) cuts off. */
static int carry_start(struct kv_jsonscan *s, const struct in *in, const uint8_t *p,
                       const uint8_t *end, uint8_t kind)
{
    kv_buf_reset(&s->pend);
    if (kv_buf_append(&s->pend, p, (size_t)(end - p)) < 0)
        return fail(s, off(in, p), kind == T_STRING || kind == T_KEY ? "string too long"
                                                                     : "token too long");
    s->carry = kind;
    s->carry_at = off(in, p);
    s->carry_bs = 0;
    if (kind == T_STRING || kind == T_KEY) {
        /* Whether the cut fell between a backslash and the byte it escapes. */
        for (const uint8_t *q = p + 1; q < end; q++)
            if (*q == '\\' && ++q == end)
                s->carry_bs = 1;
    }
    return L_OK;
}

/* The end of the carried string in [p, end): its closing quote, or end. */
static const uint8_t *string_end(struct kv_jsonscan *s, const uint8_t *p, const uint8_t *end)
{
    if (s->carry_bs && p < end) {
        p++;
        s->carry_bs = 0;
    }
    for (;;) {
        p = scan_plain(p, end);
        if (p == end || *p == '"')
            return p;
        if (*p == '\\' && p + 1 == end) {
            s->carry_bs = 1;
            return end;
        }
        p += *p == '\\' ? 2 : 1;
    }
}

/* Extends the carried token with the head of a new piece (none when <final>: the document
 * ended) and lexes it once complete. On return *<pp> is where the piece's other bytes start. */
static int resume(struct kv_jsonscan *s, const uint8_t **pp, const uint8_t *end, bool final)
{
    bool str = s->carry == T_STRING || s->carry == T_KEY, complete;
    const uint8_t *p = *pp, *q = p, *next;
    struct in pin;
    uint8_t kind;

    if (final) {
        complete = true; /* a string is lexed anyway: an error inside it comes first */
    } else if (str) {
        q = string_end(s, p, end);
        complete = q < end;
        q += complete; /* the closing quote belongs to the token */
    } else {
        while (q < end && (s->carry == T_NUMBER ? is_numch(*q) : is_letter(*q)))
            q++;
        complete = q < end;
    }
    if (q > p && kv_buf_append(&s->pend, p, (size_t)(q - p)) < 0)
        return fail(s, s->carry_at, str ? "string too long" : "token too long");
    *pp = q;
    if (!complete)
        return L_OK;
    pin.org = (const uint8_t *)s->pend.data;
    pin.at = s->carry_at;
    kind = s->carry;
    s->carry = T_NONE;
    if (token(s, &pin, pin.org, pin.org + s->pend.len, true, kind, &next) == L_MORE)
        return fail(s, s->carry_at, "Unterminated string"); /* only at the document's end */
    return s->status == KV_JSONSCAN_OK ? L_OK : L_STOP;
}

static const char *expecting(uint8_t state)
{
    switch (state) {
    case S_OBJ_FIRST:
    case S_KEY:
        return "Expecting property name enclosed in double quotes";
    case S_COLON:
        return "Expecting ':' delimiter";
    case S_AFTER:
        return "Expecting ',' delimiter";
    default:
        return "Expecting value";
    }
}

/* What may start at <c> in the current state: a token kind, or T_NONE after handling a
 * structural byte (or recording an error: check the status). */
static uint8_t structure(struct kv_jsonscan *s, const struct in *in, const uint8_t *p)
{
    uint8_t c = *p;

    switch (s->state) {
    case S_DONE:
        fail(s, off(in, p), "Extra data");
        return T_NONE;
    case S_COLON:
        if (c == ':')
            s->state = S_VALUE;
        else
            fail(s, off(in, p), expecting(s->state));
        return T_NONE;
    case S_AFTER: {
        bool obj = s->stack[s->depth - 1] == C_OBJ;
        if (c == ',')
            s->state = obj ? S_KEY : S_VALUE;
        else if (c == (obj ? '}' : ']'))
            close_container(s);
        else
            fail(s, off(in, p), expecting(s->state));
        return T_NONE;
    }
    case S_OBJ_FIRST:
    case S_KEY:
        if (c == '"')
            return T_KEY;
        if (c == '}' && s->state == S_OBJ_FIRST)
            close_container(s);
        else
            fail(s, off(in, p), expecting(s->state));
        return T_NONE;
    default: /* S_VALUE, S_ARR_FIRST */
        if (c == ']' && s->state == S_ARR_FIRST)
            close_container(s);
        else if (c == '{' || c == '[')
            open_container(s, in, p);
        else if (c == '"')
            return T_STRING;
        else if (c == '-' || is_digit(c))
            return T_NUMBER;
        else if (is_letter(c))
            return T_LITERAL;
        else
            fail(s, off(in, p), "Expecting value");
        return T_NONE;
    }
}

static void run(struct kv_jsonscan *s, const struct in *in, const uint8_t *p, const uint8_t *end)
{
    for (;;) {
        while (p < end && is_ws(*p))
            p++;
        if (p == end)
            return;
        uint8_t kind = structure(s, in, p);
        if (s->status != KV_JSONSCAN_OK)
            return;
        if (kind == T_NONE) {
            p++;
            continue;
        }
        int rc = token(s, in, p, end, false, kind, &p);
        if (rc == L_MORE) {
            carry_start(s, in, p, end, kind);
            return;
        }
        if (rc != L_OK)
            return;
    }
}

void kv_jsonscan_init(struct kv_jsonscan *s, const struct kv_jsonscan_callbacks *cb, void *ctx,
                      uint32_t max_depth, size_t max_token)
{
    memset(s, 0, sizeof(*s));
    s->cb = cb;
    s->ctx = ctx;
    s->max_depth = max_depth ? max_depth : 1;
    s->stack = kv_malloc(s->max_depth);
    s->max_token = max_token;
    /* a carried string also holds its two quotes */
    kv_buf_init(&s->pend, max_token > SIZE_MAX - 2 ? max_token : max_token + 2);
    kv_buf_init(&s->str, max_token);
}

void kv_jsonscan_cleanup(struct kv_jsonscan *s)
{
    KV_FREE(&s->stack);
    kv_buf_cleanup(&s->pend);
    kv_buf_cleanup(&s->str);
}

void kv_jsonscan_reset(struct kv_jsonscan *s)
{
    s->depth = 0;
    s->state = S_VALUE;
    s->status = KV_JSONSCAN_OK;
    s->carry = T_NONE;
    s->carry_bs = 0;
    s->base = 0;
    s->err[0] = '\0';
}

int kv_jsonscan_feed(struct kv_jsonscan *s, const void *data, size_t len)
{
    const uint8_t *p = data, *end;
    struct in in = {p, s->base};

    if (s->status != KV_JSONSCAN_OK || len == 0)
        return s->status;
    end = p + len;
    if (s->carry)
        resume(s, &p, end, false);
    if (s->status == KV_JSONSCAN_OK && !s->carry)
        run(s, &in, p, end);
    s->base += len;
    return s->status;
}

int kv_jsonscan_finish(struct kv_jsonscan *s)
{
    const uint8_t *none = NULL;

    if (s->status != KV_JSONSCAN_OK)
        return s->status;
    if (s->carry)
        resume(s, &none, NULL, true);
    if (s->status == KV_JSONSCAN_OK && s->state != S_DONE)
        fail(s, s->base, expecting(s->state));
    return s->status;
}

const char *kv_jsonscan_error(const struct kv_jsonscan *s)
{
    return s->err;
}
