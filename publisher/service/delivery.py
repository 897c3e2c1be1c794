"""Taking approved notices out: passes, pushes, previews, retries, withdrawals, vendor pushes and
what a person is told."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from publisher.channel import (
    ChannelContext,
    FileRule,
    MessageChannel,
    Payload,
    PreviewsImages,
    ServesFiles,
    ShowsAlerts,
    StateChannel,
    TakesVendorEvents,
    WritesSitePages,
    channel_class,
)
from publisher.clock import SystemClock
from publisher.config import Settings
from publisher.delivery.continuity import (
    Withdrawal,
    write_withdrawal,
)
from publisher.delivery.engine import TickReport
from publisher.errors import NotApproved, NotFound, PublisherError, ReviewError
from publisher.mediatypes import content_type
from publisher.model import Action, DeliveryState
from publisher.notices.files import canonical, content_hash
from publisher.service.base import ServiceBase
from publisher.service.readmodels import PushReport
from publisher.templating import make_environment

log = logging.getLogger("publisher")


class DeliveryJob(ServiceBase):
    @property
    def takes_vendor_events(self) -> bool:
        """Some channel listens for its vendor's pushes (``/hooks/NAME``)."""
        return any(
            isinstance(ch, TakesVendorEvents) and ch.listens for ch in self.channels.values()
        )

    def site_template(self, page: str) -> str | None:
        """The template of a page the site answers itself (``search``), from the channel
        that writes the site's pages; None when no channel does (then there is no such
        page)."""
        for ch in self.channels.values():
            if isinstance(ch, WritesSitePages) and (name := ch.site_template(page)):
                return name
        return None

    def file_rules(self) -> list[FileRule]:
        """How the site serves what the channels write, as each channel declares it."""
        return [
            rule
            for ch in self.channels.values()
            if isinstance(ch, ServesFiles)
            for rule in ch.file_rules()
        ]

    def vendor_event(
        self, name: str, method: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, int]:
        """A vendor's push to ``/hooks/NAME``: the answer, and how many deliveries it made
        due now (those the vendor said it finished)."""
        ch = self.channels.get(name)
        if not isinstance(ch, TakesVendorEvents) or not ch.listens:
            return 404, "not found", 0
        status, text, match = ch.vendor_event(method, query, body)
        nudged = self.store.nudge(name, match, self.clock.now()) if match else 0
        if match:
            log.info("channel %s: the vendor says %s finished (%d waiting)", name, match, nudged)
        return status, text, nudged

    def _tell_operator(self, text: str, about: str) -> bool:
        """A message to a person through ``delivery.operator_channel`` (a screen fell
        silent); logged as well, so a site without that robot still sees it."""
        log.warning("%s", text)
        name = self.settings.model.delivery.operator_channel
        if not name:
            return False
        key = f"screen:{about}"
        return self.engine.operator.post(name, text, key, "screen.silent_told", screen=about)

    def tick(self, force_build: bool = False) -> TickReport:
        self.guard_output()
        self.index_catalogue()
        return self.engine.tick(force_build=force_build)

    def push(
        self,
        notice_id: str,
        channels: Sequence[str] | None = None,
        dry_run: bool = False,
        *,
        actor: str = "",
        event: str = "",
    ) -> PushReport:
        """Send an approved notice's pending deliveries now. Never bypasses approval. With
        ``event`` (``console.push``), the push is recorded in the audit trail as ``actor``'s."""
        self.store.notice(notice_id)
        latest = self.store.latest_approved(notice_id)
        if latest is None:
            raise NotApproved(
                f"{notice_id} has no approved version; nothing can be pushed "
                f"(run `publisher review {notice_id}` and `publisher approve`)"
            )
        current = self.store.notice(notice_id).current_sha
        deliveries = [
            d
            for d in self.store.deliveries_of(notice_id)
            if d.sha256 == latest.sha256
            and d.action == Action.PUBLISH
            and (not channels or d.channel in channels)
        ]
        for ch in channels or ():
            if ch not in self.settings.channels:
                raise NotFound(
                    f"unknown channel {ch!r} (channels: {', '.join(self.settings.channels)})"
                )
        now = self.clock.now()
        plan: dict[str, str] = {}
        if current and current != latest.sha256:
            plan["(note)"] = (
                f"the file has a newer, unapproved version {current[:12]}; "
                f"pushing approved version {latest.sha256[:12]}"
            )
        due: list[int] = []
        for d in deliveries:
            target = self.channels.get(d.channel)
            if target is None:
                plan[d.channel] = "channel disabled in config"
            elif reason := target.unavailable():
                plan[d.channel] = f"not configured: {reason}"
            elif d.state != DeliveryState.PENDING:
                plan[d.channel] = f"already {d.state}"
            elif latest.publish_at > now:
                when = latest.publish_at.astimezone(self.settings.tz)
                plan[d.channel] = (
                    f"scheduled for {when:%Y-%m-%d %H:%M}; a push does not publish early"
                )
            else:
                plan[d.channel] = "would send now" if dry_run else "sending"
                due.append(d.id)
        if not deliveries:
            plan["(none)"] = "this approved version is routed to none of these channels"
        report = PushReport(notice_id, latest.sha256, plan)
        if dry_run or not due:
            self._audit(event, actor, notice_id=notice_id, channels=report.channels)
            return report
        self.store.make_due(due, now)
        names = sorted({d.channel for d in deliveries if d.id in due})
        self.guard_output()
        report.tick = self.engine.tick(only=names, push=due)  # just these, held or not
        for d in self.store.deliveries_of(notice_id):
            if d.id in due:
                plan[d.channel] = str(d.state) + (f": {d.last_error}" if d.last_error else "")
        self._audit(event, actor, notice_id=notice_id, channels=report.channels)
        return report

    def _audit(self, event: str, actor: str, **fields: Any) -> None:
        if event:
            self.store.audit(self.clock.now(), event, actor=actor, **fields)

    def preview(self, notice_id: str, channel: str, proposed: bool = False) -> list[Payload]:
        """Exactly what ``channel`` would send or write for the notice's approved version; with
        ``proposed``, for the file as it is now (what a reviewer is about to approve)."""
        ch = self.channels.get(channel)
        if ch is None:
            raise NotFound(
                f"unknown or disabled channel {channel!r} (channels: {', '.join(self.channels)})"
            )
        if proposed:
            notice = self.notice(notice_id)
            sha = content_hash(canonical(notice))
            view = self.views.proposed(notice, sha, self.clock.now())
        else:
            latest = self.store.latest_approved(notice_id)
            if latest is None:
                self.store.notice(notice_id)
                raise NotApproved(
                    f"{notice_id} has no approved version to preview; previews show "
                    "only what could really go out"
                )
            previous = self.store.sent_before(notice_id, channel, latest.sha256)
            view = self.views.published(latest, previous)
        if isinstance(ch, MessageChannel):
            return ch.render(view, Action.PUBLISH)
        assert isinstance(ch, StateChannel)
        # a throwaway instance: a state channel keeps plans and caches between builds, and the
        # running one may be building in another thread right now
        ch = type(ch)(ch.name, ch.options, self.ctx)
        docs = ch.render_all([view])
        images = [
            Payload(f"{channel} {label}", "image/png", data, label=f"{label}.png")
            for label, data in (ch.preview_images(view) if isinstance(ch, PreviewsImages) else [])
        ]
        return images + [
            Payload(
                f"{ch.folder or '.'}/{path}",
                content_type(f"{ch.folder}/{path}".lstrip("/"), self.file_rules()),
                data,
                label=path,
            )
            for path, data in sorted(docs.items())
        ]

    def _screen_channels(self) -> dict[str, ShowsAlerts]:
        return {n: ch for n, ch in self.channels.items() if isinstance(ch, ShowsAlerts)}

    def _rebuild_screens(self, names: Sequence[str]) -> None:
        self.guard_output()
        # on the screens within this call: a background build in progress is overtaken
        self.engine.tick(only=names, force_build=True, wait=True)

    def retry(
        self,
        channel: str | None = None,
        notice_id: str | None = None,
        *,
        actor: str = "",
        event: str = "",
    ) -> int:
        """Resume a paused channel and requeue failed deliveries (of a channel, a notice or
        all); with ``event``, recorded in the audit trail as ``actor``'s."""
        now = self.clock.now()
        if channel:
            if channel not in self.settings.channels:
                raise NotFound(f"unknown channel {channel!r}")
            self.store.resume_channel(channel, now)
        n = self.store.requeue(now, channel=channel, notice_id=notice_id)
        where = {"channel": channel} if channel else {"notice_id": notice_id}
        self._audit(event, actor, n=n, **where)
        return n

    def withdraw(self, notice_id: str, reason: str, actor: str = "") -> TickReport:
        """Take a notice down everywhere now. Works from the store: no other notice file is
        read, so a broken file elsewhere can never hold up an emergency withdrawal."""
        if not reason.strip():
            raise PublisherError("a withdrawal needs a --reason; it is recorded")
        now = self.clock.now()
        try:
            row = self.store.notice(notice_id)
        except NotFound:
            # only in its file so far (never published): its notice is stored first
            self.save(self.notice(notice_id))
            row = self.store.notice(notice_id)
        if row.withdrawn_at is not None:
            raise ReviewError(
                f"notice {notice_id!r} was already withdrawn at "
                f"{row.withdrawn_at.astimezone(self.settings.tz):%Y-%m-%d %H:%M}: "
                f"{row.withdraw_reason}"
            )
        # the record beside the notices first: whatever happens to the store from here on, a
        # store rebuilt or restored later keeps this notice withdrawn
        record = Withdrawal(
            notice_id,
            reason,
            actor,
            now.isoformat(timespec="seconds"),
            [v.sha256 for v in self.store.versions_of(notice_id) if v.approved_at is not None],
        )
        try:
            write_withdrawal(self.settings.items_dir, record)
        except OSError as exc:
            log.warning(
                "%s: the withdrawal record cannot be written (%s); the withdrawal holds in "
                "the store, but a store rebuilt from the items folder would not know it",
                notice_id,
                exc.strerror,
            )
        self.guard_output()
        announce = [
            n
            for n, ch in self.channels.items()
            if isinstance(ch, MessageChannel) and ch.announces_withdrawal
        ]
        self.store.withdraw(notice_id, reason, actor, now, announce)
        # take it off the feeds and screens now, not at the next scheduled pass
        state = [n for n, ch in self.channels.items() if ch.kind == "state"]
        return self.engine.tick(only=state, force_build=True, wait=True)


def file_rules_of(settings: Settings) -> list[FileRule]:
    """The channels' file rules without opening the store (``publisher serve``, which serves
    files only): each channel that serves files is made just to be asked."""
    ctx = ChannelContext(
        settings.site,
        make_environment(settings.templates_dir, settings.tz),
        settings.output_dir,
        SystemClock(settings.tz),
    )
    rules: list[FileRule] = []
    for name, spec in settings.channels.items():
        cls = channel_class(spec.type)
        if spec.enabled and issubclass(cls, ServesFiles):
            ch = cls(name, spec.options, ctx)
            rules += ch.file_rules()
            ch.close()
    return rules
