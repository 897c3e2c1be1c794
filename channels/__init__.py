"""Channel registry: a channel type name → the class that implements it.

Adding a channel is one new module plus one line here. Classes are imported on first use, so
a channel whose dependency is missing only fails when a site actually configures it.
"""

from __future__ import annotations

import importlib

from publisher.errors import UnknownChannelType

from .base import Channel

REGISTRY: dict[str, str] = {
    "rss": "channels.rss:RssChannel",
    "signage": "channels.signage:SignageChannel",
    "wecom": "channels.webhook.wecom:WeComChannel",
    "dingtalk": "channels.webhook.dingtalk:DingTalkChannel",
    "feishu": "channels.webhook.feishu:FeishuChannel",
    "lark": "channels.webhook.feishu:LarkChannel",
    "webhook": "channels.webhook.standard:StandardWebhookChannel",
}


def channel_types() -> list[str]:
    return sorted(REGISTRY)


def channel_class(type_name: str) -> type[Channel]:
    try:
        target = REGISTRY[type_name]
    except KeyError:
        raise UnknownChannelType(type_name, list(REGISTRY)) from None
    module_name, _, attr = target.partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module_name), attr)
    return cls
