"""Loopback servers that behave like WeChat's official publishing APIs (REFERENCE.md §6).

``MpServer`` is a 公众号: stable_token (the same token until 5 minutes before it expires,
old and new both valid those 5 minutes, forced refreshes rationed), cover and body image
uploads, draft/add with the documented field limits, freepublish/submit → a task that stays
发布中 for ``publish_delay`` seconds of the vendor's clock and then ends as scripted,
freepublish/get and /delete, daily quotas that start again at midnight China time (45009
past them), 48001 for an unverified account, 40164 for a caller not whitelisted.

``WeComAppServer`` is a 企业微信 app: gettoken (tokens expire, and can be invalidated early:
40014/42001), message/send with recipients checked (invaliduser, 81013), the duplicate check,
per-member limits that drop the excess *silently* as the vendor does (counted here in
``dropped``), and message/recall inside 24 hours.

Both errors are inside HTTP 200 bodies; ``force`` queues answers to give instead.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

TZ = ZoneInfo("Asia/Shanghai")
Answer = dict[str, Any]

# the code this fake gives a recall past its window: the real API's code for it is not in
# the reference, so the channel must treat any refusal the same way
RECALL_TOO_LATE = 40099


def _multipart(headers: dict[str, str], raw: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by name (enough for an upload)."""
    m = re.search(r"boundary=\"?([^\";]+)", headers.get("Content-Type", ""))
    if not m:
        return {}
    out: dict[str, bytes] = {}
    for part in raw.split(b"--" + m[1].encode())[1:]:
        head, _, body = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if name:
            out[name[1].decode()] = body.removesuffix(b"\r\n")
    return out


