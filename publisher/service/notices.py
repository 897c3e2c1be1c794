"""Notice files into the store: reading the items folder, versions, paper review records,
withdrawal records, and the notices as lists and pages show them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from publisher.delivery.continuity import (
    Withdrawal,
    read_withdrawals,
)
from publisher.errors import NotFound, NoticeError, PublisherError, ReviewError
from publisher.model import Notice
from publisher.notices.editor import Draft, NoticeWriter
from publisher.notices.files import canonical, content_hash, from_canonical, load_file, load_folder
from publisher.service.base import ServiceBase
from publisher.service.readmodels import NoticeDetail, NoticeSummary, SyncReport, VersionDetail

log = logging.getLogger("publisher")


class NoticesJob(ServiceBase):
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
            self.gate.review(notice, sha)
            result = self.gate.approve(
                notice,
                sha,
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

    def write_draft(self, draft: Draft, opened: str, actor: str) -> tuple[Notice, bool]:
        """Write a notice file from the console's editor (refused if the file changed since
        ``opened``), store its version and record who wrote it. → (notice, new version?)"""
        writer = self.writer()
        notice = writer.write(draft, writer.path_for(draft.id), opened)
        _, new = self.save(notice)
        self.store.audit(
            self.clock.now(),
            "notice.written",
            notice_id=draft.id,
            actor=actor,
            file=notice.source,
            new=new,
        )
        return notice, new

    def writer(self) -> NoticeWriter:
        """Writes notice files and their uploads into the items folder."""
        s = self.settings
        return NoticeWriter(s.items_dir, s.base_dir, s.catalogue, s.tz)
