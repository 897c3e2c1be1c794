"""State channels (feeds, screens): rebuild from the live set when it changes, and the live
notices' attachment files beside them.

Under ``publisher run`` a build goes on in a thread of its own (one per channel) and the pass
does not wait for it: a screen loop of hundreds of slides takes seconds to draw, and a robot
notice due meanwhile must still leave on time. A build asked for while one runs is remembered
and run once when that one ends (builds coalesce; none is lost). The CLI and tests build in
the pass, so they see the files when the pass returns.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from publisher.channel import AnyStateChannel
from publisher.delivery.context import EngineContext, log
from publisher.delivery.outcomes import Outcomes
from publisher.delivery.passes import ChannelReport
from publisher.errors import BlobMismatch, ChannelError, NotApproved
from publisher.model import Outcome, PublishedNotice
from publisher.output import AttachmentFiles
from publisher.secrets import redact


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
        report.wake_at = _earliest(self.ctx.store.next_change(ch.name, now), ch.timed_state(now)[1])

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

    def run(self, ch: AnyStateChannel, report: ChannelReport, force: bool) -> None:
        # one build of a channel at a time in this process: a pass, a withdrawal from the
        # console and an alert may ask at once, and a channel keeps plans between builds
        with self._lock_for(ch.name):
            self._run(ch, report, force)

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _run(self, ch: AnyStateChannel, report: ChannelReport, force: bool) -> None:
        now = self.ctx.clock.now()
        claimed = self.ctx.store.claim(ch.name, now, self.ctx.cfg.lease, 100_000, self.ctx.worker)
        live = self.ctx.store.live_versions(ch.name, now)
        alerts = self.ctx.store.alerts(now) if ch.shows_alerts else []
        tombstones = self.ctx.store.tombstones() if ch.shows_tombstones else []
        timed_key, timed_wake = ch.timed_state(now)

        def fingerprint_with(timed: str) -> str:
            return hashlib.sha256(
                "\n".join(
                    [f"{lv.version.sha256}:{lv.previous_sha}" for lv in live]
                    + [f"alert:{a.id}:{a.until.isoformat()}" for a in alerts]
                    + [f"gone:{t.notice_id}:{t.withdrawn_at.isoformat()}" for t in tombstones]
                    + ([f"timed:{timed}"] if timed else [])
                ).encode()
            ).hexdigest()

        fingerprint = fingerprint_with(timed_key)
        # come back exactly when the live set changes by itself (a publish time, an expiry)
        # or the channel's output does (a screen's hours begin or end)
        changes = self.ctx.store.next_change(ch.name, now)
        report.wake_at = _earliest(changes, timed_wake)
        # what this instance's folder holds (another instance's build wrote its own folder)
        record = self.ctx.store.build_record(ch.name, self.ctx.location)
        if not claimed and not force and record is not None and record.fingerprint == fingerprint:
            return
        if record is not None and record.instance != self.ctx.worker:
            # a shared folder last written by another instance: what this process remembers
            # writing there may be stale, so every file is rendered and compared again
            ch.forget_written()
        ch.set_alerts(alerts)
        ch.set_tombstones(tombstones)
        views: list[PublishedNotice] = []
        for lv in live:
            try:
                view = self.ctx.views.published(lv.version, lv.previous_sha)
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
                self.outcomes.apply(ch, d, Outcome.retry(why), report)
            return
        report.built = True
        report.changed_files = len(changed)
        # what the build itself learnt (the screen windows of the notices it laid out)
        timed_key, timed_wake = ch.timed_state(now)
        report.wake_at = _earliest(changes, timed_wake)
        self.ctx.store.set_build(
            ch.name,
            fingerprint_with(timed_key),
            now,
            changed,
            location=self.ctx.location,
            instance=self.ctx.worker,
        )
        if changed:
            log.info("channel %s: rebuilt, %d file(s) changed", ch.name, len(changed))
        in_build = {v.sha256 for v in views}
        settled = self.ctx.store.settle_built(ch.name, sorted(in_build), now)
        if settled:
            log.info(
                "channel %s: %d delivery(ies) given up earlier are built now", ch.name, settled
            )
        for d in claimed:
            if d.sha256 in in_build:
                self.outcomes.apply(ch, d, Outcome.sent("in the published build"), report)
            else:
                self.outcomes.settle_not_live(ch, d, report)

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


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None
