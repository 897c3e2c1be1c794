"""Operator notifications: when a channel is paused for its configuration, a person is told
through another robot (``delivery.operator_channel``). Not to be confused with signage alerts,
the emergency slides readers see (``publisher signage alert``)."""

from __future__ import annotations

from ..channel import AnyChannel, MessageChannel, Payload
from ..errors import ChannelError
from ..model import OutcomeKind
from ..secrets import redact
from .context import EngineContext, log


class OperatorNotifier:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    def tell(self, paused: AnyChannel, reason: str) -> None:
        """Tell a person through ``delivery.operator_channel`` that ``paused`` stopped (best
        effort; never the same channel, never past its rate window)."""
        name = self.ctx.cfg.operator_channel
        target = self.ctx.channels.get(name) if name else None
        if target is None or target is paused or not isinstance(target, MessageChannel):
            return
        if target.unavailable():
            log.error("operator channel %s is not configured; cannot report %s", name, paused.name)
            return
        now = self.ctx.clock.now()
        text = (
            f"【信息公开发布系统告警】渠道 {paused.name} 已暂停：{redact(reason)}。"
            f"修正配置后运行 publisher retry --channel {paused.name}"
        )
        try:
            payload: Payload = target.render_alert(text)
        except (ChannelError, NotImplementedError) as exc:
            log.error("operator channel %s cannot send notifications: %s", name, exc)
            return
        limits = target.rate_limits
        if limits and self.ctx.store.take_token(target.robot_key, limits, now) is not None:
            log.error(
                "operator channel %s is at its rate limit; notification for %s not sent",
                name,
                paused.name,
            )
            return
        outcome = target.send(payload, key=f"alert:{paused.name}:{now.isoformat()}")
        self.ctx.store.audit(
            now,
            "alert",
            channel=paused.name,
            via=name,
            outcome=str(outcome.kind),
            reason=redact(reason),
        )
        if outcome.kind != OutcomeKind.SENT:
            log.error("operator notification through %s failed: %s", name, redact(outcome.reason))
