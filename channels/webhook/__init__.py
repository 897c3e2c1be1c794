"""Group robots and signed webhooks: WeCom, DingTalk, Feishu/Lark, Standard Webhooks."""

from .base import WebhookChannel, WebhookOptions
from .dingtalk import DingTalkChannel
from .feishu import FeishuChannel, LarkChannel
from .standard import StandardWebhookChannel
from .wecom import WeComChannel

__all__ = [
    "DingTalkChannel",
    "FeishuChannel",
    "LarkChannel",
    "StandardWebhookChannel",
    "WeComChannel",
    "WebhookChannel",
    "WebhookOptions",
]
