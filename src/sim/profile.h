/* SPDX-License-Identifier: MIT */
/* src/sim/profile.h - model profiles: KV bytes per token and the KV block count vLLM would get.
 *
 * vLLM v1 sizes its KV cache after profiling: available = total GPU memory * utilization -
 * (weights + peak activations + non-torch memory such as CUDA graphs and NCCL buffers), and
 * num_gpu_blocks = available / (block_size * KV bytes per token), where KV bytes per token =
 * 2 (K and V) * layers * KV heads * head dim * bytes per element. kvsim has no GPU, so the
 * weights come from the model's parameter count, the activation and non-torch reserve is a
 * fixed estimate (KV_PROFILE_RESERVE_BYTES), and the GPU is an H100 80 GB (81,559 MiB as
 * nvidia-smi reports it). Llama-3.2-1B (16 layers, 8 KV heads, head dim 64, bf16) takes
 * 32 KiB a token, 512 KiB a 16-token block, and gets 132,875 blocks at 0.9 utilization;
 * vLLM logs about 2.1M tokens of KV cache for it on one H100. --num-gpu-blocks-override wins.
 *
 * Profiles are const tables; lookup is a case-insensitive substring match on the model name,
 * falling back to Llama-3.2-1B so that any --model name works.
 */
#ifndef KV_SIM_PROFILE_H
#define KV_SIM_PROFILE_H

#include <stdint.h>

/* H100 SXM 80 GB as torch.cuda.mem_get_info() sees it. */
#define KV_PROFILE_GPU_BYTES (81559ull << 20)
/* Peak activations of a max_num_batched_tokens=8192 profile run (logits in fp32 dominate) plus
 * CUDA graphs and non-torch allocations: an estimate, about 4.5 GiB for 1B-8B models. */
#define KV_PROFILE_RESERVE_BYTES (4608ull << 20)

struct kv_profile {
    const char *match;     /* substring of the model name, e.g. "llama-3.2-1b" */
    const char *hf_name;   /* canonical name, for logs */
    uint32_t layers;
    uint32_t kv_heads;
    uint32_t head_dim;
    uint32_t dtype_bytes;  /* 2 for bf16 */
    uint64_t weight_bytes; /* parameters * dtype bytes */
    uint32_t max_model_len;
};

/* The profile for <model> (never NULL; Llama-3.2-1B if nothing matches). */
const struct kv_profile *kv_profile_find(const char *model);
/* KV cache bytes one token takes. */
uint64_t kv_profile_bytes_per_token(const struct kv_profile *p);
/* Blocks of <block_size> tokens that fit in <gpu_bytes> * <utilization> after weights and the
 * reserve; 0 if nothing fits. */
uint64_t kv_profile_num_blocks(const struct kv_profile *p, uint64_t gpu_bytes, double utilization,
                               uint32_t block_size);

#endif /* KV_SIM_PROFILE_H */
