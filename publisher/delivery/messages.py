"""Message channels in the engine: rate limits shared through the store, digests.

For each robot the engine claims the due deliveries in publish order and sends them one by one,
taking a token from the robot's window in the store before every request (so several instances
stay within 20 a minute together). The store is asked as little as a send allows: what the
batch's notices and versions are is read once per claim; holding the claim, taking the token
and marking the send as begun are one transaction before the request; recording the outcome
and moving the token's stamp to the time the send ended are one after it. When more notices are
due than the robot may take now, they are folded into digest messages. When a channel's
configuration turns out wrong, it is paused for everyone and, if configured, a person is told
(``operator.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from publisher.channel import AnyMessageChannel, FollowsUp
from publisher.delivery.context import EngineContext, log
from publisher.delivery.outcomes import Outcomes
from publisher.delivery.passes import ChannelReport
from publisher.errors import BlobMismatch, ChannelError, NotApproved
from publisher.model import Action, Delivery, Outcome, OutcomeKind, PublishedNotice
from publisher.store.outbox import SendContext, Used


class MessageSender:
    """Message channels (robots, webhooks): claim due deliveries, render, take a token from
    the robot's rate window, send, record."""

    def __init__(self, ctx: EngineContext, outcomes: Outcomes) -> None:
        self.ctx = ctx
        self.outcomes = outcomes
        # the window's stamp of the send in hand, per robot (channels send in threads of
        # their own, one send at a time each)
        self._stamps: dict[str, float] = {}

    def run(
        self,
        ch: AnyMessageChannel,
        report: ChannelReport,
        digest: bool = False,
        push: Sequence[int] | None = None,
    ) -> None:
        # a manual push sends just the deliveries it names, held for a digest or not
        if ch.hold_for_digest and not (digest or push):
            report.note = "waits for its digest schedule"
            return
        try:
            while not self.ctx.stopping.is_set():
                now = self.ctx.clock.now()
                batch = self.ctx.store.claim(
                    ch.name, now, self.ctx.cfg.lease, self.ctx.cfg.batch, self.ctx.worker, ids=push
                )
                if not batch:
                    return
                groups = self._groups(ch, batch, now, digest)
                context = self.ctx.store.send_context(ch.name, batch)
                for i, group in enumerate(groups):
                    # stopping (SIGTERM): finish the send in hand, give the rest back now
                    stop = self.ctx.stopping.is_set() or (
                        self._send_digest(ch, group, report, context)
                        if len(group) > 1
                        else self._send_one(ch, group[0], report, context)
                    )
                    if stop:
                        start = i + 1 if not self.ctx.stopping.is_set() else i
                        rest = [d.id for g in groups[start:] for d in g]
                        self.ctx.store.release(rest, self.ctx.clock.now())
                        return
                if len(batch) < self.ctx.cfg.batch:
                    return
        finally:
            # come back when the next pending delivery becomes due (a retry, a publish time)
            due = self.ctx.store.next_due(ch.name, self.ctx.clock.now())
            if due is not None and (report.wake_at is None or due < report.wake_at):
                report.wake_at = due

    def _groups(
        self, ch: AnyMessageChannel, batch: list[Delivery], now: datetime, digest: bool
    ) -> list[list[Delivery]]:
        """Each delivery alone, or, when more are due than the robot may take now (or a digest
        job runs), publications folded into digests, in publish order."""
        if not ch.digest_enabled and not (digest and ch.supports_digest):
            return [[d] for d in batch]
        foldable = [d for d in batch if d.action == Action.PUBLISH and d.parts_sent == 0]
        budget = self.ctx.store.rate_budget(ch.robot_key, ch.rate_limits, self.ctx.window_now())
        if not digest and len(batch) <= budget:
            return [[d] for d in batch]
        groups: list[list[Delivery]] = [[d] for d in batch if d not in foldable]
        size = max(2, ch.digest_capacity())
        for i in range(0, len(foldable), size):
            groups.append(foldable[i : i + size])
        groups.sort(key=lambda g: (g[0].due_at, g[0].id))
        return groups

    # ---------------------------------------------------------------- one notice

    def _views(
        self,
        ch: AnyMessageChannel,
        d: Delivery,
        report: ChannelReport,
        context: SendContext | None = None,
    ) -> PublishedNotice | None:
        """The approved view to send, or None when the delivery was settled instead. The
        rows come from the batch's ``context`` (read at its claim); a notice withdrawn since
        then has its claimed deliveries cancelled, which the hold before the send sees."""
        now = self.ctx.clock.now()
        context = context or SendContext()
        notice = context.notices.get(d.notice_id) or self.ctx.store.notice(d.notice_id)
        version = context.versions.get(d.sha256) or self.ctx.store.version(d.sha256)
        if d.action == Action.PUBLISH and (
            notice.withdrawn_at is not None or (version.expires_at and version.expires_at <= now)
        ):
            self.outcomes.settle_not_live(ch, d, report)
            return None
        if d.id in context.previous:
            previous = context.previous[d.id]
        else:
            previous = self.ctx.store.sent_before(d.notice_id, ch.name, d.sha256)
        view = self.ctx.views.published(version, previous)
        if ch.wants_files and d.action == Action.PUBLISH:
            view = self._with_files(view)
        if d.action == Action.WITHDRAW:  # the announcement says when and why, nothing more
            view = replace(
                view,
                withdrawn_at=notice.withdrawn_at or now,
                withdraw_reason=notice.withdraw_reason or "",
                sent=tuple(self.ctx.store.sent_refs(d.notice_id, ch.name)),
            )
        return view

    def _with_files(self, view: PublishedNotice) -> PublishedNotice:
        """The view with its local attachments' approved bytes (a 公众号 article uploads its
        images), each checked against the hash pinned at approval as it leaves the store."""
        files = []
        for a in view.notice.attachments:
            if a.is_local and a.sha256 and a.data is None:
                try:
                    data = self.ctx.store.blob(a.sha256)
                except BlobMismatch as exc:
                    raise NotApproved(f"{view.notice.id}: {a.href}: {exc}") from None
                a = replace(a, data=data)
            files.append(a)
        return replace(view, notice=replace(view.notice, attachments=tuple(files)))

    def _send_one(
        self,
        ch: AnyMessageChannel,
        d: Delivery,
        report: ChannelReport,
        context: SendContext | None = None,
    ) -> bool:
        """Send one delivery; True when the channel must stop for now."""
        if d.pending_ref:  # the target accepted it earlier and was not finished: look again
            outcome = (
                ch.resume(d.pending_ref)
                if isinstance(ch, FollowsUp)
                else Outcome.failed(f"channel '{ch.name}' cannot follow up {d.pending_ref!r}")
            )
            return self.outcomes.apply(ch, d, outcome, report)
        try:
            view = self._views(ch, d, report, context)
            if view is None:
                return False
            payloads = ch.render(view, d.action)
        except NotApproved as exc:
            return self.outcomes.apply(ch, d, Outcome.failed(str(exc)), report)
        except ChannelError as exc:
            return self.outcomes.apply(ch, d, Outcome.failed(f"cannot render: {exc}"), report)
        outcome = Outcome.sent()
        parts = d.parts_sent
        refs = d.ref.splitlines() if parts else []  # what the target said of each part sent
        used: Used | None = None
        for payload in payloads[parts:]:
            # the claim held (renewed), a token taken and the send marked as begun, at once;
            # a full window gives the delivery back (parts sent so far are kept)
            limits = ch.rate_limits
            now = self.ctx.clock.now()
            taken = self.ctx.store.begin_send(
                d.id,
                self.ctx.worker,
                now,
                self.ctx.cfg.lease,
                ch.robot_key if limits else "",
                limits,
                self.ctx.window_now(),
            )
            if taken is None:
                log.info("1 claim ran out before its send; another instance has it")
                return False  # the claim ran out while this worker was busy: another has it
            if taken.free_at is not None:
                self._refused(report, taken.free_at)
                return True
            outcome = ch.send(payload, key=f"{d.id}.{parts}")
            # the send is done: its stamp moves to now in the transaction that records it
            stamp = taken.stamp
            used = None
            if limits and stamp is not None:
                used = (ch.robot_key, stamp, self.ctx.window_now())
            if outcome.kind != OutcomeKind.SENT:
                break
            parts += 1
            if outcome.ref:
                refs.append(outcome.ref)
            if len(payloads) > 1:
                ref = "\n".join(refs) if outcome.ref else None
                self.ctx.store.set_parts_sent(d.id, parts, self.ctx.clock.now(), ref=ref, used=used)
                used = None
        if outcome.kind == OutcomeKind.SENT:
            outcome = replace(outcome, ref="\n".join(refs))
        return self.outcomes.apply(
            ch, d, outcome, report, parts=parts, total_parts=len(payloads), used=used
        )

    # ---------------------------------------------------------------- digests

    def _send_digest(
        self,
        ch: AnyMessageChannel,
        group: list[Delivery],
        report: ChannelReport,
        context: SendContext | None = None,
    ) -> bool:
        live: list[tuple[Delivery, PublishedNotice]] = []
        for d in group:
            try:
                view = self._views(ch, d, report, context)
            except NotApproved as exc:
                self.outcomes.apply(ch, d, Outcome.failed(str(exc)), report)
                continue
            if view is not None:
                live.append((d, view))
        stop = False
        while live and not stop:
            now = self.ctx.clock.now()
            take = len(live)
            while take > 1 and not ch.digest_fits([v for _, v in live[:take]], now):
                take -= 1
            part, live = live[:take], live[take:]
            held = self._still_mine([d.id for d, _ in part])
            part = [(d, v) for d, v in part if d.id in held]  # the others went to another
            if not part:
                continue
            take = len(part)
            if take == 1:
                stop = self._send_one(ch, part[0][0], report, context)
                continue
            try:
                payload = ch.render_digest([v for _, v in part], now)
            except ChannelError as exc:
                for d, _ in part:
                    self.outcomes.apply(
                        ch, d, Outcome.failed(f"cannot render digest: {exc}"), report
                    )
                continue
            if self._wait_for_token(ch, report):
                self.ctx.store.release([d.id for d, _ in part + live], self.ctx.clock.now())
                return True
            key = (
                "digest:"
                + hashlib.sha256(",".join(str(d.id) for d, _ in part).encode()).hexdigest()[:16]
            )
            for d, _ in part:
                self.ctx.store.mark_sending(d.id, self.ctx.clock.now())
            outcome = ch.send(payload, key=key)
            self._sent(ch)
            for d, _ in part:
                stop = self.outcomes.apply(ch, d, outcome, report, digest=len(part)) or stop
            if stop:
                self.ctx.store.release([d.id for d, _ in live], self.ctx.clock.now())
        return stop

    def _still_mine(self, ids: list[int]) -> set[int]:
        """The deliveries of ``ids`` this worker still holds, their leases renewed."""
        now = self.ctx.clock.now()
        held = self.ctx.store.hold(ids, self.ctx.worker, now, self.ctx.cfg.lease)
        if len(held) < len(ids):
            log.info(
                "%d claim(s) ran out before their send; another instance has them",
                len(ids) - len(held),
            )
        return held

    # ---------------------------------------------------------------- rate limits

    def _wait_for_token(self, ch: AnyMessageChannel, report: ChannelReport) -> bool:
        """Take a send from the robot's window; True (and the time to come back noted) when
        the window is full. The window's time is the database's under a real clock, so
        instances whose clocks disagree count one timeline."""
        limits = ch.rate_limits
        self._stamps.pop(ch.name, None)
        if not limits:
            return False
        taken = self.ctx.store.take(ch.robot_key, limits, self.ctx.window_now())
        if taken.free_at is None:
            if taken.stamp is not None:
                self._stamps[ch.name] = taken.stamp
            return False
        self._refused(report, taken.free_at)
        return True

    def _refused(self, report: ChannelReport, free_at: datetime) -> None:
        """The robot's window is full: come back when it frees."""
        report.wake_at = free_at if report.wake_at is None else min(report.wake_at, free_at)
        report.note = (
            f"rate limit: next send at {free_at.astimezone(self.ctx.clock.now().tzinfo):%H:%M:%S}"
        )

    def _sent(self, ch: AnyMessageChannel) -> None:
        """The send just taken is done: it stands in the window at the time it ended."""
        stamp = self._stamps.pop(ch.name, None)
        if stamp is not None:
            self.ctx.store.used(ch.robot_key, stamp, self.ctx.window_now())
