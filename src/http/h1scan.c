/* SPDX-License-Identifier: MIT */
/* src/http/h1scan.c - strict scanning of plain HTTP/1.1 header lines for the fast paths.
 *
 * The server and the client split plain, whole heads themselves (see internal.h) and leave
 * everything else to http-parser. These scanners accept a strict subset of what http-parser
 * accepts, byte for byte: token names, a colon right after the name, values of visible ASCII,
 * SP and HTAB, CRLF line ends. Anything else makes the caller give the bytes to http-parser.
 */
#include "http/internal.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* RFC 9110 tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~, one bit per byte value. */
static bool tchar(unsigned char ch)
{
    static const uint32_t map[8] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff, 0, 0, 0, 0};
    return (map[ch >> 5] >> (ch & 31)) & 1;
}

/* Visible ASCII and SP (HTAB is let through by the caller; obs-text and controls stop it). */
static bool plain_char(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f;
}

/* Offset of the first byte in d[e, len) that plain_char() refuses, or len; 16 bytes a step
 * where SSE2 is there (values like Date are 30 bytes, a Host or a type 15). */
static size_t plain_end(const char *d, size_t e, size_t len)
{
#ifdef __SSE2__
    const __m128i below = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);

    for (; e + 16 <= len; e += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(d + e));
        /* Signed bytes: obs-text is negative, so "< 0x20" catches it with the controls. */
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, below), _mm_cmpeq_epi8(x, del));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return e + (size_t)__builtin_ctz(m);
    }
#endif
    while (e < len && plain_char((unsigned char)d[e]))
        e++;
    return e;
}

size_t kv__h1scan_header(const char *d, size_t off, size_t len, struct kv__h1scan_field *f)
{
    size_t i = off, v, e;

    while (i < len && tchar((unsigned char)d[i]))
        i++;
    if (i == off || i >= len || d[i] != ':')
        return 0;
    for (v = i + 1; v < len && (d[v] == ' ' || d[v] == '\t'); v++)
        ;
    for (e = plain_end(d, v, len); e < len && d[e] == '\t'; e = plain_end(d, e + 1, len))
        ;
    if (len - e < 2 || d[e] != '\r' || d[e + 1] != '\n')
        return 0;
    f->name = off;
    f->name_len = i - off;
    f->value = v;
    f->value_len = e - v;
    return e + 2;
}

size_t kv__h1scan_fields(const char *d, size_t off, size_t len, struct kv__h1scan_field *f,
                         unsigned max, unsigned *n)
{
    unsigned k = 0;

    while (off + 1 < len && !(d[off] == '\r' && d[off + 1] == '\n')) {
        if (k == max || (off = kv__h1scan_header(d, off, len, &f[k])) == 0)
            return 0;
        k++;
    }
    if (off + 1 >= len)
        return 0; /* the head is not whole */
    *n = k;
    return off + 2;
}

enum kv__h1scan_kind kv__h1scan_kind(const char *name, size_t n)
{
    switch (n) {
    case 6:
        return KV__H1SCAN_NAME_IS(name, n, "expect") ? KV__H1SCAN_EXPECT : KV__H1SCAN_OTHER;
    case 7:
        return KV__H1SCAN_NAME_IS(name, n, "upgrade") ? KV__H1SCAN_UPGRADE : KV__H1SCAN_OTHER;
    case 10:
        return KV__H1SCAN_NAME_IS(name, n, "connection") ? KV__H1SCAN_CONNECTION
                                                          : KV__H1SCAN_OTHER;
    case 14:
        return KV__H1SCAN_NAME_IS(name, n, "content-length") ? KV__H1SCAN_CONTENT_LENGTH
                                                              : KV__H1SCAN_OTHER;
    case 16:
        return KV__H1SCAN_NAME_IS(name, n, "proxy-connection") ? KV__H1SCAN_CONNECTION
                                                                : KV__H1SCAN_OTHER;
    case 17:
        return KV__H1SCAN_NAME_IS(name, n, "transfer-encoding") ? KV__H1SCAN_TRANSFER_ENCODING
                                                                 : KV__H1SCAN_OTHER;
    default:
        /* http-parser takes any name that starts with "transfer-encoding" for one as far as
         * framing goes (it then wants chunked, or reads a response to EOF): leave such a head
         * to it, so the two paths never disagree. */
        return n > 17 && KV__H1SCAN_NAME_IS(name, 17, "transfer-encoding")
                   ? KV__H1SCAN_TRANSFER_ENCODING
                   : KV__H1SCAN_OTHER;
    }
}

bool kv__h1scan_name_is(const char *s, size_t n, const char *lower, size_t ln)
{
    if (n != ln)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]) != lower[i])
            return false;
    return true;
}

bool kv__h1scan_clen(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}
