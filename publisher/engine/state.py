"""State channels (feeds, screens): rebuild from the live set when it changes, and the live
notices' attachment files beside them."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from ..channel import AnyStateChannel
from ..errors import BlobMismatch, ChannelError, NotApproved
from ..model import Outcome, PublishedNotice
from ..output import AttachmentFiles
from ..secrets import redact
from .context import EngineContext, log
from .outcomes import Outcomes
from .reports import ChannelReport


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
        fingerprint = hashlib.sha256(
            "\n".join(
                [f"{lv.version.sha256}:{lv.previous_sha}" for lv in live]
                + [f"alert:{a.id}:{a.until.isoformat()}" for a in alerts]
            ).encode()
        ).hexdigest()
        # come back exactly when the live set changes by itself (a publish time, an expiry)
        report.wake_at = self.ctx.store.next_change(ch.name, now)
        st = self.ctx.store.channel_state(ch.name)
        if not claimed and not force and st.build_fingerprint == fingerprint:
            return
        ch.set_alerts(alerts)
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
        self.ctx.store.set_build(ch.name, fingerprint, now, changed)
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
