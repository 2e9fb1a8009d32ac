#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_kvsim.py - kvsim end to end: prefix-cache hits and counters exactly as
# vLLM v0.10.0 counts them, response shapes (streaming and not), every error, /v1/models,
# metrics deltas, client disconnect, and SIGTERM with a request in flight.
# Usage: test_kvsim.py BUILD_DIR
import json
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

H = "127.0.0.1"
KVSIM = os.path.join(kvtest.build_dir(), "src", "sim", "kvsim")
WORDS = ["alpha", "beta", "gamma", "delta", "kv", "cache", "block", "token"]


def text_of(nbytes, salt):
    s, i = [], 0
    while sum(len(w) + 1 for w in s) < nbytes + 16:
        s.append(WORDS[(i * 7 + salt) % len(WORDS)] + str(i))
        i += 1
    return " ".join(s)[:nbytes]


def start(port, *extra):
    p = kvtest.Proc([KVSIM, "--host", H, "--port", str(port), "--served-model-name", "m1", "m2",
                     "--max-model-len", "4096", "--enable-prompt-tokens-details", *extra],
                    env={"PYTHONHASHSEED": "0"})
    kvtest.wait_http(H, port, proc=p)
    return p


def check_error(status, body, code, typ):
    assert status == code, (status, body)
    assert body["object"] == "error" and body["type"] == typ and body["code"] == code, body
    assert body["param"] is None and body["message"], body
    return body["message"]


def test_prefix_cache(port):
    prompt = text_of(8000, 1)  # 8,000 bytes = 2,000 tokens
    req = {"model": "m1", "prompt": prompt, "max_tokens": 4}
    m0 = kvtest.scrape(H, port)
    st, r1 = kvtest.post_json(H, port, "/v1/completions", req)
    assert st == 200, r1
    assert r1["usage"] == {"prompt_tokens": 2000, "total_tokens": 2004, "completion_tokens": 4,
                           "prompt_tokens_details": None}, r1["usage"]
    m1 = kvtest.scrape(H, port)
    q = "vllm:prefix_cache_queries_total"
    hits = "vllm:prefix_cache_hits_total"
    assert kvtest.metric(m1, q) - kvtest.metric(m0, q) == 2000
    assert kvtest.metric(m1, hits) - kvtest.metric(m0, hits) == 0
    st, r2 = kvtest.post_json(H, port, "/v1/completions", req)
    assert st == 200
    # (2000 - 1) // 16 = 124 blocks: the last token is always recomputed.
    assert r2["usage"]["prompt_tokens_details"] == {"cached_tokens": 1984}, r2["usage"]
    assert r2["choices"][0]["text"] == r1["choices"][0]["text"]  # same prompt, same seed
    m2 = kvtest.scrape(H, port)
    assert kvtest.metric(m2, q) - kvtest.metric(m1, q) == 2000
    assert kvtest.metric(m2, hits) - kvtest.metric(m1, hits) == 1984
    assert kvtest.metric(m2, "vllm:gpu_prefix_cache_hits_total") == kvtest.metric(m2, hits)
    ok = "vllm:request_success_total"
    assert kvtest.metric(m2, ok, finished_reason="length") - \
        kvtest.metric(m0, ok, finished_reason="length") == 2
    assert kvtest.metric(m2, "vllm:prompt_tokens_total") - \
        kvtest.metric(m0, "vllm:prompt_tokens_total") == 4000
    assert kvtest.metric(m2, "vllm:generation_tokens_total") - \
        kvtest.metric(m0, "vllm:generation_tokens_total") == 8
    assert kvtest.metric(m2, "vllm:time_to_first_token_seconds_count", model_name="m1") - \
        kvtest.metric(m0, "vllm:time_to_first_token_seconds_count", model_name="m1") == 2
    assert kvtest.metric(m2, "vllm:num_requests_running") == 0
    assert kvtest.metric(m2, "vllm:cache_config_info", num_gpu_blocks="132875") == 1.0


