"""Loopback HTTP servers that behave like the vendors' robots (REFERENCE.md §2).

They check what the real APIs check (JSON shape, byte limits, the key or token, signatures,
keywords), answer errors inside HTTP 200 bodies, rate-limit on their own clock (20 a minute; 5 a
second and 100 a minute for Feishu; DingTalk then blocks for 10 minutes), and can be told to
hang or to give forced answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, Any]]


@dataclass
class Behaviour:
    key: str = "test-key-0123456789abcdef"  # WeCom key / DingTalk token / Feishu hook token
    secret: str | None = None  # signing secret, when the robot has signing on
    keywords: tuple[str, ...] = ()  # when the robot has keywords on
    rate_per_minute: int = 20
    rate_per_second: int | None = None
    force: list[dict[str, Any]] = field(default_factory=list)  # answers to give, in order
    hang_seconds: float = 0.0
    status: int = 200
    # simulated network delay before the vendor stamps the request's arrival (seconds, from
    # and to): windows are enforced by arrival, as a vendor behind real networks does
    jitter: tuple[float, float] = (0.0, 0.0)


class FakeVendor:
    """One robot endpoint. ``now`` is the vendor's clock (tests share their manual clock)."""

    path = "/"

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.behaviour = Behaviour()
        self.now = now or time.time
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []
        self.rate_limited = 0  # how often the vendor had to refuse for speed
        self.hanging = 0  # requests it is holding without an answer
        self.blocked_until = 0.0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # one segment per answer, sent at once (else Nagle + delayed ACK add 40 ms each)
            wbufsize = -1
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                low, high = outer.behaviour.jitter
                if high:
                    time.sleep(random.uniform(low, high))
                with outer.lock:
                    status, answer = outer.answer(self.path, dict(self.headers), raw)
                if outer.behaviour.hang_seconds:
                    outer.hanging += 1
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
        default = self.httpd.handle_error

        def handle_error(request: Any, address: Any) -> None:
            # a sender killed mid-request (the chaos and soak tests) is no error of the fake
            if not isinstance(sys.exc_info()[1], ConnectionError):
                default(request, address)

        self.httpd.handle_error = handle_error  # type: ignore[method-assign]
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        if self.behaviour.force:
            forced = dict(self.behaviour.force.pop(0))
            return int(forced.pop("_status", 200)), forced
        return self.handle(path, headers, raw)

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        raise NotImplementedError

    def over_rate(self) -> bool:
        """Count this request against the robot's limits; True when it exceeds one."""
        b = self.behaviour
        now = self.now()
        recent = [t for t in self.times if now - t < 60]
        if len(recent) >= b.rate_per_minute:
            return True
        per_second = b.rate_per_second
        if per_second is not None and len([t for t in self.times if now - t < 1]) >= per_second:
            return True
        self.times.append(now)
        return False

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _text_fields(body: dict[str, Any]) -> str:
    """All human-visible text of a message, for the keyword check."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k not in (
                    "url",
                    "href",
                    "picurl",
                    "picUrl",
                    "messageUrl",
                    "singleURL",
                    "msgtype",
                    "msg_type",
                    "tag",
                    "template",
                    "sign",
                    "timestamp",
                ):
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(body)
    return "\n".join(out)


class WeComServer(FakeVendor):
    """Like qyapi.weixin.qq.com/cgi-bin/webhook/send."""

    @property
    def url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={self.behaviour.key}"

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        q = parse_qs(urlsplit(path).query)
        if q.get("key") != [self.behaviour.key]:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        kind = body.get("msgtype")
        if kind in ("text", "markdown", "markdown_v2"):
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
                if len(a["title"].encode()) > 128 or len(a.get("description", "").encode()) > 512:
                    return 200, {"errcode": 45002, "errmsg": "exceed max length"}
        elif kind == "template_card":
            card = body.get("template_card", {})
            if card.get("card_type") != "text_notice" or not card.get("card_action"):
                return 200, {"errcode": 40058, "errmsg": "invalid template_card"}
        else:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if self.over_rate():
            self.rate_limited += 1
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        self.received.append(body)
        self.headers.append(headers)
        return self.behaviour.status, {"errcode": 0, "errmsg": "ok"}


class DingTalkServer(FakeVendor):
    """Like oapi.dingtalk.com/robot/send: signing, keywords, 20 a minute then 10 minutes off."""

    @property
    def url(self) -> str:
        return f"{self.base}/robot/send?access_token={self.behaviour.key}"

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        b = self.behaviour
        q = parse_qs(urlsplit(path).query)
        if q.get("access_token") != [b.key]:
            return 200, {"errcode": 300005, "errmsg": "token is not exist"}
        now = self.now()
        if b.secret is not None:
            ts, sign = q.get("timestamp", [""])[0], q.get("sign", [""])[0]
            if not ts.isdigit() or abs(now * 1000 - int(ts)) > 3600_000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            mac = hmac.new(b.secret.encode(), f"{ts}\n{b.secret}".encode(), hashlib.sha256)
            if sign != base64.b64encode(mac.digest()).decode():  # parse_qs decoded it once
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 200, {"errcode": 40035, "errmsg": "invalid json"}
        kind = body.get("msgtype")
        shapes = {
            "text": ("content",),
            "markdown": ("title", "text"),
            "link": ("title", "text", "messageUrl"),
            "actionCard": ("title", "text"),
        }
        if kind not in shapes or any(not body.get(kind, {}).get(f) for f in shapes[kind]):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 json"}
        if len(raw) > 20000:
            return 200, {"errcode": 460101, "errmsg": "message too long"}
        if b.keywords and not any(k in _text_fields(body) for k in b.keywords):
            return 200, {"errcode": 310000, "errmsg": "keywords not in content"}
        if now < self.blocked_until:
            self.rate_limited += 1
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        if self.over_rate():
            self.rate_limited += 1
            self.blocked_until = now + 600
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        self.received.append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}


class FeishuServer(FakeVendor):
    """Like open.feishu.cn/open-apis/bot/v2/hook/TOKEN: 5 a second, 100 a minute, 20 KB."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        super().__init__(now)
        self.behaviour.rate_per_minute = 100
        self.behaviour.rate_per_second = 5

    @property
    def url(self) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{self.behaviour.key}"

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        b = self.behaviour
        if urlsplit(path).path.rsplit("/", 1)[-1] != b.key:
            return 404, {"code": 19001, "msg": "param invalid: incoming webhook access token"}
        if len(raw) > 20 * 1024:
            return 400, {"code": 9499, "msg": "request body too large"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"code": 9499, "msg": "Bad Request"}
        if b.secret is not None:
            ts, sign = str(body.get("timestamp", "")), body.get("sign", "")
            if not ts.isdigit() or abs(self.now() - int(ts)) > 3600:
                return 200, {"code": 19021, "msg": "timestamp is not within one hour"}
            mac = hmac.new(f"{ts}\n{b.secret}".encode(), b"", hashlib.sha256).digest()
            if sign != base64.b64encode(mac).decode():
                return 200, {"code": 19021, "msg": "sign match fail"}
        kind = body.get("msg_type")
        ok = (
            (kind == "text" and body.get("content", {}).get("text"))
            or (kind == "post" and body.get("content", {}).get("post", {}).get("zh_cn"))
            or (kind == "interactive" and body.get("card", {}).get("elements"))
        )
        if not ok:
            return 400, {"code": 9499, "msg": "Bad Request"}
        if b.keywords and not any(k in _text_fields(body) for k in b.keywords):
            return 200, {"code": 19024, "msg": "Key Words Not Found"}
        if self.over_rate():
            self.rate_limited += 1
            return 200, {"code": 11232, "msg": "frequency limited psm"}
        self.received.append(body)
        return 200, {"code": 0, "msg": "success", "data": {}}


class StandardReceiver(FakeVendor):
    """A receiver of Standard Webhooks: verifies with the reference ``standardwebhooks``
    package, and counts deliveries by ``webhook-id`` (its idempotency key)."""

    def __init__(
        self, secret: str, hub_secret: str | None = None, now: Callable[[], float] | None = None
    ) -> None:
        super().__init__(now)
        self.secret = secret
        self.hub_secret = hub_secret
        self.by_id: dict[str, int] = {}
        self.attempt_ids: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/disclosure"

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        self.attempt_ids.append(lower.get("webhook-id", ""))  # every attempt, forced or not
        return super().answer(path, headers, raw)

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = Webhook(self.secret).verify(raw, lower)
        except WebhookVerificationError as exc:
            return 401, {"error": str(exc)}
        if self.hub_secret is not None:
            want = "sha256=" + hmac.new(self.hub_secret.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, lower.get("x-hub-signature-256", "")):
                return 401, {"error": "bad X-Hub-Signature-256"}
        msg_id = lower["webhook-id"]
        self.by_id[msg_id] = self.by_id.get(msg_id, 0) + 1
        if self.by_id[msg_id] == 1:
            self.received.append(body)
        return self.behaviour.status, {"ok": True}


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
