"""Writing notices in the browser: a new notice, editing one (never over a change made since
the page was opened), uploads kept beside the file, and the Markdown preview. The service writes
the file, stores the version and records who wrote it; the notice then awaits review."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from publisher.errors import NoticeError
from publisher.notices.editor import (
    Draft,
    EditConflict,
    draft_of,
    file_hash,
    parse_links,
)
from publisher.notices.publicity import publicity_ends
from publisher.service.accounts import Account
from publisher.text import render_markdown
from publisher.web.console.base import PREFIX, Console, Pages, csrf_protected, requires


class EditorPages(Pages):
    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.writer = console.app.writer()
        self.catalogue = console.settings.catalogue

    def local_input(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M") if value else ""

    def edit_page(
        self,
        request: Request,
        draft: Draft,
        *,
        new: bool,
        opened: str,
        error: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        return self.console.page(
            request,
            "edit.html",
            status,
            draft=draft,
            new=new,
            opened=opened,
            error=error,
            categories=self.catalogue.categories,
            items_of=self.catalogue.items_of,
            local_input=self.local_input,
            zone=self.console.settings.model.site.timezone,
        )

    async def draft_from(self, request: Request, nid: str) -> Draft:
        """The notice as the form gives it; uploads are saved beside the file first."""
        form = await request.form()

        def text(name: str) -> str:
            return str(form.get(name, "")).strip()

        publish_at = self._when(form, "publish_at") or self.app.clock.now()
        expires_at = None
        if text("expires") == "date":
            expires_at = self._when(form, "expires_at")
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
                    saved = self.writer.save_upload(nid, upload.filename, data)
                    files.append((Path(upload.filename).stem, saved))
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

    def _when(self, form: FormData, name: str) -> datetime | None:
        raw = str(form.get(name, "")).strip()
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=self.tz)
        except ValueError:
            raise NoticeError(f"cannot read the time {raw!r}", field=name) from None

    async def save(self, request: Request, nid: str, new: bool) -> Response:
        account: Account = request.scope["account"]
        form = await request.form()
        opened = str(form.get("opened", ""))
        draft: Draft | None = None
        try:
            self.writer.path_for(nid)  # a bad id is said before anything is saved
            draft = await self.draft_from(request, nid)
            self.app.write_draft(draft, opened, account.name)
        except (EditConflict, NoticeError) as exc:
            shown = draft or Draft(nid, "", "", 0, "", self.app.clock.now(), "")
            if isinstance(exc, EditConflict) and not new:
                # keep what was typed, and show it over what is on disk now
                message = f"{exc}：你的修改没有保存，仍在下面；请核对磁盘上的新版本后再保存。"
                return self.edit_page(
                    request,
                    shown,
                    new=new,
                    opened=file_hash(self.writer.path_for(nid)),
                    error=message,
                    status=409,
                )
            message = exc.describe() if isinstance(exc, NoticeError) else str(exc)
            return self.edit_page(request, shown, new=new, opened=opened, error=message, status=422)
        done = "已保存，等待审核" if new else "已保存修改，需重新审核"
        return RedirectResponse(f"{PREFIX}/notices/{quote(nid)}?done={quote(done)}", 303)

    @requires("write")
    async def new_form(self, request: Request) -> Response:
        now = self.app.clock.now().astimezone(self.tz)
        start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        first = next(iter(self.catalogue.categories), "")
        draft = Draft("", "", first, 0, "", start, "")
        return self.edit_page(request, draft, new=True, opened="")

    @requires("write")
    @csrf_protected
    async def create(self, request: Request) -> Response:
        form = await request.form()
        return await self.save(request, str(form.get("id", "")).strip(), new=True)

    @requires("write")
    async def edit_form(self, request: Request) -> Response:
        nid = request.path_params["nid"]
        n = self.app.notice(nid)
        path = self.console.settings.base_dir / n.source
        return self.edit_page(request, draft_of(n), new=False, opened=file_hash(path))

    @requires("write")
    @csrf_protected
    async def update(self, request: Request) -> Response:
        return await self.save(request, request.path_params["nid"], new=False)

    @requires("write")
    @csrf_protected
    async def preview(self, request: Request) -> Response:
        form = await request.form()
        return JSONResponse({"html": render_markdown(str(form.get("body", "")))})
