/* SPDX-License-Identifier: MIT */
/* src/sim/profile.c - model shapes from their Hugging Face config.json files. */
#include "sim/profile.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/mem.h"

static const struct kv_profile profiles[] = {
    /* config.json: num_hidden_layers, num_key_value_heads, head_dim; 1.236e9 parameters. */
    {"llama-3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", 16, 8, 64, 2, 2471857152ull, 131072},
    {"llama-3.2-3b", "meta-llama/Llama-3.2-3B-Instruct", 28, 8, 128, 2, 6425499648ull, 131072},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", 32, 8, 128, 2, 16060522496ull, 131072},
    {"qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct", 28, 4, 128, 2, 15231233024ull, 32768},
};

static bool contains_nocase(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] && tolower((unsigned char)hay[i]) == needle[i])
            i++;
        if (needle[i] == '\0')
            return true;
    }
    return false;
}

const struct kv_profile *kv_profile_find(const char *model)
{
    for (size_t i = 0; model && i < KV_ARRAY_LEN(profiles); i++)
        if (contains_nocase(model, profiles[i].match))
            return &profiles[i];
    return &profiles[0];
}

uint64_t kv_profile_bytes_per_token(const struct kv_profile *p)
{
    return 2ull * p->layers * p->kv_heads * p->head_dim * p->dtype_bytes;
}

uint64_t kv_profile_num_blocks(const struct kv_profile *p, uint64_t gpu_bytes, double utilization,
                               uint32_t block_size)
{
    double budget = (double)gpu_bytes * utilization;
    double used = (double)(p->weight_bytes + KV_PROFILE_RESERVE_BYTES);
    uint64_t per_block = kv_profile_bytes_per_token(p) * block_size;

    if (budget <= used || per_block == 0)
        return 0;
    return (uint64_t)((budget - used) / (double)per_block);
}
