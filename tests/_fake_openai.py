"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for the OpenAI-backend tests.

It speaks just enough of the protocol (POST /v1/chat/completions) for the
`openai` client, and answers each request as a script decides: a good or a
wrong completion, an HTTP error with headers (429 + Retry-After), a slow
reply past the client's timeout, or a body that is not JSON. Every request is
logged with what was answered, so a test can compare the server's log with
the cache.

    def script(request: dict, n: int) -> Reply:      # n: 1-based count of requests for this post text
        return completion_reply("<think>...</think><answer>red circle</answer>")
    with ScriptedChatServer(script) as server:
        backend = OpenAIBackend(model="gpt-4o", base_url=server.url, api_key="test")
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (past the client's timeout = a timeout)
    kind: str = "ok"  # what the log says was answered


def completion_reply(content: str, prompt_tokens: int = 100, completion_tokens: int = 50, delay_s: float = 0.0,
                     kind: str = "ok") -> Reply:
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"}, delay_s, kind)


def error_reply(status: int, message: str = "error", headers: dict | None = None, kind: str | None = None) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "scripted", "code": status}}).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})}, 0.0, kind or f"http-{status}")


def garbage_reply() -> Reply:
    return Reply(200, b'{"id": "chatcmpl-test", "choices": [{"mess', {"content-type": "application/json"}, 0.0,
                 "garbage")


def post_text_of(request: dict) -> str:
    """The post text inside the teacher prompt of a chat-completions request."""
    for msg in request.get("messages", []):
        if msg.get("role") != "user":
            continue
        parts = msg["content"] if isinstance(msg["content"], list) else [{"type": "text", "text": msg["content"]}]
        for part in parts:
            text = part.get("text", "")
            if "Post text:\n" in text:
                return text.split("Post text:\n", 1)[1].split("\n\nIts keyphrases", 1)[0]
    return ""


class ScriptedChatServer:
    """ThreadingHTTPServer on 127.0.0.1 (a free port) answering POST .../chat/completions by `script`."""

    def __init__(self, script: Callable[[dict, int], Reply]):
        self.script = script
        self.log: list[dict] = []  # one entry per request: post text, n, kind, status, has_image
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                # Headers and body go out as two writes: without NODELAY, Nagle + delayed ACK add 40 ms each.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                text = post_text_of(request)
                with server._lock:
                    server._counts[text] += 1
                    n = server._counts[text]
                reply = server.script(request, n)
                has_image = any(p.get("type") == "image_url" and
                                p["image_url"]["url"].startswith("data:image/")
                                for m in request.get("messages", []) if isinstance(m.get("content"), list)
                                for p in m["content"])
                with server._lock:
                    server.log.append({"text": text, "n": n, "kind": reply.kind, "status": reply.status,
                                       "has_image": has_image, "model": request.get("model"),
                                       "t": time.monotonic()})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def requests_for(self, text: str) -> list[dict]:
        with self._lock:
            return [e for e in self.log if e["text"] == text]

    def start(self) -> "ScriptedChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "ScriptedChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
