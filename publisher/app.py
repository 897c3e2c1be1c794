"""The library behind the CLI: one object that wires settings, store, gate, channels, engine."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from .channel import (
    AnyChannel,
    AnyStateChannel,
    ChannelContext,
    MessageChannel,
    Payload,
    StateChannel,
    channel_class,
)
from .clock import SystemClock
from .config import Settings
from .continuity import (
    Ledger,
    Withdrawal,
    check_owner,
    read_owner,
    read_withdrawals,
    write_owner,
    write_withdrawal,
)
from .coverage import CoverageReport, coverage, reminders
from .engine import Engine, TickReport, output_location
from .engine.operator import replies_key
from .errors import NotApproved, NotFound, NoticeError, PublisherError, ReviewError
from .mediatypes import content_type
from .model import Action, Clock, Delivery, DeliveryState, Notice, Severity
from .notice_files import canonical, content_hash, from_canonical, load_file, load_folder
from .publications import publications
from .published import PublishedViews
from .reports.annual import AnnualReport
from .review import Gate, ReviewReport
from .roster import current_os_user
from .screens import Screens
from .search import Search, SearchPage, search_doc
from .secrets import redact
from .signage_alerts import SignageAlerts
from .store import ApprovalResult, ApprovalRow, NoticeRow, Store, VersionRow
from .store import backup as backups
from .store.ratelimits import StoreQuotas
from .templating import make_environment

log = logging.getLogger("publisher")


@dataclass
class SyncReport:
    loaded: int = 0
    new_versions: list[str] = field(default_factory=list)
    errors: list[NoticeError] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)  # by a paper review record
    withdrawn: list[str] = field(default_factory=list)  # by a withdrawal record in items/
    waiting: list[str] = field(default_factory=list)  # notes on notices that wait for review


@dataclass
class ChannelStatus:
    name: str
    type: str
    kind: str
    counts: dict[str, int]
    paused: str = ""
    not_configured: str = ""
    built_at: datetime | None = None
    # a robot's rate windows now: (sends in the window, sends allowed, seconds), and the
    # "too fast" replies its target gave in the last hour and the last day
    windows: list[tuple[int, int, float]] = field(default_factory=list)
    rate_limited_hour: int = 0
    rate_limited_day: int = 0
    quotas: dict[str, tuple[int, int]] = field(default_factory=dict)  # today: (used, allowed)


@dataclass
class NoticeSummary:
    """A notice as lists show it (CLI, console): its current version and where it stands."""

    id: str
    title: str
    publish_at: datetime | None
    state: str  # awaiting review …, approved rN (live, scheduled, expired, file changed), withdrawn
    category: str = ""
    item: int = 0
    approved_publish_at: datetime | None = None  # of the newest approved version
    approved_expires_at: datetime | None = None


@dataclass
class VersionDetail:
    version: VersionRow
    current: bool  # the version the file held when last read
    paper_records: list[dict[str, Any]]
    approvals: list[ApprovalRow]


@dataclass
class NoticeDetail:
    """One notice as `publisher show` (and the console) present it, from the store only."""

    row: NoticeRow
    notice: Notice | None  # its current version, as stored
    channels: list[str]  # where that version is routed
    versions: list[VersionDetail]
    deliveries: list[Delivery]
    history: list[dict[str, Any]]


@dataclass
class PushReport:
    notice_id: str
    sha256: str
    channels: dict[str, str]  # channel → what happened / would happen
    tick: TickReport | None = None


class Publisher:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        store: Store | None = None,
        create_schema: bool | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock(settings.tz)
        self.store = store or Store(settings.store_url)
        # an empty SQLite file is simply created; PostgreSQL, shared by instances, is migrated
        # on purpose with `publisher db upgrade`
        if create_schema is None:
            create_schema = self.store.dialect == "sqlite"
        self.store.ensure_schema(create_empty=create_schema)
        self.gate = Gate(settings, self.store, self.clock)
        self.views = PublishedViews(settings.site, settings.catalogue)
        self.templates = make_environment(settings.templates_dir, settings.tz)
        self.ctx = ChannelContext(
            settings.site,
            self.templates,
            settings.output_dir,
            self.clock,
            transport,
            categories={slug: c.name for slug, c in settings.catalogue.categories.items()},
            checklist=settings.catalogue.checklist(),
            quotas=StoreQuotas(self.store, settings.tz),
        )
        self.channels: dict[str, AnyChannel] = {}
        for name, spec in settings.channels.items():
            if spec.enabled:
                cls = channel_class(spec.type)
                self.channels[name] = cls(name, spec.options, self.ctx)
        self.engine = Engine(
            self.store,
            self.channels,
            self.views,
            self.clock,
            settings.model.delivery,
            files_dir=str(settings.output_dir / "files"),
            ledger=Ledger(settings.output_dir),
            location=output_location(
                str(settings.output_dir / "files"), settings.model.output.shared
            ),
        )
        self._notices: dict[str, Notice] = {}
        self._output_checked = False
        self.alerts = SignageAlerts(
            self.store,
            self.clock,
            self.gate.lint,
            self._screen_channels,
            self._rebuild_screens,
        )
        self.screens = Screens(self.store, self.clock, self.channels, self._tell_operator)

    @property
    def takes_vendor_events(self) -> bool:
        """Some channel listens for its vendor's pushes (a 公众号 with callback_token)."""
        return any(
            getattr(ch.options, "callback_token", None) is not None for ch in self.channels.values()
        )

    def vendor_event(
        self, name: str, method: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str, int]:
        """A vendor's push to ``/wechat/NAME``: the answer, and how many deliveries it made
        due now (those the vendor said it finished)."""
        ch = self.channels.get(name)
        if not isinstance(ch, MessageChannel):
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

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()
        self.store.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- notices

    def load(self) -> tuple[dict[str, Notice], list[NoticeError]]:
        s = self.settings
        res = load_folder(
            s.items_dir,
            catalogue=s.catalogue,
            tz=s.tz,
            pattern=s.model.items.pattern,
            max_bytes=s.model.items.max_bytes,
            root=s.base_dir,
        )
        for n in res.notices.values():
            res.errors += self._channel_errors(n)
        bad = {e.file for e in res.errors if e.field == "channels"}
        notices = {k: v for k, v in res.notices.items() if v.source not in bad}
        return notices, res.errors

    def _channel_errors(self, n: Notice) -> list[NoticeError]:
        s = self.settings
        return [
            NoticeError(
                f"unknown channel {ch.lstrip('+-')!r}",
                file=n.source,
                line=n.lines.get("channels"),
                field="channels",
                hint=f"channels: {', '.join(s.channels) or 'none declared'}",
            )
            for ch in n.channels or ()
            if ch.lstrip("+-") not in s.channels
        ]

    def notice(self, notice_id: str) -> Notice:
        """The notice as its file says now. The file the store knows for it is read alone
        (quick, and a broken file elsewhere does not matter); a notice the store does not
        know yet is looked for in the whole folder."""
        s = self.settings
        try:
            source = self.store.notice(notice_id).source
        except NotFound:
            source = ""
        path = s.base_dir / source if source else None
        if path is not None and path.is_file():
            n = load_file(
                path,
                s.items_dir,
                catalogue=s.catalogue,
                tz=s.tz,
                max_bytes=s.model.items.max_bytes,
                root=s.base_dir,
            )
            if n.id == notice_id:
                if errors := self._channel_errors(n):
                    raise errors[0]
                return n
        notices, errors = self.load()
        if notice_id in notices:
            return notices[notice_id]
        for e in errors:
            if e.file and notice_id in Path(e.file).stem:
                raise e
        raise NotFound(
            f"no notice with id {notice_id!r} in {self.settings.items_dir} "
            "(run `publisher items` to list them)"
        )

    def save(self, notice: Notice) -> tuple[str, bool]:
        text = canonical(notice)
        sha = content_hash(text)
        files: dict[str, bytes] = {}
        for a in notice.attachments:
            if a.is_local and a.sha256:
                if a.data is None:  # only notices rebuilt from the store lack their bytes
                    raise PublisherError(f"{notice.source}: {a.href} was not read with the notice")
                # the bytes read once with the notice: the store checks they hash to a.sha256
                files[a.sha256] = a.data
        new = self.store.save_version(
            notice_id=notice.id,
            source=notice.source,
            sha256=sha,
            canonical=text,
            title=notice.title,
            category=notice.category,
            item=notice.item,
            publish_at=notice.publish_at,
            expires_at=notice.expires_at,
            now=self.clock.now(),
            files=files,
        )
        return sha, new

    def sync(self) -> SyncReport:
        """Read the items folder into the store; apply withdrawal records, then paper review
        records that match."""
        notices, errors = self.load()
        withdrawals, bad = read_withdrawals(self.settings.items_dir)
        report = SyncReport(loaded=len(notices), errors=errors + bad)
        for notice in notices.values():
            try:
                sha, new = self.save(notice)
            except (OSError, PublisherError) as exc:
                report.errors.append(NoticeError(f"cannot store: {exc}", file=notice.source))
                continue
            if new:
                report.new_versions.append(notice.id)
            if notice.paper_review is not None and notice.id not in withdrawals:
                self._apply_paper_review(notice, sha, report)
        if withdrawals:
            self._apply_withdrawals(withdrawals, report)
        return report

    def notice_summaries(self) -> list[NoticeSummary]:
        """Every notice the store knows, with its state now (read from the store only)."""
        now = self.clock.now()
        out = []
        for r in self.store.summaries():
            if r["withdrawn_at"]:
                state = "withdrawn"
            elif r["approved_sha"] is None:
                state = "awaiting review"
                if r["paper_record"]:
                    state += " (paper record on file)"
            else:
                state = f"approved r{r['revision']}"
                if r["current_sha"] != r["approved_sha"]:
                    state += ", file changed (new version awaiting review)"
                elif r["approved_publish_at"] > now:
                    state += ", scheduled"
                elif r["approved_expires_at"] and r["approved_expires_at"] <= now:
                    state += ", expired"
                else:
                    state += ", live"
            out.append(
                NoticeSummary(
                    r["id"],
                    r["title"] or "",
                    r["publish_at"],
                    state,
                    r["category"] or "",
                    r["item"] or 0,
                    None if r["withdrawn_at"] else r["approved_publish_at"],
                    None if r["withdrawn_at"] else r["approved_expires_at"],
                )
            )
        return out

    def stored_notice(self, notice_id: str) -> Notice | None:
        """The notice as the store last read it (its current version), without the file."""
        try:
            sha = self.store.notice(notice_id).current_sha
        except NotFound:
            return None
        return from_canonical(self.store.version(sha).canonical, self.settings.tz) if sha else None

    def notice_detail(self, notice_id: str, history: int = 0) -> NoticeDetail:
        """Fields, versions with their paper records and sign-offs, deliveries and (``history``
        events of) the audit trail. From the store: no other notice file is read, so a broken
        one cannot stop it; a notice only in its file so far is stored first."""
        try:
            row = self.store.notice(notice_id)
        except NotFound:
            self.save(self.notice(notice_id))
            row = self.store.notice(notice_id)
        notice = None
        if row.current_sha:
            notice = from_canonical(self.store.version(row.current_sha).canonical, self.settings.tz)
        return NoticeDetail(
            row,
            notice,
            self.settings.route(notice) if notice else [],
            [
                VersionDetail(
                    v,
                    v.sha256 == row.current_sha,
                    self.store.paper_records_of(v.sha256),
                    self.store.approvals_of(v.sha256),
                )
                for v in self.store.versions_of(notice_id)
            ],
            self.store.deliveries_of(notice_id),
            self.store.audit_events(notice_id, limit=history) if history else [],
        )

    def _apply_withdrawals(self, records: Mapping[str, Withdrawal], report: SyncReport) -> None:
        """A notice with a withdrawal record stays withdrawn, whatever the store remembers (a
        store restored from an older backup, or rebuilt from the items folder)."""
        for row in self.store.notices():
            w = records.get(row.id)
            if w is None or row.withdrawn_at is not None:
                continue
            try:
                self.store.withdraw(
                    row.id, w.reason, f"record:{w.file}", self.clock.now(), announce=[]
                )
            except ReviewError:  # withdrawn meanwhile by another instance
                continue
            log.warning("%s withdrawn by its withdrawal record %s: %s", row.id, w.file, w.reason)
            report.withdrawn.append(row.id)

    def _apply_paper_review(self, notice: Notice, sha: str, report: SyncReport) -> None:
        """Keep a paper record with the version it names; sign with it only where the site opts
        in (review.paper_records: approve), for rostered reviewers, never past a finding."""
        pr = notice.paper_review
        assert pr is not None
        v = self.store.version(sha)
        if not sha.startswith(pr.version):
            if v.approved_at is None:
                report.waiting.append(
                    f"{notice.source}: the paper review (form {pr.form_no or '—'}) approved "
                    f"version {pr.version[:12]}, but the file is now {sha[:12]}; it waits for "
                    "review"
                )
            return
        self.store.record_paper(
            notice_id=notice.id,
            sha256=sha,
            reviewers=pr.reviewers,
            reviewed_on=pr.date.isoformat(),
            opinion=pr.opinion,
            form_no=pr.form_no,
            source=notice.source,
            now=self.clock.now(),
        )
        if v.approved_at is not None:
            return
        if self.settings.model.review.paper_records != "approve":
            report.waiting.append(
                f"{notice.source}: paper record (form {pr.form_no or '—'}, "
                f"{', '.join(pr.reviewers)}) kept as evidence; a rostered reviewer approves with "
                f"`publisher approve {notice.id}`"
            )
            return
        approved = {a.reviewer for a in self.store.approvals_of(sha)}
        if set(pr.reviewers) <= approved:
            return
        try:
            self.gate.review(notice)
            result = self.gate.approve(
                notice,
                reviewers=pr.reviewers,
                ran_by=f"file:{notice.source}",
                opinion=pr.opinion,
                allow={},
                form_no=pr.form_no,
                reviewed_on=pr.date.isoformat(),
                source="paper",
                version=pr.version,
            )
        except PublisherError as exc:
            report.waiting.append(f"{notice.source}: paper review not applied: {exc}")
            return
        if result.approved_now:
            report.approved.append(notice.id)

    # ---------------------------------------------------------------- backups

    def backup(self, file: Path | None = None) -> backups.BackupInfo:
        """A consistent backup of the store; without ``file``, a dated one in
        store.backups.folder, keeping the newest store.backups.keep there."""
        url = self.settings.store_url
        if file is None:
            folder = self.settings.backups_dir
            suffix = backups.suffix_for(url)
            stamp = self.clock.now().astimezone(self.settings.tz)
            info = backups.backup(url, folder / f"publisher-{stamp:%Y%m%d-%H%M%S}{suffix}")
            # names sort by date; only this program's own files are ever removed
            old = sorted(folder.glob(f"publisher-????????-??????{suffix}"))
            for f in old[: -self.settings.model.store.backups.keep]:
                f.unlink(missing_ok=True)
        else:
            info = backups.backup(url, file)
        if not info.store_id:  # a PostgreSQL dump: what it holds is read from the store
            info = replace(info, store_id=self.store.store_id(), notices=len(self.store.notices()))
        return info

    # ---------------------------------------------------------------- review gate

    def review(self, notice_id: str) -> ReviewReport:
        notice = self.notice(notice_id)
        self.save(notice)
        return self.gate.review(notice)

    def approve(
        self,
        notice_id: str,
        *,
        reviewer: str | None,
        opinion: str = "同意公开",
        allow: Mapping[str, str] | None = None,
        version: str | None = None,
        form_no: str = "",
        os_user: str | None = None,
    ) -> ApprovalResult:
        """Sign off a notice from the command line as ``reviewer`` (a rostered name; None: the
        one the running OS account is listed for). A paper record kept for this exact version
        lends its form number and date."""
        notice = self.notice(notice_id)
        sha, _ = self.save(notice)
        reviewed_on = None
        for rec in self.store.paper_records_of(sha):
            form_no = form_no or rec["form_no"]
            reviewed_on = rec["reviewed_on"]
        return self.gate.approve(
            notice,
            reviewers=[reviewer or ""],
            ran_by=os_user or current_os_user(),
            opinion=opinion,
            allow=dict(allow or {}),
            version=version,
            form_no=form_no,
            reviewed_on=reviewed_on,
        )

    def approve_as(
        self,
        notice_id: str,
        *,
        account: str,
        opinion: str,
        allow: Mapping[str, str],
        version: str,
    ) -> ApprovalResult:
        """Sign off from the console as ``account`` (its reviewer role was checked by the
        console). The version the page showed is pinned: a file changed since is refused."""
        if not version:
            raise ReviewError("the page did not say which version you reviewed; open it again")
        notice = self.notice(notice_id)
        self.save(notice)
        return self.gate.approve(
            notice,
            reviewers=[account],
            ran_by=f"console:{account}",
            opinion=opinion,
            allow=dict(allow),
            version=version,
            source="console",
        )

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

    # ---------------------------------------------------------------- the output's owner

    def output_writers(self, mark: bool = False) -> list[str]:
        """Other machines that started on this output folder within 30 days (their marks in
        ``.publisher-hosts/``): the folder is shared storage. With ``mark``, this machine
        leaves its own mark (``publisher run`` does, at start)."""
        folder = self.settings.output_dir / ".publisher-hosts"
        me = socket.gethostname()
        if mark:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / me).write_text(self.clock.now().isoformat(), "utf-8")
        if not folder.is_dir():
            return []
        now = time.time()
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.name != me and p.is_file() and now - p.stat().st_mtime < 30 * 86_400
        )

    def output_layout(self) -> str:
        """How this instance keeps its output folder, in words, and a warning when the
        folder is shared storage the config does not say is shared."""
        shared = self.settings.model.output.shared
        others = self.output_writers()
        if shared:
            return f"output {self.settings.output_dir} is shared (output.shared): one build record"
        if others:
            return (
                f"warning: output {self.settings.output_dir} is also written by "
                f"{', '.join(others)}: if it is shared storage, set output: {{shared: true}} "
                "in every instance's config (and serve it with one web server, instances "
                "--no-serve); otherwise give each instance a folder of its own"
            )
        return f"output {self.settings.output_dir} is this instance's own (built for it)"

    def guard_output(self) -> None:
        """Before this process first writes the output folder: refuse when it holds what
        another (or a lost) store published, and mark it as this store's. Sends recorded in
        the output's ledger that this store does not know of are adopted (never repeated)."""
        if self._output_checked:
            return
        self.store.check_file()
        sid = self.store.store_id()
        out = self.settings.output_dir
        check_owner(out, sid, self.store.is_empty())
        if read_owner(out) is None:
            try:
                write_owner(out, sid, self.clock.now())
            except OSError as exc:
                raise PublisherError(
                    f"the output folder {out} cannot be written: {exc.strerror} "
                    "(check its owner, permissions and free space; see output.folder)"
                ) from None
        self.adopt_ledger()
        self._output_checked = True

    def adopt(self) -> int:
        """Make this store the output folder's owner on purpose (`publisher db adopt`)."""
        self.sync()
        write_owner(self.settings.output_dir, self.store.store_id(), self.clock.now())
        self._output_checked = False
        self.store.forget_builds()
        return self.adopt_ledger()

    def adopt_ledger(self) -> int:
        """Mark sent what the output's ledger says was sent; → how many the store lacked."""
        adopted = 0
        known = self.store.sent_keys()
        for e in self.engine.ledger.entries() if self.engine.ledger else ():
            if (e.sha256, e.channel, e.action) in known:
                continue
            try:
                sent_at = datetime.fromisoformat(e.at)
            except ValueError:
                continue
            if sent_at.tzinfo is None:
                continue
            if self.store.adopt_sent(
                channel=e.channel,
                notice_id=e.notice_id,
                sha256=e.sha256,
                action=e.action,
                sent_at=sent_at,
                now=self.clock.now(),
            ):
                adopted += 1
        if adopted:
            log.warning(
                "%d send(s) recorded in the output's ledger were missing from the store; "
                "marked sent, they are not repeated",
                adopted,
            )
        return adopted

    # ---------------------------------------------------------------- running

    def tick(self, force_build: bool = False) -> TickReport:
        self.guard_output()
        self.index_catalogue()
        return self.engine.tick(force_build=force_build)

    def index_catalogue(self) -> tuple[int, int]:
        """Bring the catalogue up to the store: a 索引号 for every approved notice approved
        before numbers existed (in order of approval), and the search index to the newest
        approved versions. Returns (numbers given, search documents written or dropped)."""
        numbered = 0
        scheme = self.settings.index_scheme
        now = self.clock.now()
        for v in self.store.unnumbered():
            try:
                notice = from_canonical(v.canonical, self.settings.tz)
            except (ValueError, KeyError):
                continue
            scope, render = scheme.for_notice(notice)
            self.store.number(v.notice_id, scope, render, now)
            numbered += 1
        stale, gone = self.store.search_stale()
        docs = []
        for v in stale:
            try:
                docs.append(search_doc(self.views.published(v)))
            except NotApproved as exc:  # a stored text that fails its hash is not indexed
                log.error("search index: %s", exc)
        self.store.search_put(docs, gone)
        return numbered, len(docs) + len(gone)

    def coverage(self, today: date | None = None) -> CoverageReport:
        """The 清单 coverage table and clocks as of ``today`` (default: today)."""
        day = today or self.clock.now().astimezone(self.settings.tz).date()
        return coverage(publications(self.store, self.settings), self.settings, day)

    def remind_coverage(self, channel: str | None = None) -> list[str]:
        """Post each owner's missing and overdue 清单 items through their robot (a duty's
        ``notify``, else ``channel``). Returns the robots that took a reminder."""
        report = self.coverage()
        sent = []
        for robot, text in reminders(report, self.settings, channel).items():
            if robot is None:
                log.warning("coverage: no robot to remind; give the job a channel:\n%s", text)
            elif self.engine.operator.post(
                robot, text, f"coverage:{report.today.isoformat()}", "coverage.reminder"
            ):
                sent.append(robot)
        return sent

    def annual_report(
        self, year: int, folder: Path | None = None
    ) -> tuple[AnnualReport, list[Path]]:
        """Write the 信息公开工作年度报告 of school year ``year`` (HTML, Markdown, Word)."""
        from .reports.annual import figures
        from .reports.documents import write_annual
        from .reports.office import load_office

        s = self.settings
        office = load_office(s.reports_dir, s.site.school_name, year)
        outlets = {name: ch.outlet for name, ch in self.channels.items()}
        report = AnnualReport(
            s.site.name, s.site.school_name, figures(self.store, s, year, outlets), office
        )
        return report, write_annual(report, folder or s.reports_dir, self.templates)

    def search(self, query: str, page: int = 1) -> SearchPage:
        return Search(self.store).find(query, self.clock.now(), page)

    def push(
        self, notice_id: str, channels: Sequence[str] | None = None, dry_run: bool = False
    ) -> PushReport:
        """Send an approved notice's pending deliveries now. Never bypasses approval."""
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
            return report
        self.store.make_due(due, now)
        names = sorted({d.channel for d in deliveries if d.id in due})
        self.guard_output()
        report.tick = self.engine.tick(only=names, push=due)  # just these, held or not
        for d in self.store.deliveries_of(notice_id):
            if d.id in due:
                plan[d.channel] = str(d.state) + (f": {d.last_error}" if d.last_error else "")
        return report

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
            for label, data in ch.preview_images(view)
        ]
        return images + [
            Payload(
                f"{ch.folder or '.'}/{path}",
                content_type(f"{ch.folder}/{path}".lstrip("/")),
                data,
                label=path,
            )
            for path, data in sorted(docs.items())
        ]

    # ---------------------------------------------------------------- signage alerts

    def _screen_channels(self) -> dict[str, AnyStateChannel]:
        return {
            n: ch
            for n, ch in self.channels.items()
            if isinstance(ch, StateChannel) and ch.shows_alerts
        }

    def _rebuild_screens(self, names: Sequence[str]) -> None:
        self.guard_output()
        # on the screens within this call (after a background build in progress, if any)
        self.engine.tick(only=names, force_build=True, wait=True)

    def retry(self, channel: str | None = None, notice_id: str | None = None) -> int:
        now = self.clock.now()
        if channel:
            if channel not in self.settings.channels:
                raise NotFound(f"unknown channel {channel!r}")
            self.store.resume_channel(channel, now)
        return self.store.requeue(now, channel=channel, notice_id=notice_id)

    def status(self) -> list[ChannelStatus]:
        counts = self.store.delivery_counts()
        out = []
        now = self.clock.now()
        for name, spec in self.settings.channels.items():
            ch = self.channels.get(name)
            st = self.store.channel_state(name)
            cs = ChannelStatus(
                name, spec.type, ch.kind if ch else "-", counts.get(name, {}), built_at=st.built_at
            )
            if not spec.enabled:
                cs.not_configured = "disabled in config"
            elif ch is not None and (reason := ch.unavailable()):
                cs.not_configured = reason
            if st.paused(now):
                until = (
                    f" until {st.paused_until.astimezone(self.settings.tz):%H:%M:%S}"
                    if st.paused_until
                    else ""
                )
                cs.paused = redact(st.pause_reason) + until
            if isinstance(ch, MessageChannel) and not cs.not_configured:
                wnow = self.engine.ctx.window_now()
                cs.windows = self.store.window_use(ch.robot_key, ch.rate_limits, wnow)
                key = replies_key(name)
                day, hour = (
                    used
                    for used, _, _ in self.store.window_use(
                        key, [(1_000_000, 86_400.0), (1_000_000, 3600.0)], wnow
                    )
                )
                cs.rate_limited_day, cs.rate_limited_hour = day, hour
                cs.quotas = ch.quota_use()
            out.append(cs)
        return out


