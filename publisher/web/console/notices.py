"""The notices as the office reads them: the list (by state, 清单 item, dates, department,
channel), the calendar of the next 60 days, one notice with its findings marked in its source
and its changes since approval, and what each channel will show or send for it."""

from __future__ import annotations

import base64
import contextlib
import difflib
import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from publisher.channel import MessageChannel
from publisher.errors import PublisherError
from publisher.model import Notice
from publisher.notices.attachments import read_inside
from publisher.notices.files import canonical, content_hash, from_canonical
from publisher.service.readmodels import NoticeSummary
from publisher.text import render_markdown
from publisher.web.console.base import Pages, requires

PAGE = 100  # notices per page of the list
STATES = {  # the console's words for where a notice stands, and how a summary says it
    "待审": "awaiting review",
    "待发布": "scheduled",
    "已发布": "live",
    "已过期": "expired",
    "已撤回": "withdrawn",
}


def state_label(summary: NoticeSummary) -> str:
    s = summary.state
    if s == "withdrawn":
        return "已撤回"
    if s.startswith("awaiting review") or "file changed" in s:
        return "待审"
    if s.endswith("scheduled"):
        return "待发布"
    if s.endswith("expired"):
        return "已过期"
    return "已发布"


Row = tuple[NoticeSummary, str]


