"""Loopback HTTP servers that behave like the vendors' robots (REFERENCE.md §2).

They check what the real API checks (JSON shape, byte limits, the key), answer errors inside
HTTP 200 bodies, rate-limit after 20 messages a minute, and can hang to force timeouts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class WeComBehaviour:
    key: str = "test-key-0123456789abcdef"
    rate_per_minute: int = 20
    force: list[dict[str, Any]] = field(default_factory=list)  # answers to give, in order
    hang_seconds: float = 0.0
    status: int = 200


class WeComServer:
    """Like qyapi.weixin.qq.com/cgi-bin/webhook/send."""

    def __init__(self) -> None:
        self.behaviour = WeComBehaviour()
        self.received: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, answer = outer.answer(self.path, raw)
                if outer.behaviour.hang_seconds:
                    time.sleep(outer.behaviour.hang_seconds)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/cgi-bin/webhook/send?key={self.behaviour.key}"

    def answer(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        b = self.behaviour
        q = parse_qs(urlsplit(path).query)
        with self.lock:
            if b.force:
                forced = b.force.pop(0)
                status = int(forced.pop("_status", 200))
                return status, forced
            if q.get("key") != [b.key]:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            try:
                body = json.loads(raw)
            except ValueError:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            kind = body.get("msgtype")
            if kind in ("text", "markdown"):
                content = body.get(kind, {}).get("content")
                if not isinstance(content, str) or not content:
                    return 200, {"errcode": 44004, "errmsg": "empty content"}
                limit = 2048 if kind == "text" else 4096
                if len(content.encode("utf-8")) > limit:
                    return 200, {"errcode": 45002, "errmsg": "content exceed max length"}
            elif kind == "news":
                articles = body.get("news", {}).get("articles")
                if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
                    return 200, {"errcode": 40008, "errmsg": "invalid articles"}
                for a in articles:
                    if not a.get("title") or not a.get("url"):
                        return 200, {"errcode": 40058, "errmsg": "title/url required"}
                    if (
                        len(a["title"].encode()) > 128
                        or len(a.get("description", "").encode()) > 512
                    ):
                        return 200, {"errcode": 45002, "errmsg": "exceed max length"}
            else:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            now = time.monotonic()
            recent = [t for t in self.times if now - t < 60]
            if len(recent) >= b.rate_per_minute:
                return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
            self.times.append(now)
            self.received.append(body)
            return b.status, {"errcode": 0, "errmsg": "ok"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll in a test (never in the core) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
