"""The approval gate (保密审查): lint findings, sign-offs, the pinned hash.

Rules of the gate:
- A version is approved only by sign-offs on *that* version's hash, after a review of the same
  hash. If the file changed between review and approval, approval is refused.
- Sign-offs come from reviewers on the roster (``roster``); who ran each one is recorded.
- A blocking finding is only passed with an explicit allowance (rule + reason) given by a
  reviewer on the command line, recorded; a file can never carry one.
- The number of distinct reviewers required is a setting (初审 → 复审 → 终审).
- Approval writes the deliveries in the same transaction (see ``Store.approve``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from publisher.config import Settings
from publisher.errors import BlockedByFindings, ReviewError, StaleReview
from publisher.model import Clock, Finding, Notice, Severity
from publisher.notices.attachments import UndecidableCharset, decode, is_text_like
from publisher.notices.files import from_canonical
from publisher.review.fields import SHIPPED_TITLES, Field_, Kind
from publisher.review.roster import Reviewer, Roster
from publisher.review.rules import LintConfig, run_rules
from publisher.review.urls import domain_ascii
from publisher.store import ApprovalResult
from publisher.store.versions import VersionQueries


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
    domains = (
        tuple(dict.fromkeys(domain_ascii(d) for d in (*r.allowed_domains, host)))
        if r.allowed_domains
        else ()
    )
    titles = (*SHIPPED_TITLES, *r.known_titles)
    return LintConfig(
        school_name=settings.model.site.school_name,
        school_name_aliases=tuple(r.school_name_aliases),
        require_school_name=r.require_school_name,
        allowed_domains=domains,
        deny_list=tuple(r.deny_list),
        student_id_pattern=r.student_id_pattern,
        student_id_severity=Severity(r.student_id_severity),
        emoji=r.emoji,
        promotion=r.promotion,
        scan_attachments=r.scan_attachments,
        base_url=settings.model.site.base_url + "/",
        known_titles=tuple(dict.fromkeys(titles)),
    )


def roster_of(settings: Settings) -> Roster:
    return Roster(
        [Reviewer(r.name, r.role, tuple(r.os_users)) for r in settings.model.review.reviewers]
    )


_MARKUP = re.compile(r"<[^>]*>")


def attachment_fields(notice: Notice) -> tuple[list[Field_], list[Finding]]:
    """The decoded text of every text-like local attachment (the bytes read with the notice).

    HTML, SVG and XML are also read as a browser shows them (tags dropped, entities decoded).
    An attachment whose charset cannot be decided is a blocking finding: what cannot be read
    cannot be reviewed."""
    fields: list[Field_] = []
    findings: list[Finding] = []
    for i, a in enumerate(notice.attachments):
        if not a.is_local or a.data is None:
            continue
        if not is_text_like(a) and (b"\0" in a.data[:8192] or not _utf8(a.data)):
            continue  # binary (PDF, DOCX, images): not text
        name = f"attachments.{i}"
        try:
            readings = decode(a.data)
        except UndecidableCharset as exc:
            findings.append(
                Finding(
                    "attachment-charset",
                    Severity.BLOCK,
                    f"{a.href}: {exc}; save it as UTF-8 so it can be reviewed",
                    f"{name} ({a.href})",
                    notice.lines.get(name),
                )
            )
            continue
        for r in readings:
            fields.append(Field_(name, r.text, 1, file=a.href, kind=Kind.ATTACHMENT))
            if "<" in r.text:
                seen = html.unescape(_MARKUP.sub(" ", r.text))
                fields.append(Field_(name, seen, 1, file=a.href, kind=Kind.ATTACHMENT))
    return fields, findings


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Gate:
    def __init__(self, settings: Settings, store: VersionQueries, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.lint = lint_config(settings)
        self.roster = roster_of(settings)

    def findings(self, notice: Notice) -> list[Finding]:
        previous = self.store.latest_approved(notice.id)
        prev_notice = (
            from_canonical(previous.canonical, self.settings.tz) if previous is not None else None
        )
        extra: list[Field_] = []
        found: list[Finding] = []
        if self.lint.scan_attachments:
            extra, found = attachment_fields(notice)
        return found + run_rules(notice, self.lint, previous=prev_notice, extra_fields=extra)

    def review(self, notice: Notice, sha256: str) -> ReviewReport:
        """Run the rules on ``notice`` and record the findings for its version ``sha256`` (the
        hash ``save`` computed when it stored that version: it is not computed again)."""
        sha = sha256
        findings = self.findings(notice)
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
        sha256: str,
        *,
        reviewers: Sequence[str],
        ran_by: str,
        opinion: str,
        allow: Mapping[str, str],
        form_no: str = "",
        reviewed_on: str | None = None,
        source: str = "cli",
        version: str | None = None,
        require_review: bool = True,
    ) -> ApprovalResult:
        """Sign off ``notice`` as ``reviewers``; ``ran_by`` is who asked (an OS account for
        ``source="cli"``, ``file:PATH`` for a paper record), checked against the roster.
        ``sha256`` is the version as stored by ``save``."""
        if source == "paper":
            if allow:
                raise ReviewError("a paper record cannot pass a blocking finding")
            reviewers = self.roster.authorise_paper(reviewers)
        elif source == "console":
            pass  # a logged-in account holding the reviewer role signs as itself
        else:
            reviewers = [self.roster.authorise_cli(r, ran_by) for r in reviewers]
        sha = sha256
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
        require_passing(self.findings(notice), allow, f"{notice.id}", "the notice")
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
            ran_by=ran_by,
            required=self.settings.model.review.signoffs_required,
            channels=self.settings.route(notice),
            now=self.clock.now(),
            index=self.settings.index_scheme.for_notice(notice),
        )


def require_passing(
    findings: Sequence[Finding], allow: Mapping[str, str], subject: str, what: str
) -> None:
    """The one gate: every blocking finding's rule allowed by name, each with a reason that
    will be recorded; else ``BlockedByFindings`` naming the rules."""
    blocked = sorted({f.rule for f in findings if f.severity == Severity.BLOCK} - set(allow))
    if blocked:
        raise BlockedByFindings(
            blocked,
            f"{subject}: blocking finding(s) {', '.join(blocked)}; fix {what}, or pass "
            "--allow RULE --reason '…' for each after checking it by hand",
        )
    for rule, reason in allow.items():
        if not reason.strip():
            raise ReviewError(f"--allow {rule} needs a --reason that will be recorded")
