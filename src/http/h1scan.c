/* SPDX-License-Identifier: MIT */
/* src/http/h1scan.c - strict scanning of plain HTTP/1.1 header lines for the fast paths.
 *
 * The server and the client split plain, whole heads themselves (see internal.h) and leave
 * everything else to http-parser. These scanners accept a strict subset of what http-parser
 * accepts, byte for byte: token names, a colon right after the name, values of visible ASCII,
 * SP and HTAB, CRLF line ends. Anything else makes the caller give the bytes to http-parser.
 */
#include "http/internal.h"

static bool tchar(unsigned char ch)
{
    switch (ch) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    }
}

/* obs-text (bytes >= 0x80, negative as char) and controls other than HTAB are refused. */
static bool value_char(char ch)
{
    return (ch >= 0x20 && ch < 0x7f) || ch == '\t';
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
    for (e = v; e < len && value_char(d[e]); e++)
        ;
    if (len - e < 2 || d[e] != '\r' || d[e + 1] != '\n')
        return 0;
    f->name = off;
    f->name_len = i - off;
    f->value = v;
    f->value_len = e - v;
    return e + 2;
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
