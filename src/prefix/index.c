/* SPDX-License-Identifier: MIT */
/* src/prefix/index.c - block hash -> holders map with per-backend LRU lists threaded through the
 * entries' slots.
 *
 * A reference names one holding: (entry index << 2) | slot. Each backend's LRU list is a doubly
 * linked list of references, head = most recently used. Entries live in a pool and never move,
 * so references stay valid while the map (which only stores pool indices) reshuffles.
 */
#include "prefix/index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "prefix/u64map.h"

#define NIL UINT32_MAX
#define NO_BACKEND UINT16_MAX
/* Map slots fetched ahead of a lookup's walk: enough misses in flight to hide memory latency. */
#ifndef KV_INDEX_PREFETCH
#define KV_INDEX_PREFETCH 8
#endif
#define PREFETCH KV_INDEX_PREFETCH
/* Items the map has slots for at creation (it doubles from there). */
#define MAP_START 1024
/* Freed entries whose map slots wait to be removed. An evicted block's slot is cold (the block
 * was new when it went in, long ago): its removal is deferred, with the slot prefetched, to the
 * end of the mutating call or until this many wait, so the fetch overlaps the rest of the call
 * instead of stalling it. Measured on micro_prefix_index's pattern (15 evictions a record). */
#ifndef KV_INDEX_DEFER
#define KV_INDEX_DEFER 32
#endif

struct unmap {
    uint64_t hash;
    uint32_t ent;
};

struct entry {
    uint64_t hash;
    uint16_t be[KV_INDEX_SLOTS];    /* NO_BACKEND: free slot */
    uint32_t stamp[KV_INDEX_SLOTS]; /* ms since epoch, last record */
    uint32_t prev[KV_INDEX_SLOTS];  /* toward the head (more recent) */
    uint32_t next[KV_INDEX_SLOTS];  /* toward the tail; free list link in next[0] */
};

struct backend {
    uint32_t head;
    uint32_t tail;
    uint32_t count;
    uint32_t capacity;
};

struct kv_index {
    struct kv_u64map_ref map;
    struct entry *ents;
    struct backend *b;
    uint32_t max_entries;
    uint32_t used;      /* pool entries handed out so far (the rest were never used) */
    uint32_t free_head; /* freed entries, linked through next[0] */
    uint32_t max_backends;
    uint32_t hi_backend; /* 1 + the highest id ever recorded: bounds the global eviction scan */
    uint32_t in_use;     /* entries allocated and not freed */
    uint32_t nunmap, unmap_at; /* deferred slot removals: a ring */
    struct unmap unmap[KV_INDEX_DEFER];
    uint64_t epoch_ns;
};

static inline struct entry *ent_of(const struct kv_index *ix, uint32_t ref)
{
    return &ix->ents[ref >> 2];
}

static inline uint32_t *prev_of(const struct kv_index *ix, uint32_t ref)
{
    return &ent_of(ix, ref)->prev[ref & 3];
}

static inline uint32_t *next_of(const struct kv_index *ix, uint32_t ref)
{
    return &ent_of(ix, ref)->next[ref & 3];
}

static uint32_t stamp_of(const struct kv_index *ix, uint64_t now_ns)
{
    return now_ns > ix->epoch_ns ? (uint32_t)((now_ns - ix->epoch_ns) / 1000000u) : 0;
}

