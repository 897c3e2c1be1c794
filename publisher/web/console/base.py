"""What every page of the console shares: the :class:`Console` context (the service, the
Jinja environment, the accounts, the settings), a page rendered with the console's headers,
the session's CSRF token and its check, and the ``requires(permission)`` guard.

Each page group is a :class:`Pages` subclass holding the context; its handlers are methods,
guarded with ``@requires(...)`` (signed in, with the permission) and then ``@csrf_protected``
(every POST), in that order.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from publisher.config import Settings
from publisher.errors import PublisherError
from publisher.service.accounts import Accounts
from publisher.service.app import Publisher
from publisher.templating import builtin_templates_dir
from publisher.web.site import CONSOLE_PREFIX

PREFIX = CONSOLE_PREFIX  # where the site mounts the console (web.py)
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

P = TypeVar("P", bound="Pages")
PageMethod: TypeAlias = Callable[[P, Request], Awaitable[Response]]


def console_environment(settings: Settings) -> jinja2.Environment:
    """The console's templates (``templates/console/``), with its two filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(builtin_templates_dir() / "console")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tz = settings.tz

    def local(dt: datetime | None) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    env.filters["role"] = lambda r: ROLE_NAMES.get(r, r)
    env.filters["local"] = local
    return env


@dataclass(frozen=True)
class Console:
    """What every page group holds: the service, the templates, the accounts, the settings."""

    app: Publisher
    env: jinja2.Environment
    accounts: Accounts
    settings: Settings

    @classmethod
    def of(cls, app: Publisher) -> Console:
        return cls(app, console_environment(app.settings), app.accounts, app.settings)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.env.get_template(name).render(
            site=self.settings.model.site,
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

    def refused(self, request: Request, nid: str, exc: PublisherError) -> HTMLResponse:
        """An action that did not happen, and why (the page offers the way back)."""
        return self.page(request, "result.html", 409, nid=nid, message=str(exc))


class Pages:
    """A group of pages: its handlers are methods over the shared :class:`Console`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.app = console.app
        self.tz = console.tz


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a new one after each login)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_protected(fn: PageMethod[P]) -> PageMethod[P]:
    """Refuse a POST whose form field ``csrftoken`` (or header ``X-CSRFToken``) is not the
    session's token: a page on another site cannot read it, so cannot send it."""

    @wraps(fn)
    async def wrapped(self: P, request: Request) -> Response:
        expected = request.session.get("csrf")
        # parsed once here (Starlette keeps it for the handler), with the console's limits
        form = await request.form(max_files=20, max_fields=200)
        given = str(form.get("csrftoken") or request.headers.get("x-csrftoken") or "")
        if not isinstance(expected, str) or not secrets.compare_digest(given, expected):
            return Response("CSRF token missing or wrong; reload the page", 403)
        return await fn(self, request)

    return wrapped


def requires(permission: str) -> Callable[[PageMethod[P]], PageMethod[P]]:
    """Only for a signed-in account (its session made with its current password) that has
    ``permission``: anyone else is sent to log in, an account without it is refused (403)."""

    def decorate(fn: PageMethod[P]) -> PageMethod[P]:
        @wraps(fn)
        async def wrapped(self: P, request: Request) -> Response:
            console = self.console
            name = request.session.get("account")
            account = console.accounts.get(name) if isinstance(name, str) else None
            if account is None or request.session.get("fp") != console.accounts.fingerprint(
                account.name
            ):
                request.session.clear()
                target = quote(request.url.path)
                return RedirectResponse(f"{PREFIX}/login?next={target}", 303)
            request.scope["account"] = account
            if not account.can(permission):
                return console.page(
                    request,
                    "denied.html",
                    403,
                    message=f"需要“{permission}”权限 (your roles: {', '.join(account.roles)})",
                )
            return await fn(self, request)

        return wrapped

    return decorate
