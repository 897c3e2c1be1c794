"""A generic JSON webhook signed per Standard Webhooks (https://www.standardwebhooks.com/).

Headers: ``webhook-id`` (the same for every retry of one message: the receiver's idempotency
key), ``webhook-timestamp`` (Unix seconds), ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
f"{id}.{ts}.{body}")>``; optionally ``X-Hub-Signature-256: sha256=<hex HMAC of the body>``.
Answers: 2xx sent; 410 the receiver disabled us; 429/502/503/504 slow down (Retry-After).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, ClassVar

import httpx

from publisher.channel import ChannelOptions, Payload, SecretValue
from publisher.errors import RenderError
from publisher.model import Action, Outcome, PublishedNotice

from .base import Message, WebhookChannel, WebhookOptions, _dumps


class StandardOptions(WebhookOptions):
    msgtype: str = "json"
    signing_secret: SecretValue | None = None  # whsec_<base64>, from ${ENV}
    hub_secret: SecretValue | None = None  # adds X-Hub-Signature-256 when set
    digest: bool = False  # receivers want one event per notice


class StandardWebhookChannel(WebhookChannel[StandardOptions]):
    type_name = "webhook"
    outlet_label = "学校门户等系统接口（Webhook）"
    vendor = "webhook"
    Options: ClassVar[type[ChannelOptions]] = StandardOptions
    msgtypes = ("json",)
    default_msgtype = "json"
    supports_digest = False

    def event(self, n: PublishedNotice, action: Action) -> dict[str, Any]:
        notice = n.notice
        if action == Action.WITHDRAW:
            # what a receiver needs to take it down, not the withdrawn text again
            when = n.withdrawn_at or self.ctx.clock.now()
            return {
                "type": "notice.withdrawn",
                "timestamp": when.isoformat(),
                "data": {
                    "id": notice.id,
                    "version": n.sha256,
                    "title": notice.title,
                    "withdrawn_at": when.isoformat(),
                    "reason": n.withdraw_reason,
                    "url": n.url,
                },
            }
        kind = "notice.revised" if n.is_revision else "notice.published"
        return {
            "type": kind,
            "timestamp": n.approved_at.isoformat(),
            "data": {
                "id": notice.id,
                "version": n.sha256,
                "revision": n.revision,
                "previous_version": n.previous_sha256,
                "title": notice.title,
                "summary": notice.summary,
                "department": notice.department,
                "category": notice.category,
                "category_name": n.category_name,
                "item": notice.item,
                "item_text": n.item_text,
                "publish_at": notice.publish_at.isoformat(),
                "expires_at": notice.expires_at.isoformat() if notice.expires_at else None,
                "url": n.url,
                "contact": notice.contact,
                "body_markdown": notice.body,
                "body_html": n.html,
                "attachments": [
                    {
                        "title": a.title,
                        "href": a.href,
                        "type": a.media_type,
                        "size": a.size,
                        "sha256": a.sha256 or None,
                    }
                    for a in notice.attachments
                ],
                "links": [{"title": link.title, "url": link.url} for link in notice.links],
            },
        }

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        body = _dumps(self.event(notice, action))
        if self.options.max_bytes and len(body) > self.options.max_bytes:
            raise RenderError(
                f"channel '{self.name}': event is {len(body)} bytes, over "
                f"max_bytes {self.options.max_bytes}"
            )
        return [Payload(self.target, "application/json", body, label="event")]

    def text_message(
        self, msgtype: str, title: str, content: str, n: PublishedNotice | None
    ) -> Message:
        return Message(
            {"type": "publisher.alert", "data": {"title": title, "text": content}}, "alert"
        )

    def card_message(
        self, msgtype: str, title: str, description: str, n: PublishedNotice
    ) -> Message:
        return self.text_message(msgtype, title, description, n)

    def message_id(self, key: str) -> str:
        """Stable for one message across retries and instances; opaque to the receiver."""
        seed = f"{self.ctx.site.base_url}|{self.name}|{key}"
        return "msg_" + hashlib.sha256(seed.encode()).hexdigest()[:26]

    def sign(
        self, url: str, body: bytes, key: str, now: datetime
    ) -> tuple[str, dict[str, str], bytes]:
        opts = self.options
        msg_id = self.message_id(key or hashlib.sha256(body).hexdigest())
        ts = str(int(now.timestamp()))
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts}
        if opts.signing_secret is not None:
            secret = opts.signing_secret.reveal()
            raw = base64.b64decode(secret.removeprefix("whsec_") + "==")
            mac = hmac.new(raw, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
            headers["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
        if opts.hub_secret is not None:
            hub = hmac.new(opts.hub_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = "sha256=" + hub
        return url, headers, body

    def outcome_of(self, resp: httpx.Response) -> Outcome:
        status = resp.status_code
        if 200 <= status < 300:
            return Outcome.sent()
        if status == 410:
            return Outcome.disabled("HTTP 410: the receiver disabled this endpoint")
        if status in (429, 502, 503, 504):
            return Outcome.retry(f"HTTP {status}", self.retry_after(resp), limited=status == 429)
        if status >= 500:
            return Outcome.retry(f"HTTP {status}", self.retry_after(resp))
        if status in (401, 403):
            return Outcome.disabled(f"HTTP {status}: the receiver refused our signature")
        return Outcome.failed(f"HTTP {status}")
