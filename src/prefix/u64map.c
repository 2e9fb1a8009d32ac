/* SPDX-License-Identifier: MIT */
/* src/prefix/u64map.c - linear-probing hash -> index map with backward-shift deletion. */
#include "prefix/u64map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/mem.h"

static inline uint32_t home(const struct kv_u64map *m, uint64_t key)
{
    return (uint32_t)((key * KV_U64MAP_MUL) >> m->shift);
}

/* Log2 of the slot count that keeps <items> at load <= 0.5 (at least 2 slots). */
static unsigned bits_for(uint32_t items)
{
    unsigned bits = 1;

    while ((1ull << bits) < 2ull * items)
        bits++;
    return bits;
}

static void alloc_slots(struct kv_u64map *m, unsigned bits)
{
    uint64_t nslots = 1ull << bits;

    m->slots = kv_malloc(nslots * sizeof(*m->slots));
    for (uint64_t i = 0; i < nslots; i++)
        m->slots[i].val = KV_U64MAP_NONE;
    m->mask = (uint32_t)(nslots - 1);
    m->shift = 64 - bits;
}

int kv_u64map_init(struct kv_u64map *m, uint32_t max_items)
{
    if (max_items == 0 || max_items > KV_U64MAP_MAX_ITEMS)
        return -EINVAL;
    alloc_slots(m, bits_for(max_items));
    m->count = 0;
    m->max = max_items;
    return 0;
}

void kv_u64map_cleanup(struct kv_u64map *m)
{
    KV_FREE(&m->slots);
    m->count = 0;
    m->mask = 0;
}

int kv_u64map_put(struct kv_u64map *m, uint64_t key, uint32_t val)
{
    uint32_t i = home(m, key);

    for (;;) {
        struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            break;
        if (s->key == key) {
            s->val = val;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    /* The load factor stays <= 0.5 because count <= max and slots >= 2 * max. */
    if (m->count >= m->max)
        return -ENOSPC;
    m->slots[i].key = key;
    m->slots[i].val = val;
    m->count++;
    return 0;
}

/* Knuth 6.4 algorithm R: after emptying slot <hole>, move back every later item of the run whose
 * home does not lie cyclically in (hole, j], so no lookup ever stops early at the hole. */
static void close_hole(struct kv_u64map *m, uint32_t hole)
{
    uint32_t j = hole;

    for (;;) {
        j = (j + 1) & m->mask;
        struct kv_u64map_slot *s = &m->slots[j];
        if (s->val == KV_U64MAP_NONE)
            break;
        uint32_t h = home(m, s->key);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays)
            continue;
        m->slots[hole] = *s;
        s->val = KV_U64MAP_NONE;
        hole = j;
    }
}

bool kv_u64map_del(struct kv_u64map *m, uint64_t key)
{
    uint32_t i = home(m, key);

    for (;;) {
        struct kv_u64map_slot *s = &m->slots[i];
        if (s->val == KV_U64MAP_NONE)
            return false;
        if (s->key == key)
            break;
        i = (i + 1) & m->mask;
    }
    m->slots[i].val = KV_U64MAP_NONE;
    m->count--;
    close_hole(m, i);
    return true;
}

size_t kv_u64map_bytes(const struct kv_u64map *m)
{
    return m->slots ? ((size_t)m->mask + 1) * sizeof(*m->slots) : 0;
}

/* The ref map: slots hold {tag, val}; tag = top 32 bits of key * MUL, so a slot's home is
 * tag >> (32 - log2(slots)) and growth or deletion need no key. */

/* One array of a ref map: the current one, or the old one while a doubling is moved over. */
struct tab {
    struct kv_u64map_ref_slot *slots;
    uint32_t mask;
    unsigned shift;
};

/* Old slots moved per put while a doubling is in progress (see u64map.h). */
#define MOVE_PER_PUT 8
/* An old array this small (512 KiB) is moved at once: a fraction of a millisecond. */
#define MOVE_AT_ONCE (1u << 16)
/* Old slots handed back to the kernel at a time once moved (2 MiB), so that freeing the old
 * array at the end of a move has little left to unmap (a whole 64 MB array took 4.6 ms). */
#define RELEASE_SLOTS (1u << 18)

static struct tab cur_tab(const struct kv_u64map_ref *m)
{
    return (struct tab){m->slots, m->mask, m->shift};
}

static struct tab old_tab(const struct kv_u64map_ref *m)
{
    return (struct tab){m->old, m->old_mask, m->old_shift};
}

static inline uint32_t tab_home(struct tab t, uint32_t tag)
{
    return (uint32_t)(((uint64_t)tag << 32) >> t.shift);
}

/* The slot of <t> holding <key> (tag <tag>), or KV_U64MAP_NONE. */
static uint32_t tab_find(const struct kv_u64map_ref *m, struct tab t, uint32_t tag, uint64_t key)
{
    for (uint32_t i = tab_home(t, tag);; i = (i + 1) & t.mask) {
        const struct kv_u64map_ref_slot *s = &t.slots[i];
        if (s->val == 0)
            return KV_U64MAP_NONE;
        if (s->tag == tag && kv_u64map_ref_key(m, s->val - 1) == key)
            return i;
    }
}

/* The slot of <t> mapping <tag> to stored value <sv> (value + 1), or KV_U64MAP_NONE. */
static uint32_t tab_find_val(struct tab t, uint32_t tag, uint32_t sv)
{
    for (uint32_t i = tab_home(t, tag);; i = (i + 1) & t.mask) {
        const struct kv_u64map_ref_slot *s = &t.slots[i];
        if (s->val == 0)
            return KV_U64MAP_NONE;
        if (s->tag == tag && s->val == sv)
            return i;
    }
}

static void tab_insert(struct tab t, struct kv_u64map_ref_slot item)
{
    uint32_t i = tab_home(t, item.tag);

    while (t.slots[i].val != 0)
        i = (i + 1) & t.mask;
    t.slots[i] = item;
}

/* Empties slot <i> of <t> and shifts the rest of its run back, as close_hole. */
static void tab_remove_at(struct tab t, uint32_t i)
{
    uint32_t hole = i, j = i;

    t.slots[i].val = 0;
    for (;;) {
        j = (j + 1) & t.mask;
        struct kv_u64map_ref_slot *s = &t.slots[j];
        if (s->val == 0)
            return;
        uint32_t h = tab_home(t, s->tag);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays)
            continue;
        t.slots[hole] = *s;
        s->val = 0;
        hole = j;
    }
}