struct kv_index *kv_index_new(uint32_t max_entries, uint32_t max_backends,
                              uint32_t default_capacity, uint64_t now_ns)
{
    struct kv_index *ix;

    if (max_entries == 0 || max_entries > KV_INDEX_MAX_ENTRIES || max_backends == 0 ||
        max_backends > KV_INDEX_MAX_BACKENDS)
        return NULL;
    ix = kv_calloc(1, sizeof(*ix));
    ix->ents = kv_malloc((size_t)max_entries * sizeof(*ix->ents));
    /* The map grows with the entries in use: the default bound (4Mi) is far above what most
     * deployments hold, and probes into a map sized for it miss the caches and the TLB. Keys
     * are the entries' hashes (an entry's hash is set before it is mapped, and kept until it
     * is unmapped). Cannot fail: max_entries is in the map's range. */
    (void)kv_u64map_ref_init(&ix->map, max_entries + KV_INDEX_DEFER, MAP_START,
                             &ix->ents[0].hash, sizeof(*ix->ents));
    ix->b = kv_malloc((size_t)max_backends * sizeof(*ix->b));
    for (uint32_t i = 0; i < max_backends; i++)
        ix->b[i] = (struct backend){NIL, NIL, 0, default_capacity};
    ix->max_entries = max_entries;
    ix->free_head = NIL;
    ix->max_backends = max_backends;
    ix->epoch_ns = now_ns;
    return ix;
}

void kv_index_free(struct kv_index *ix)
{
    if (!ix)
        return;
    kv_u64map_ref_cleanup(&ix->map);
    free(ix->ents);
    free(ix->b);
    free(ix);
}

static void unlink_ref(struct kv_index *ix, struct backend *bs, uint32_t ref)
{
    uint32_t p = *prev_of(ix, ref), n = *next_of(ix, ref);

    if (p != NIL)
        *next_of(ix, p) = n;
    else
        bs->head = n;
    if (n != NIL)
        *prev_of(ix, n) = p;
    else
        bs->tail = p;
}

static void link_head(struct kv_index *ix, struct backend *bs, uint32_t ref)
{
    *prev_of(ix, ref) = NIL;
    *next_of(ix, ref) = bs->head;
    if (bs->head != NIL)
        *prev_of(ix, bs->head) = ref;
    else
        bs->tail = ref;
    bs->head = ref;
}

static bool entry_empty(const struct entry *e)
{
    for (int s = 0; s < KV_INDEX_SLOTS; s++)
        if (e->be[s] != NO_BACKEND)
            return false;
    return true;
}

/* Dequeues the oldest freed entry and removes its map slot, unless the entry has been mapped
 * again since under a key with the same tag (the same key, or a 2^-32 chance): that slot is
 * live again. */
static void unmap_oldest(struct kv_index *ix)
{
    const struct unmap u = ix->unmap[ix->unmap_at];
    const struct entry *e = &ix->ents[u.ent];

    ix->unmap_at = (ix->unmap_at + 1) % KV_INDEX_DEFER;
    ix->nunmap--;
    if (!entry_empty(e) && kv_u64map_ref_tag(e->hash) == kv_u64map_ref_tag(u.hash))
        return;
    kv_u64map_ref_del_val(&ix->map, u.hash, u.ent);
}

/* Queues the removal of freed entry <ent>'s slot (key <hash>), fetching the slot meanwhile.
 * Until it is removed, a probe for <hash> may land on the free entry (entry_empty: treated as
 * absent) or on the entry reused for another key (the map's record check skips it). */
static void defer_unmap(struct kv_index *ix, uint64_t hash, uint32_t ent)
{
    if (ix->nunmap == KV_INDEX_DEFER)
        unmap_oldest(ix);
    kv_u64map_ref_prefetch(&ix->map, hash);
    ix->unmap[(ix->unmap_at + ix->nunmap) % KV_INDEX_DEFER] = (struct unmap){hash, ent};
    ix->nunmap++;
}

/* Ends a mutating call: no stale slot survives it, so lookups never meet one. */
static void flush_unmaps(struct kv_index *ix)
{
    while (ix->nunmap > 0)
        unmap_oldest(ix);
}

/* Drops one holding; frees its entry when it was the last. Returns true if the entry freed. */
static bool drop_ref(struct kv_index *ix, uint32_t ref)
{
    struct entry *e = ent_of(ix, ref);
    struct backend *bs = &ix->b[e->be[ref & 3]];

    unlink_ref(ix, bs, ref);
    bs->count--;
    e->be[ref & 3] = NO_BACKEND;
    if (!entry_empty(e))
        return false;
    defer_unmap(ix, e->hash, ref >> 2);
    e->next[0] = ix->free_head;
    ix->free_head = ref >> 2;
    ix->in_use--;
    return true;
}

