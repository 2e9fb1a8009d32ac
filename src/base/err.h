/* SPDX-License-Identifier: MIT */
/* src/base/err.h - error codes shared by every module.
 *
 * Fallible functions return int: >= 0 is success (and may be a count), < 0 is either -errno or
 * one of the KV_E* codes below, which sit outside errno's range (and outside libuv's UV_E*,
 * which are -errno on Unix plus a few near -4095), so the two never collide. kv_strerror()
 * names any of them. The mapping from KV_E* to an HTTP status and an OpenAI-style error body
 * lives in one table, in src/openai/error.c.
 */
#ifndef KV_BASE_ERR_H
#define KV_BASE_ERR_H

enum kv_err {
    KV_EBASE = -20000,
    KV_ETOOBIG,     /* a buffer or body over its configured maximum */
    KV_EBADJSON,    /* input is not valid JSON */
    KV_EBADREQ,     /* valid JSON, but a field is missing, ill-typed or out of range */
    KV_ENOMODEL,    /* the requested model is not served */
    KV_ETOOLONG,    /* prompt longer than the model's context */
    KV_ENOBACKEND,  /* no healthy backend can take the request */
    KV_ETIMEOUT,    /* a deadline passed */
    KV_EPROTO,      /* a peer broke its protocol (HTTP, Prometheus text, ...) */
    KV_ECONFIG,     /* invalid configuration */
    KV_EEOF,        /* the peer closed */
    KV_EUPSTREAM,   /* the backend failed (connection error or 5xx) */
    KV_ENOTFOUND,   /* no such route or object */
    KV_EMETHOD,     /* route exists, method does not */
    KV_EOVERLOAD,   /* every backend that could take the request is at its load bound */
    KV_ELAST
};

/* Returns a static, human-readable string for <err> (a KV_E* code or -errno). */
const char *kv_strerror(int err);

#endif /* KV_BASE_ERR_H */
