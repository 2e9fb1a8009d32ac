#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/integration/test_kvroute_headers.py - the backend's response headers reach the client:
# kvroute in front of a stand-in backend (python, HTTP/1.1 keep-alive) that answers with
# end-to-end headers (x-request-id, a custom one) beside hop-by-hop ones and a spoofed
# x-kvroute-backend. Whole and streamed answers must carry the end-to-end ones once, unchanged,
# and none of the others: the router's own Server, Date, framing and x-kvroute-* stand.
# Usage: test_kvroute_headers.py BUILD_DIR
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvtest  # noqa: E402

H = "127.0.0.1"
BUILD = kvtest.build_dir()
KVROUTE = os.path.join(BUILD, "src", "router", "kvroute")
BODY = json.dumps({"id": "cmpl-1", "object": "text_completion", "model": "m",
                   "choices": [{"index": 0, "text": " Paris", "finish_reason": "length"}]})


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body, ctype="application/json", extra=()):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self.reply(json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}))
        else:
            self.reply("" if self.path == "/metrics" else "ok", "text/plain")

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        extra = [("X-Request-Id", self.headers.get("X-Request-Id", "none")),
                 ("X-Backend-Note", "kept as is"), ("Keep-Alive", "timeout=5"),
                 ("Connection", "keep-alive, X-Hop-Only"), ("X-Hop-Only", "1"),
                 ("Proxy-Authenticate", "Basic"), ("X-Kvroute-Backend", "spoofed")]
        if not req.get("stream"):
            self.reply(BODY, extra=extra)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        for event in ("data: %s\n\n" % BODY, "data: [DONE]\n\n"):
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")


def check(headers, rid, what):
    assert headers.get("x-request-id") == rid, (what, headers)
    assert headers.get("x-backend-note") == "kept as is", (what, headers)
    assert headers.get("server") == "kvroute", (what, headers)
    for name in ("keep-alive", "x-hop-only", "proxy-authenticate"):
        assert name not in headers, (what, name, headers)
    assert headers.get("x-kvroute-backend") == NAME, (what, headers)


def raw_head(port, body):
    """The response head as the router wrote it, to count repeated lines."""
    import socket
    s = socket.create_connection((H, port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-Request-Id: raw-1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
              % (len(data), data))
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.split(b"\r\n\r\n")[0].decode().lower().split("\r\n")


def main():
    global NAME
    bport = kvtest.free_port()
    srv = http.server.ThreadingHTTPServer((H, bport), Backend)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    NAME = "%s:%d" % (H, bport)
    rport = kvtest.free_port()
    router = kvtest.Proc([KVROUTE, "--host", H, "--port", str(rport), "--backend",
                          "http://" + NAME, "--log-level", "warning"])
    kvtest.wait_http(H, rport, proc=router)
    kvtest.wait_until(lambda: kvtest.request(H, rport, "POST", "/v1/completions",
                                             {"model": "m", "prompt": "x"})[0] == 200,
                      what="backend routable")

    status, headers, body = kvtest.request(H, rport, "POST", "/v1/completions",
                                           {"model": "m", "prompt": "hi"},
                                           headers={"X-Request-Id": "req-42"})
    assert status == 200 and body.decode() == BODY, (status, body)
    check(headers, "req-42", "whole")
    print("ok   whole answer: x-request-id and a custom header forwarded; keep-alive, a header "
          "the Connection header names, proxy-authenticate and a spoofed x-kvroute-backend not")

    status, headers, body = kvtest.request(H, rport, "POST", "/v1/completions",
                                           {"model": "m", "prompt": "hi", "stream": True},
                                           headers={"X-Request-Id": "req-43"})
    assert status == 200 and headers.get("transfer-encoding") == "chunked", (status, headers)
    assert body.decode() == "data: %s\n\ndata: [DONE]\n\n" % BODY, body
    check(headers, "req-43", "streamed")
    print("ok   streamed answer: the same headers, body byte for byte")

    lines = raw_head(rport, {"model": "m", "prompt": "hi"})
    for name in ("server:", "date:", "content-type:", "content-length:", "x-request-id:",
                 "x-kvroute-backend:"):
        n = sum(1 for ln in lines if ln.startswith(name))
        assert n == 1, (name, n, lines)
    print("ok   each header once in the raw head")

    router.signal(15)
    assert router.wait(10) == 0
    srv.shutdown()
    print("test_kvroute_headers: all passed")


if __name__ == "__main__":
    main()
