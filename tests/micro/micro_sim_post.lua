-- SPDX-License-Identifier: MIT
-- tests/micro/micro_sim_post.lua - wrk request generator for the kvsim throughput benchmark.
-- wrk script: POST /v1/completions, 1,000-token prompts (4,000 bytes; a unique 8-digit head so
-- every prompt misses the cache), 64 output tokens; STREAM=1 in the environment streams.
counter = 0
local filler = string.rep("abcd", 998)
local stream = os.getenv("STREAM") == "1"
request = function()
  counter = counter + 1
  local body = '{"model":"m","prompt":"' .. string.format("%08d", counter) .. filler ..
               '","max_tokens":64,"ignore_eos":true' .. (stream and ',"stream":true' or '') .. '}'
  return wrk.format("POST", "/v1/completions", {["Content-Type"] = "application/json"}, body)
end
