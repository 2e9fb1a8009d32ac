/* SPDX-License-Identifier: MIT */
/* src/router/scrape.h - backend /metrics scraping: the live figures the scheduler weighs.
 *
 * Every scrape.interval_ms (50-100 ms) each backend without a scrape in flight gets GET /metrics
 * on its control pool. The Prometheus text is parsed (metrics/promparse.h, tolerant: unknown
 * families, comments and malformed lines are skipped) for vLLM's
 *   vllm:num_requests_waiting, vllm:num_requests_running, vllm:kv_cache_usage_perc (summed
 *   over label sets, e.g. several model_name values; usage averaged),
 *   vllm:prefix_cache_queries_total, vllm:prefix_cache_hits_total (token counters),
 *   vllm:cache_config_info{block_size, num_gpu_blocks}
 * into the backend's struct kv_backend_stats. cache_config_info also sets the backend's prefix
 * index capacity: num_gpu_blocks * block_size tokens, in index blocks of ~16 tokens (64 bytes
 * of text), i.e. num_gpu_blocks * block_size / 16 (the block_tokens of the configuration).
 *
 * A failed scrape keeps the last figures (and counts failures); scraping says nothing about
 * health, which the probes decide. Each scrape holds a reference on its backend.
 */
#ifndef KV_ROUTER_SCRAPE_H
#define KV_ROUTER_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

struct kv_router;
struct kv_backend_stats;

/* Starts a scrape of every backend that has none in flight (the scrape timer's tick). */
void kv_scrape_all(struct kv_router *r);

/* Parses a /metrics body into <out> (the fields it finds; others keep their value; scraped
 * is set when at least one of the gauges was present). Returns the number of vLLM families
 * found (0: not a vLLM server, or not Prometheus text). Pure. */
int kv_scrape_parse(const char *text, size_t len, struct kv_backend_stats *out);
/* Index capacity in blocks of <block_tokens> tokens for a backend of <gpu_blocks> blocks of
 * <block_size> tokens (0 when either is unknown), capped at UINT32_MAX. */
uint32_t kv_scrape_capacity(uint64_t gpu_blocks, uint64_t block_size, uint32_t block_tokens);

#endif /* KV_ROUTER_SCRAPE_H */
