"""Operator notifications: when a channel is paused for its configuration, a person is told
through another robot (``delivery.operator_channel``). Not to be confused with signage alerts,
the emergency slides readers see (``publisher signage alert``)."""

from __future__ import annotations

from publisher.channel import AnyChannel, MessageChannel, Payload
from publisher.delivery.context import EngineContext, log
from publisher.errors import ChannelError
from publisher.model import OutcomeKind
from publisher.secrets import redact

DAY = 86_400.0


def replies_key(channel: str) -> str:
    """The store row that keeps a channel's rate-limit replies of the last day."""
    return f"replies:{channel}"


class OperatorNotifier:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    def tell(self, paused: AnyChannel, reason: str) -> None:
        """Tell a person through ``delivery.operator_channel`` that ``paused`` stopped (best
        effort; never the same channel, never past its rate window)."""
        name = self.ctx.cfg.operator_channel
        if not name or self.ctx.channels.get(name) is paused:
            return
        text = (
            f"【信息公开发布系统告警】渠道 {paused.name} 已暂停：{redact(reason)}。"
            f"修正配置后运行 publisher retry --channel {paused.name}"
        )
        self.post(
            name, text, f"alert:{paused.name}", "alert", channel=paused.name, reason=redact(reason)
        )

    def rate_limited(self, ch: AnyChannel, reason: str) -> None:
        """Count a "too fast" reply of ``ch``'s target; tell a person (once an hour, across
        instances) when ``delivery.rate_limit_replies_alert`` of them came within an hour."""
        store, now = self.ctx.store, self.ctx.window_now()
        store.take_token(replies_key(ch.name), [(1_000_000, DAY)], now)
        hour = store.window_use(replies_key(ch.name), [(1_000_000, 3600.0)], now)[0][0]
        log.warning(
            "channel %s: the target answered too fast (%d in the last hour): %s",
            ch.name,
            hour,
            redact(reason),
        )
        if hour < self.ctx.cfg.rate_limit_replies_alert:
            return
        if store.take_token(f"replies-told:{ch.name}", [(1, 3600.0)], now) is not None:
            return  # told within the hour
        name = self.ctx.cfg.operator_channel
        if not name or self.ctx.channels.get(name) is ch:
            return
        text = (
            f"【信息公开发布系统告警】渠道 {ch.name} 一小时内 {hour} 次被目标平台限流"
            f"（{redact(reason)}）。多个实例或其他程序是否共用了同一机器人？"
            f"连续限流可能导致机器人被封禁。"
        )
        self.post(name, text, f"rate:{ch.name}", "rate_limit_told", channel=ch.name)

    def post(self, name: str, text: str, key: str, event: str, **audit: str) -> bool:
        """Send ``text`` to people through the robot ``name`` (a message of its own, not a
        notice): within its rate window, audited; True when the robot took it."""
        target = self.ctx.channels.get(name)
        if target is None or not isinstance(target, MessageChannel):
            log.error("%s: %s is not a robot channel", event, name)
            return False
        if target.unavailable():
            log.error("%s: channel %s is not configured", event, name)
            return False
        now = self.ctx.clock.now()
        try:
            payload: Payload = target.render_alert(text)
        except (ChannelError, NotImplementedError) as exc:
            log.error("%s: channel %s cannot send this message: %s", event, name, exc)
            return False
        limits = target.rate_limits
        if limits and self.ctx.store.take_token(target.robot_key, limits, self.ctx.window_now()):
            log.error("%s: channel %s is at its rate limit; not sent", event, name)
            return False
        outcome = target.send(payload, key=f"{key}:{now.isoformat()}")
        self.ctx.store.audit(now, event, via=name, outcome=str(outcome.kind), **audit)
        if outcome.kind != OutcomeKind.SENT:
            log.error("%s through %s failed: %s", event, name, redact(outcome.reason))
            return False
        return True
