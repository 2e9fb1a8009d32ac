/* SPDX-License-Identifier: MIT */
/* src/metrics/promfmt.h - number and string formatting of the Prometheus text format, the way
 * Python's prometheus_client writes it.
 *
 * vLLM serves /metrics through prometheus_client, so kvsim must format exactly as it does for
 * dashboards, scrapers and diffs to see no difference: a value is Python's repr() of the float
 * (shortest digits that round-trip, "123.0" for integers, exponent form below 1e-4 and from
 * 1e16), then client_python's floatToGoString() moves positive values of 1e6 and more to Go's
 * exponent form ("1.048576e+06", "1.7537953269352946e+09", and "1e+010" past 1e10, a quirk of
 * its "e+0{n}" template that we keep), and +Inf/-Inf/NaN are spelled so. Label values escape
 * backslash, double quote and newline; HELP text escapes backslash and newline.
 * Pure functions, no allocation, no state.
 */
#ifndef KV_METRICS_PROMFMT_H
#define KV_METRICS_PROMFMT_H

#include <stddef.h>

/* Longest text kv_promfmt_double() writes, terminator included. */
#define KV_PROMFMT_DOUBLE_MAX 32

/* Writes <v> as client_python's floatToGoString() does into <out> (at least
 * KV_PROMFMT_DOUBLE_MAX bytes), NUL-terminated. Returns the length written. */
size_t kv_promfmt_double(double v, char *out);

/* Writes <v> as Python's repr(float) does (no Go exponent rewrite), NUL-terminated, into <out>
 * of at least KV_PROMFMT_DOUBLE_MAX bytes. Returns the length. */
size_t kv_promfmt_repr(double v, char *out);

/* Length of <s> (n bytes) after label-value escaping (\\, \", \n). */
size_t kv_promfmt_label_len(const char *s, size_t n);
/* Escapes <s> (n bytes) as a label value into <out>, which has room for
 * kv_promfmt_label_len(s, n) bytes; no terminator. Returns the bytes written. */
size_t kv_promfmt_label_escape(const char *s, size_t n, char *out);
/* Same for HELP text, which escapes only backslash and newline. */
size_t kv_promfmt_help_len(const char *s, size_t n);
size_t kv_promfmt_help_escape(const char *s, size_t n, char *out);

#endif /* KV_METRICS_PROMFMT_H */