/* The pool is full: drop the stalest LRU tail over all backends until an entry frees. Each
 * entry in use has a holder, so some backend has a tail and this terminates. */
static void evict_global(struct kv_index *ix, uint32_t now)
{
    for (;;) {
        uint32_t best = NIL, best_age = 0;
        for (uint32_t b = 0; b < ix->hi_backend; b++) {
            uint32_t t = ix->b[b].tail;
            if (t == NIL)
                continue;
            uint32_t age = now - ent_of(ix, t)->stamp[t & 3];
            if (best == NIL || age > best_age) {
                best = t;
                best_age = age;
            }
        }
        if (drop_ref(ix, best))
            return;
    }
}

static uint32_t alloc_entry(struct kv_index *ix, uint64_t hash, uint32_t now)
{
    uint32_t i;
    struct entry *e;

    if (ix->free_head == NIL && ix->used == ix->max_entries)
        evict_global(ix, now);
    if (ix->free_head != NIL) {
        i = ix->free_head;
        ix->free_head = ix->ents[i].next[0];
    } else {
        i = ix->used++;
    }
    ix->in_use++;
    e = &ix->ents[i];
    e->hash = hash;
    for (int s = 0; s < KV_INDEX_SLOTS; s++)
        e->be[s] = NO_BACKEND;
    /* Cannot fail: entries in use <= max_entries, and at most KV_INDEX_DEFER stale slots. */
    (void)kv_u64map_ref_put(&ix->map, hash, i);
    return i;
}

/* The slot of entry <e> naming backend <b>, or -1. */
static int slot_of(const struct entry *e, uint32_t b)
{
    for (int s = 0; s < KV_INDEX_SLOTS; s++)
        if (e->be[s] == b)
            return s;
    return -1;
}

/* Picks a slot of entry <i> (which <b> does not hold) for <b>: a free one, or the stalest
 * holder's, dropped. */
static int slot_for(struct kv_index *ix, uint32_t i, uint32_t now)
{
    struct entry *e = &ix->ents[i];
    int stalest = 0;

    for (int s = 0; s < KV_INDEX_SLOTS; s++)
        if (e->be[s] == NO_BACKEND)
            return s;
    for (int s = 1; s < KV_INDEX_SLOTS; s++)
        if (now - e->stamp[s] > now - e->stamp[stalest])
            stalest = s;
    /* Three holders remain, so the entry stays allocated. */
    drop_ref(ix, (i << 2) | (uint32_t)stalest);
    return stalest;
}

/* Victims fetched ahead: a backend at capacity evicts its tail for every new block, and each
 * eviction deletes the tail's map slot, cold since that block was new. */
#ifndef KV_INDEX_VICTIMS
#define KV_INDEX_VICTIMS 4
#endif

/* Fetches the map slots of <bs>'s next <from>..<to> victims and the entry after them, walking
 * from its tail (entries up to <from> are in cache from earlier calls). */
static void prefetch_victims(const struct kv_index *ix, const struct backend *bs, int from, int to)
{
    uint32_t t = bs->tail;

    for (int d = 0; d <= to && t != NIL; d++) {
        const struct entry *e = ent_of(ix, t);
        if (d >= from)
            kv_u64map_ref_prefetch(&ix->map, e->hash);
        t = e->prev[t & 3];
        if (d == to && t != NIL)
            __builtin_prefetch(ent_of(ix, t), 1);
    }
}

/* Records that <b> now holds <hash>, which it did not hold (<i>: its entry, or KV_U64MAP_NONE),
 * at the head of its list; evicts its tail past capacity. */