static void alloc_cur(struct kv_u64map_ref *m, unsigned bits)
{
    uint64_t nslots = 1ull << bits;

    /* Zeroed pages come from the kernel as they are first touched: no initializing pass. */
    m->slots = kv_calloc(nslots, sizeof(*m->slots));
    m->mask = (uint32_t)(nslots - 1);
    m->shift = 64 - bits;
}

/* Log2 of the slots keeping <items> at load <= 0.25, at least 4 slots, at most 2^32 (a bound of
 * 2^30 items then sits at 0.25 too). */
static unsigned ref_bits(uint32_t items)
{
    unsigned bits = 2;

    while (bits < 32 && (1ull << bits) < 4ull * items)
        bits++;
    return bits;
}

int kv_u64map_ref_init(struct kv_u64map_ref *m, uint32_t max_items, uint32_t start_items,
                       const uint64_t *keys, size_t stride)
{
    if (max_items == 0 || max_items > KV_U64MAP_MAX_ITEMS)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    alloc_cur(m, ref_bits(KV_MAX(KV_MIN(start_items, max_items), 1u)));
    m->keys = (const char *)keys;
    m->stride = stride;
    m->max = max_items;
    m->max_mask = (uint32_t)((1ull << ref_bits(max_items)) - 1);
    return 0;
}

void kv_u64map_ref_cleanup(struct kv_u64map_ref *m)
{
    KV_FREE(&m->slots);
    KV_FREE(&m->old);
    m->count = 0;
    m->mask = 0;
}

/* The old array's piece that the move has just passed (it ends at mig_pos) goes back to the
 * kernel; reading it again gives zeroes, that is empty slots, which is what moved slots are. The
 * piece where the move started is visited in two parts and left to the final free. */
static void release_moved(struct kv_u64map_ref *m)
{
#ifdef MADV_DONTNEED
    uint32_t begin = (m->mig_pos - RELEASE_SLOTS) & m->old_mask;
    uintptr_t lo = (uintptr_t)(m->old + begin), hi = lo + RELEASE_SLOTS * sizeof(*m->old);
    uintptr_t page = 4096;

    if (m->mig_start - begin < RELEASE_SLOTS)
        return;
    lo = (lo + page - 1) & ~(page - 1); /* whole pages inside the piece only */
    hi &= ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)m;
