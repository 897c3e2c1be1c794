"""State channels (feeds, screens): rebuild from the live set when it changes, and the live
notices' attachment files beside them.

Under ``publisher run`` a build goes on in a thread of its own (one per channel) and the pass
does not wait for it: a screen loop of hundreds of slides takes seconds to draw, and a robot
notice due meanwhile must still leave on time. A build asked for while one runs is remembered
and run once when that one ends (builds coalesce; none is lost). The CLI and tests build in
the pass, so they see the files when the pass returns.

Urgent work overtakes long work. A withdrawal or an alert (``urgent``) never waits for a build
in progress: it tells that build to stop (the build asks before each file it writes, see
``StateChannel.build``; files are whole, so the folder stays consistent file by file) and
builds at once from the newest live set, writing what changed first. Across processes the
store numbers the builds of each output location (a ticket taken before the live set is
read): a build stops as soon as a newer one began writing the same folder, and records
nothing, so a slow build of an older live set never overwrites a newer one. A channel whose
build cannot stop (it never asks) and turns out to have been overtaken builds again at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from publisher.channel import (
    AnyStateChannel,
    LiveSet,
    ShowsAlerts,
    ShowsTombstones,
    TimedOutput,
)
from publisher.delivery.context import EngineContext, log
from publisher.delivery.outcomes import Outcomes
from publisher.delivery.passes import ChannelReport
from publisher.errors import BlobMismatch, ChannelError, NotApproved
from publisher.model import Alert, Delivery, Outcome, PublishedNotice, Tombstone
from publisher.output import AttachmentFiles, atomic_write
from publisher.secrets import redact
from publisher.store import LiveVersion

# how often a build asks the store whether a newer build of its folder began (the folder's
# mark is asked before every file), and tells it that it is still at work (others take a
# build silent for ``delivery.lease`` for dead)
CHECK = 0.25
BEAT = 30.0


class StatePublisher:
    def __init__(
        self, ctx: EngineContext, outcomes: Outcomes, files_dir: str | None = None
    ) -> None:
        self.ctx = ctx
        self.outcomes = outcomes
        self.files = AttachmentFiles(Path(files_dir)) if files_dir else None
        self._mismatches: set[tuple[str, str]] = set()  # (version, blob) already reported
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # background builds (``publisher run``): the thread per channel, a build asked for
        # while one runs, and the report of the last one that finished
        self.background = False
        self.on_built: Callable[[str, datetime | None], None] | None = None
        self._threads: dict[str, threading.Thread] = {}
        self._again: dict[str, bool] = {}  # channel → the next build is forced
        self._last: dict[str, ChannelReport] = {}
        # overtaking: the stop flag of each channel's build in progress, and how many urgent
        # builds (withdrawals, alerts) wait for the channel
        self._stops: dict[str, threading.Event] = {}
        self._urgent: dict[str, int] = {}
        # deliveries a build stopped for an urgent one had claimed: that build (same worker,
        # claims still held) settles them, instead of claiming thousands back
        self._handed: dict[str, list[Delivery]] = {}

    def submit(self, ch: AnyStateChannel, report: ChannelReport, force: bool) -> None:
        """Start a build of ``ch`` in its own thread, or ask for one more after the running
        one; fill ``report`` with what the last finished build did (its error, if any, so
        /health still sees a channel that cannot publish)."""
        with self._guard:
            last = self._last.get(ch.name)
            running = self._threads.get(ch.name)
            if running is not None and running.is_alive():
                # one more build when this one ends (forced if any asker wanted it forced)
                self._again[ch.name] = self._again.get(ch.name, False) or force
                report.note = "building"
            else:
                t = threading.Thread(
                    target=self._background, args=(ch, force), name=f"build-{ch.name}", daemon=True
                )
                self._threads[ch.name] = t
                t.start()
            if last is not None:
                report.skipped = last.skipped
                report.built = last.built
                report.changed_files = last.changed_files
                report.outcomes = dict(last.outcomes)
                last.outcomes.clear()  # counted once, in the pass that reports them
                last.changed_files = 0
        now = self.ctx.clock.now()
        report.wake_at = _earliest(self.ctx.store.next_change(ch.name, now), _timed(ch, now)[1])

    def _background(self, ch: AnyStateChannel, force: bool) -> None:
        while True:
            report = ChannelReport(ch.name)
            try:
                self.run(ch, report, force)
            except Exception as exc:  # a build thread never dies silently
                log.exception("channel %s: build failed unexpectedly", ch.name)
                report.skipped = f"error: {type(exc).__name__}: {redact(str(exc))}"
            with self._guard:
                previous = self._last.get(ch.name)
                if previous is not None:  # not yet reported by a pass: keep the counts
                    for k, v in previous.outcomes.items():
                        report.outcomes[k] = report.outcomes.get(k, 0) + v
                    report.changed_files += previous.changed_files
                self._last[ch.name] = report
                again = ch.name in self._again
                force = self._again.pop(ch.name, False)
                if not again or self.ctx.stopping.is_set():
                    self._threads.pop(ch.name, None)
                    break
        if self.on_built is not None:
            self.on_built(ch.name, report.wake_at)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the builds in progress (stopping, tests); False if one still runs."""
        with self._guard:
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def run(
        self, ch: AnyStateChannel, report: ChannelReport, force: bool, urgent: bool = False
    ) -> None:
        """Build ``ch`` now. ``urgent`` (a withdrawal, an alert): a build of the channel in
        progress is told to stop and this one goes at once, never after it."""
        name = ch.name
        if urgent:
            with self._guard:
                self._urgent[name] = self._urgent.get(name, 0) + 1
                running = self._stops.get(name)
                if running is not None:
                    running.set()
        # one build of a channel at a time in this process: a pass, a withdrawal from the
        # console and an alert may ask at once, and a channel keeps plans between builds
        with self._lock_for(name):
            with self._guard:
                if urgent:
                    self._urgent[name] -= 1
                stop = threading.Event()
                if self._urgent.get(name, 0):
                    stop.set()  # an urgent build waits for the channel: give way at once
                self._stops[name] = stop
            settle: list[Callable[[], None]] = []
            try:
                for _ in range(3):
                    if not self._run(ch, report, force, urgent, stop, settle):
                        break
                    force = True  # it may have written an older set over a newer one
            finally:
                with self._guard:
                    if self._stops.get(name) is stop:
                        del self._stops[name]
        # recording what came of each delivery (thousands after a first export) needs no
        # build of the channel: an urgent build goes on meanwhile
        for step in settle:
            step()

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _run(
        self,
        ch: AnyStateChannel,
        report: ChannelReport,
        force: bool,
        urgent: bool,
        stop: threading.Event,
        settle: list[Callable[[], None]],
    ) -> bool:
        """One build; True when it must be built again at once (a build that cannot stop
        wrote while a newer build of the folder began: its files may be the older ones).
        What came of its deliveries is left in ``settle``, to record once the channel is
        free."""
        if stop.is_set():
            report.note = "overtaken: a withdrawal or an alert builds it now"
            return False
        store, location = self.ctx.store, self.ctx.location
        now = self.ctx.clock.now()
        claimed = self._claim(ch.name, now)
        # numbered before reading: a build with a later ticket sees at least what this one saw
        ticket = store.build_ticket(ch.name, location, now)
        live = self.ctx.store.live_versions(ch.name, now)
        alerts = self.ctx.store.alerts(now) if isinstance(ch, ShowsAlerts) else []
        tombstones = self.ctx.store.tombstones() if isinstance(ch, ShowsTombstones) else []
        timed_key, timed_wake = _timed(ch, now)

        def fingerprint_with(timed: str) -> str:
            return _fingerprint(live, alerts, tombstones, timed)

        fingerprint = fingerprint_with(timed_key)
        # come back exactly when the live set changes by itself (a publish time, an expiry)
        # or the channel's output does (a screen's hours begin or end)
        changes = self.ctx.store.next_change(ch.name, now)
        report.wake_at = _earliest(changes, timed_wake)
        # what this instance's folder holds (another instance's build wrote its own folder)
        record = self.ctx.store.build_record(ch.name, location)
        if not claimed and not force and record is not None and record.fingerprint == fingerprint:
            return False
        start = store.start_build(
            ch.name,
            location,
            ticket,
            fingerprint,
            self.ctx.worker,
            now,
            alive=self.ctx.cfg.lease,
            overtake=urgent,
        )
        if not start.ok:  # a newer build writes the folder, or another instance builds this
            store.release([d.id for d in claimed], now)
            report.note = f"not built: {start.why}"
            return False
        if start.last_writer != self.ctx.worker:
            # a folder last written by another instance: what this process remembers writing
            # there may be stale, so every file is rendered and compared again
            ch.forget_written()
        views = self._views(ch.name, live, stop)
        if views is None:  # overtaken before it wrote anything
            store.end_build(ch.name, location, ticket)
            self._hand_over(ch.name, claimed)
            report.note = "overtaken: a withdrawal or an alert builds it now"
            return False
        cancelled = _Cancel(self.ctx, ch, ticket, stop)
        try:
            changed = ch.build(
                LiveSet(views, alerts=alerts, tombstones=tombstones, cancelled=cancelled)
            )
        except (ChannelError, OSError) as exc:
            store.end_build(ch.name, location, ticket)
            # say why (a full disk, a read-only folder), not only "retry N", and let /health
            # see a channel that cannot publish
            why = f"build failed: {redact(str(exc))}"
            report.skipped = f"error: {why}"
            for d in claimed:
                self.outcomes.apply(ch, d, Outcome.retry(why), report)
            return False
        except BaseException:
            store.end_build(ch.name, location, ticket)
            raise
        report.changed_files = len(changed)
        if cancelled.stopped:
            # overtaken: the newer build (a withdrawal here, or another process's) writes the
            # rest, and settles these deliveries
            store.end_build(ch.name, location, ticket)
            if stop.is_set():
                self._hand_over(ch.name, claimed)
            else:
                store.release([d.id for d in claimed], now)
            report.note = "overtaken by a newer build (it writes the rest)"
            log.info("channel %s: build overtaken after %d file(s)", ch.name, len(changed))
            return False
        # what the build itself learnt (the screen windows of the notices it laid out)
        timed_key, timed_wake = _timed(ch, now)
        report.wake_at = _earliest(changes, timed_wake)
        recorded = store.set_build(
            ch.name,
            fingerprint_with(timed_key),
            now,
            changed,
            location=location,
            instance=self.ctx.worker,
            ticket=ticket,
        )
        if not recorded:
            # a newer build of this folder began while this one wrote
            store.release([d.id for d in claimed], now)
            report.note = "overtaken by a newer build of the folder"
            log.info("channel %s: a newer build of the folder began meanwhile", ch.name)
            return (
                not cancelled.asked
            )  # never asked: what it wrote may be older than the newer build's
        report.built, report.note = True, ""
        if changed:
            log.info("channel %s: rebuilt, %d file(s) changed", ch.name, len(changed))
        in_build = {v.sha256 for v in views}

        def outcomes() -> None:
            settled = store.settle_built(ch.name, sorted(in_build), now)
            if settled:
                log.info(
                    "channel %s: %d delivery(ies) given up earlier are built now", ch.name, settled
                )
            for d in claimed:
                if d.sha256 in in_build:
                    self.outcomes.apply(ch, d, Outcome.sent("in the published build"), report)
                else:
                    self.outcomes.settle_not_live(ch, d, report)

        settle.append(outcomes)
        return False

    def _claim(self, name: str, now: datetime) -> list[Delivery]:
        """What the channel's build settles: its due deliveries, and those a build this one
        overtook handed over."""
        claimed = self.ctx.store.claim(name, now, self.ctx.cfg.lease, 100_000, self.ctx.worker)
        with self._guard:
            handed = self._handed.pop(name, [])
        if handed:
            ids = {d.id for d in claimed}
            claimed += [d for d in handed if d.id not in ids]
        return claimed

    def _views(
        self, name: str, live: Sequence[LiveVersion], stop: threading.Event
    ) -> list[PublishedNotice] | None:
        """The published views of the live versions, checked; None when overtaken first."""
        views: list[PublishedNotice] = []
        for lv in live:
            if stop.is_set():
                return None
            try:
                view = self.ctx.views.published(lv.version, lv.previous_sha)
                self.attachments_of(view)  # its files' bytes must still be the approved ones
                views.append(view)
            except NotApproved as exc:  # defence in depth: never build from such a row
                log.error("channel %s: %s", name, exc)
        return views

    def _hand_over(self, name: str, claimed: list[Delivery]) -> None:
        """Leave ``claimed`` to the urgent build that waits for the channel in this process."""
        with self._guard:
            self._handed.setdefault(name, []).extend(claimed)

    def write_files(self) -> None:
        """Copy the approved bytes of live notices' local attachments into the output."""
        if self.files is None:
            return
        with self._lock_for("(attachments)"):
            self._write_files()

    def _write_files(self) -> None:
        assert self.files is not None
        now = self.ctx.clock.now()
        docs: dict[str, bytes] = {}
        shas: set[str] = set()
        for name, ch in self.ctx.channels.items():
            if ch.kind != "state":
                continue
            for lv in self.ctx.store.live_versions(name, now):
                if lv.version.sha256 in shas:
                    continue
                shas.add(lv.version.sha256)
                try:
                    view = self.ctx.views.published(lv.version, lv.previous_sha)
                    docs.update(self.attachments_of(view))
                except NotApproved:
                    continue
        self.files.write(docs)

    def attachments_of(self, view: PublishedNotice) -> dict[str, bytes]:
        """The files of a view's local attachments (path under files/ → bytes), each verified
        against the hash pinned in the approved version as it leaves the store. A mismatch
        stops the notice (``NotApproved``), logs an error and writes an audit event."""
        out: dict[str, bytes] = {}
        for a in view.notice.attachments:
            if not (a.is_local and a.sha256):
                continue
            try:
                data = self.ctx.store.blob(a.sha256)
            except BlobMismatch as exc:
                if (view.sha256, a.sha256) not in self._mismatches:  # once, not every tick
                    self._mismatches.add((view.sha256, a.sha256))
                    self.ctx.store.audit(
                        self.ctx.clock.now(),
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


def _newer(mark: Path, ticket: int) -> bool:
    """The folder's mark names a newer build than ``ticket``."""
    try:
        return int(mark.read_bytes()) > ticket
    except (OSError, ValueError):
        return False


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _timed(ch: AnyStateChannel, now: datetime) -> tuple[str, datetime | None]:
    """What of the channel's output depends on the clock (``TimedOutput``); nothing, for a
    channel whose output follows the live set alone."""
    return ch.timed_state(now) if isinstance(ch, TimedOutput) else ("", None)


def _fingerprint(
    live: Sequence[LiveVersion],
    alerts: Sequence[Alert],
    tombstones: Sequence[Tombstone],
    timed: str,
) -> str:
    """What a build is made from, as one hash: equal hashes, equal output."""
    return hashlib.sha256(
        "\n".join(
            [f"{lv.version.sha256}:{lv.previous_sha}" for lv in live]
            + [f"alert:{a.id}:{a.until.isoformat()}" for a in alerts]
            + [f"gone:{t.notice_id}:{t.withdrawn_at.isoformat()}" for t in tombstones]
            + ([f"timed:{timed}"] if timed else [])
        ).encode()
    ).hexdigest()


class _Cancel:
    """A build's ``cancelled()``: the ticket of the folder's writer is kept beside the files
    too and asked before every file (microseconds, where the store takes a millisecond); the
    store is asked a few times a second, and told now and then that the build is alive."""

    def __init__(
        self, ctx: EngineContext, ch: AnyStateChannel, ticket: int, stop: threading.Event
    ) -> None:
        self.ctx, self.name, self.ticket, self.stop = ctx, ch.name, ticket, stop
        self.mark = ch.root() / f".publisher-build.{ch.name}"
        with contextlib.suppress(OSError):  # the store is asked all the same
            atomic_write(self.mark, str(ticket).encode())
        self.asked = self.stopped = False
        self.checked = self.beat = time.monotonic()

    def __call__(self) -> bool:
        self.asked = True
        if self.stopped or self.stop.is_set() or _newer(self.mark, self.ticket):
            self.stopped = True
            return True
        t = time.monotonic()
        if t - self.checked >= CHECK:
            self.checked = t
            store, location = self.ctx.store, self.ctx.location
            self.stopped = store.build_superseded(self.name, location, self.ticket)
            if not self.stopped and t - self.beat >= min(BEAT, self.ctx.cfg.lease / 4):
                self.beat = t
                self.stopped = not store.building(
                    self.name, location, self.ticket, self.ctx.clock.now()
                )
        return self.stopped
