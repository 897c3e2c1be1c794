"""Feishu (飞书) / Lark custom robot: interactive card, post, text; signing; keywords.

Signing: ``sign = base64(HMAC_SHA256(key=f"{ts}\\n{secret}", msg=b""))`` with ``ts`` in
*seconds*, both put into the JSON body. The whole request may be at most 20 KB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, ClassVar

import httpx

from publisher.channel import ChannelOptions, SecretValue
from publisher.model import Outcome, PublishedNotice

from .base import Message, WebhookChannel, WebhookOptions

RETRY_CODES = {11232: 60.0}  # frequency limited
DISABLED_CODES = {
    19021: "signature check failed",
    19022: "IP not in the whitelist",
    19024: "keyword check failed",
}


class FeishuOptions(WebhookOptions):
    secret: SecretValue | None = None  # 签名校验 secret, from ${ENV}


class FeishuChannel(WebhookChannel[FeishuOptions]):
    type_name = "feishu"
    outlet_label = "飞书群机器人"
    vendor = "feishu"
    Options: ClassVar[type[ChannelOptions]] = FeishuOptions
    msgtypes = ("interactive", "post", "text")
    default_msgtype = "interactive"
    card_types = ()
    default_rates = ((5, 1.0), (100, 60.0))
    request_limit = 20_000

    def content_limit(self, msgtype: str) -> int:
        return self.options.max_bytes or 18_000  # the request as a whole is checked as well

    def markdown(self, msgtype: str) -> bool:
        return msgtype == "interactive"

    def text_message(
        self, msgtype: str, title: str, content: str, n: PublishedNotice | None
    ) -> Message:
        limit = self.content_limit(msgtype)
        if msgtype == "text":
            return Message(
                {"msg_type": "text", "content": {"text": content}},
                "text",
                [("content.text", content, limit)],
            )
        if msgtype == "post":
            paragraphs: list[list[dict[str, Any]]] = [
                [{"tag": "text", "text": line}] for line in content.split("\n") if line.strip()
            ]
            if n is not None:
                paragraphs.append([{"tag": "a", "text": "查看全文", "href": n.url}])
            return Message(
                {
                    "msg_type": "post",
                    "content": {"post": {"zh_cn": {"title": title, "content": paragraphs}}},
                },
                "post",
                [("post.content", content, limit)],
            )
        elements: list[dict[str, Any]] = [{"tag": "markdown", "content": content}]
        if n is not None:
            elements.append(
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": "查看全文"},
                            "type": "primary",
                            "url": n.url,
                        }
                    ],
                }
            )
        return Message(
            {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "title": {"tag": "plain_text", "content": title},
                        "template": "blue",
                    },
                    "elements": elements,
                },
            },
            "interactive",
            [("card.markdown", content, limit)],
        )

    def card_message(
        self, msgtype: str, title: str, description: str, n: PublishedNotice
    ) -> Message:
        return self.text_message("interactive", title, self.with_keyword(description), n)

    def sign(
        self, url: str, body: bytes, key: str, now: datetime
    ) -> tuple[str, dict[str, str], bytes]:
        opts = self.options
        if opts.secret is None:
            return url, {}, body
        ts = str(int(now.timestamp()))
        mac = hmac.new(f"{ts}\n{opts.secret.reveal()}".encode(), b"", hashlib.sha256).digest()
        data = json.loads(body)
        data.update({"timestamp": ts, "sign": base64.b64encode(mac).decode()})
        return url, {}, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    def outcome_of(self, resp: httpx.Response) -> Outcome:
        code, msg = self.json_code(resp, "code", "StatusCode")
        if resp.status_code == 429:
            return Outcome.retry("HTTP 429", self.retry_after(resp) or 60.0, limited=True)
        if resp.status_code >= 500:
            return Outcome.retry(f"HTTP {resp.status_code}", self.retry_after(resp))
        if code is None:
            if resp.status_code == 200:
                return Outcome.unknown("HTTP 200 without a Feishu JSON answer")
            return Outcome.failed(f"HTTP {resp.status_code}")
        if code == 0 and resp.status_code == 200:
            return Outcome.sent()
        if code in RETRY_CODES or (code == 9499 and "too many request" in msg.lower()):
            return Outcome.retry(f"code {code}: {msg}", RETRY_CODES.get(code, 60.0), limited=True)
        if code in DISABLED_CODES:
            return Outcome.disabled(f"code {code}: {DISABLED_CODES[code]} ({msg})")
        return Outcome.failed(f"code {code} (HTTP {resp.status_code}): {msg}")


class LarkChannel(FeishuChannel):
    """Lark, Feishu's international edition (open.larksuite.com): the same robot API."""

    type_name = "lark"
    outlet_label = "Lark 群机器人"