class _Server:
    """An HTTP server on a free loopback port calling ``route(method, path, query, headers,
    raw)`` under one lock; ``now`` is the vendor's clock (tests share their manual clock)."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.now = now or time.time
        self.lock = threading.Lock()
        self.force: list[Answer] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (path, body or query)
        self.quota_refusals = 0
        self.jitter: tuple[float, float] = (0.0, 0.0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if outer.jitter[1]:  # network delay before the vendor stamps the arrival
                    time.sleep(random.uniform(*outer.jitter))
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with outer.lock:
                    answer = outer.route(method, url.path, query, dict(self.headers), raw)
                data = json.dumps(answer, ensure_ascii=False).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def day(self) -> str:
        return datetime.fromtimestamp(self.now(), TZ).date().isoformat()

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> Answer:
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Token:
    value: str
    expires: float


@dataclass
class Task:
    publish_id: str
    media_id: str
    done_at: float
    status: int  # the status it ends with
    article_id: str = ""


class MpServer(_Server):
    """A 公众号 (Official Account) as the API shows it."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        super().__init__(now)
        self.appid = "wx0123456789abcdef"
        self.secret = "mp-secret-0123456789abcdef"
        self.verified = True
        self.whitelisted = True
        self.token_ttl = 7200.0
        self.publish_delay = 30.0
        self.outcomes: list[int] = []  # statuses the next tasks end with (default 0)
        self.quota = {"draft": 1000, "submit": 100, "get": 100, "delete": 10, "force": 20}
        self.used: dict[tuple[str, str], int] = {}
        self.tokens: list[Token] = []
        self.issued = 0
        self.materials: dict[str, bytes] = {}
        self.images: dict[str, bytes] = {}
        self.drafts: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, Task] = {}
        self.articles: dict[str, dict[str, Any]] = {}  # article_id → {url, title, deleted}
        self.stripped = 0  # external images WeChat would have removed
        self.callback: tuple[str, str] | None = None  # (url, token) for PUBLISHJOBFINISH
        self.events_sent: set[str] = set()

    # ---------------------------------------------------------------- helpers

    def _count(self, what: str) -> bool:
        key = (what, self.day())
        if self.used.get(key, 0) >= self.quota[what]:
            self.quota_refusals += 1
            return False
        self.used[key] = self.used.get(key, 0) + 1
        return True

    def _token_ok(self, query: dict[str, str]) -> Answer | None:
        token = query.get("access_token", "")
        now = self.now()
        for t in self.tokens:
            if t.value == token:
                return None if now < t.expires else {"errcode": 42001, "errmsg": "expired"}
        return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}

    def expire_tokens(self) -> None:
        """Every token stops working now (the platform may invalidate them early)."""
        for t in self.tokens:
            t.expires = min(t.expires, self.now())

    def _stable_token(self, body: dict[str, Any]) -> Answer:
        if body.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if body.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        now = self.now()
        live = [t for t in self.tokens if t.expires > now]
        newest = max(live, key=lambda t: t.expires, default=None)
        if body.get("force_refresh"):
            if not self._count("force"):
                return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
            for t in live:  # the old ones keep working 5 minutes
                t.expires = min(t.expires, now + 300)
            newest = None
        elif newest is not None and newest.expires - now <= 300:
            newest = None  # inside the last 5 minutes: a new one, the old still valid
        if newest is None:
            self.issued += 1
            newest = Token(f"mp-token-{self.issued:04d}-" + "x" * 20, now + self.token_ttl)
            self.tokens.append(newest)
        return {"access_token": newest.value, "expires_in": int(newest.expires - now)}

    # ---------------------------------------------------------------- the API

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> Answer:
        body: dict[str, Any] = {}
        if headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw or b"{}")
        self.calls.append((path, body or query))
        if not self.whitelisted:
            return {"errcode": 40164, "errmsg": "invalid ip 203.0.113.9, not in whitelist"}
        if path == "/cgi-bin/stable_token":
            return self._stable_token(body)
        bad = self._token_ok(query)
        if bad:
            return bad
        if self.force:
            return self.force.pop(0)
        if not self.verified and path.startswith(("/cgi-bin/draft", "/cgi-bin/freepublish")):
            return {"errcode": 48001, "errmsg": "api unauthorized"}
        handler = {
            "/cgi-bin/material/add_material": self._material,
            "/cgi-bin/media/uploadimg": self._uploadimg,
            "/cgi-bin/draft/add": self._draft_add,
            "/cgi-bin/draft/delete": self._draft_delete,
            "/cgi-bin/freepublish/submit": self._submit,
            "/cgi-bin/freepublish/get": self._get,
            "/cgi-bin/freepublish/delete": self._delete,
        }.get(path)
        if handler is None:
            return {"errcode": 40066, "errmsg": "invalid url"}
        return handler(query, headers, raw, body)

    def _material(self, query: dict[str, str], headers: Any, raw: bytes, body: Any) -> Answer:
        media = _multipart(headers, raw).get("media")
        if query.get("type") not in ("image", "thumb") or not media:
            return {"errcode": 40004, "errmsg": "invalid media type"}
        if not media.startswith((b"\x89PNG", b"\xff\xd8")):
            return {"errcode": 40113, "errmsg": "unsupported file type"}
        media_id = "cover-" + hashlib.sha256(media).hexdigest()[:12] + f"-{len(self.materials)}"
        self.materials[media_id] = media
        return {"media_id": media_id, "url": f"http://mmbiz.qpic.cn/{media_id}"}

    def _uploadimg(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        media = _multipart(headers, raw).get("media")
        if not media:
            return {"errcode": 41005, "errmsg": "media data missing"}
        if len(media) >= 1_000_000:
            return {"errcode": 40009, "errmsg": "invalid image size"}
        url = "http://mmbiz.qpic.cn/mmbiz_png/" + hashlib.sha256(media).hexdigest()[:16]
        self.images[url] = media
        return {"url": url}

    def _draft_add(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        if not self._count("draft"):
            return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
        articles = body.get("articles") or []
        if not articles:
            return {"errcode": 44003, "errmsg": "empty news data"}
        for a in articles:
            if len(a.get("title", "")) > 32:
                return {"errcode": 45003, "errmsg": "title size out of limit"}
            if len(a.get("author", "")) > 16:
                return {"errcode": 45110, "errmsg": "author size out of limit"}
            if len(a.get("digest", "")) > 128:
                return {"errcode": 45004, "errmsg": "description size out of limit"}
            content = a.get("content", "")
            if not content or len(content) >= 20000 or len(content.encode()) >= 1_000_000:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
            if a.get("thumb_media_id") not in self.materials:
                return {"errcode": 40007, "errmsg": "invalid media_id"}
            for src in re.findall(r'<img[^>]*src="([^"]*)"', content):
                if src not in self.images:
                    self.stripped += 1  # WeChat removes it from the article
        media_id = f"draft-{len(self.drafts) + 1:05d}"
        self.drafts[media_id] = {"articles": articles}
        return {"media_id": media_id}

    def _draft_delete(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        if self.drafts.pop(body.get("media_id", ""), None) is None:
            return {"errcode": 40007, "errmsg": "invalid media_id"}
        return {"errcode": 0, "errmsg": "ok"}

    def _submit(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        if body.get("media_id") not in self.drafts:
            return {"errcode": 40007, "errmsg": "invalid media_id"}
        if not self._count("submit"):
            return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
        publish_id = str(2247500000 + len(self.tasks))
        status = self.outcomes.pop(0) if self.outcomes else 0
        self.tasks[publish_id] = Task(
            publish_id, body["media_id"], self.now() + self.publish_delay, status
        )
        return {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": 1}

    def _finish(self, task: Task) -> None:
        if task.status == 0 and not task.article_id:
            task.article_id = f"art-{task.publish_id}"
            title = self.drafts[task.media_id]["articles"][0]["title"]
            self.articles[task.article_id] = {
                "url": f"https://mp.weixin.qq.com/s/{task.article_id}",
                "title": title,
                "deleted": False,
                "draft": self.drafts[task.media_id]["articles"][0],
            }

    def _get(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        task = self.tasks.get(str(body.get("publish_id", "")))
        if task is None:
            return {"errcode": 48004, "errmsg": "invalid publish_id"}
        if not self._count("get"):
            return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
        return self.status_of(task)

    def status_of(self, task: Task) -> Answer:
        if self.now() < task.done_at:
            return {"publish_id": task.publish_id, "publish_status": 1}
        self._finish(task)
        out: Answer = {"publish_id": task.publish_id, "publish_status": task.status}
        if task.status == 0:
            out["article_id"] = task.article_id
            out["article_detail"] = {
                "count": 1,
                "item": [{"idx": 1, "article_url": self.articles[task.article_id]["url"]}],
            }
        elif task.status in (2, 4):
            out["fail_idx"] = [1]
        return out

    def _delete(self, query: Any, headers: Any, raw: bytes, body: Any) -> Answer:
        article = self.articles.get(str(body.get("article_id", "")))
        if article is None or article["deleted"]:
            return {"errcode": 40007, "errmsg": "invalid article_id"}
        if not self._count("delete"):
            return {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
        article["deleted"] = True
        return {"errcode": 0, "errmsg": "ok"}

    def published(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.articles.values() if not a["deleted"]]

    def fire_events(self, post: Callable[..., Any] = httpx.post) -> int:
        """POST a PUBLISHJOBFINISH event for every task that ended (to ``callback``, with
        ``post``: httpx's, or a test client's)."""
        if self.callback is None:
            return 0
        url, token = self.callback
        sent = 0
        with self.lock:
            due = [
                t
                for t in self.tasks.values()
                if t.publish_id not in self.events_sent and self.now() >= t.done_at
            ]
            for t in due:
                self._finish(t)
        for t in due:
            ts, nonce = str(int(self.now())), "nonce123"
            sig = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
            art = ""
            if t.status == 0:
                art = (
                    f"<article_id><![CDATA[{t.article_id}]]></article_id><article_detail>"
                    f"<count>1</count><item><idx>1</idx><article_url><![CDATA["
                    f"{self.articles[t.article_id]['url']}]]></article_url></item>"
                    "</article_detail>"
                )
            xml = (
                f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA["
                f"oTest]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA["
                f"event]]></MsgType><Event><![CDATA[PUBLISHJOBFINISH]]></Event>"
                f"<PublishEventInfo><publish_id>{t.publish_id}</publish_id><publish_status>"
                f"{t.status}</publish_status>{art}</PublishEventInfo></xml>"
            )
            r = post(
                url,
                params={"signature": sig, "timestamp": ts, "nonce": nonce},
                content=xml.encode(),
                headers={"Content-Type": "text/xml"},
            )
            if r.status_code == 200:
                self.events_sent.add(t.publish_id)
                sent += 1
        return sent


@dataclass
class AppMessage:
    msgid: str
    at: float
    body: dict[str, Any]
    recipients: list[str]
    recalled: bool = False


@dataclass
class WeComAppServer(_Server):
    """A 企业微信 self-built app as the API shows it."""

    members: tuple[str, ...] = ("zhangsan", "lisi", "wangwu")
    parties: tuple[str, ...] = ("1", "2")
    corpid: str = "ww0123456789abcdef"
    corpsecret: str = "app-secret-0123456789abcdefghijkl"
    agentid: int = 1000002
    now_fn: Callable[[], float] | None = None
    token_ttl: float = 7200.0
    trusted_ip: bool = True
    per_minute: int = 30
    per_hour: int = 1000
    messages: list[AppMessage] = field(default_factory=list)
    dropped: int = 0  # messages a member did not get for speed (the vendor says nothing)
    duplicates: int = 0
    tokens: list[Token] = field(default_factory=list)
    issued: int = 0

    def __post_init__(self) -> None:
        _Server.__init__(self, self.now_fn)
        self.member_log: dict[str, list[float]] = {}

    def invalidate_tokens(self) -> None:
        self.tokens.clear()

    def _token_ok(self, query: dict[str, str]) -> Answer | None:
        token = query.get("access_token", "")
        for t in self.tokens:
            if t.value == token:
                return None if self.now() < t.expires else {"errcode": 42001, "errmsg": "expired"}
        return {"errcode": 40014, "errmsg": "invalid access_token"}

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> Answer:
        body = json.loads(raw or b"{}") if method == "POST" else {}
        self.calls.append((path, body or {k: v for k, v in query.items() if "secret" not in k}))
        if not self.trusted_ip:
            return {"errcode": 60020, "errmsg": "not allow to access from your ip"}
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.corpid:
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            if query.get("corpsecret") != self.corpsecret:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            live = [t for t in self.tokens if t.expires > self.now()]
            if not live:
                self.issued += 1
                live = [Token(f"app-token-{self.issued:04d}-" + "y" * 20, self.now() + 7200)]
                live[0].expires = self.now() + self.token_ttl
                self.tokens.append(live[0])
            return {"errcode": 0, "access_token": live[0].value, "expires_in": 7200}
        bad = self._token_ok(query)
        if bad:
            return bad
        if self.force:
            return self.force.pop(0)
        if path == "/cgi-bin/message/send":
            return self._send(body)
        if path == "/cgi-bin/message/recall":
            return self._recall(body)
        return {"errcode": 40066, "errmsg": "invalid url"}

    def _send(self, body: dict[str, Any]) -> Answer:
        if body.get("agentid") != self.agentid:
            return {"errcode": 40056, "errmsg": "invalid agentid"}
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "textcard", "news"):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = body.get(msgtype) or {}
        if msgtype in ("text", "markdown"):
            text = content.get("content", "")
            if not text:
                return {"errcode": 44004, "errmsg": "empty content"}
            if len(text.encode()) > 2048:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
        if msgtype == "textcard":
            if len(content.get("title", "").encode()) > 128 or not content.get("url"):
                return {"errcode": 40058, "errmsg": "invalid textcard"}
            if len(content.get("description", "").encode()) > 512:
                return {"errcode": 45002, "errmsg": "description size out of limit"}
        users = [u for u in str(body.get("touser", "")).split("|") if u]
        parties = [p for p in str(body.get("toparty", "")).split("|") if p]
        bad_users = [u for u in users if u != "@all" and u not in self.members]
        bad_parties = [p for p in parties if p not in self.parties]
        recipients = (
            list(self.members) if "@all" in users else [u for u in users if u in self.members]
        )
        if parties and any(p in self.parties for p in parties):
            recipients = list(dict.fromkeys(recipients + list(self.members)))
        if not recipients:
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        now = self.now()
        if body.get("enable_duplicate_check"):
            window = float(body.get("duplicate_check_interval") or 1800)
            same = [
                m for m in self.messages if m.body.get(msgtype) == content and now - m.at < window
            ]
            if same:
                self.duplicates += 1
                return {"errcode": 0, "errmsg": "ok", "msgid": same[0].msgid}
        for member in recipients:  # the vendor drops what a member may not have, silently
            log = [t for t in self.member_log.get(member, []) if now - t < 3600]
            if sum(1 for t in log if now - t < 60) >= self.per_minute or len(log) >= self.per_hour:
                self.dropped += 1
            log.append(now)
            self.member_log[member] = log
        msgid = f"msg{len(self.messages) + 1:06d}" + "z" * 10
        self.messages.append(AppMessage(msgid, now, body, recipients))
        out: Answer = {"errcode": 0, "errmsg": "ok", "msgid": msgid}
        out["invaliduser"] = "|".join(bad_users)
        out["invalidparty"] = "|".join(bad_parties)
        return out

    def _recall(self, body: dict[str, Any]) -> Answer:
        for m in self.messages:
            if m.msgid == body.get("msgid"):
                if m.recalled:
                    return {"errcode": RECALL_TOO_LATE, "errmsg": "already recalled"}
                if self.now() - m.at > 86400:
                    return {"errcode": RECALL_TOO_LATE, "errmsg": "recall time expired"}
                m.recalled = True
                return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 40008, "errmsg": "invalid msgid"}

    def shown(self) -> list[AppMessage]:
        """What members can still read."""
        with self.lock:
            return [m for m in self.messages if not m.recalled]
