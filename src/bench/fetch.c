/* SPDX-License-Identifier: MIT */
/* src/bench/fetch.c - blocking HTTP GET with a deadline. */
#include "bench/fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/time.h"

static int connect_to(const char *host, int port)
{
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    int fd;

    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
            return fd;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
            return fd;
    } else {
        return -EINVAL;
    }
    fd >= 0 ? close(fd) : 0;
    return -errno;
}

/* Reads until EOF or until the body announced by Content-Length is complete. */
static int read_all(int fd, uint64_t deadline, struct kv_buf *raw)
{
    char chunk[16384];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        uint64_t now = kv_time_ns();
        const char *end, *cl;
        ssize_t n;
        if (now >= deadline)
            return KV_ETIMEOUT;
        if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        if (kv_buf_append(raw, chunk, (size_t)n) < 0)
            return KV_ETOOBIG;
        end = strstr(raw->data, "\r\n\r\n");
        cl = end ? strcasestr(raw->data, "\r\ncontent-length:") : NULL;
        if (cl && cl < end && raw->len >= (size_t)(end + 4 - raw->data) + strtoul(cl + 17, NULL, 10))
            return 0;
    }
}

/* Decodes a chunked body in place into <out>. */
static int dechunk(const char *p, const char *end, struct kv_buf *out)
{
    while (p < end) {
        char *next;
        unsigned long n = strtoul(p, &next, 16);
        const char *data = strstr(next, "\r\n");
        if (!data || next == p)
            return KV_EPROTO;
        data += 2;
        if (n == 0)
            return 0;
        if (data + n > end)
            return KV_EPROTO;
        if (kv_buf_append(out, data, n) < 0)
            return KV_ETOOBIG;
        p = data + n + 2;
    }
    return KV_EPROTO;
}

int kv_fetch_get(const char *host, int port, const char *path, unsigned timeout_ms,
                 struct kv_buf *out)
{
    uint64_t deadline = kv_time_ns() + (uint64_t)timeout_ms * 1000000;
    struct kv_buf raw;
    char req[512];
    const char *body;
    int fd, rc, status = 0, len;

    len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                   path, host, port);
    if ((fd = connect_to(host, port)) < 0)
        return fd;
    kv_buf_init(&raw, 256u << 20);
    rc = write(fd, req, (size_t)len) == len ? read_all(fd, deadline, &raw) : -errno;
    close(fd);
    if (rc == 0 && (raw.len < 12 || sscanf(raw.data, "HTTP/1.%*d %d", &status) != 1))
        rc = KV_EPROTO;
    body = rc == 0 ? strstr(raw.data, "\r\n\r\n") : NULL;
    if (rc == 0 && !body)
        rc = KV_EPROTO;
    if (rc == 0) {
        body += 4;
        if (strcasestr(raw.data, "\r\ntransfer-encoding: chunked") &&
            strcasestr(raw.data, "\r\ntransfer-encoding: chunked") < body)
            rc = dechunk(body, raw.data + raw.len, out);
        else
            rc = kv_buf_append(out, body, raw.len - (size_t)(body - raw.data));
    }
    kv_buf_cleanup(&raw);
    return rc < 0 ? rc : status;
}

int kv_fetch_wait_ok(const char *host, int port, const char *path, unsigned timeout_ms)
{
    uint64_t deadline = kv_time_ns() + (uint64_t)timeout_ms * 1000000;
    struct kv_buf b;

    kv_buf_init(&b, 1 << 20);
    while (kv_time_ns() < deadline) {
        int st = kv_fetch_get(host, port, path, 1000, &b);
        kv_buf_reset(&b);
        if (st == 200) {
            kv_buf_cleanup(&b);
            return 0;
        }
        struct timespec ts = {0, 20 * 1000000}; /* poll interval, bounded by the deadline */
        nanosleep(&ts, NULL);
    }
    kv_buf_cleanup(&b);
    return KV_ETIMEOUT;
}
