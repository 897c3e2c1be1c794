"""Campus signage: emergency alerts (previewed, checked by the review's rules, then put up on
the chosen screens until a time; taken down early), and the screens with their heartbeats and
the proof-of-play download."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from publisher.errors import PublisherError
from publisher.service.accounts import Account
from publisher.service.alerts import parse_until
from publisher.web.console.base import PREFIX, Pages, csrf_protected, requires


class AlertPages(Pages):
    def alerts_page(
        self,
        request: Request,
        status: int = 200,
        *,
        form: dict[str, Any] | None = None,
        preview: dict[str, Any] | None = None,
        error: str = "",
    ) -> HTMLResponse:
        return self.console.page(
            request,
            "alerts.html",
            status,
            active=self.app.alerts.listing(),
            profiles=self.app.alerts.profiles(),
            form=form or {},
            preview=preview,
            error=error,
            message=request.query_params.get("done", ""),
        )

    @requires("publish")
    async def alerts(self, request: Request) -> Response:
        return self.alerts_page(request)

    @requires("publish")
    @csrf_protected
    async def put_up(self, request: Request) -> Response:
        """Preview first (the text as the screens will show it, checked by the review's
        rules), then put it up: the form is sent twice, the second time with `confirm`."""
        form = await request.form()
        account: Account = request.scope["account"]
        alerts, tz = self.app.alerts, self.tz
        text = str(form.get("text", "")).strip()
        chosen = [str(v) for v in form.getlist("profile")]
        until_text = str(form.get("until", "")).strip()
        values = {"text": text, "until": until_text, "profiles": chosen}
        try:
            until = parse_until(until_text or "2h", tz, self.app.clock.now())
            if not form.get("confirm"):
                shown = {"text": text, "until": until, "findings": alerts.findings(text)}
                return self.alerts_page(request, form=values, preview=shown)
            alert_id = alerts.put_up(text, until=until, profiles=chosen, actor=account.name)
        except PublisherError as exc:
            return self.alerts_page(request, 422, form=values, error=str(exc))
        done = f"紧急通知 #{alert_id} 已上屏，至 {until.astimezone(tz):%m-%d %H:%M}"
        return RedirectResponse(f"{PREFIX}/alerts?done={quote(done)}", 303)

    @requires("publish")
    @csrf_protected
    async def clear(self, request: Request) -> Response:
        account: Account = request.scope["account"]
        n = self.app.alerts.take_down([int(request.path_params["aid"])], account.name)
        return RedirectResponse(f"{PREFIX}/alerts?done={quote(f'已撤下 {n} 条')}", 303)


class ScreenPages(Pages):
    def screens_page(self, request: Request, status: int = 200, error: str = "") -> HTMLResponse:
        today = self.app.clock.now().astimezone(self.tz).date()
        return self.console.page(
            request,
            "screens.html",
            status,
            screens=self.app.screens.health(),
            enabled=self.app.screens.enabled,
            since=(today - timedelta(days=30)).isoformat(),
            until=today.isoformat(),
            error=error,
        )

    @requires("view")
    async def screens(self, request: Request) -> Response:
        """Each screen's last heartbeat and version, and the proof-of-play download."""
        return self.screens_page(request)

    @requires("view")
    async def plays_csv(self, request: Request) -> Response:
        q = request.query_params
        try:
            since = date.fromisoformat(q.get("since", ""))
            until = date.fromisoformat(q.get("until", ""))
        except ValueError:
            return self.screens_page(request, 400, "请填写起止日期，如 2026-11-01。")
        if until < since:
            return self.screens_page(request, 400, "结束日期早于开始日期。")
        screen = q.get("screen") or None
        text = self.app.screens.plays_csv(since, until, screen)
        name = f"plays-{since.isoformat()}-{until.isoformat()}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
