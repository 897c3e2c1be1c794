"""The office's console under ``/admin/``: log in, see notices by state, open one with its lint
findings marked in the source, sign off as yourself, withdraw; the audit log.

Server-rendered Jinja pages (``templates/console/``), one small local script, no CDN. Sessions
are signed cookies (Starlette's ``SessionMiddleware``, itsdangerous) that expire and are
``SameSite=Strict``; every POST must also carry the session's CSRF token (synchronizer token,
compared in constant time; asgi-csrf was the first choice, but it breaks on python-multipart
0.0.26+, the release that fixed its CVEs); a login is rate-limited in the store
(``accounts.py``). Every action goes to the audit log under the account's name.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import difflib
import hashlib
import io
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from publisher.channel import MessageChannel
from publisher.errors import AccessDenied, NoticeError, PublisherError
from publisher.model import Notice
from publisher.notices.attachments import read_inside
from publisher.notices.editor import (
    Draft,
    EditConflict,
    NoticeWriter,
    draft_of,
    file_hash,
    parse_links,
    publicity_ends,
)
from publisher.notices.files import canonical, content_hash, from_canonical
from publisher.service.accounts import Account, Accounts
from publisher.service.alerts import parse_until
from publisher.service.app import Publisher
from publisher.service.readmodels import NoticeSummary
from publisher.templating import builtin_templates_dir
from publisher.text import render_markdown
from publisher.web.site import CONSOLE_PREFIX

PREFIX = CONSOLE_PREFIX  # where the site mounts the console (web.py)
PAGE = 100  # notices per page of the list
STATES = {  # the console's words for where a notice stands, and how a summary says it
    "待审": "awaiting review",
    "待发布": "scheduled",
    "已发布": "live",
    "已过期": "expired",
    "已撤回": "withdrawn",
}
ROLE_NAMES = {
    "viewer": "查看",
    "editor": "编辑",
    "reviewer": "审核人",
    "publisher": "发布员",
    "admin": "管理员",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

Handler = Callable[[Request], Awaitable[Response]]


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


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a new one after each login)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_protected(fn: Handler) -> Handler:
    """Refuse a POST whose form field ``csrftoken`` (or header ``X-CSRFToken``) is not the
    session's token: a page on another site cannot read it, so cannot send it."""

    @wraps(fn)
    async def wrapped(request: Request) -> Response:
        expected = request.session.get("csrf")
        # parsed once here (Starlette keeps it for the handler), with the console's limits
        form = await request.form(max_files=20, max_fields=200)
        given = str(form.get("csrftoken") or request.headers.get("x-csrftoken") or "")
        if not isinstance(expected, str) or not secrets.compare_digest(given, expected):
            return Response("CSRF token missing or wrong; reload the page", 403)
        return await fn(request)

    return wrapped