#endif
}

/* Moves old slots into the current array: at least <budget> slots, and on to the end of the run
 * it is in, so that a run is never split between the arrays. Frees the old array when done. */
static void move_some(struct kv_u64map_ref *m, uint32_t budget)
{
    bool in_run = false;

    while (m->old && (budget > 0 || in_run)) {
        if (m->mig_left == 0) {
            KV_FREE(&m->old);
            return;
        }
        struct kv_u64map_ref_slot *s = &m->old[m->mig_pos];
        in_run = s->val != 0;
        if (in_run) {
            tab_insert(cur_tab(m), *s);
            s->val = 0;
        }
        m->mig_pos = (m->mig_pos + 1) & m->old_mask;
        m->mig_left--;
        budget -= budget > 0;
        if ((m->mig_pos & (RELEASE_SLOTS - 1)) == 0 && m->old_mask >= RELEASE_SLOTS)
            release_moved(m);
    }
}

/* Doubles: the current array becomes the old one, to be moved over from an empty slot on (one
 * exists at load <= 0.25), so that the move starts and ends between runs. */
static void start_doubling(struct kv_u64map_ref *m)
{
    uint32_t e = 0;

    move_some(m, UINT32_MAX); /* a doubling still moving (never, see u64map.h) ends first */
    m->old = m->slots;
    m->old_mask = m->mask;
    m->old_shift = m->shift;
    while (m->old[e].val != 0)
        e++;
    m->mig_pos = m->mig_start = e;
    m->mig_left = m->old_mask + 1;
    alloc_cur(m, 64 - m->shift + 1);
    if (m->mig_left <= MOVE_AT_ONCE)
        move_some(m, UINT32_MAX);
}

uint32_t kv__u64map_ref_get_old(const struct kv_u64map_ref *m, uint64_t key)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = tab_find(m, old_tab(m), tag, key);

    return i == KV_U64MAP_NONE ? KV_U64MAP_NONE : m->old[i].val - 1;
}

int kv_u64map_ref_put(struct kv_u64map_ref *m, uint64_t key, uint32_t val)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = tab_find(m, cur_tab(m), tag, key);

    if (i != KV_U64MAP_NONE) {
        m->slots[i].val = val + 1;
        return 0;
    }
    if (m->old && (i = tab_find(m, old_tab(m), tag, key)) != KV_U64MAP_NONE) {
        m->old[i].val = val + 1;
        return 0;
    }
    if (m->count >= m->max)
        return -ENOSPC;
    move_some(m, MOVE_PER_PUT);
    if (4ull * (m->count + 1) > (uint64_t)m->mask + 1 && m->mask < m->max_mask)
        start_doubling(m);
    tab_insert(cur_tab(m), (struct kv_u64map_ref_slot){tag, val + 1});
    m->count++;
    return 0;
}

/* Removes the slot a find on either array returns; false if neither has it. */
static bool remove_found(struct kv_u64map_ref *m, uint32_t i, uint32_t j)
{
    if (i != KV_U64MAP_NONE)
        tab_remove_at(cur_tab(m), i);
    else if (j != KV_U64MAP_NONE)
        tab_remove_at(old_tab(m), j);
    else
        return false;
    m->count--;
    return true;
}

bool kv_u64map_ref_del(struct kv_u64map_ref *m, uint64_t key)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = tab_find(m, cur_tab(m), tag, key);
    uint32_t j = i == KV_U64MAP_NONE && m->old ? tab_find(m, old_tab(m), tag, key)
                                               : KV_U64MAP_NONE;

    return remove_found(m, i, j);
}

bool kv_u64map_ref_del_val(struct kv_u64map_ref *m, uint64_t key, uint32_t val)
{
    uint32_t tag = kv_u64map_ref_tag(key), i = tab_find_val(cur_tab(m), tag, val + 1);
    uint32_t j = i == KV_U64MAP_NONE && m->old ? tab_find_val(old_tab(m), tag, val + 1)
                                               : KV_U64MAP_NONE;

    return remove_found(m, i, j);
}

size_t kv_u64map_ref_bytes(const struct kv_u64map_ref *m)
{
    return (m->slots ? ((size_t)m->mask + 1) * sizeof(*m->slots) : 0) +
           (m->old ? ((size_t)m->old_mask + 1) * sizeof(*m->old) : 0);
}