static void add_block(struct kv_index *ix, uint32_t b, uint64_t hash, uint32_t i, uint32_t now)
{
    struct backend *bs = &ix->b[b];
    int s = 0;

    if (i != KV_U64MAP_NONE)
        s = slot_for(ix, i, now);
    else
        i = alloc_entry(ix, hash, now);
    ix->ents[i].be[s] = (uint16_t)b;
    ix->ents[i].stamp[s] = now;
    bs->count++;
    link_head(ix, bs, (i << 2) | (uint32_t)s);
    /* The chain being recorded is at the head and no longer than capacity: the tail is older. */
    if (bs->count > bs->capacity) {
        drop_ref(ix, bs->tail);
        prefetch_victims(ix, bs, KV_INDEX_VICTIMS - 1, KV_INDEX_VICTIMS - 1);
    }
}

/* Moves the list segment <lo>..<hi> (lo nearer the head; NIL: none) to the head of <bs>'s list,
 * keeping its order. */
static void splice_head(struct kv_index *ix, struct backend *bs, uint32_t lo, uint32_t hi)
{
    uint32_t p, n;

    if (lo == NIL || lo == bs->head)
        return;
    p = *prev_of(ix, lo);
    n = *next_of(ix, hi);
    *next_of(ix, p) = n;
    if (n != NIL)
        *prev_of(ix, n) = p;
    else
        bs->tail = p;
    *prev_of(ix, lo) = NIL;
    *next_of(ix, hi) = bs->head;
    *prev_of(ix, bs->head) = hi;
    bs->head = lo;
}

/* Touching blocks last to first moves each to the head of <b>'s list. A block <b> already holds
 * changes nothing else (no eviction, no other holder), so a run of held blocks that already
 * lie in chain order in the list (each one's next is the block after it: the usual shape of a
 * prefix recorded before) is moved as one segment when the run ends, with the same result as
 * moving each block; only new blocks take the one-at-a-time path. */
static void record_chain(struct kv_index *ix, uint32_t b, const uint64_t *h, uint32_t n,
                         uint32_t now)
{
    struct backend *bs = &ix->b[b];
    uint32_t lo = NIL, hi = NIL;

    for (uint32_t k = n; k-- > 0;) {
        uint32_t i = kv_u64map_ref_get(&ix->map, h[k]);
        if (i != KV_U64MAP_NONE && entry_empty(&ix->ents[i]))
            i = KV_U64MAP_NONE; /* freed earlier in this call, slot not yet removed */
        int s = i != KV_U64MAP_NONE ? slot_of(&ix->ents[i], b) : -1;
        if (s < 0) {
            splice_head(ix, bs, lo, hi);
            lo = hi = NIL;
            add_block(ix, b, h[k], i, now);
            continue;
        }
        uint32_t ref = (i << 2) | (uint32_t)s;
        ix->ents[i].stamp[s] = now;
        if (lo != NIL && *next_of(ix, ref) == lo) {
            lo = ref;
            continue;
        }
        splice_head(ix, bs, lo, hi);
        lo = hi = ref;
    }
    splice_head(ix, bs, lo, hi);
}

int kv_index_record(struct kv_index *ix, uint32_t b, const uint64_t *h, uint32_t n,
                    uint64_t now_ns)
{
    if (b >= ix->max_backends)
        return -EINVAL;
    n = KV_MIN(n, ix->b[b].capacity);
    n = KV_MIN(n, ix->max_entries);
    if (n > 0)
        ix->hi_backend = KV_MAX(ix->hi_backend, b + 1);
    if (n > 0 && ix->b[b].count >= ix->b[b].capacity)
        prefetch_victims(ix, &ix->b[b], 0, KV_INDEX_VICTIMS - 1);
    /* Last block first, so block 0 ends up most recently used. */
    record_chain(ix, b, h, n, stamp_of(ix, now_ns));
    flush_unmaps(ix);
    return (int)KV_MIN(n, (uint32_t)INT32_MAX);
}

