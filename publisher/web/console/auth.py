"""Logging in and out: a signed session for the account, tied to its password (a new password
ends older sessions); attempts and logouts are in the audit trail (the service records them)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from publisher.errors import AccessDenied
from publisher.web.console.base import PREFIX, Pages, csrf_protected


class AuthPages(Pages):
    async def login_form(self, request: Request) -> Response:
        next_ = request.query_params.get("next", "")
        return self.console.page(request, "login.html", next=next_, error="")

    @csrf_protected
    async def login(self, request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = str(form.get("next", "")) or f"{PREFIX}/"
        if not target.startswith(f"{PREFIX}/") or "//" in target or "\\" in target:
            target = f"{PREFIX}/"  # never a redirect off the console
        client = request.client.host if request.client else "?"
        accounts = self.console.accounts
        try:
            account = accounts.login(name, password, client)
        except AccessDenied as exc:
            return self.console.page(request, "login.html", 401, next=target, error=str(exc))
        request.session.clear()
        request.session.update({"account": account.name, "fp": accounts.fingerprint(account.name)})
        return RedirectResponse(target, 303)

    @csrf_protected
    async def logout(self, request: Request) -> Response:
        name = request.session.get("account")
        request.session.clear()
        if isinstance(name, str):
            self.console.accounts.logout(name)
        return RedirectResponse(f"{PREFIX}/login", 303)