def test_shapes(port):
    st, r = kvtest.post_json(H, port, "/v1/completions", {"prompt": "hello", "max_tokens": 3})
    assert st == 200
    assert list(r) == ["id", "object", "created", "model", "choices", "usage",
                       "kv_transfer_params"], list(r)
    assert r["id"].startswith("cmpl-") and len(r["id"]) == 37 and r["object"] == "text_completion"
    assert r["model"] == "m1"  # no model: the first served name
    c = r["choices"][0]
    assert list(c) == ["index", "text", "logprobs", "finish_reason", "stop_reason",
                       "prompt_logprobs"] and c["finish_reason"] == "length"
    assert len(c["text"]) > 0
    chat = {"model": "m2", "messages": [{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": "hi"}], "max_tokens": 2}
    st, r = kvtest.post_json(H, port, "/v1/chat/completions", chat)
    assert st == 200, r
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    assert r["model"] == "m2"
    assert list(r) == ["id", "object", "created", "model", "choices", "usage", "prompt_logprobs",
                       "kv_transfer_params"], list(r)
    msg = r["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["tool_calls"] == [] and msg["reasoning_content"] is None
    assert r["usage"]["completion_tokens"] == 2
    # Completions stream: one chunk per token, usage null, then [DONE].
    st, h, ev = kvtest.sse(H, port, "/v1/completions",
                           {"prompt": "stream me", "max_tokens": 3, "stream": True})
    assert st == 200 and h["content-type"].startswith("text/event-stream")
    assert ev[-1] == "[DONE]" and len(ev) == 4, ev
    chunks = [json.loads(e) for e in ev[:-1]]
    assert all(c["object"] == "text_completion" and c["usage"] is None for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "length"]
    # Chat stream with include_usage: role chunk, 3 content chunks, usage chunk, [DONE].
    st, h, ev = kvtest.sse(H, port, "/v1/chat/completions",
                           dict(chat, max_tokens=3, stream=True,
                                stream_options={"include_usage": True}))
    assert st == 200 and ev[-1] == "[DONE]" and len(ev) == 6, ev
    chunks = [json.loads(e) for e in ev[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "usage" not in chunks[1] and chunks[1]["object"] == "chat.completion.chunk"
    assert chunks[3]["choices"][0]["finish_reason"] == "length"
    assert chunks[3]["choices"][0]["stop_reason"] is None
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["completion_tokens"] == 3
    # Same prompt as the request before: its full blocks but the last token's hit.
    n = chunks[4]["usage"]["prompt_tokens"]
    assert chunks[4]["usage"]["prompt_tokens_details"] == {"cached_tokens": (n - 1) // 16 * 16}
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks[:4])
    st, r = kvtest.post_json(H, port, "/v1/chat/completions", dict(chat, max_tokens=3))
    assert r["choices"][0]["message"]["content"] == text  # same prompt: same deterministic text


def test_errors(port):
    p = "/v1/completions"
    st, b = kvtest.post_json(H, port, p, {"model": "nope", "prompt": "x"})
    assert check_error(st, b, 404, "NotFoundError") == "The model `nope` does not exist."
    st, b = kvtest.post_json(H, port, p, '{"prompt": "x",')
    check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, p, {"model": "m1"})
    check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, "/v1/chat/completions", {"model": "m1"})
    check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, p, {"prompt": "x", "max_tokens": "lots"})
    assert "max_tokens" in check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, p, {"prompt": 5})
    check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, p, {"prompt": "x", "max_tokens": 0})
    check_error(st, b, 400, "BadRequestError")
    st, b = kvtest.post_json(H, port, p, {"prompt": text_of(20000, 2)})  # 5,000 tokens
    assert check_error(st, b, 400, "BadRequestError") == (
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
        "in the messages, Please reduce the length of the messages.")
    st, b = kvtest.post_json(H, port, p, {"prompt": text_of(16000, 2), "max_tokens": 200})
    assert check_error(st, b, 400, "BadRequestError") == (
        "This model's maximum context length is 4096 tokens. However, you requested 4200 tokens "
        "(4000 in the messages, 200 in the completion). Please reduce the length of the messages "
        "or completion.")
    st, b = kvtest.post_json(H, port, p, {"prompt": [1, 2, 999999]})
    assert check_error(st, b, 400, "BadRequestError") == "Token id 999999 is out of vocabulary"
    st, _, body = kvtest.request(H, port, "GET", "/nope")
    assert st == 404
    st, _, body = kvtest.request(H, port, "GET", "/v1/completions")
    assert st == 405


def test_misc_routes(port):
    st, _, body = kvtest.request(H, port, "GET", "/health")
    assert st == 200 and body == b""
    assert kvtest.request(H, port, "GET", "/ping")[0] == 200
    assert kvtest.request(H, port, "POST", "/ping", "")[0] == 200
    st, body = kvtest.get(H, port, "/version")
    assert json.loads(body) == {"version": "0.10.0"}
    st, body = kvtest.get(H, port, "/v1/models")
    models = json.loads(body)
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["m1", "m2"]
    m = models["data"][0]
    assert m["owned_by"] == "vllm" and m["max_model_len"] == 4096 and m["parent"] is None
    assert m["root"] == "meta-llama/Llama-3.2-1B-Instruct"


def test_disconnect_and_sigterm():
    port = kvtest.free_port()
    p = start(port, "--time-scale", "1")
    # A streaming client that goes away: its request is aborted and its blocks freed.
    s = socket.create_connection((H, port))
    body = json.dumps({"prompt": text_of(400, 3), "max_tokens": 3000, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    got = bytearray()

    def first_chunk():
        got.extend(s.recv(4096))
        return b"data: " in got
    kvtest.wait_until(first_chunk, what="first chunk")
    kvtest.wait_until(lambda: kvtest.metric(kvtest.scrape(H, port),
                                            "vllm:num_requests_running") == 1, what="running")
    s.close()
    kvtest.wait_until(lambda: kvtest.metric(kvtest.scrape(H, port),
                                            "vllm:num_requests_running") == 0,
                      timeout=3, what="abort after disconnect")
    usage = kvtest.metric(kvtest.scrape(H, port), "vllm:kv_cache_usage_perc")
    assert usage == 1.0 - 132874 / 132875, usage  # only the null block is "used"
    # SIGTERM with a request in flight: it completes, then kvsim exits 0.
    result = {}

    def client():
        result["r"] = kvtest.post_json(H, port, "/v1/completions",
                                       {"prompt": "finish me", "max_tokens": 100})
    t = threading.Thread(target=client)
    t.start()
    kvtest.wait_until(lambda: kvtest.metric(kvtest.scrape(H, port),
                                            "vllm:num_requests_running") == 1, what="in flight")
    p.signal(signal.SIGTERM)
    t.join(10)
    st, r = result["r"]
    assert st == 200 and r["usage"]["completion_tokens"] == 100, r
    assert p.wait(10) == 0, p.output()
    assert "non-default args: {'host': '127.0.0.1', 'port': %d, 'served_model_name': ['m1', " \
        "'m2'], 'max_model_len': 4096, 'enable_prompt_tokens_details': True}" % port in p.output()


def main():
    if not os.path.exists(KVSIM) and not os.path.exists("src/http/server.c"):
        print("test_kvsim: skipped, kvsim is not built until src/http/server.c lands")
        return
    port = kvtest.free_port()
    p = start(port, "--time-scale", "1000")
    test_prefix_cache(port)
    test_shapes(port)
    test_errors(port)
    test_misc_routes(port)
    p.signal(signal.SIGTERM)
    assert p.wait(10) == 0
    test_disconnect_and_sigterm()
    print("test_kvsim: 5 passed, 0 failed")


if __name__ == "__main__":
    main()
