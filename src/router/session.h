/* SPDX-License-Identifier: MIT */
/* src/router/session.h - bounded session-affinity table: session key -> backend id.
 *
 * A session key (a header value, the body's "user", the client address) maps to the backend
 * its last request went to and the time it was last seen. Entries expire <ttl> after they were
 * last seen; the table never grows past <max_entries>: a flood of new keys evicts the least
 * recently seen ones, never the memory bound.
 *
 * Data: keys are not stored, only their keyed XXH3-64 (the seed is a per-process secret, so a
 * client cannot aim keys at one map slot, and a collision of two live keys is a 2^-64 event that
 * costs one misrouted request). Records live in a pool allocated once at creation, indexed by a
 * u64map (prefix/u64map.h) and linked into one LRU list, most recently seen first; since
 * last-seen times only grow, the tail is also the oldest, so expiry pops from the tail.
 *
 * Time is passed in by the caller (monotonic ns), so tests control it. Lookups do not refresh
 * (the scheduler explains decisions without changing state); kv_session_set does. Cost: O(1)
 * per call except kv_session_expire (O(expired)) and kv_session_remove_backend (O(entries)).
 * Pure: no I/O, no uv.h, not thread-safe.
 */
#ifndef KV_ROUTER_SESSION_H
#define KV_ROUTER_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define KV_SESSION_DEFAULT_TTL_NS (7200ull * 1000000000ull)
#define KV_SESSION_DEFAULT_MAX 1000000u

struct kv_session;

/* Makes a table of at most <max_entries> (1..2^30) sessions living <ttl_ns> (0: the default,
 * 2 h) after they were last seen, hashing keys with <seed> (a secret). NULL if max_entries is
 * out of range. */
struct kv_session *kv_session_new(uint32_t max_entries, uint64_t ttl_ns, uint64_t seed);
/* Frees the table; NULL is a no-op. */
void kv_session_free(struct kv_session *t);

/* The backend id of session <key> (<len> bytes), or -1 if unknown or expired at <now_ns>.
 * Does not refresh the entry. */
int kv_session_get(const struct kv_session *t, const void *key, size_t len, uint64_t now_ns);
/* Maps <key> to <backend> as seen at <now_ns> (insert or refresh). A new key in a full table
 * evicts the least recently seen entry. */
void kv_session_set(struct kv_session *t, const void *key, size_t len, uint32_t backend,
                    uint64_t now_ns);
/* Forgets <key>; returns 1 if it was there, else 0. */
int kv_session_del(struct kv_session *t, const void *key, size_t len);
/* Drops up to <max> entries expired at <now_ns> (0: no limit); returns how many. For a periodic
 * timer; lookups already treat expired entries as absent. */
uint32_t kv_session_expire(struct kv_session *t, uint64_t now_ns, uint32_t max);
/* Drops every session mapped to <backend> (it was removed); returns how many. */
uint32_t kv_session_remove_backend(struct kv_session *t, uint32_t backend);
/* Entries stored (expired ones included until they are dropped). */
uint32_t kv_session_count(const struct kv_session *t);
/* Bytes allocated by the table. */
size_t kv_session_bytes(const struct kv_session *t);

#endif /* KV_ROUTER_SESSION_H */
