// SPDX-License-Identifier: MIT
// tests/deploy/metrics.js - the metric names the monitoring assets may use: what kvroute
// (src/router/rmetrics.h) and the backends (vLLM, kvsim) export. The deploy test rejects a rule or
// dashboard expression naming anything else (a typo there fails silently in Prometheus); a later
// test can check a live /metrics page against the same list.

// Histograms: the dashboard and rules use their _bucket, _sum and _count series.
export const KVROUTE_HISTOGRAMS = [
  "kvroute_request_duration_seconds",
  "kvroute_time_to_first_byte_seconds",
  "kvroute_routing_decision_seconds",
  "kvroute_prefix_match_ratio",
];

export const KVROUTE_METRICS = [
  "kvroute_requests_total", // {backend, code}
  "kvroute_backend_up", // {backend}
  "kvroute_backend_inflight_requests", // {backend}
  "kvroute_session_affinity_total", // {result}
  "kvroute_index_blocks", // {backend}
  "kvroute_backend_prefix_cache_hits_total", // {backend}
  "kvroute_backend_prefix_cache_queries_total", // {backend}
  "kvroute_index_capacity_blocks", // {backend}
  "kvroute_retries_total", // {reason}
  "kvroute_backend_waiting_requests", // {backend}, scraped
  "kvroute_backend_running_requests", // {backend}, scraped
  "kvroute_backend_kv_cache_usage_ratio", // {backend}, scraped
  ...KVROUTE_HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
];

// vLLM v1 names (labels model_name, engine); kvsim exports the same.
export const VLLM_METRICS = [
  "vllm:prefix_cache_queries_total",
  "vllm:prefix_cache_hits_total",
  "vllm:num_requests_running",
  "vllm:num_requests_waiting",
  "vllm:kv_cache_usage_perc",
  "vllm:gpu_cache_usage_perc",
  "vllm:cache_config_info",
];

// Series Prometheus makes itself for every scrape target.
export const PROMETHEUS_METRICS = ["up"];

export const KNOWN_METRICS = new Set([...KVROUTE_METRICS, ...VLLM_METRICS, ...PROMETHEUS_METRICS]);
