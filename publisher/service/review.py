"""The review gate as the front ends use it: findings, and sign-offs from the command line and the
console."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from publisher.errors import ReviewError
from publisher.review.gate import ReviewReport
from publisher.review.roster import current_os_user
from publisher.service.base import ServiceBase
from publisher.store import ApprovalResult, VersionRow

log = logging.getLogger("publisher")


class ReviewJob(ServiceBase):
    def review(self, notice_id: str) -> ReviewReport:
        notice = self.notice(notice_id)
        sha, _ = self.save(notice)
        return self.gate.review(notice, sha)

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
            sha,
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
        sha, _ = self.save(notice)
        return self.gate.approve(
            notice,
            sha,
            reviewers=[account],
            ran_by=f"console:{account}",
            opinion=opinion,
            allow=dict(allow),
            version=version,
            source="console",
        )

    def latest_approved(self, notice_id: str) -> VersionRow | None:
        """The newest approved version of a notice (None: never approved)."""
        return self.store.latest_approved(notice_id)

    def reviewed_already(self, notice_id: str, sha256: str) -> bool:
        """The last review recorded for the notice was of this very version."""
        last = self.store.last_review(notice_id)
        return last is not None and last[0] == sha256
