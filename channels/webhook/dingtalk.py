"""DingTalk (钉钉) custom robot: markdown, text, link, actionCard; signing; keywords.

Signing (加签): ``sign = urlencode(base64(HMAC_SHA256(key=secret, msg=f"{ts_ms}\\n{secret}")))``,
sent as the query parameters ``timestamp`` and ``sign``; valid for an hour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import ClassVar
from urllib.parse import quote_plus

from publisher.channel import ChannelOptions, SecretValue
from publisher.model import PublishedNotice

from .base import Message, WebhookChannel, WebhookOptions

RETRY_CODES = {-1: 5.0, 130101: 600.0, 410100: 600.0}  # too fast: DingTalk blocks ~10 minutes
DISABLED_CODES = {
    310000: "security check failed",  # errmsg tells: keywords, sign, timestamp, IP whitelist
    300005: "token is not valid",
    400101: "access_token is missing",
    400102: "robot was stopped",
    400106: "robot does not exist",
}


class DingTalkOptions(WebhookOptions):
    secret: SecretValue | None = None  # 加签 secret (SEC…), from ${ENV}


class DingTalkChannel(WebhookChannel[DingTalkOptions]):
    type_name = "dingtalk"
    outlet_label = "钉钉群机器人"
    vendor = "dingtalk"
    Options: ClassVar[type[ChannelOptions]] = DingTalkOptions
    msgtypes = ("markdown", "text", "actionCard", "link")
    default_msgtype = "markdown"
    card_types = ("actionCard", "link")
    default_rates = ((20, 60.0),)
    # DingTalk counts the whole request, not the text field: JSON escaping (quotes, line
    # breaks) made a 20,000-byte text a 20,160-byte request
    request_limit = 20000
    retry_codes = RETRY_CODES
    rate_codes = frozenset({130101, 410100})
    disabled_codes = DISABLED_CODES

    def content_limit(self, msgtype: str) -> int:
        return self.options.max_bytes or 20000  # about 20,000 (uncertain): a setting

    def text_message(
        self, msgtype: str, title: str, content: str, n: PublishedNotice | None
    ) -> Message:
        limit = self.content_limit(msgtype)
        if msgtype == "text":
            return Message(
                {"msgtype": "text", "text": {"content": content}},
                "text",
                [("text.content", content, limit)],
            )
        # actionCard/link channels send alerts and digests as markdown
        return Message(
            {"msgtype": "markdown", "markdown": {"title": title[:64], "text": content}},
            "markdown",
            [("markdown.text", content, limit)],
        )

    def card_message(
        self, msgtype: str, title: str, description: str, n: PublishedNotice
    ) -> Message:
        if msgtype == "link":
            return Message(
                {
                    "msgtype": "link",
                    "link": {
                        "title": title,
                        "text": self.with_keyword(description),
                        "messageUrl": n.url,
                        "picUrl": "",
                    },
                },
                "link",
            )
        return Message(
            {
                "msgtype": "actionCard",
                "actionCard": {
                    "title": title,
                    "text": f"### {title}\n\n{description}",
                    "singleTitle": "查看全文",
                    "singleURL": n.url,
                },
            },
            "actionCard",
        )

    def sign(
        self, url: str, body: bytes, key: str, now: datetime
    ) -> tuple[str, dict[str, str], bytes]:
        opts = self.options
        if opts.secret is None:
            return url, {}, body
        secret = opts.secret.reveal()
        ts = str(int(now.timestamp() * 1000))
        digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        sign = quote_plus(base64.b64encode(digest))
        return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}", {}, body
