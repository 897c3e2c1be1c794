"""Recording what an attempt came to: the delivery's next state, its audit event, a retry's
time, a channel paused for its configuration, the send ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from publisher.channel import AnyChannel, MessageChannel
from publisher.delivery.context import EngineContext, log
from publisher.delivery.operator import OperatorNotifier
from publisher.delivery.passes import ChannelReport
from publisher.model import Delivery, DeliveryState, Outcome, OutcomeKind
from publisher.secrets import redact
from publisher.store.outbox import Used


class Outcomes:
    def __init__(self, ctx: EngineContext, operator: OperatorNotifier) -> None:
        self.ctx = ctx
        self.operator = operator
        self._store_id: str | None = None

    def backoff(self, attempts: int) -> float:
        base = min(
            self.ctx.cfg.backoff_max, self.ctx.cfg.backoff_base * 2.0 ** max(0, attempts - 1)
        )
        spread = base * self.ctx.cfg.jitter
        return max(1.0, base + self.ctx.rng.uniform(-spread, spread))

    def apply(
        self,
        ch: AnyChannel,
        d: Delivery,
        outcome: Outcome,
        report: ChannelReport,
        parts: int | None = None,
        total_parts: int | None = None,
        digest: int | None = None,
        used: Used | None = None,
    ) -> bool:
        """Record what one attempt came to; True when the channel must stop for now (``used``:
        the send's stamp in its robot's window, moved in the same transaction)."""
        now = self.ctx.clock.now()
        attempts = d.attempts + 1
        kind = outcome.kind
        reason = redact(outcome.reason)

        def record(state: DeliveryState, event: str, counted: str, **kw: Any) -> None:
            kw.setdefault("attempts", attempts)
            kw.setdefault("error", reason)
            self.ctx.store.finish(
                d,
                state=state,
                now=now,
                event=event,
                parts_sent=parts,
                detail={"outcome": str(kind), "parts": parts, "of": total_parts, "digest": digest},
                used=used,
                **kw,
            )
            report.count(counted)

        if kind == OutcomeKind.SENT:
            # the target's answer (every part's), kept for a withdrawal to take back
            record(
                DeliveryState.SENT,
                "delivery.sent",
                "sent",
                # a robot's note beside success (recipients an app could not reach)
                error=reason if isinstance(ch, MessageChannel) else "",
                ref=outcome.ref or None,
                pending_ref="" if d.pending_ref else None,
            )
            if reason and isinstance(ch, MessageChannel):
                log.info("channel %s: delivery %d of %s: %s", ch.name, d.id, d.notice_id, reason)
            if isinstance(ch, MessageChannel):
                self._ledger(ch, d, now)
            return False
        if kind == OutcomeKind.DISABLED:
            # the channel's configuration is wrong: stop it for everyone, tell a person, and
            # keep the delivery (it was not this message's fault, so no attempt is counted)
            until = now + timedelta(seconds=outcome.after) if outcome.after else None
            if not self.ctx.store.channel_state(ch.name).paused(now):  # once, not per message
                self.ctx.store.pause_channel(ch.name, reason, now, until)
                log.error(
                    "channel %s paused: %s (fix the configuration, then "
                    "`publisher retry --channel %s`)",
                    ch.name,
                    reason,
                    ch.name,
                )
                if isinstance(ch, MessageChannel):
                    self.operator.tell(ch, reason)
            record(
                DeliveryState.PENDING,
                "delivery.held",
                "paused",
                attempts=d.attempts,
                error=f"channel paused: {reason}",
            )
            return True
        if kind == OutcomeKind.PENDING:
            # accepted, not finished (a 公众号 publish): look again then; no attempt is used
            record(
                DeliveryState.PENDING,
                "delivery.pending",
                "pending",
                attempts=d.attempts,
                error=f"under way: {reason}",
                pending_ref=outcome.ref,
                next_attempt_at=now + timedelta(seconds=outcome.after or 60.0),
            )
            return False
        if kind == OutcomeKind.FAILED:
            record(DeliveryState.FAILED, "delivery.failed", "failed", pending_ref="")
            log.error(
                "channel %s: delivery %d of %s failed: %s", ch.name, d.id, d.notice_id, reason
            )
            return False
        if kind == OutcomeKind.UNKNOWN:
            # it may have arrived: retry once (by default), then hold it for a person
            if (isinstance(ch, MessageChannel) and ch.on_unknown == "hold") or d.unknowns >= 1:
                record(
                    DeliveryState.UNKNOWN, "delivery.unknown", "unknown", unknowns=d.unknowns + 1
                )
                log.warning(
                    "channel %s: delivery %d may or may not have arrived (%s); held for a person",
                    ch.name,
                    d.id,
                    reason,
                )
            else:
                record(
                    DeliveryState.PENDING,
                    "delivery.unknown",
                    "unknown",
                    unknowns=d.unknowns + 1,
                    error=f"unknown outcome: {reason}",
                    next_attempt_at=now + timedelta(seconds=self.backoff(attempts)),
                )
            return False
        # RETRY
        if outcome.limited:
            self.operator.rate_limited(ch, reason)
        if not outcome.counted or outcome.limited:
            # waiting is no fault of the message (a quota, a robot someone else also fills):
            # the channel waits as told, the delivery keeps its attempts
            attempts = d.attempts
        if attempts >= self.ctx.cfg.max_attempts:
            record(DeliveryState.DEAD, "delivery.dead", "dead")
            log.error(
                "channel %s: delivery %d of %s is dead after %d attempts: %s",
                ch.name,
                d.id,
                d.notice_id,
                attempts,
                reason,
            )
            return False
        wait = self.backoff(attempts)
        if outcome.after is not None:
            # the target named its wait (Retry-After, a rate-limit code): honour it for the
            # whole channel, since every message to it would get the same answer
            wait = max(wait, outcome.after)
            self.ctx.store.pause_channel(
                ch.name,
                f"target asked to wait: {reason}",
                now,
                now + timedelta(seconds=outcome.after),
            )
        record(
            DeliveryState.PENDING,
            "delivery.retry",
            "retry",
            next_attempt_at=now + timedelta(seconds=wait),
        )
        return outcome.after is not None

    def _ledger(self, ch: AnyChannel, d: Delivery, now: datetime) -> None:
        """The accepted send, also in the output's ledger (a restored store must not repeat
        it)."""
        if self.ctx.ledger is None:
            return
        if self._store_id is None:
            self._store_id = self.ctx.store.store_id()
        self.ctx.ledger.sent(
            store=self._store_id,
            channel=ch.name,
            notice_id=d.notice_id,
            sha256=d.sha256,
            action=str(d.action),
            at=now,
        )

    def settle_not_live(self, ch: AnyChannel, d: Delivery, report: ChannelReport) -> None:
        """A due delivery whose version is not live: replaced, withdrawn or expired."""
        now = self.ctx.clock.now()
        notice = self.ctx.store.notice(d.notice_id)
        latest = self.ctx.store.latest_approved(d.notice_id)
        if notice.withdrawn_at is not None:
            state, why = DeliveryState.CANCELLED, f"withdrawn: {notice.withdraw_reason}"
        elif latest is not None and latest.sha256 != d.sha256:
            state, why = DeliveryState.SUPERSEDED, f"superseded by {latest.sha256[:12]}"
        else:
            state, why = DeliveryState.CANCELLED, "expired before it was published"
        self.ctx.store.finish(
            d, state=state, now=now, attempts=d.attempts, error=why, event=f"delivery.{state}"
        )
        report.count(str(state))
