"""The approval gate (保密审查): lint findings, sign-offs, the pinned hash.

Rules of the gate:
- A version is approved only by sign-offs on *that* version's hash, after a review of the same
  hash. If the file changed between review and approval, approval is refused.
- A blocking finding is only passed with an explicit allowance (rule + reason), recorded.
- The number of distinct reviewers required is a setting (初审 → 复审 → 终审).
- Approval writes the deliveries in the same transaction (see ``Store.approve``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import Settings
from .errors import BlockedByFindings, ReviewError, StaleReview
from .items import canonical, content_hash, from_canonical
from .lint import LintConfig, attachment_fields, run_rules
from .model import Clock, Finding, Notice, Severity
from .store import ApprovalResult, Store


@dataclass(frozen=True)
class ReviewReport:
    notice: Notice
    sha256: str
    findings: list[Finding]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.BLOCK]


def lint_config(settings: Settings) -> LintConfig:
    r = settings.model.review
    host = settings.model.site.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    domains = tuple(dict.fromkeys((*r.allowed_domains, host))) if r.allowed_domains else ()
    return LintConfig(
        school_name=settings.model.site.school_name,
        school_name_aliases=tuple(r.school_name_aliases),
        require_school_name=r.require_school_name,
        allowed_domains=domains,
        deny_list=tuple(r.deny_list),
        student_id_pattern=r.student_id_pattern,
        student_id_severity=Severity(r.student_id_severity),
        emoji=r.emoji,
        scan_attachments=r.scan_attachments,
    )


class Gate:
    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.lint = lint_config(settings)

    def findings(self, notice: Notice, notice_dir: Path | None) -> list[Finding]:
        previous = self.store.latest_approved(notice.id)
        prev_notice = (
            from_canonical(previous.canonical, self.settings.tz) if previous is not None else None
        )
        extra = attachment_fields(notice, notice_dir) if self.lint.scan_attachments else []
        return run_rules(notice, self.lint, previous=prev_notice, extra_fields=extra)

    def review(self, notice: Notice, notice_dir: Path | None) -> ReviewReport:
        sha = content_hash(canonical(notice))
        findings = self.findings(notice, notice_dir)
        blocking = sum(1 for f in findings if f.severity == Severity.BLOCK)
        self.store.record_review(
            notice.id,
            sha,
            [{**asdict(f), "severity": str(f.severity)} for f in findings],
            blocking,
            self.clock.now(),
        )
        return ReviewReport(notice, sha, findings)

    def approve(
        self,
        notice: Notice,
        notice_dir: Path | None,
        *,
        reviewers: Sequence[str],
        opinion: str,
        allow: Mapping[str, str],
        form_no: str = "",
        reviewed_on: str | None = None,
        source: str = "cli",
        version: str | None = None,
        require_review: bool = True,
    ) -> ApprovalResult:
        sha = content_hash(canonical(notice))
        if version and not sha.startswith(version.lower()):
            raise StaleReview(
                f"{notice.source or notice.id} is now version {sha[:12]}, not {version}: the "
                "file changed after it was reviewed; run `publisher review "
                f"{notice.id}` again and approve what it shows"
            )
        if require_review:
            last = self.store.last_review(notice.id)
            if last is None:
                raise ReviewError(
                    f"{notice.id} has not been reviewed; run `publisher review {notice.id}` first"
                )
            if last[0] != sha:
                raise StaleReview(
                    f"{notice.source or notice.id} changed after `publisher review` (reviewed "
                    f"{last[0][:12]}, the file is now {sha[:12]}); review it again before "
                    "approving"
                )
        findings = self.findings(notice, notice_dir)
        blocked = sorted({f.rule for f in findings if f.severity == Severity.BLOCK} - set(allow))
        if blocked:
            raise BlockedByFindings(
                blocked,
                f"{notice.id}: blocking finding(s) {', '.join(blocked)}; fix the notice, or "
                "pass --allow RULE --reason '…' for each after checking it by hand",
            )
        for rule, reason in allow.items():
            if not reason.strip():
                raise ReviewError(f"--allow {rule} needs a --reason that will be recorded")
        if not any(r.strip() for r in reviewers):
            raise ReviewError("approval needs a reviewer's name (--reviewer NAME)")
        return self.store.approve(
            notice_id=notice.id,
            sha256=sha,
            reviewers=[r.strip() for r in reviewers],
            opinion=opinion,
            form_no=form_no,
            reviewed_on=reviewed_on,
            source=source,
            allowances=[{"rule": k, "reason": v} for k, v in allow.items()],
            required=self.settings.model.review.signoffs_required,
            channels=self.settings.route(notice),
            now=self.clock.now(),
        )
