"""The channels page: each channel's state, deliveries and rate windows, the instances sharing
the store; resuming a paused channel and requeueing its failed sends."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from publisher.channel import MessageChannel
from publisher.errors import PublisherError
from publisher.service.accounts import Account
from publisher.web.console.base import PREFIX, Pages, csrf_protected, requires


class ChannelPages(Pages):
    @requires("view")
    async def channels(self, request: Request) -> Response:
        statuses = self.app.status()
        windows = {
            name: ch.rate_limits
            for name, ch in self.app.channels.items()
            if isinstance(ch, MessageChannel)
        }
        return self.console.page(
            request,
            "channels.html",
            statuses=statuses,
            windows=windows,
            instances=self.app.instances(),
            message=request.query_params.get("done", ""),
        )

    @requires("publish")
    @csrf_protected
    async def retry(self, request: Request) -> Response:
        name = request.path_params["name"]
        account: Account = request.scope["account"]
        try:
            n = self.app.retry(name, actor=account.name, event="console.retry")
        except PublisherError as exc:
            return self.console.refused(request, "", exc)
        done = f"{name}：已恢复，重新排队 {n} 个发布任务"
        return RedirectResponse(f"{PREFIX}/channels?done={quote(done)}", 303)
