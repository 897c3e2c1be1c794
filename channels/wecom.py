"""WeCom (企业微信) group robot: a ``news`` card, ``markdown`` or ``text`` per notice version.

WeCom answers most errors inside an HTTP 200 body, so the ``errcode`` decides the outcome; an
errcode this module does not know is a failure, never "sent".
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Literal

import httpx
from pydantic import Field

from publisher.model import Action, Outcome, PublishedNotice, redact
from publisher.text import plain_text

from .base import ChannelOptions, MessageChannel, Payload, SecretValue

LIMITS = {"text": 2048, "markdown": 4096}  # bytes of the content field
NEWS_TITLE_MAX = 128
NEWS_DESC_MAX = 512

# errcode → outcome (REFERENCE.md §2)
RETRY_CODES = {-1: 5.0, 45009: 60.0}
DISABLED_CODES = {93000: "invalid webhook URL (check the key)", 93004: "robot was removed"}
CONTENT_CODES = {
    45002: "message too large",
    40008: "invalid message type",
    40058: "invalid message content",
    44004: "empty content",
}


class WeComOptions(ChannelOptions):
    webhook_url: SecretValue
    msgtype: Literal["news", "markdown", "text"] = "news"
    picurl: str = ""
    timeout: float = Field(10.0, gt=0, le=60)
    on_unknown: Literal["retry", "hold"] = "retry"
    announce_withdrawal: bool = True


def cut_bytes(s: str, limit: int, ellipsis: str = "…") -> str:
    """``s`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    data = s.encode("utf-8")
    if len(data) <= limit:
        return s
    room = limit - len(ellipsis.encode("utf-8"))
    return data[: max(room, 0)].decode("utf-8", errors="ignore") + ellipsis


class WeComChannel(MessageChannel):
    type_name = "wecom"
    Options: ClassVar[type[ChannelOptions]] = WeComOptions

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.opts: WeComOptions = self.options  # type: ignore[assignment]
        self.on_unknown = self.opts.on_unknown
        self._client: httpx.Client | None = None

    @property
    def target(self) -> str:
        if self.unavailable():
            return "(not configured)"
        return redact(self.opts.webhook_url.reveal())

    # ---------------------------------------------------------------- render

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        prefix = (
            "【撤回】" if action == Action.WITHDRAW else "【更正】" if notice.is_revision else ""
        )
        kind = self.opts.msgtype
        n = notice.notice
        if kind == "news":
            description = n.summary or plain_text(n.body)
            if action == Action.WITHDRAW:
                description = "该公开事项已撤回。" + description
            body = {
                "msgtype": "news",
                "news": {
                    "articles": [
                        {
                            "title": cut_bytes(prefix + n.title, NEWS_TITLE_MAX),
                            "description": cut_bytes(description, NEWS_DESC_MAX),
                            "url": notice.url,
                            **({"picurl": self.opts.picurl} if self.opts.picurl else {}),
                        }
                    ]
                },
            }
        else:
            template = f"wecom/{kind}.j2"
            content = self.render_template(
                template, n=notice, notice=n, prefix=prefix, action=str(action), full=True
            ).strip()
            if len(content.encode("utf-8")) > LIMITS[kind]:
                # too long for one message: the summary and a link to the full text
                content = self.render_template(
                    template, n=notice, notice=n, prefix=prefix, action=str(action), full=False
                ).strip()
                content = cut_bytes(content, LIMITS[kind])
            body = {"msgtype": kind, kind: {"content": content}}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return [Payload(self.target, "application/json", data, label=kind)]

    # ---------------------------------------------------------------- send

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self.ctx.transport, timeout=self.opts.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, payload: Payload) -> Outcome:
        reason = self.unavailable()
        if reason:
            return Outcome.disabled(reason)
        url = self.opts.webhook_url.reveal()
        try:
            resp = self.client().post(
                url, content=payload.body, headers={"Content-Type": "application/json"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome.retry(f"could not connect: {type(exc).__name__}")
        except (
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
        ) as exc:
            # the request may have arrived: we cannot know whether the group saw it
            return Outcome.unknown(f"no answer after sending ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome.retry(f"HTTP error: {type(exc).__name__}")
        return self.outcome_of(resp)

    def outcome_of(self, resp: httpx.Response) -> Outcome:
        now = self.ctx.clock.now()
        if resp.status_code == 429:
            return Outcome.retry("HTTP 429", _retry_after(resp, now) or 60.0)
        if resp.status_code >= 500:
            return Outcome.retry(f"HTTP {resp.status_code}", _retry_after(resp, now))
        if resp.status_code in (401, 403, 404):
            return Outcome.disabled(f"HTTP {resp.status_code}: webhook URL rejected")
        if resp.status_code != 200:
            return Outcome.failed(f"HTTP {resp.status_code}")
        try:
            body = resp.json()
            code = int(body.get("errcode"))
            msg = str(body.get("errmsg", ""))[:200]
        except (ValueError, TypeError, AttributeError):
            return Outcome.unknown("HTTP 200 without a WeCom JSON answer")
        if code == 0:
            return Outcome.sent()
        if code in RETRY_CODES:
            return Outcome.retry(f"errcode {code}: {msg}", RETRY_CODES[code])
        if code in DISABLED_CODES:
            return Outcome.disabled(f"errcode {code}: {DISABLED_CODES[code]} ({msg})")
        if code in CONTENT_CODES:
            return Outcome.failed(f"errcode {code}: {CONTENT_CODES[code]} ({msg})")
        return Outcome.failed(f"errcode {code} (not a documented success): {msg}")


def _retry_after(resp: httpx.Response, now: datetime) -> float | None:
    """Retry-After in seconds or as an HTTP date."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None
