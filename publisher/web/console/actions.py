"""What a reviewer or a publisher does to a notice from its page: sign off (one notice, or a
batch without findings), withdraw, see the push plan and push now, requeue failed sends. The
service records each in the audit trail under the account's name."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from publisher.errors import PublisherError
from publisher.service.accounts import Account
from publisher.web.console.base import PREFIX, Pages, csrf_protected, requires


class NoticeActions(Pages):
    @requires("review")
    @csrf_protected
    async def signoff(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        form = await request.form()
        account: Account = request.scope["account"]
        allow = {
            str(rule): str(form.get(f"reason:{rule}", "")).strip() for rule in form.getlist("allow")
        }
        try:
            res = self.app.approve_as(
                nid,
                account=account.name,
                opinion=str(form.get("opinion", "")).strip() or "同意公开",
                allow=allow,
                version=str(form.get("version", "")),
            )
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        done = (
            f"已签批（{res.signoffs}/{res.required}），已生成 {len(res.deliveries)} 个发布任务"
            if res.approved_now
            else f"已签批（{res.signoffs}/{res.required}），等待其他审核人"
        )
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote(done)}", 303)

    @requires("publish")
    @csrf_protected
    async def withdraw(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        form = await request.form()
        account: Account = request.scope["account"]
        try:
            self.app.withdraw(nid, str(form.get("reason", "")), actor=account.name)
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote('已撤回')}", 303)

    @requires("review")
    @csrf_protected
    async def batch_approve(self, request: Request) -> Response:
        """Sign off every selected notice that has no blocking finding; the others are
        listed with why they were left out (a finding needs a reason, one notice at a time)."""
        form = await request.form()
        account: Account = request.scope["account"]
        results: list[tuple[str, bool, str]] = []
        for nid in dict.fromkeys(str(v) for v in form.getlist("id")):
            try:
                report = self.app.review(nid)
                if report.blocking:
                    rules = ", ".join(sorted({f.rule for f in report.blocking}))
                    results.append((nid, False, f"有必须处理的审查发现（{rules}），请逐个签批"))
                    continue
                res = self.app.approve_as(
                    nid, account=account.name, opinion="同意公开", allow={}, version=report.sha256
                )
                results.append((nid, True, f"已签批（{res.signoffs}/{res.required}）"))
            except PublisherError as exc:
                results.append((nid, False, str(exc)))
        return self.console.page(request, "batch.html", results=results)

    @requires("publish")
    async def push_plan(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        try:
            report = self.app.push(nid, dry_run=True)
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        return self.console.page(request, "push.html", nid=nid, report=report, done=False)

    @requires("publish")
    @csrf_protected
    async def push(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        account: Account = request.scope["account"]
        try:
            report = self.app.push(nid, actor=account.name, event="console.push")
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        return self.console.page(request, "push.html", nid=nid, report=report, done=True)

    @requires("publish")
    @csrf_protected
    async def retry(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        account: Account = request.scope["account"]
        try:
            n = self.app.retry(notice_id=nid, actor=account.name, event="console.retry")
        except PublisherError as exc:
            return self.console.refused(request, nid, exc)
        return RedirectResponse(
            f"{PREFIX}/notices/{quote(nid)}?done={quote(f'已重新排队 {n} 个发布任务')}", 303
        )
