/* SPDX-License-Identifier: MIT */
/* src/prefix/index.c - a radix tree of block runs with per-backend LRU lists of holdings threaded
 * through the nodes' holder slots.
 *
 * A node's blocks live in its row of <rows> (KV_INDEX_RUN hashes); the map's key for node v is
 * rows[v * RUN], its first block. A reference names one holding: (node << 2) | slot. Each
 * backend's LRU list is a doubly linked list of references, head = most recently used. Nodes
 * live in a pool and never move, so references stay valid while the map reshuffles. A split
 * keeps the node's second part (and its children, whose parent links need no change) in place
 * and moves its first part to a new node that takes its place under its parent.
 *
 * A record pins the nodes of its path, so the room it makes for new blocks never trims them;
 * it unpins them before it returns.
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
#define RUN KV_INDEX_RUN
#define SLOTS KV_INDEX_SLOTS
/* Nodes the map has slots for at creation (it doubles from there). */
#define MAP_START 1024

struct node {
    uint32_t parent; /* NIL: a root; next free node while free */
    uint32_t nchild; /* nodes whose parent this is */
    uint32_t child;  /* the child made last (NIL: none yet): a hint, checked before use */
    uint8_t len;     /* blocks in the row, 1..RUN */
    uint8_t pinned;  /* on the path of the record in progress */
    uint8_t held[SLOTS]; /* leading blocks the holder holds, 1..len; 0: free slot */
    uint16_t be[SLOTS];  /* NO_BACKEND: free slot */
    uint32_t stamp[SLOTS]; /* ms since epoch, last record */
    uint32_t prev[SLOTS];  /* toward the head (more recent) */
    uint32_t next[SLOTS];  /* toward the tail */
};

struct backend {
    uint32_t head;
    uint32_t tail;
    uint32_t count;
    uint32_t capacity;
};

struct kv_index {
    struct kv_u64map_ref map;
    struct node *nodes;
    uint64_t *rows;
    struct backend *b;
    uint32_t max_entries; /* bound on blocks */
    uint32_t max_nodes;
    uint32_t used;      /* pool nodes handed out so far (the rest were never used) */
    uint32_t free_head; /* freed nodes, linked through parent */
    uint32_t max_backends;
    uint32_t hi_backend; /* 1 + the highest id ever recorded: bounds the global eviction scan */
    uint32_t blocks;     /* sum of the lengths of the nodes in use */
    uint64_t epoch_ns;
};

static inline uint64_t *row_of(const struct kv_index *ix, uint32_t v)
{
    return &ix->rows[(size_t)v * RUN];
}

static inline struct node *node_of(const struct kv_index *ix, uint32_t ref)
{
    return &ix->nodes[ref >> 2];
}

static inline uint32_t *prev_of(const struct kv_index *ix, uint32_t ref)
{
    return &node_of(ix, ref)->prev[ref & 3];
}

