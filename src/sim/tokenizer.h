/* SPDX-License-Identifier: MIT */
/* src/sim/tokenizer.h - kvsim's deterministic, prefix-stable tokenizer and text generator.
 *
 * Encoding cuts the text into pieces of exactly KV_TOKENIZER_PIECE (4) bytes from its start (the
 * last piece may be shorter) and maps each piece to an id in [0, KV_TOKENIZER_TEXT_IDS) with a
 * fixed 64-bit hash, so a piece's id depends on nothing but its own bytes. Hence a prefix of a
 * text tokenizes to a prefix of the text's tokens except at most its last token (the prefix's
 * cut-short final piece), and n bytes give ceil(n / 4) tokens: a 2,000-token prompt is about
 * 8,000 bytes, close to what Llama-3's tokenizer gives for English. Real BPE merges across the
 * cut; kvsim does not need to, only prefix caching depends on token identity.
 *
 * Generation: output tokens are words from a fixed list of KV_TOKENIZER_WORDS English words
 * (each with its leading space, one word = one token), with ids KV_TOKENIZER_TEXT_IDS + word
 * index, chosen by a xoshiro PRNG seeded from a hash of the prompt's token ids and the request
 * seed: the same (prompt, seed) always gives the same text. kv_tokenizer_decode() maps a
 * generated id back to its word. Generated ids do not re-tokenize to themselves when the reply
 * comes back as text in the next chat turn (real tokenizers mostly do), so the blocks holding
 * the previous reply miss in the follow-up turn; the earlier history still hits.
 *
 * Pure functions, no state, no allocation except the caller's output arrays.
 */
#ifndef KV_SIM_TOKENIZER_H
#define KV_SIM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/rand.h"

#define KV_TOKENIZER_PIECE 4
#define KV_TOKENIZER_TEXT_IDS 120000u /* ids of text pieces: [0, 120000) */
#define KV_TOKENIZER_WORDS 64u        /* generated ids: [120000, 120064) */
#define KV_TOKENIZER_VOCAB (KV_TOKENIZER_TEXT_IDS + KV_TOKENIZER_WORDS)

/* Number of tokens <len> bytes of text make. */
static inline size_t kv_tokenizer_count(size_t len)
{
    return (len + KV_TOKENIZER_PIECE - 1) / KV_TOKENIZER_PIECE;
}

/* Writes the ids of <text>[0, <len>) to <out> (room for kv_tokenizer_count(len)); returns the
 * count. */
size_t kv_tokenizer_encode(const char *text, size_t len, uint32_t *out);

/* Seeds <r> for the output of a request: from the prompt ids and the request's <seed>. */
void kv_tokenizer_gen_seed(struct kv_rand *r, const uint32_t *prompt, size_t n, uint64_t seed);
/* The next generated token id. */
uint32_t kv_tokenizer_gen_next(struct kv_rand *r);

/* Text of token <id>: the word (with its leading space) for a generated id; for a text-piece id,
 * which cannot be inverted, "" . Sets *<len>. Never NULL. */
const char *kv_tokenizer_decode(uint32_t id, size_t *len);

#endif /* KV_SIM_TOKENIZER_H */