class NoticePages(Pages):
    @requires("view")
    async def notices(self, request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        state = request.query_params.get("state", "")
        rows = [(s, state_label(s)) for s in self.app.notice_summaries()]
        counts = {label: sum(1 for _, lb in rows if lb == label) for label in STATES}
        if state in STATES:
            rows = [(s, lb) for s, lb in rows if lb == state]
        if q:
            rows = [(s, lb) for s, lb in rows if q.lower() in f"{s.id} {s.title}".lower()]
        category = request.query_params.get("category", "")
        if category:
            rows = [(s, lb) for s, lb in rows if s.category == category]
        item = request.query_params.get("item", "")
        if item.isdigit():
            rows = [(s, lb) for s, lb in rows if s.item == int(item)]
        since, until = request.query_params.get("from", ""), request.query_params.get("to", "")
        if since or until:
            rows = self._published_between(rows, since, until)
        department = request.query_params.get("department", "").strip()
        channel = request.query_params.get("channel", "")
        if department or channel:
            rows = self._of_department_and_channel(rows, department, channel)
        # newest publication first; a page of PAGE rows (a site of 10,000 notices stays quick)
        rows.sort(key=lambda r: (r[0].publish_at is None, r[0].publish_at), reverse=True)
        pages = max(1, -(-len(rows) // PAGE))
        try:
            at = min(max(1, int(request.query_params.get("p", "1"))), pages)
        except ValueError:
            at = 1
        settings = self.console.settings
        return self.console.page(
            request,
            "notices.html",
            rows=rows[(at - 1) * PAGE : at * PAGE],
            total=len(rows),
            at=at,
            pages=pages,
            counts=counts,
            state=state,
            q=q,
            states=STATES,
            category=category,
            item=item,
            since=since,
            until=until,
            department=department,
            channel=channel,
            channels=list(settings.channels),
            categories=settings.catalogue.categories,
            items_of=settings.catalogue.items_of,
        )

    def _published_between(self, rows: list[Row], since: str, until: str) -> list[Row]:
        tz = self.tz
        return [
            (s, lb)
            for s, lb in rows
            if s.publish_at is not None
            and (not since or f"{s.publish_at.astimezone(tz):%Y-%m-%d}" >= since)
            and (not until or f"{s.publish_at.astimezone(tz):%Y-%m-%d}" <= until)
        ]

    def _of_department_and_channel(
        self, rows: list[Row], department: str, channel: str
    ) -> list[Row]:
        # these live in the notice's text: read for the rows left, not for every notice
        kept = []
        for s, lb in rows:
            n = self.app.stored_notice(s.id)
            if n is None:
                continue
            if department and department not in n.department:
                continue
            if channel and channel not in self.console.settings.route(n):
                continue
            kept.append((s, lb))
        return kept

    @requires("view")
    async def calendar(self, request: Request) -> Response:
        """What publishes, and which 公示 end, in the next 60 days, day by day."""
        now = self.app.clock.now()
        horizon = now + timedelta(days=60)
        days: dict[str, list[tuple[str, str, NoticeSummary]]] = {}
        for s in self.app.notice_summaries():
            for kind, when in (
                ("发布", s.approved_publish_at),
                ("公示结束", s.approved_expires_at),
            ):
                if when is not None and now <= when <= horizon:
                    local = when.astimezone(self.tz)
                    day = f"{local:%Y-%m-%d}（周{'一二三四五六日'[local.weekday()]}）"
                    days.setdefault(day, []).append((local.strftime("%H:%M"), kind, s))
        ordered = sorted(days.items())
        return self.console.page(
            request, "calendar.html", days=[(d, sorted(v)) for d, v in ordered]
        )

    def source_lines(self, source: str) -> list[str]:
        settings = self.console.settings
        try:
            raw = read_inside(settings.base_dir / source, settings.items_dir)
        except (OSError, PublisherError):
            return []
        return raw.decode("utf-8", errors="replace").splitlines()

    def readable(self, n: Notice) -> list[str]:
        """A notice as a reviewer compares it: its fields, then its text, line by line."""
        tz = self.tz
        head = [
            f"标题：{n.title}",
            f"部门：{n.department}",
            f"清单事项：{n.category} 第 {n.item} 项",
            f"发布时间：{n.publish_at.astimezone(tz):%Y-%m-%d %H:%M}",
            f"截止时间：{n.expires_at.astimezone(tz):%Y-%m-%d %H:%M}"
            if n.expires_at
            else "截止时间：—",
            f"摘要：{n.summary}",
            f"联系方式：{n.contact}",
            *(f"附件：{a.title}（{a.href}，{(a.sha256 or '')[:12]}）" for a in n.attachments),
            "",
        ]
        return head + n.body.splitlines()

    def changes_since_approval(self, nid: str) -> list[tuple[str, str]]:
        """The current file against the newest approved version: ("+"/"-"/" ", line)."""
        latest = self.app.latest_approved(nid)
        if latest is None:
            return []
        try:
            now = self.app.notice(nid)
        except PublisherError:
            return []
        if content_hash(canonical(now)) == latest.sha256:
            return []
        before = self.readable(from_canonical(latest.canonical, self.tz))
        out = []
        for line in difflib.unified_diff(before, self.readable(now), lineterm="", n=2):
            if line.startswith(("---", "+++")):
                continue
            out.append((line[:1], line[1:]))
        return out

    @requires("view")
    async def notice(self, request: Request) -> Response:
        app = self.app
        nid = request.path_params["nid"]
        detail = app.notice_detail(nid, history=50)
        findings = []
        sha = ""
        error = ""
        try:
            current = app.notice(nid)  # the file as it is now
            sha = content_hash(canonical(current))
            if app.reviewed_already(nid, sha):
                findings = app.gate.findings(current)  # reviewed already: not recorded again
            else:
                findings = app.review(nid).findings  # reviewed and recorded for sign-off
        except PublisherError as exc:
            error = str(exc)
        marked: dict[int, list[Any]] = {}
        for f in findings:
            if f.line is not None and f.field != "attachments":
                marked.setdefault(f.line, []).append(f)
        n = detail.notice
        return self.console.page(
            request,
            "notice.html",
            diff=self.changes_since_approval(nid),
            d=detail,
            n=n,
            body_html=render_markdown(n.body) if n else "",
            findings=findings,
            blocking=sorted({f.rule for f in findings if f.severity == "block"}),
            marked=marked,
            lines=self.source_lines(detail.row.source),
            sha=sha,
            error=error,
            message=request.query_params.get("done", ""),
        )

    @requires("view")
    async def channel_preview(self, request: Request) -> Response:
        """What one channel will show or send for this notice: message parts as sent, feed
        documents and the notice page as text, screen slides as images."""
        nid, name = request.path_params["nid"], request.path_params["channel"]
        proposed = request.query_params.get("v") != "approved"
        try:
            payloads = self.app.preview(nid, name, proposed=proposed)
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        shown = []
        for pl in payloads:
            label = pl.label or pl.target
            if pl.content_type.startswith("image/"):
                data = base64.b64encode(pl.body).decode()
                shown.append(("image", label, f"data:{pl.content_type};base64,{data}"))
            elif (
                not label
                or nid in label
                or label.endswith(("all.rss.xml", "manifest.json"))
                or isinstance(self.app.channels.get(name), MessageChannel)
            ):
                text = pl.text()
                if pl.content_type.startswith("application/json"):
                    with contextlib.suppress(ValueError):
                        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
                shown.append(("text", label, text[:20_000]))
        return self.console.page(
            request,
            "preview.html",
            nid=nid,
            channel=name,
            proposed=proposed,
            shown=shown[:40],
        )
