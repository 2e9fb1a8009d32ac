/* SPDX-License-Identifier: MIT */
/* src/base/log.h - leveled logging to stderr, one line per call.
 *
 * Lines read "2026-11-25 09:47:25.123 INFO  kvsim: message" (vLLM's layout, shortened). The level
 * threshold is process-wide state set once at start-up from the command line; it is the only
 * mutable file-scope variable outside the per-program contexts, and is written before any
 * other thread or callback runs.
 */
#ifndef KV_BASE_LOG_H
#define KV_BASE_LOG_H

enum kv_log_level {
    KV_LOG_DEBUG = 0,
    KV_LOG_INFO,
    KV_LOG_WARN,
    KV_LOG_ERROR,
    KV_LOG_OFF
};

/* Sets the threshold and the program name printed on each line (<name> is kept, not copied). */
void kv_log_setup(enum kv_log_level level, const char *name);
/* Parses "debug", "info", "warning"/"warn", "error", "off"; returns -EINVAL if unknown. */
int kv_log_parse_level(const char *s, enum kv_log_level *out);
void kv_log(enum kv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kv_debug(...) kv_log(KV_LOG_DEBUG, __VA_ARGS__)
#define kv_info(...) kv_log(KV_LOG_INFO, __VA_ARGS__)
#define kv_warn(...) kv_log(KV_LOG_WARN, __VA_ARGS__)
#define kv_error(...) kv_log(KV_LOG_ERROR, __VA_ARGS__)

#endif /* KV_BASE_LOG_H */
