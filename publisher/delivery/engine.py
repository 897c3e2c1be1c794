"""The engine: outbox → channels → outcomes.

One pass (``tick``) runs every channel side by side, so one slow or failing channel never
delays another. For each channel it claims the due deliveries, hands them to the channel and
records what came of each attempt (and an audit event) before moving on. Nothing sleeps: a
retry is a time written into the row, and the next tick after it picks the row up again.

The parts share one :class:`EngineContext`: ``state`` (feeds, screens, attachment files),
``messages`` (robots), ``outcomes`` (recording attempts), ``operator`` (telling a person).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from publisher.channel import AnyChannel, MessageChannel, StateChannel
from publisher.config import DeliveryConfig
from publisher.delivery.context import EngineContext, default_worker_id, log
from publisher.delivery.continuity import Ledger
from publisher.delivery.messages import MessageSender
from publisher.delivery.operator import OperatorNotifier
from publisher.delivery.outcomes import Outcomes
from publisher.delivery.passes import ChannelReport, TickReport
from publisher.delivery.state import StatePublisher
from publisher.delivery.views import PublishedViews
from publisher.errors import PublisherError
from publisher.model import Clock, PublishedNotice
from publisher.secrets import redact
from publisher.store import Store

__all__ = ["ChannelReport", "Engine", "EngineContext", "TickReport", "default_worker_id"]


class Engine:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, AnyChannel],
        views: PublishedViews,
        clock: Clock,
        delivery: DeliveryConfig,
        *,
        files_dir: str | None = None,
        worker: str | None = None,
        rng: random.Random | None = None,
        ledger: Ledger | None = None,
        location: str = "",
    ) -> None:
        self.ctx = EngineContext(
            store,
            dict(channels),
            views,
            clock,
            delivery,
            worker=worker or default_worker_id(),
            rng=rng or random.Random(),
            ledger=ledger,
            location=location or output_location(files_dir),
        )
        self.operator = OperatorNotifier(self.ctx)
        self.outcomes = Outcomes(self.ctx, self.operator)
        self.state = StatePublisher(self.ctx, self.outcomes, files_dir)
        self.messages = MessageSender(self.ctx, self.outcomes)

    # what callers outside the engine reach
    @property
    def channels(self) -> Mapping[str, AnyChannel]:
        return self.ctx.channels

    @property
    def stopping(self) -> threading.Event:
        return self.ctx.stopping

    @property
    def ledger(self) -> Ledger | None:
        return self.ctx.ledger

    def backoff(self, attempts: int) -> float:
        return self.outcomes.backoff(attempts)

    def attachments_of(self, view: PublishedNotice) -> dict[str, bytes]:
        return self.state.attachments_of(view)

    # ---------------------------------------------------------------- one pass

    def tick(
        self,
        only: Sequence[str] | None = None,
        force_build: bool = False,
        push: Sequence[int] | None = None,
        wait: bool = False,
    ) -> TickReport:
        """One pass over the channels ``only`` (default all). State channels build in the
        pass unless builds run in the background (``publisher run``); ``wait`` builds in the
        pass anyway, and at once: urgent work (a withdrawal, an alert) overtakes a build of
        the channel in progress (it stops between two files) instead of waiting for it, so
        it is in the feeds and on the screens when the call returns."""
        names = [n for n in self.channels if only is None or n in only]
        report = TickReport(self.ctx.clock.now())
        if len(names) <= 1:
            for n in names:
                report.channels[n] = self.run_channel(n, force_build, push=push, wait=wait)
        else:
            # channels side by side: a slow or failing robot never delays the others
            with ThreadPoolExecutor(
                max_workers=min(self.ctx.cfg.concurrency, len(names)), thread_name_prefix="channel"
            ) as pool:
                futures = {
                    n: pool.submit(self.run_channel, n, force_build, push=push, wait=wait)
                    for n in names
                }
                for n, fut in futures.items():
                    report.channels[n] = fut.result()
        if any(self.channels[n].kind == "state" for n in names):
            try:
                self.state.write_files()
            except OSError as exc:  # the channels' own reports already say the folder fails
                log.error("attachments: cannot write %s: %s", self.state.files, exc)
        return report

    def run_channel(
        self,
        name: str,
        force_build: bool = False,
        digest: bool = False,
        push: Sequence[int] | None = None,
        wait: bool = False,
    ) -> ChannelReport:
        ch = self.channels[name]
        report = ChannelReport(name)
        started = time.perf_counter()
        try:
            reason = ch.unavailable()
            if reason:
                report.skipped = f"not configured: {reason}"
                return report
            now = self.ctx.clock.now()
            st = self.ctx.store.channel_state(name)
            if st.paused(now):
                report.skipped = f"paused: {st.pause_reason}"
                report.wake_at = st.paused_until
                return report
            if isinstance(ch, StateChannel):
                if self.state.background and not wait:
                    self.state.submit(ch, report, force_build)
                else:
                    self.state.run(ch, report, force_build, urgent=wait)
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

    def run_digest(self, name: str) -> ChannelReport:
        """A scheduled digest: everything due for ``name`` goes out folded into digests."""
        return self.run_channel(name, digest=True)


def output_location(files_dir: str | None, shared: bool = False) -> str:
    """How build records name an output folder: the machine and the folder's real path, so
    two instances with folders of their own each keep theirs current; the path alone when
    the folder is shared storage written by several machines."""
    folder = os.path.realpath(os.path.dirname(files_dir)) if files_dir else "(none)"
    return folder if shared else f"{socket.gethostname()}:{folder}"
