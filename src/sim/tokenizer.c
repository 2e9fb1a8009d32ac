/* SPDX-License-Identifier: MIT */
/* src/sim/tokenizer.c - fixed 4-byte pieces hashed to ids; word-list generation. */
#include "sim/tokenizer.h"

#include <string.h>

/* Common English words, so generated text reads as text and averages ~4-5 bytes a token. */
static const char *const words[KV_TOKENIZER_WORDS] = {
    " the",   " of",     " and",   " to",    " in",    " a",      " is",    " that",
    " for",   " it",     " as",    " was",   " with",  " be",     " by",    " on",
    " not",   " he",     " this",  " are",   " or",    " his",    " from",  " at",
    " which", " but",    " have",  " an",    " had",   " they",   " you",   " were",
    " their", " one",    " all",   " we",    " can",   " her",    " has",   " there",
    " been",  " if",     " more",  " when",  " will",  " would",  " who",   " so",
    " no",    " model",  " cache", " block", " token", " server", " time",  " data",
    " first", " system", " each",  " other", " new",   " some",   " could", "."};

static uint64_t piece_hash(const unsigned char *p, size_t n)
{
    uint64_t w = 0;

    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    /* The length goes in too, so "ab" and "ab\0" differ. */
    w ^= (uint64_t)n << 56;
    w = (w ^ (w >> 31)) * 0x7fb5d329728ea185ull;
    w = (w ^ (w >> 27)) * 0x81dadef4bc2dd44dull;
    return w ^ (w >> 33);
}

size_t kv_tokenizer_encode(const char *text, size_t len, uint32_t *out)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;

    for (size_t off = 0; off < len; off += KV_TOKENIZER_PIECE) {
        size_t k = len - off < KV_TOKENIZER_PIECE ? len - off : KV_TOKENIZER_PIECE;
        out[n++] = (uint32_t)(piece_hash(p + off, k) % KV_TOKENIZER_TEXT_IDS);
    }
    return n;
}

void kv_tokenizer_gen_seed(struct kv_rand *r, const uint32_t *prompt, size_t n, uint64_t seed)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ seed;

    for (size_t i = 0; i < n; i++) {
        h ^= prompt[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    kv_rand_seed(r, h);
}

uint32_t kv_tokenizer_gen_next(struct kv_rand *r)
{
    return KV_TOKENIZER_TEXT_IDS + (uint32_t)(kv_rand_next(r) >> 58);
}

const char *kv_tokenizer_decode(uint32_t id, size_t *len)
{
    const char *w = "";

    if (id >= KV_TOKENIZER_TEXT_IDS && id < KV_TOKENIZER_VOCAB)
        w = words[id - KV_TOKENIZER_TEXT_IDS];
    *len = strlen(w);
    return w;
}
