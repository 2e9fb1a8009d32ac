/* SPDX-License-Identifier: MIT */
/* src/base/log.c - leveled logging to stderr. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide logging settings: written once by kv_log_setup() at start-up (see log.h). */
static struct {
    enum kv_log_level level;
    const char *name;
} log_cfg = {KV_LOG_INFO, "kvroute"};

void kv_log_setup(enum kv_log_level level, const char *name)
{
    log_cfg.level = level;
    if (name)
        log_cfg.name = name;
}

int kv_log_parse_level(const char *s, enum kv_log_level *out)
{
    static const struct {
        const char *name;
        enum kv_log_level level;
    } names[] = {{"debug", KV_LOG_DEBUG}, {"info", KV_LOG_INFO},   {"warning", KV_LOG_WARN},
                 {"warn", KV_LOG_WARN},   {"error", KV_LOG_ERROR}, {"off", KV_LOG_OFF}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

void kv_log(enum kv_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[2048], stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    if (level < log_cfg.level || level >= KV_LOG_OFF)
        return;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ld %s %s: ", stamp, (long)(tv.tv_usec / 1000),
                 tags[level], log_cfg.name);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
