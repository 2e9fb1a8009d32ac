-- SPDX-License-Identifier: MIT
-- tests/micro/micro_router_post9k.lua - wrk request generator for the router overhead benchmark:
-- POST /v1/completions with a 9 KB body (16 shared system prompts of 8,000 bytes plus a unique
-- question), max_tokens 1, so the proxy's per-request work dominates.
counter = 0
local prompts = {}
for i = 1, 16 do
  prompts[i] = string.rep(string.format("system prompt %02d of the benchmark fleet. ", i), 190)
end
request = function()
  counter = counter + 1
  local body = '{"model":"m","prompt":"' .. prompts[counter % 16 + 1] ..
               string.format("question %010d ", counter) .. string.rep("x", 900) ..
               '","max_tokens":1,"ignore_eos":true}'
  return wrk.format("POST", "/v1/completions", {["Content-Type"] = "application/json"}, body)
end
