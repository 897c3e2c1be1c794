"""The office's console under ``/admin/``: log in, see notices by state, open one with its lint
findings marked in the source, sign off as yourself, withdraw; the audit log.

Server-rendered Jinja pages (``templates/console/``), one small local script, no CDN. Sessions
are signed cookies (Starlette's ``SessionMiddleware``, itsdangerous) that expire and are
``SameSite=Strict``; every POST must also carry the session's CSRF token (synchronizer token,
compared in constant time; asgi-csrf was the first choice, but it breaks on python-multipart
0.0.26+, the release that fixed its CVEs); a login is rate-limited in the store
(``accounts.py``). Every action goes to the audit log under the account's name.

The pages, one module per group, each a class over the shared :class:`~.base.Console`:

- ``base``: the context, page rendering, sessions, CSRF, ``requires(permission)``;
- ``auth``: log in, log out;
- ``notices``: the list, the calendar, one notice, what a channel will send for it;
- ``actions``: sign off (one or a batch), withdraw, push, requeue a notice's failed sends;
- ``editor``: write a new notice, edit one, the Markdown preview;
- ``channels``: the channels' state, resume and requeue a channel;
- ``signage``: emergency alerts on the screens, the screens and their proof of play;
- ``records``: the 清单 coverage table;
- ``audit``: the audit log, as a page and as CSV.

The console uses the service only (``Publisher`` and its ``accounts``), never the store.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from publisher.service.app import Publisher
from publisher.templating import builtin_templates_dir
from publisher.web.console.actions import NoticeActions
from publisher.web.console.audit import AuditPages
from publisher.web.console.auth import AuthPages
from publisher.web.console.base import PREFIX, Console
from publisher.web.console.channels import ChannelPages
from publisher.web.console.editor import EditorPages
from publisher.web.console.notices import NoticePages
from publisher.web.console.records import RecordPages
from publisher.web.console.signage import AlertPages, ScreenPages


def console_app(app: Publisher) -> ASGIApp:
    """The console, to mount at ``/admin`` of the site."""
    cfg = app.settings.model.console
    secret = cfg.secret.reveal() if cfg.secret is not None else app.accounts.session_secret()
    console = Console.of(app)
    auth, notices, act = AuthPages(console), NoticePages(console), NoticeActions(console)
    channels, records, audit = ChannelPages(console), RecordPages(console), AuditPages(console)
    alerts, screens, editor = AlertPages(console), ScreenPages(console), EditorPages(console)
    static = Path(builtin_templates_dir()) / "console" / "static"
    return Starlette(
        routes=[
            Route("/login", auth.login_form, methods=["GET"]),
            Route("/login", auth.login, methods=["POST"]),
            Route("/logout", auth.logout, methods=["POST"]),
            Route("/", notices.notices, methods=["GET"]),
            Route("/notices/{nid}", notices.notice, methods=["GET"]),
            Route("/notices/{nid}/signoff", act.signoff, methods=["POST"]),
            Route("/notices/{nid}/retry", act.retry, methods=["POST"]),
            Route("/notices/{nid}/channels/{channel}", notices.channel_preview, methods=["GET"]),
            Route("/notices/{nid}/withdraw", act.withdraw, methods=["POST"]),
            Route("/batch-approve", act.batch_approve, methods=["POST"]),
            Route("/notices/{nid}/push", act.push_plan, methods=["GET"]),
            Route("/notices/{nid}/push", act.push, methods=["POST"]),
            Route("/channels", channels.channels, methods=["GET"]),
            Route("/calendar", notices.calendar, methods=["GET"]),
            Route("/coverage", records.coverage, methods=["GET"]),
            Route("/alerts", alerts.alerts, methods=["GET"]),
            Route("/screens", screens.screens, methods=["GET"]),
            Route("/screens/plays.csv", screens.plays_csv, methods=["GET"]),
            Route("/alerts", alerts.put_up, methods=["POST"]),
            Route("/alerts/{aid:int}/clear", alerts.clear, methods=["POST"]),
            Route("/channels/{name}/retry", channels.retry, methods=["POST"]),
            Route("/new", editor.new_form, methods=["GET"]),
            Route("/new", editor.create, methods=["POST"]),
            Route("/notices/{nid}/edit", editor.edit_form, methods=["GET"]),
            Route("/notices/{nid}/edit", editor.update, methods=["POST"]),
            Route("/preview", editor.preview, methods=["POST"]),
            Route("/audit", audit.audit, methods=["GET"]),
            Route("/audit.csv", audit.audit, methods=["GET"]),
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


__all__ = ["console_app"]
