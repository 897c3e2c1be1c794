"""The engine: outbox → channels → outcomes.

One pass (``tick``) runs every channel side by side, so one slow or failing channel never
delays another. For each channel it claims the due deliveries, hands them to the channel and
records what came of each attempt (and an audit event) before moving on. Nothing sleeps: a
retry is a time written into the row, and the next tick after it picks the row up again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.base import Channel, MessageChannel, StateChannel, write_tree

from .config import DeliveryConfig
from .continuity import Ledger
from .errors import BlobMismatch, ChannelError, NotApproved, PublisherError
from .messages import MessageSender
from .model import (
    Clock,
    Delivery,
    DeliveryState,
    Outcome,
    OutcomeKind,
    PublishedNotice,
    redact,
)
from .store import Store
from .views import Views

log = logging.getLogger("publisher.engine")


@dataclass
class ChannelReport:
    channel: str
    skipped: str = ""  # why nothing ran (not configured, paused, an error)
    note: str = ""  # why it stopped early although nothing is wrong (a rate limit …)
    built: bool = False
    changed_files: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    wake_at: datetime | None = None  # when this channel can go on (a rate window frees)
    seconds: float = 0.0  # how long the channel took in this pass

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1


@dataclass
class TickReport:
    at: datetime
    channels: dict[str, ChannelReport] = field(default_factory=dict)

    def total(self, what: str) -> int:
        return sum(r.outcomes.get(what, 0) for r in self.channels.values())

    @property
    def next_wake(self) -> datetime | None:
        """The earliest moment a channel of this pass can go on (None: nothing waits)."""
        times = [r.wake_at for r in self.channels.values() if r.wake_at is not None]
        return min(times) if times else None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        views: Views,
        clock: Clock,
        delivery: DeliveryConfig,
        *,
        files_dir: str | None = None,
        worker: str | None = None,
        rng: random.Random | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.views = views
        self.clock = clock
        self.cfg = delivery
        self.worker = worker or default_worker_id()
        self._mismatches: set[tuple[str, str]] = set()  # (version, blob) already reported
        self.rng = rng or random.Random()
        self.files_dir = files_dir
        self.messages = MessageSender(self)
        # every accepted send, also outside the store: a restored store must not repeat it
        self.ledger = ledger
        self._store_id: str | None = None
        self.stopping = threading.Event()  # set on SIGTERM: no new sends, claims given back

    # ---------------------------------------------------------------- one pass

    def tick(
        self,
        only: Sequence[str] | None = None,
        force_build: bool = False,
        push: Sequence[int] | None = None,
    ) -> TickReport:
        names = [n for n in self.channels if only is None or n in only]
        report = TickReport(self.clock.now())
        if len(names) <= 1:
            for n in names:
                report.channels[n] = self.run_channel(n, force_build, push=push)
        else:
            # channels side by side: a slow or failing robot never delays the others
            with ThreadPoolExecutor(
                max_workers=min(self.cfg.concurrency, len(names)), thread_name_prefix="channel"
            ) as pool:
                futures = {
                    n: pool.submit(self.run_channel, n, force_build, push=push) for n in names
                }
                for n, fut in futures.items():
                    report.channels[n] = fut.result()
        if any(self.channels[n].kind == "state" for n in names):
            try:
                self._write_files()
            except OSError as exc:  # the channels' own reports already say the folder fails
                log.error("attachments: cannot write %s: %s", self.files_dir, exc)
        return report

    def run_channel(
        self,
        name: str,
        force_build: bool = False,
        digest: bool = False,
        push: Sequence[int] | None = None,
    ) -> ChannelReport:
        ch = self.channels[name]
        report = ChannelReport(name)
        started = time.perf_counter()
        try:
            reason = ch.unavailable()
            if reason:
                report.skipped = f"not configured: {reason}"
                return report
            now = self.clock.now()
            st = self.store.channel_state(name)
            if st.paused(now):
                report.skipped = f"paused: {st.pause_reason}"
                report.wake_at = st.paused_until
                return report
            if isinstance(ch, StateChannel):
                self._run_state(ch, report, force_build)
            elif isinstance(ch, MessageChannel):
                self.messages.run(ch, report, digest=digest, push=push)
        except PublisherError as exc:
            # a channel's own trouble is its own: log it and let the other channels go on
            log.error("channel %s: %s", name, redact(str(exc)))
            report.skipped = f"error: {redact(str(exc))}"
        except Exception as exc:
            log.exception("channel %s failed unexpectedly", name)
            report.skipped = f"error: {type(exc).__name__}: {redact(str(exc))}"
        finally:
            report.seconds = round(time.perf_counter() - started, 3)
        return report

    # ---------------------------------------------------------------- state channels

    def _run_state(self, ch: StateChannel, report: ChannelReport, force: bool) -> None:
        now = self.clock.now()
        claimed = self.store.claim(ch.name, now, self.cfg.lease, 100_000, self.worker)
        live = self.store.live_versions(ch.name, now)
        alerts = self.store.alerts(now) if ch.shows_alerts else []
        fingerprint = hashlib.sha256(
            "\n".join(
                [f"{lv.version.sha256}:{lv.previous_sha}" for lv in live]
                + [f"alert:{a.id}:{a.until.isoformat()}" for a in alerts]
            ).encode()
        ).hexdigest()
        # come back exactly when the live set changes by itself (a publish time, an expiry)
        report.wake_at = self.store.next_change(ch.name, now)
        st = self.store.channel_state(ch.name)
        if not claimed and not force and st.build_fingerprint == fingerprint:
            return
        ch.set_alerts(alerts)
        views: list[PublishedNotice] = []
        for lv in live:
            try:
                view = self.views.published(lv.version, lv.previous_sha)
                self.attachments_of(view)  # its files' bytes must still be the approved ones
                views.append(view)
            except NotApproved as exc:  # defence in depth: never build from such a row
                log.error("channel %s: %s", ch.name, exc)
        try:
            changed = ch.build(views)
        except (ChannelError, OSError) as exc:
            # say why (a full disk, a read-only folder), not only "retry N", and let /health
            # see a channel that cannot publish
            why = f"build failed: {redact(str(exc))}"
            report.skipped = f"error: {why}"
            for d in claimed:
                self.apply(ch, d, Outcome.retry(why), report)
            return
        report.built = True
        report.changed_files = len(changed)
        self.store.set_build(ch.name, fingerprint, now, changed)
        if changed:
            log.info("channel %s: rebuilt, %d file(s) changed", ch.name, len(changed))
        in_build = {v.sha256 for v in views}
        settled = self.store.settle_built(ch.name, sorted(in_build), now)
        if settled:
            log.info(
                "channel %s: %d delivery(ies) given up earlier are built now", ch.name, settled
            )
        for d in claimed:
            if d.sha256 in in_build:
                self.apply(ch, d, Outcome.sent("in the published build"), report)
            else:
                self.settle_not_live(ch, d, report)

    def settle_not_live(self, ch: Channel, d: Delivery, report: ChannelReport) -> None:
        """A due delivery whose version is not live: replaced, withdrawn or expired."""
        now = self.clock.now()
        notice = self.store.notice(d.notice_id)
        latest = self.store.latest_approved(d.notice_id)
        if notice.withdrawn_at is not None:
            state, why = DeliveryState.CANCELLED, f"withdrawn: {notice.withdraw_reason}"
        elif latest is not None and latest.sha256 != d.sha256:
            state, why = DeliveryState.SUPERSEDED, f"superseded by {latest.sha256[:12]}"
        else:
            state, why = DeliveryState.CANCELLED, "expired before it was published"
        self.store.finish(
            d, state=state, now=now, attempts=d.attempts, error=why, event=f"delivery.{state}"
        )
        report.count(str(state))

    def run_digest(self, name: str) -> ChannelReport:
        """A scheduled digest: everything due for ``name`` goes out folded into digests."""
        return self.run_channel(name, digest=True)

    # ---------------------------------------------------------------- outcomes

    def backoff(self, attempts: int) -> float:
        base = min(self.cfg.backoff_max, self.cfg.backoff_base * 2.0 ** max(0, attempts - 1))
        spread = base * self.cfg.jitter
        return max(1.0, base + self.rng.uniform(-spread, spread))

    def apply(
        self,
        ch: Channel,
        d: Delivery,
        outcome: Outcome,
        report: ChannelReport,
        parts: int | None = None,
        total_parts: int | None = None,
        digest: int | None = None,
    ) -> bool:
        """Record what one attempt came to; True when the channel must stop for now."""
        now = self.clock.now()
        attempts = d.attempts + 1
        kind = outcome.kind
        reason = redact(outcome.reason)

        def record(state: DeliveryState, event: str, counted: str, **kw: Any) -> None:
            kw.setdefault("attempts", attempts)
            kw.setdefault("error", reason)
            self.store.finish(
                d,
                state=state,
                now=now,
                event=event,
                parts_sent=parts,
                detail={"outcome": str(kind), "parts": parts, "of": total_parts, "digest": digest},
                **kw,
            )
            report.count(counted)

        if kind == OutcomeKind.SENT:
            record(DeliveryState.SENT, "delivery.sent", "sent", error="")
            if self.ledger is not None and isinstance(ch, MessageChannel):
                if self._store_id is None:
                    self._store_id = self.store.store_id()
                self.ledger.sent(
                    store=self._store_id,
                    channel=ch.name,
                    notice_id=d.notice_id,
                    sha256=d.sha256,
                    action=str(d.action),
                    at=now,
                )
            return False
        if kind == OutcomeKind.DISABLED:
            # the channel's configuration is wrong: stop it for everyone, tell a person, and
            # keep the delivery (it was not this message's fault, so no attempt is counted)
            until = now + timedelta(seconds=outcome.after) if outcome.after else None
            if not self.store.channel_state(ch.name).paused(now):  # once, not per message
                self.store.pause_channel(ch.name, reason, now, until)
                log.error(
                    "channel %s paused: %s (fix the configuration, then "
                    "`publisher retry --channel %s`)",
                    ch.name,
                    reason,
                    ch.name,
                )
                if isinstance(ch, MessageChannel):
                    self.messages.alert(ch, reason)
            record(
                DeliveryState.PENDING,
                "delivery.held",
                "paused",
                attempts=d.attempts,
                error=f"channel paused: {reason}",
            )
            return True
        if kind == OutcomeKind.FAILED:
            record(DeliveryState.FAILED, "delivery.failed", "failed")
            log.error(
                "channel %s: delivery %d of %s failed: %s", ch.name, d.id, d.notice_id, reason
            )
            return False
        if kind == OutcomeKind.UNKNOWN:
            # it may have arrived: retry once (by default), then hold it for a person
            if getattr(ch, "on_unknown", "retry") == "hold" or d.unknowns >= 1:
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
        if attempts >= self.cfg.max_attempts:
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
            self.store.pause_channel(
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

    # ---------------------------------------------------------------- attachments

    def _write_files(self) -> None:
        """Copy the approved bytes of live notices' local attachments into the output."""
        if self.files_dir is None:
            return
        from pathlib import Path

        now = self.clock.now()
        docs: dict[str, bytes] = {}
        shas: set[str] = set()
        for name, ch in self.channels.items():
            if ch.kind != "state":
                continue
            for lv in self.store.live_versions(name, now):
                if lv.version.sha256 in shas:
                    continue
                shas.add(lv.version.sha256)
                try:
                    view = self.views.published(lv.version, lv.previous_sha)
                    docs.update(self.attachments_of(view))
                except NotApproved:
                    continue
        write_tree(Path(self.files_dir), docs, owner="attachments")

    def attachments_of(self, view: PublishedNotice) -> dict[str, bytes]:
        """The files of a view's local attachments (path under files/ → bytes), each verified
        against the hash pinned in the approved version as it leaves the store. A mismatch
        stops the notice (``NotApproved``), logs an error and writes an audit event."""
        out: dict[str, bytes] = {}
        for a in view.notice.attachments:
            if not (a.is_local and a.sha256):
                continue
            try:
                data = self.store.blob(a.sha256)
            except BlobMismatch as exc:
                if (view.sha256, a.sha256) not in self._mismatches:  # once, not every tick
                    self._mismatches.add((view.sha256, a.sha256))
                    self.store.audit(
                        self.clock.now(),
                        "blob.mismatch",
                        notice_id=view.notice.id,
                        sha256=view.sha256,
                        file=a.href,
                        expected=exc.sha256,
                        actual=exc.actual,
                    )
                raise NotApproved(f"{view.notice.id}: {a.href}: {exc}") from None
            if data is None:
                raise NotApproved(f"{view.notice.id}: {a.href}: approved bytes are missing")
            out[f"{a.sha256[:16]}/{a.filename}"] = data
        return out