@dataclass
class RestoreReport:
    info: backups.BackupInfo
    kept: Path | None  # the database that was replaced, kept beside it
    withdrawn: list[str]  # withdrawn again by their records in items/
    adopted: int  # sends in the output's ledger the backup did not know of
    approve_again: list[str]  # sent after the backup, their approval lost with it
    owner: str  # a warning when the output was published from another store, else ""


def restore_store(settings: Settings, file: Path, clock: Clock | None = None) -> RestoreReport:
    """Replace the store with a backup, then bring it up to what happened since: withdrawal
    records re-applied, sends the output's ledger records marked sent (never repeated)."""
    clock = clock or SystemClock(settings.tz)
    info, kept = backups.restore(settings.store_url, file, clock.now())
    store = Store(settings.store_url)
    try:
        store.upgrade()  # a backup of an older version is brought to this one's schema
    finally:
        store.close()
    with Publisher(settings, clock=clock) as app:
        sid = app.store.store_id()
        info = backups.BackupInfo(
            info.file, sid, info.revision, len(app.store.notices()), info.size
        )
        report = app.sync()
        owner = read_owner(settings.output_dir)
        note = ""
        if owner is not None and owner.store != sid:
            note = (
                f"the output folder was published from the database {owner.store[:12]}, not "
                f"this backup's {sid[:12]}; if this is the right backup, `publisher db adopt`"
            )
        adopted = app.adopt_ledger()
        app.store.forget_builds()  # the output may show approvals made after the backup
        again: list[str] = []
        seen: set[str] = set()
        for e in app.engine.ledger.entries() if app.engine.ledger else ():
            if e.action != Action.PUBLISH or e.notice_id in seen:
                continue
            seen.add(e.notice_id)
            try:
                row = app.store.notice(e.notice_id)
            except NotFound:
                continue
            if row.withdrawn_at is None and app.store.latest_approved(e.notice_id) is None:
                again.append(e.notice_id)
    return RestoreReport(info, kept, report.withdrawn, adopted, again, note)


__all__ = ["Publisher", "Severity"]
