/* SPDX-License-Identifier: MIT */
/* src/base/err.c - names for KV_E* codes and -errno values. */
#include "base/err.h"

#include <string.h>

const char *kv_strerror(int err)
{
    switch (err) {
    case KV_ETOOBIG: return "too big";
    case KV_EBADJSON: return "invalid JSON";
    case KV_EBADREQ: return "bad request";
    case KV_ENOMODEL: return "model not found";
    case KV_ETOOLONG: return "prompt too long";
    case KV_ENOBACKEND: return "no healthy backend";
    case KV_ETIMEOUT: return "timed out";
    case KV_EPROTO: return "protocol error";
    case KV_ECONFIG: return "invalid configuration";
    case KV_EEOF: return "end of stream";
    case KV_EUPSTREAM: return "upstream failure";
    case KV_ENOTFOUND: return "not found";
    case KV_EMETHOD: return "method not allowed";
    case KV_EOVERLOAD: return "every backend at its load bound";
    default: break;
    }
    if (err < 0 && err > KV_EBASE)
        return strerror(-err);
    return "unknown error";
}