static inline uint32_t *next_of(const struct kv_index *ix, uint32_t ref)
{
    return &node_of(ix, ref)->next[ref & 3];
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
    ix->max_nodes = max_entries / 4 + 16;
    ix->nodes = kv_malloc((size_t)ix->max_nodes * sizeof(*ix->nodes));
    ix->rows = kv_malloc((size_t)ix->max_nodes * RUN * sizeof(*ix->rows));
    /* The map grows with the nodes in use: the default bound is far above what most
     * deployments hold, and probes into a map sized for it miss the caches and the TLB. Keys
     * are the rows' first hashes (set before a node is mapped, kept until it is unmapped).
     * Cannot fail: max_nodes is in the map's range. */
    (void)kv_u64map_ref_init(&ix->map, ix->max_nodes, MAP_START, ix->rows, RUN * sizeof(*ix->rows));
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
    free(ix->nodes);
    free(ix->rows);
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

/* Links <ref> right after <after> (NIL: at the head). */
static void link_after(struct kv_index *ix, struct backend *bs, uint32_t ref, uint32_t after)
{
    uint32_t n = after == NIL ? bs->head : *next_of(ix, after);

    *prev_of(ix, ref) = after;
    *next_of(ix, ref) = n;
    if (after == NIL)
        bs->head = ref;
    else
        *next_of(ix, after) = ref;
    if (n == NIL)
        bs->tail = ref;
    else
        *prev_of(ix, n) = ref;
}

static int slot_of(const struct node *nd, uint32_t b)
{
    for (int s = 0; s < SLOTS; s++)
        if (nd->be[s] == b)
            return s;
    return -1;
}

static uint32_t max_held(const struct node *nd)
{
    uint32_t m = 0;

    for (int s = 0; s < SLOTS; s++)
        m = KV_MAX(m, nd->held[s]);
    return m;
}

static uint32_t alloc_node(struct kv_index *ix)
{
    uint32_t v;
    struct node *nd;

    if (ix->free_head != NIL) {
        v = ix->free_head;
        ix->free_head = ix->nodes[v].parent;
    } else {
        v = ix->used++;
    }
    nd = &ix->nodes[v];
    memset(nd, 0, sizeof(*nd));
    nd->child = NIL;
    for (int s = 0; s < SLOTS; s++)
        nd->be[s] = NO_BACKEND;
    return v;
}

/* After node <v> lost holdings or children: a childless node keeps only the blocks some holder
 * holds, and a node left with neither is freed, which its parent sees in turn. Pinned nodes
 * wait for the end of their record. */
static void refit(struct kv_index *ix, uint32_t v)
{
    while (v != NIL) {
        struct node *nd = &ix->nodes[v];
        uint32_t m, p;

        if (nd->nchild > 0 || nd->pinned || (m = max_held(nd)) == nd->len)
            return;
        if (m > 0) {
            ix->blocks -= nd->len - m;
            nd->len = (uint8_t)m;
            return;
        }
        p = nd->parent;
        kv_u64map_ref_del_val(&ix->map, row_of(ix, v)[0], v);
        ix->blocks -= nd->len;
        nd->len = 0;
        nd->parent = ix->free_head;
        ix->free_head = v;
        if (p == NIL)
            return;
        ix->nodes[p].nchild--;
        v = p;
    }
}

/* Takes holder slot <s> of node <v> away from its backend, leaving the node as it is. */
static void vacate(struct kv_index *ix, uint32_t v, int s)
{
    struct node *nd = &ix->nodes[v];
    struct backend *bs = &ix->b[nd->be[s]];

    unlink_ref(ix, bs, (v << 2) | (uint32_t)s);
    bs->count -= nd->held[s];
    nd->be[s] = NO_BACKEND;
    nd->held[s] = 0;
}

/* Forgets the last <d> blocks of holding <ref> (d <= its held), then refits its node. */
static void drop(struct kv_index *ix, uint32_t ref, uint32_t d)
{
    struct node *nd = node_of(ix, ref);
    int s = (int)(ref & 3);

    if (nd->held[s] == d) {
        vacate(ix, ref >> 2, s);
    } else {
        nd->held[s] = (uint8_t)(nd->held[s] - d);
        ix->b[nd->be[s]].count -= d;
    }
    refit(ix, ref >> 2);
}

/* Forgets backend <bs>'s least recently used blocks until it holds at most <keep>. */
static void trim(struct kv_index *ix, struct backend *bs, uint32_t keep)
{
    while (bs->count > keep) {
        uint32_t t = bs->tail;
        drop(ix, t, KV_MIN(node_of(ix, t)->held[t & 3], bs->count - keep));
    }
}

/* Makes room for <add> more blocks (and a node, if <node>) within the bounds by trimming the
 * globally stalest holding that is not pinned: a backend whose oldest holdings are on the
 * record's path offers its oldest one that is not (nothing of that backend lies below it: its
 * descendants would be older, and those are path nodes). Returns false if only pinned ones are
 * left. */
static bool make_room(struct kv_index *ix, uint32_t add, bool node, uint32_t now)
{
    for (;;) {
        bool over = ix->blocks + add > ix->max_entries;
        uint32_t best = NIL, best_age = 0;

        if (!over && !(node && ix->free_head == NIL && ix->used == ix->max_nodes))
            return true;
        for (uint32_t b = 0; b < ix->hi_backend; b++) {
            uint32_t t = ix->b[b].tail, age;
            while (t != NIL && node_of(ix, t)->pinned)
                t = *prev_of(ix, t);
            if (t == NIL)
                continue;
            age = now - node_of(ix, t)->stamp[t & 3];
            if (best == NIL || age > best_age) {
                best = t;
                best_age = age;
            }
        }
        if (best == NIL)
            return false;
        uint32_t held = node_of(ix, best)->held[best & 3];
        drop(ix, best, over ? KV_MIN(held, ix->blocks + add - ix->max_entries) : held);
    }
}

/* A new node of blocks <h>[0..k) under <parent> (NIL: a root), with no holder. The caller made
 * room, and no node starts with h[0]. */
static uint32_t new_node(struct kv_index *ix, uint32_t parent, const uint64_t *h, uint32_t k)
{
    uint32_t v = alloc_node(ix);

    ix->nodes[v].parent = parent;
    ix->nodes[v].len = (uint8_t)k;
    memcpy(row_of(ix, v), h, k * sizeof(*h));
    (void)kv_u64map_ref_put(&ix->map, h[0], v); /* cannot fail: nodes <= max_nodes */
    ix->blocks += k;
    if (parent != NIL) {
        ix->nodes[parent].nchild++;
        ix->nodes[parent].child = v;
    }
    return v;
}

/* Splits node <v> before its block <k> (0 < k < len): a new node takes blocks 0..k-1, v's
 * place under its parent and every holding's first part (just before the rest in the holder's
 * list, or in its place when the holder held no more); v keeps the rest, its children, and
 * becomes the new node's only child. The caller made room for a node, and no node starts with
 * v's block k. Returns the new node, which takes over v's pin. */
static uint32_t split(struct kv_index *ix, uint32_t v, uint32_t k)
{
    uint32_t y = alloc_node(ix);
    struct node *nv = &ix->nodes[v], *ny = &ix->nodes[y];
    uint64_t *rv = row_of(ix, v);

    memcpy(row_of(ix, y), rv, k * sizeof(*rv));
    (void)kv_u64map_ref_put(&ix->map, rv[0], y); /* the same key: now y's */
    memmove(rv, rv + k, (nv->len - k) * sizeof(*rv));
    (void)kv_u64map_ref_put(&ix->map, rv[0], v);
    ny->parent = nv->parent;
    ny->nchild = 1;
    ny->child = v;
    ny->len = (uint8_t)k;
    ny->pinned = nv->pinned;
    if (ny->parent != NIL && ix->nodes[ny->parent].child == v)
        ix->nodes[ny->parent].child = y; /* y took v's place under it */
    nv->parent = y;
    nv->len = (uint8_t)(nv->len - k);
    nv->pinned = 0;
    for (int s = 0; s < SLOTS; s++) {
        if (nv->be[s] == NO_BACKEND)
            continue;
        struct backend *bs = &ix->b[nv->be[s]];
        uint32_t rf = (v << 2) | (uint32_t)s, ry = (y << 2) | (uint32_t)s;
        ny->be[s] = nv->be[s];
        ny->stamp[s] = nv->stamp[s];
        ny->held[s] = (uint8_t)KV_MIN(nv->held[s], k);
        if (nv->held[s] > k) {
            nv->held[s] = (uint8_t)(nv->held[s] - k);
            link_after(ix, bs, ry, *prev_of(ix, rf));
            continue;
        }
        link_after(ix, bs, ry, rf);
        unlink_ref(ix, bs, rf);
        nv->be[s] = NO_BACKEND;
        nv->held[s] = 0;
    }
    refit(ix, v); /* nothing of v may be held any more */
    return y;
}

/* Backend <bs> (id <b>) now holds the first <cover> blocks of node <v>, at <now>, right after
 * holding <after> in its list (NIL: at the head). A new holder takes a free slot or the
 * stalest holder's. Returns the holding's reference. */
static uint32_t touch(struct kv_index *ix, uint32_t b, uint32_t v, uint32_t cover, uint32_t after,
                      uint32_t now)
{
    struct node *nd = &ix->nodes[v];
    struct backend *bs = &ix->b[b];
    int s = slot_of(nd, b);
    uint32_t ref;

    if (s < 0) {
        s = slot_of(nd, NO_BACKEND);
        if (s < 0) {
            s = 0;
            for (int k = 1; k < SLOTS; k++)
                if (now - nd->stamp[k] > now - nd->stamp[s])
                    s = k;
            vacate(ix, v, s);
        }
        nd->be[s] = (uint16_t)b;
        ref = (v << 2) | (uint32_t)s;
        link_after(ix, bs, ref, after);
    } else {
        ref = (v << 2) | (uint32_t)s;
        if (*prev_of(ix, ref) != after) {
            unlink_ref(ix, bs, ref);
            link_after(ix, bs, ref, after);
        }
    }
    bs->count += cover - nd->held[s];
    nd->held[s] = (uint8_t)cover;
    nd->stamp[s] = now;
    return ref;
}

/* Leading blocks of <h>[0..n) equal to row <r>[0..len); r[0] == h[0] (the map matched it). */
static inline uint32_t match(const uint64_t *r, uint32_t len, const uint64_t *h, uint32_t n)
{
    uint32_t k = 1, e = KV_MIN(len, n);

    while (k < e && r[k] == h[k])
        k++;
    return k;
}

/* Fetches node <v>'s header and row ahead of use. */
static inline void prefetch_node(const struct kv_index *ix, uint32_t v)
{
    const char *hd = (const char *)&ix->nodes[v], *r = (const char *)row_of(ix, v);

    __builtin_prefetch(hd);
    __builtin_prefetch(hd + sizeof(struct node) - 1);
    __builtin_prefetch(r);
    __builtin_prefetch(r + RUN * sizeof(uint64_t) - 1);
}

/* Starts fetching what the walk needs after node <nd> (whose run ends at the chain's block
 * <key>): its hinted child, and the map slot in case the hint misses. */
static inline void prefetch_next(const struct kv_index *ix, const struct node *nd, uint64_t key)
{
    if (nd->child != NIL)
        prefetch_node(ix, nd->child);
    if (nd->child == NIL || nd->nchild > 1)
        kv_u64map_ref_prefetch(&ix->map, key);
}

/* The node whose first block is <key>, which should be node <v>'s child (NIL: a root): v's
 * hinted child if it is that node, else the map's answer (KV_U64MAP_NONE if none; the caller
 * checks the parent of a node found: hashes that are not a chain may find another's). */
static inline uint32_t find_node(const struct kv_index *ix, uint32_t v, uint64_t key)
{
    uint32_t c = v != NIL ? ix->nodes[v].child : NIL;

    if (c != NIL && ix->nodes[c].parent == v && ix->nodes[c].len > 0 && row_of(ix, c)[0] == key)
        return c;
    return kv_u64map_ref_get(&ix->map, key);
}

/* Walks and extends the tree along <h>[0..n) for backend <b>, linking its path's holdings at the
 * head of its list, root first. Returns the blocks recorded; <*last> is the path's last node and
 * <*stray> a node pinned but left off the path (NIL if none). */
static uint32_t record_path(struct kv_index *ix, uint32_t b, const uint64_t *h, uint32_t n,
                            uint32_t now, uint32_t *last, uint32_t *stray)
{
    struct backend *bs = &ix->b[b];
    uint32_t i = 0, parent = NIL, after = NIL;

    while (i < n) {
        uint32_t v = find_node(ix, parent, h[i]), m, k;
        struct node *nd;

        if (v == KV_U64MAP_NONE) {
            nd = parent != NIL ? &ix->nodes[parent] : NULL;
            if (nd && nd->nchild == 0 && nd->len < RUN) { /* grow the path's last run */
                k = KV_MIN((uint32_t)(RUN - nd->len), n - i);
                if (!make_room(ix, k, false, now))
                    break;
                memcpy(row_of(ix, parent) + nd->len, h + i, k * sizeof(*h));
                nd->len = (uint8_t)(nd->len + k);
                ix->blocks += k;
                nd->held[after & 3] = nd->len;
                bs->count += k;
                i += k;
                continue;
            }
            k = KV_MIN((uint32_t)RUN, n - i);
            if (!make_room(ix, k, true, now))
                break;
            v = new_node(ix, parent, h + i, k);
            m = k;
        } else {
            nd = &ix->nodes[v];
            if (i > 0 && nd->parent != parent)
                break; /* not a chain */
            nd->pinned = 1;
            if (i + nd->len < n)
                prefetch_next(ix, nd, h[i + nd->len]);
            m = match(row_of(ix, v), nd->len, h + i, n - i);
            /* The chain leaves the run at m, or ends there: split, so that what is recorded is
             * one run (the rest keeps its recency, and a holder that loses its slot to b
             * loses only the runs b records). */
            if (m < nd->len) {
                if (kv_u64map_ref_get(&ix->map, row_of(ix, v)[m]) != KV_U64MAP_NONE ||
                    !make_room(ix, 0, true, now)) {
                    *stray = v;
                    break;
                }
                v = split(ix, v, m);
            }
        }
        ix->nodes[v].pinned = 1;
        after = touch(ix, b, v, m, after, now); /* m is v's length now */
        parent = v;
        i += m;
    }
    *last = parent;
    return i;
}

int kv_index_record(struct kv_index *ix, uint32_t b, const uint64_t *h, uint32_t n,
                    uint64_t now_ns)
{
    uint32_t last = NIL, stray = NIL, done;

    if (b >= ix->max_backends)
        return -EINVAL;
    n = KV_MIN(n, ix->b[b].capacity);
    n = KV_MIN(n, ix->max_entries);
    if (n == 0)
        return 0;
    ix->hi_backend = KV_MAX(ix->hi_backend, b + 1);
    /* A backend at capacity evicts its tail: fetch the tail's map slot now (its node came in at
     * the end of the last record here), so that it is in cache by the end of this one. */
    if (ix->b[b].count >= ix->b[b].capacity - n && ix->b[b].tail != NIL) /* n <= capacity */
        kv_u64map_ref_prefetch(&ix->map, row_of(ix, ix->b[b].tail >> 2)[0]);
    done = record_path(ix, b, h, n, stamp_of(ix, now_ns), &last, &stray);
    /* Unpin, leaf first: each node fits itself to what is held before its parent does. */
    if (stray != NIL) {
        ix->nodes[stray].pinned = 0;
        refit(ix, stray);
    }
    while (last != NIL && ix->nodes[last].pinned) {
        uint32_t p = ix->nodes[last].parent;
        ix->nodes[last].pinned = 0;
        refit(ix, last);
        last = p;
    }
    /* The path is at the head and no longer than capacity: only older holdings go. */
    trim(ix, &ix->b[b], ix->b[b].capacity);
    if (ix->b[b].tail != NIL) /* the next victim, for the next record here */
        prefetch_node(ix, ix->b[b].tail >> 2);
    return (int)KV_MIN(done, (uint32_t)INT32_MAX);
}

uint32_t kv_index_lookup(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                         uint32_t *matched)
{
    memset(matched, 0, (size_t)ix->max_backends * sizeof(*matched));
    return kv_index_lookup_into(ix, h, n, matched);
}

uint32_t kv_index_lookup_into(const struct kv_index *ix, const uint64_t *h, uint32_t n,
                              uint32_t *matched)
{
    uint32_t i = 0, parent = NIL, best = 0;

    while (i < n) {
        uint32_t v = find_node(ix, parent, h[i]), m;
        const struct node *nd;

        if (v == KV_U64MAP_NONE)
            break;
        nd = &ix->nodes[v];
        if (i > 0 && nd->parent != parent)
            break;
        if (i + nd->len < n)
            prefetch_next(ix, nd, h[i + nd->len]);
        m = match(row_of(ix, v), nd->len, h + i, n - i);
        /* Deeper holdings overwrite shallower ones: a holder here holds at least block i. */
        for (int s = 0; s < SLOTS; s++) {
            if (nd->be[s] == NO_BACKEND)
                continue;
            uint32_t got = i + KV_MIN(nd->held[s], m);
            matched[nd->be[s]] = got;
            best = KV_MAX(best, got);
        }
        i += m;
        if (m < nd->len)
            break;
        parent = v;
    }
    return best;
}

int kv_index_set_capacity(struct kv_index *ix, uint32_t b, uint32_t blocks)
{
    if (b >= ix->max_backends)
        return -EINVAL;
    ix->b[b].capacity = blocks;
    trim(ix, &ix->b[b], blocks);
    return 0;
}

void kv_index_remove_backend(struct kv_index *ix, uint32_t b)
{
    if (b < ix->max_backends)
        trim(ix, &ix->b[b], 0);
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
    return (uint64_t)(stamp_of(ix, now_ns) - node_of(ix, t)->stamp[t & 3]) * 1000000u;
}

uint32_t kv_index_entries(const struct kv_index *ix)
{
    return ix->blocks;
}

uint32_t kv_index_max_entries(const struct kv_index *ix)
{
    return ix->max_entries;
}

uint32_t kv_index_max_backends(const struct kv_index *ix)
{
    return ix->max_backends;
}

/* A node handed out and not freed (a freed node has len 0). */
static bool node_in_use(const struct kv_index *ix, uint32_t v)
{
    return v < ix->used && ix->nodes[v].len > 0;
}

int kv_index_check(const struct kv_index *ix)
{
    uint64_t blocks = 0, nodes = 0, holdings = 0;
    uint32_t *kids = kv_calloc(ix->used + 1, sizeof(*kids));
    int rc = 0;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            rc = -__LINE__;                                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
    for (uint32_t v = 0; v < ix->used; v++) {
        const struct node *nd = &ix->nodes[v];
        if (!node_in_use(ix, v))
            continue;
        nodes++;
        blocks += nd->len;
        CHECK(nd->len <= RUN && !nd->pinned);
        CHECK(kv_u64map_ref_get(&ix->map, row_of(ix, v)[0]) == v);
        CHECK(nd->parent == NIL || node_in_use(ix, nd->parent));
        if (nd->parent != NIL)
            kids[nd->parent]++;
        CHECK(max_held(nd) <= nd->len);
        CHECK(max_held(nd) > 0 || nd->nchild > 0); /* else it should have been freed */
        for (int s = 0; s < SLOTS; s++) {
            CHECK((nd->be[s] == NO_BACKEND) == (nd->held[s] == 0));
            CHECK(nd->be[s] == NO_BACKEND || nd->be[s] < ix->hi_backend);
            holdings += nd->be[s] != NO_BACKEND;
        }
    }
    for (uint32_t v = 0; v < ix->used; v++)
        CHECK(!node_in_use(ix, v) || kids[v] == ix->nodes[v].nchild);
    CHECK(blocks == ix->blocks && blocks <= ix->max_entries && ix->map.count == nodes);
    for (uint32_t b = 0; b < ix->max_backends; b++) {
        const struct backend *bs = &ix->b[b];
        uint64_t count = 0;
        uint32_t prev = NIL, stamp = UINT32_MAX;
        for (uint32_t r = bs->head; r != NIL; prev = r, r = *next_of(ix, r)) {
            const struct node *nd = node_of(ix, r);
            CHECK(node_in_use(ix, r >> 2) && nd->be[r & 3] == b && *prev_of(ix, r) == prev);
            CHECK(nd->stamp[r & 3] <= stamp); /* most recent first */
            stamp = nd->stamp[r & 3];
            count += nd->held[r & 3];
            CHECK(holdings-- > 0);
        }
        CHECK(bs->tail == prev && count == bs->count && count <= bs->capacity);
    }
    CHECK(holdings == 0); /* every holding is on its backend's list */
#undef CHECK
out:
    free(kids);
    return rc;
}

size_t kv_index_bytes(const struct kv_index *ix)
{
    return sizeof(*ix) + kv_u64map_ref_bytes(&ix->map) +
           (size_t)ix->max_nodes * (sizeof(struct node) + RUN * sizeof(uint64_t)) +
           (size_t)ix->max_backends * sizeof(struct backend);
}