/* Removes backend <b> from the alive set when entry <e> lacks it; records where its run ended. */
static uint32_t prune_alive(const struct entry *e, uint16_t *alive, uint32_t na, uint32_t at,
                            uint32_t *matched)
{
    for (uint32_t k = 0; k < na;) {
        uint16_t b = alive[k];
        bool has = e->be[0] == b || e->be[1] == b || e->be[2] == b || e->be[3] == b;
        if (has) {
            k++;
            continue;
        }
        matched[b] = at;
        alive[k] = alive[--na];
    }
    return na;
}

uint32_t kv_index_lookup(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                         uint32_t *matched)
{
    uint16_t alive[KV_INDEX_SLOTS];
    uint32_t na = 0, i, idx;
    const struct entry *e;

    memset(matched, 0, (size_t)ix->max_backends * sizeof(*matched));
    if (n == 0 || (idx = kv_u64map_ref_get(&ix->map, h[0])) == KV_U64MAP_NONE)
        return 0;
    e = &ix->ents[idx];
    for (int s = 0; s < KV_INDEX_SLOTS; s++)
        if (e->be[s] != NO_BACKEND)
            alive[na++] = e->be[s];
    for (i = 1; i < KV_MIN(n, 1 + PREFETCH); i++)
        kv_u64map_ref_prefetch(&ix->map, h[i]);
    /* Every backend with a match holds block 0, so at most KV_INDEX_SLOTS are ever alive. */
    for (i = 1; i < n; i++) {
        if (i + PREFETCH < n)
            kv_u64map_ref_prefetch(&ix->map, h[i + PREFETCH]);
        idx = kv_u64map_ref_get(&ix->map, h[i]);
        if (idx == KV_U64MAP_NONE)
            break;
        uint32_t left = prune_alive(&ix->ents[idx], alive, na, i, matched);
        if (left == 0)
            return i;
        na = left;
    }
    for (uint32_t k = 0; k < na; k++)
        matched[alive[k]] = i;
    return i;
}

int kv_index_set_capacity(struct kv_index *ix, uint32_t b, uint32_t blocks)
{
    struct backend *bs;

    if (b >= ix->max_backends)
        return -EINVAL;
    bs = &ix->b[b];
    bs->capacity = blocks;
    while (bs->count > blocks)
        drop_ref(ix, bs->tail);
    flush_unmaps(ix);
    return 0;
}

void kv_index_remove_backend(struct kv_index *ix, uint32_t b)
{
    if (b >= ix->max_backends)
        return;
    while (ix->b[b].tail != NIL)
        drop_ref(ix, ix->b[b].tail);
    flush_unmaps(ix);
}

uint32_t kv_index_blocks(const struct kv_index *ix, uint32_t b)
{
    return b < ix->max_backends ? ix->b[b].count : 0;
}

uint32_t kv_index_capacity(const struct kv_index *ix, uint32_t b)
{
    return b < ix->max_backends ? ix->b[b].capacity : 0;
}

uint64_t kv_index_tail_age_ns(const struct kv_index *ix, uint32_t b, uint64_t now_ns)
{
    uint32_t t;

    if (b >= ix->max_backends || (t = ix->b[b].tail) == NIL)
        return 0;
    return (uint64_t)(stamp_of(ix, now_ns) - ent_of(ix, t)->stamp[t & 3]) * 1000000u;
}

uint32_t kv_index_entries(const struct kv_index *ix)
{
    return ix->in_use;
}

uint32_t kv_index_max_entries(const struct kv_index *ix)
{
    return ix->max_entries;
}

uint32_t kv_index_max_backends(const struct kv_index *ix)
{
    return ix->max_backends;
}

size_t kv_index_bytes(const struct kv_index *ix)
{
    return sizeof(*ix) + kv_u64map_ref_bytes(&ix->map) +
           (size_t)ix->max_entries * sizeof(struct entry) +
           (size_t)ix->max_backends * sizeof(struct backend);
}
