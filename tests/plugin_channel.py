"""A robot vendor that is not built in: this module, its template, and one registration line
in the test that uses it. Nothing in publisher/ or channels/ knows about it."""

from __future__ import annotations

from typing import ClassVar

import httpx

from publisher.channel import ChannelOptions, MessageChannel, Payload, SecretValue
from publisher.model import Action, Outcome, PublishedNotice


class EchoOptions(ChannelOptions):
    webhook_url: SecretValue
    announce_withdrawal: bool = True


class EchoChannel(MessageChannel[EchoOptions]):
    type_name = "echo"
    Options: ClassVar[type[ChannelOptions]] = EchoOptions
    own_templates = "plugin_templates"

    @property
    def announces_withdrawal(self) -> bool:
        return self.options.announce_withdrawal

    def render(self, notice: PublishedNotice, action: Action) -> list[Payload]:
        text = self.render_template("echo/message.j2", notice=notice, action=str(action))
        return [Payload("echo robot", "text/plain; charset=utf-8", text.encode("utf-8"))]

    def send(self, payload: Payload, key: str = "") -> Outcome:
        # the transport the core hands every channel: tests swap it, nothing is patched
        with httpx.Client(transport=self.ctx.transport, timeout=5) as client:
            try:
                r = client.post(self.options.webhook_url.reveal(), content=payload.body)
            except httpx.HTTPError as exc:
                return Outcome.retry(f"network: {type(exc).__name__}")
        if r.status_code == 200:
            return Outcome.sent()
        return Outcome.retry(f"HTTP {r.status_code}")
