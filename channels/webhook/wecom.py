"""WeCom (企业微信) group robot: news, markdown, markdown_v2, text, template_card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from channels.common.limits import cut_bytes
from publisher.channel import ChannelOptions
from publisher.model import PublishedNotice

from .base import Message, WebhookChannel, WebhookOptions

LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
NEWS_TITLE_MAX = 128
NEWS_DESC_MAX = 512
NEWS_ARTICLES_MAX = 8

# errcode → outcome (REFERENCE.md §2); anything else is a failure, never "sent"
RETRY_CODES = {-1: 5.0, 45009: 60.0}
DISABLED_CODES = {93000: "invalid webhook URL (check the key)", 93004: "robot was removed"}
CONTENT_CODES = {
    45002: "message too large",
    40008: "invalid message type",
    40058: "invalid message content",
    44004: "empty content",
}


class WeComOptions(WebhookOptions):
    picurl: str = ""


class WeComChannel(WebhookChannel[WeComOptions]):
    type_name = "wecom"
    outlet_label = "企业微信群机器人"
    vendor = "wecom"
    Options: ClassVar[type[ChannelOptions]] = WeComOptions
    msgtypes = ("news", "markdown", "markdown_v2", "text", "template_card")
    default_msgtype = "news"
    card_types = ("news", "template_card")
    default_rates = ((20, 60.0),)
    retry_codes = RETRY_CODES
    rate_codes = frozenset({45009})
    disabled_codes = DISABLED_CODES
    content_codes = CONTENT_CODES
    rejected_statuses = (401, 403, 404)

    def content_limit(self, msgtype: str) -> int:
        return self.options.max_bytes or LIMITS.get(msgtype, 4096)

    table_types = frozenset({"markdown_v2"})  # v1 shows a table's pipes as text

    def markdown(self, msgtype: str) -> bool:
        return msgtype in ("markdown", "markdown_v2")

    def text_message(
        self, msgtype: str, title: str, content: str, n: PublishedNotice | None
    ) -> Message:
        if msgtype not in LIMITS:  # a card channel's alerts and digests go as markdown
            msgtype = "markdown"
        return Message(
            {"msgtype": msgtype, msgtype: {"content": content}},
            msgtype,
            [(f"{msgtype}.content", content, self.content_limit(msgtype))],
        )

    def _article(self, title: str, description: str, url: str) -> dict[str, Any]:
        opts = self.options
        article = {
            "title": cut_bytes(title, NEWS_TITLE_MAX),
            "description": cut_bytes(description, NEWS_DESC_MAX),
            "url": url,
        }
        if opts.picurl:
            article["picurl"] = opts.picurl
        return article

    def card_message(
        self, msgtype: str, title: str, description: str, n: PublishedNotice
    ) -> Message:
        if msgtype == "template_card":
            notice = n.notice
            facts = [
                {"keyname": "发布部门", "value": _chars(notice.department, 20)},
                {"keyname": "发布时间", "value": f"{notice.publish_at:%Y-%m-%d %H:%M}"},
            ]
            if notice.expires_at:
                facts.append(
                    {"keyname": "公示截止", "value": f"{notice.expires_at:%Y-%m-%d %H:%M}"}
                )
            card = {
                "card_type": "text_notice",
                "source": {"desc": _chars(self.ctx.site.name, 13)},
                "main_title": {"title": _chars(title, 26), "desc": _chars(n.category_name, 30)},
                "sub_title_text": _chars(description, 112),
                "horizontal_content_list": facts,
                "jump_list": [{"type": 1, "url": n.url, "title": "查看全文"}],
                "card_action": {"type": 1, "url": n.url},
            }
            return Message({"msgtype": "template_card", "template_card": card}, "template_card")
        return Message(
            {"msgtype": "news", "news": {"articles": [self._article(title, description, n.url)]}},
            "news",
        )

    def digest_message(self, title: str, items: Sequence[PublishedNotice]) -> Message:
        if self.msgtype in self.card_types:  # a news message carries up to 8 articles
            return Message(
                {
                    "msgtype": "news",
                    "news": {
                        "articles": [
                            self._article(
                                self.with_keyword(v.notice.title),
                                v.notice.summary or v.category_name,
                                v.url,
                            )
                            for v in items[:NEWS_ARTICLES_MAX]
                        ]
                    },
                },
                "news digest",
            )
        return super().digest_message(title, items)

    def digest_capacity(self) -> int:
        return NEWS_ARTICLES_MAX if self.msgtype in self.card_types else self.options.digest_max


def _chars(s: str, n: int) -> str:
    """WeCom's card limits count characters (字), not bytes."""
    return s if len(s) <= n else s[: n - 1] + "…"