def console_app(app: Publisher) -> ASGIApp:
    """The console, to mount at ``/admin`` of the site."""
    cfg = app.settings.model.console
    secret = (
        cfg.secret.reveal()
        if cfg.secret is not None
        else app.store.meta("console_secret", lambda: secrets.token_urlsafe(32))
    )
    accounts = Accounts(app.store, app.clock)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(builtin_templates_dir() / "console")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tz = app.settings.tz
    env.filters["role"] = lambda r: ROLE_NAMES.get(r, r)
    env.filters["local"] = lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = env.get_template(name).render(
            site=app.settings.model.site,
            me=request.scope.get("account"),
            csrftoken=csrf_token(request),
            prefix=PREFIX,
            **values,
        )
        return HTMLResponse(
            body,
            status,
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
        )

    def refused(request: Request, nid: str, exc: PublisherError) -> HTMLResponse:
        """An action that did not happen, and why (the page offers the way back)."""
        return page(request, "result.html", 409, nid=nid, message=str(exc))

    def fingerprint(account: str) -> str:
        # changes when the password changes: old sessions end with it
        row = app.store.account(account)
        return hashlib.sha256(row.password_hash.encode()).hexdigest()[:16] if row else ""

    def requires(permission: str) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            @wraps(fn)
            async def wrapped(request: Request) -> Response:
                name = request.session.get("account")
                account = accounts.get(name) if isinstance(name, str) else None
                if account is None or request.session.get("fp") != fingerprint(account.name):
                    request.session.clear()
                    target = quote(request.url.path)
                    return RedirectResponse(f"{PREFIX}/login?next={target}", 303)
                request.scope["account"] = account
                if not account.can(permission):
                    return page(
                        request,
                        "denied.html",
                        403,
                        message=f"需要“{permission}”权限 (your roles: {', '.join(account.roles)})",
                    )
                return await fn(request)

            return wrapped

        return decorate

    # ---------------------------------------------------------------- login

    async def login_form(request: Request) -> Response:
        return page(request, "login.html", next=request.query_params.get("next", ""), error="")

    @csrf_protected
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = str(form.get("next", "")) or f"{PREFIX}/"
        if not target.startswith(f"{PREFIX}/") or "//" in target or "\\" in target:
            target = f"{PREFIX}/"  # never a redirect off the console
        client = request.client.host if request.client else "?"
        try:
            account = accounts.authenticate(name, password, client)
        except AccessDenied as exc:
            app.store.audit(app.clock.now(), "console.login.failed", actor=name, client=client)
            return page(request, "login.html", 401, next=target, error=str(exc))
        request.session.clear()
        request.session.update({"account": account.name, "fp": fingerprint(account.name)})
        app.store.audit(app.clock.now(), "console.login", actor=account.name, client=client)
        return RedirectResponse(target, 303)

    @csrf_protected
    async def logout(request: Request) -> Response:
        name = request.session.get("account")
        request.session.clear()
        if isinstance(name, str):
            app.store.audit(app.clock.now(), "console.logout", actor=name)
        return RedirectResponse(f"{PREFIX}/login", 303)

    # ---------------------------------------------------------------- notices

    @requires("view")
    async def notices(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        state = request.query_params.get("state", "")
        rows = [(s, state_label(s)) for s in app.notice_summaries()]
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
            rows = [
                (s, lb)
                for s, lb in rows
                if s.publish_at is not None
                and (not since or f"{s.publish_at.astimezone(tz):%Y-%m-%d}" >= since)
                and (not until or f"{s.publish_at.astimezone(tz):%Y-%m-%d}" <= until)
            ]
        department = request.query_params.get("department", "").strip()
        channel = request.query_params.get("channel", "")
        if department or channel:
            # these live in the notice's text: read for the rows left, not for every notice
            kept = []
            for s, lb in rows:
                n = app.stored_notice(s.id)
                if n is None:
                    continue
                if department and department not in n.department:
                    continue
                if channel and channel not in app.settings.route(n):
                    continue
                kept.append((s, lb))
            rows = kept
        # newest publication first; a page of PAGE rows (a site of 10,000 notices stays quick)
        rows.sort(key=lambda r: (r[0].publish_at is None, r[0].publish_at), reverse=True)
        pages = max(1, -(-len(rows) // PAGE))
        try:
            at = min(max(1, int(request.query_params.get("p", "1"))), pages)
        except ValueError:
            at = 1
        return page(
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
            channels=list(app.settings.channels),
            categories=app.settings.catalogue.categories,
            items_of=app.settings.catalogue.items_of,
        )

    @requires("view")
    async def calendar(request: Request) -> Response:
        """What publishes, and which 公示 end, in the next 60 days, day by day."""
        now = app.clock.now()
        horizon = now + timedelta(days=60)
        days: dict[str, list[tuple[str, str, NoticeSummary]]] = {}
        for s in app.notice_summaries():
            for kind, when in (
                ("发布", s.approved_publish_at),
                ("公示结束", s.approved_expires_at),
            ):
                if when is not None and now <= when <= horizon:
                    local = when.astimezone(tz)
                    day = f"{local:%Y-%m-%d}（周{'一二三四五六日'[local.weekday()]}）"
                    days.setdefault(day, []).append((local.strftime("%H:%M"), kind, s))
        ordered = sorted(days.items())
        return page(request, "calendar.html", days=[(d, sorted(v)) for d, v in ordered])

    @requires("view")
    async def coverage(request: Request) -> Response:
        """The 清单 coverage table (the same read model as ``publisher report coverage``):
        which items have nothing this school year, which are overdue, which notices were late."""
        show = request.query_params.get("show", "")
        report = app.coverage()
        rows = [
            i
            for i in report.items
            if show == "" or (show == "overdue" and i.overdue) or (show == "missing" and i.missing)
        ]
        groups: dict[str, list[Any]] = {}
        for i in rows:
            groups.setdefault(i.category_label, []).append(i)
        return page(
            request,
            "coverage.html",
            report=report,
            show=show,
            groups=list(groups.items()),
            total=len(report.items),
        )

    def source_lines(source: str) -> list[str]:
        try:
            raw = read_inside(app.settings.base_dir / source, app.settings.items_dir)
        except (OSError, PublisherError):
            return []
        return raw.decode("utf-8", errors="replace").splitlines()

    def readable(n: Notice) -> list[str]:
        """A notice as a reviewer compares it: its fields, then its text, line by line."""
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

    def changes_since_approval(nid: str) -> list[tuple[str, str]]:
        """The current file against the newest approved version: ("+"/"-"/" ", line)."""
        latest = app.store.latest_approved(nid)
        if latest is None:
            return []
        try:
            now = app.notice(nid)
        except PublisherError:
            return []
        if content_hash(canonical(now)) == latest.sha256:
            return []
        before = readable(from_canonical(latest.canonical, tz))
        out = []
        for line in difflib.unified_diff(before, readable(now), lineterm="", n=2):
            if line.startswith(("---", "+++")):
                continue
            out.append((line[:1], line[1:]))
        return out

    @requires("view")
    async def notice(request: Request) -> Response:
        nid = request.path_params["nid"]
        detail = app.notice_detail(nid, history=50)
        findings = []
        sha = ""
        error = ""
        try:
            current = app.notice(nid)  # the file as it is now
            sha = content_hash(canonical(current))
            last = app.store.last_review(nid)
            if last is not None and last[0] == sha:
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
        return page(
            request,
            "notice.html",
            diff=changes_since_approval(nid),
            d=detail,
            n=n,
            body_html=render_markdown(n.body) if n else "",
            findings=findings,
            blocking=sorted({f.rule for f in findings if f.severity == "block"}),
            marked=marked,
            lines=source_lines(detail.row.source),
            sha=sha,
            error=error,
            message=request.query_params.get("done", ""),
        )

    @requires("view")
    async def channel_preview(request: Request) -> Response:
        """What one channel will show or send for this notice: message parts as sent, feed
        documents and the notice page as text, screen slides as images."""
        nid, name = request.path_params["nid"], request.path_params["channel"]
        proposed = request.query_params.get("v") != "approved"
        try:
            payloads = app.preview(nid, name, proposed=proposed)
        except PublisherError as exc:
            return refused(request, nid, exc)
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
                or isinstance(app.channels.get(name), MessageChannel)
            ):
                text = pl.text()
                if pl.content_type.startswith("application/json"):
                    with contextlib.suppress(ValueError):
                        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
                shown.append(("text", label, text[:20_000]))
        return page(
            request,
            "preview.html",
            nid=nid,
            channel=name,
            proposed=proposed,
            shown=shown[:40],
        )

    @requires("review")
    @csrf_protected
    async def signoff(request: Request) -> Response:
        nid = request.path_params["nid"]
        form = await request.form()
        account: Account = request.scope["account"]
        allow = {
            str(rule): str(form.get(f"reason:{rule}", "")).strip() for rule in form.getlist("allow")
        }
        try:
            res = app.approve_as(
                nid,
                account=account.name,
                opinion=str(form.get("opinion", "")).strip() or "同意公开",
                allow=allow,
                version=str(form.get("version", "")),
            )
        except PublisherError as exc:
            return refused(request, nid, exc)
        done = (
            f"已签批（{res.signoffs}/{res.required}），已生成 {len(res.deliveries)} 个发布任务"
            if res.approved_now
            else f"已签批（{res.signoffs}/{res.required}），等待其他审核人"
        )
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote(done)}", 303)

    @requires("publish")
    @csrf_protected
    async def withdraw(request: Request) -> Response:
        nid = request.path_params["nid"]
        form = await request.form()
        account: Account = request.scope["account"]
        try:
            app.withdraw(nid, str(form.get("reason", "")), actor=account.name)
        except PublisherError as exc:
            return refused(request, nid, exc)
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote('已撤回')}", 303)

    @requires("review")
    @csrf_protected
    async def batch_approve(request: Request) -> Response:
        """Sign off every selected notice that has no blocking finding; the others are
        listed with why they were left out (a finding needs a reason, one notice at a time)."""
        form = await request.form()
        account: Account = request.scope["account"]
        results: list[tuple[str, bool, str]] = []
        for nid in dict.fromkeys(str(v) for v in form.getlist("id")):
            try:
                report = app.review(nid)
                if report.blocking:
                    rules = ", ".join(sorted({f.rule for f in report.blocking}))
                    results.append((nid, False, f"有必须处理的审查发现（{rules}），请逐个签批"))
                    continue
                res = app.approve_as(
                    nid, account=account.name, opinion="同意公开", allow={}, version=report.sha256
                )
                results.append((nid, True, f"已签批（{res.signoffs}/{res.required}）"))
            except PublisherError as exc:
                results.append((nid, False, str(exc)))
        return page(request, "batch.html", results=results)

    @requires("publish")
    async def push_plan(request: Request) -> Response:
        nid = request.path_params["nid"]
        try:
            report = app.push(nid, dry_run=True)
        except PublisherError as exc:
            return refused(request, nid, exc)
        return page(request, "push.html", nid=nid, report=report, done=False)

    @requires("publish")
    @csrf_protected
    async def push(request: Request) -> Response:
        nid = request.path_params["nid"]
        account: Account = request.scope["account"]
        try:
            report = app.push(nid)
        except PublisherError as exc:
            return refused(request, nid, exc)
        app.store.audit(
            app.clock.now(),
            "console.push",
            notice_id=nid,
            actor=account.name,
            channels=report.channels,
        )
        return page(request, "push.html", nid=nid, report=report, done=True)

    @requires("publish")
    @csrf_protected
    async def retry_notice(request: Request) -> Response:
        nid = request.path_params["nid"]
        account: Account = request.scope["account"]
        try:
            n = app.retry(notice_id=nid)
        except PublisherError as exc:
            return refused(request, nid, exc)
        app.store.audit(app.clock.now(), "console.retry", notice_id=nid, actor=account.name, n=n)
        return RedirectResponse(
            f"{PREFIX}/notices/{quote(nid)}?done={quote(f'已重新排队 {n} 个发布任务')}", 303
        )

    # ---------------------------------------------------------------- channels

    @requires("view")
    async def channels(request: Request) -> Response:
        statuses = app.status()
        now = app.clock.now()
        windows = {
            name: ch.rate_limits
            for name, ch in app.channels.items()
            if isinstance(ch, MessageChannel)
        }
        return page(
            request,
            "channels.html",
            statuses=statuses,
            windows=windows,
            instances=app.store.instances(now),
            message=request.query_params.get("done", ""),
        )

    @requires("publish")
    @csrf_protected
    async def retry(request: Request) -> Response:
        name = request.path_params["name"]
        account: Account = request.scope["account"]
        try:
            n = app.retry(name)
        except PublisherError as exc:
            return refused(request, "", exc)
        app.store.audit(app.clock.now(), "console.retry", channel=name, actor=account.name, n=n)
        done = f"{name}：已恢复，重新排队 {n} 个发布任务"
        return RedirectResponse(f"{PREFIX}/channels?done={quote(done)}", 303)

    # ---------------------------------------------------------------- signage alerts

    def alerts_page(
        request: Request,
        status: int = 200,
        *,
        form: dict[str, Any] | None = None,
        preview: dict[str, Any] | None = None,
        error: str = "",
    ) -> HTMLResponse:
        return page(
            request,
            "alerts.html",
            status,
            active=app.alerts.listing(),
            profiles=app.alerts.profiles(),
            form=form or {},
            preview=preview,
            error=error,
            message=request.query_params.get("done", ""),
        )

    @requires("publish")
    async def alerts(request: Request) -> Response:
        return alerts_page(request)

    @requires("publish")
    @csrf_protected
    async def alert_post(request: Request) -> Response:
        """Preview first (the text as the screens will show it, checked by the review's
        rules), then put it up: the form is sent twice, the second time with `confirm`."""
        form = await request.form()
        account: Account = request.scope["account"]
        text = str(form.get("text", "")).strip()
        chosen = [str(v) for v in form.getlist("profile")]
        until_text = str(form.get("until", "")).strip()
        values = {"text": text, "until": until_text, "profiles": chosen}
        try:
            until = parse_until(until_text or "2h", tz, app.clock.now())
            if not form.get("confirm"):
                shown = {"text": text, "until": until, "findings": app.alerts.findings(text)}
                return alerts_page(request, form=values, preview=shown)
            alert_id = app.alerts.put_up(text, until=until, profiles=chosen, actor=account.name)
        except PublisherError as exc:
            return alerts_page(request, 422, form=values, error=str(exc))
        done = f"紧急通知 #{alert_id} 已上屏，至 {until.astimezone(tz):%m-%d %H:%M}"
        return RedirectResponse(f"{PREFIX}/alerts?done={quote(done)}", 303)

    @requires("publish")
    @csrf_protected
    async def alert_clear(request: Request) -> Response:
        account: Account = request.scope["account"]
        n = app.alerts.take_down([int(request.path_params["aid"])], account.name)
        return RedirectResponse(f"{PREFIX}/alerts?done={quote(f'已撤下 {n} 条')}", 303)

    # ---------------------------------------------------------------- screens (players)

    def screens_page(request: Request, status: int = 200, error: str = "") -> HTMLResponse:
        today = app.clock.now().astimezone(tz).date()
        return page(
            request,
            "screens.html",
            status,
            screens=app.screens.health(),
            enabled=app.screens.enabled,
            since=(today - timedelta(days=30)).isoformat(),
            until=today.isoformat(),
            error=error,
        )

    @requires("view")
    async def screens(request: Request) -> Response:
        """Each screen's last heartbeat and version, and the proof-of-play download."""
        return screens_page(request)

    @requires("view")
    async def plays_csv(request: Request) -> Response:
        q = request.query_params
        try:
            since = date.fromisoformat(q.get("since", ""))
            until = date.fromisoformat(q.get("until", ""))
        except ValueError:
            return screens_page(request, 400, "请填写起止日期，如 2026-11-01。")
        if until < since:
            return screens_page(request, 400, "结束日期早于开始日期。")
        screen = q.get("screen") or None
        text = app.screens.plays_csv(since, until, screen)
        name = f"plays-{since.isoformat()}-{until.isoformat()}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # ---------------------------------------------------------------- writing

    writer = NoticeWriter(app.settings.items_dir, app.settings.base_dir, app.settings.catalogue, tz)
    catalogue = app.settings.catalogue

    def local_input(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if value else ""

    def edit_page(
        request: Request,
        draft: Draft,
        *,
        new: bool,
        opened: str,
        error: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        return page(
            request,
            "edit.html",
            status,
            draft=draft,
            new=new,
            opened=opened,
            error=error,
            categories=catalogue.categories,
            items_of=catalogue.items_of,
            local_input=local_input,
            zone=app.settings.model.site.timezone,
        )

    async def draft_from(request: Request, nid: str) -> Draft:
        form = await request.form()

        def text(name: str) -> str:
            return str(form.get(name, "")).strip()

        def when(name: str) -> datetime | None:
            raw = text(name)
            if not raw:
                return None
            try:
                return datetime.fromisoformat(raw).replace(tzinfo=tz)
            except ValueError:
                raise NoticeError(f"cannot read the time {raw!r}", field=name) from None

        publish_at = when("publish_at") or app.clock.now()
        expires_at = None
        if text("expires") == "date":
            expires_at = when("expires_at")
        elif text("expires") == "workdays":
            try:
                days = int(text("workdays") or "0")
            except ValueError:
                days = 0  # said below: a number of working days is needed
            if not 1 <= days <= 60:
                raise NoticeError("a 公示 lasts 1 to 60 working days", field="workdays")
            expires_at = publicity_ends(publish_at, days)
        files = list(
            zip(
                (str(v) for v in form.getlist("att_title")),
                (str(v) for v in form.getlist("att_file")),
                strict=False,
            )
        )
        for upload in form.getlist("upload"):
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                if data:
                    files.append(
                        (Path(upload.filename).stem, writer.save_upload(nid, upload.filename, data))
                    )
        try:
            item = int(text("item") or "0")
        except ValueError:
            raise NoticeError("pick a 清单 item", field="item") from None
        return Draft(
            nid,
            text("title"),
            text("category"),
            item,
            text("department"),
            publish_at,
            str(form.get("body", "")),
            text("summary"),
            text("contact"),
            expires_at,
            files,
            parse_links(str(form.get("links", ""))),
        )

    async def save(request: Request, nid: str, new: bool) -> Response:
        account: Account = request.scope["account"]
        form = await request.form()
        opened = str(form.get("opened", ""))
        draft: Draft | None = None
        try:
            path = writer.path_for(nid)
            draft = await draft_from(request, nid)
            notice = writer.write(draft, path, opened)
            app.save(notice)
        except (EditConflict, NoticeError) as exc:
            shown = draft or Draft(nid, "", "", 0, "", app.clock.now(), "")
            if isinstance(exc, EditConflict) and not new:
                # keep what was typed, and show it over what is on disk now
                message = f"{exc}：你的修改没有保存，仍在下面；请核对磁盘上的新版本后再保存。"
                return edit_page(
                    request,
                    shown,
                    new=new,
                    opened=file_hash(writer.path_for(nid)),
                    error=message,
                    status=409,
                )
            message = exc.describe() if isinstance(exc, NoticeError) else str(exc)
            return edit_page(request, shown, new=new, opened=opened, error=message, status=422)
        app.store.audit(
            app.clock.now(),
            "notice.written",
            notice_id=nid,
            actor=account.name,
            file=notice.source,
            new=new,
        )
        done = "已保存，等待审核" if new else "已保存修改，需重新审核"
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote(done)}", 303)

    @requires("write")
    async def new_form(request: Request) -> Response:
        now = app.clock.now().astimezone(tz)
        start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        first = next(iter(catalogue.categories), "")
        draft = Draft("", "", first, 0, "", start, "")
        return edit_page(request, draft, new=True, opened="")

    @requires("write")
    @csrf_protected
    async def create(request: Request) -> Response:
        form = await request.form()
        return await save(request, str(form.get("id", "")).strip(), new=True)

    @requires("write")
    async def edit_form(request: Request) -> Response:
        nid = request.path_params["nid"]
        n = app.notice(nid)
        path = app.settings.base_dir / n.source
        return edit_page(request, draft_of(n), new=False, opened=file_hash(path))

    @requires("write")
    @csrf_protected
    async def update(request: Request) -> Response:
        return await save(request, request.path_params["nid"], new=False)

    @requires("write")
    @csrf_protected
    async def preview(request: Request) -> Response:
        form = await request.form()
        return JSONResponse({"html": render_markdown(str(form.get("body", "")))})

    # ---------------------------------------------------------------- audit

    @requires("view")
    async def audit(request: Request) -> Response:
        events = app.store.audit_events(limit=500)
        q = request.query_params.get("q", "").strip()
        if q:
            events = [e for e in events if q in json.dumps(e, ensure_ascii=False, default=str)]
        if request.url.path.endswith(".csv"):
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["at", "event", "notice", "channel", "actor", "detail"])
            for e in events:
                w.writerow(
                    [
                        e["at"].isoformat(),
                        e["event"],
                        e["notice_id"] or "",
                        e["channel"] or "",
                        e["actor"] or "",
                        json.dumps(e["detail"], ensure_ascii=False),
                    ]
                )
            return Response(
                "\ufeff" + buf.getvalue(),  # a BOM: Excel on Windows then reads it as UTF-8
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        return page(request, "audit.html", events=events, q=q)

    static = Path(builtin_templates_dir()) / "console" / "static"
    inner = Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", notices, methods=["GET"]),
            Route("/notices/{nid}", notice, methods=["GET"]),
            Route("/notices/{nid}/signoff", signoff, methods=["POST"]),
            Route("/notices/{nid}/retry", retry_notice, methods=["POST"]),
            Route("/notices/{nid}/channels/{channel}", channel_preview, methods=["GET"]),
            Route("/notices/{nid}/withdraw", withdraw, methods=["POST"]),
            Route("/batch-approve", batch_approve, methods=["POST"]),
            Route("/notices/{nid}/push", push_plan, methods=["GET"]),
            Route("/notices/{nid}/push", push, methods=["POST"]),
            Route("/channels", channels, methods=["GET"]),
            Route("/calendar", calendar, methods=["GET"]),
            Route("/coverage", coverage, methods=["GET"]),
            Route("/alerts", alerts, methods=["GET"]),
            Route("/screens", screens, methods=["GET"]),
            Route("/screens/plays.csv", plays_csv, methods=["GET"]),
            Route("/alerts", alert_post, methods=["POST"]),
            Route("/alerts/{aid:int}/clear", alert_clear, methods=["POST"]),
            Route("/channels/{name}/retry", retry, methods=["POST"]),
            Route("/new", new_form, methods=["GET"]),
            Route("/new", create, methods=["POST"]),
            Route("/notices/{nid}/edit", edit_form, methods=["GET"]),
            Route("/notices/{nid}/edit", update, methods=["POST"]),
            Route("/preview", preview, methods=["POST"]),
            Route("/audit", audit, methods=["GET"]),
            Route("/audit.csv", audit, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=str(static))),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="publisher_console",
                max_age=max(1, int(cfg.session)),
                path=PREFIX,
                same_site="strict",
                https_only=app.settings.model.site.base_url.startswith("https://"),
            )
        ],
    )
    return inner
