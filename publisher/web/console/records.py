"""The 清单 coverage table (the same read model as ``publisher report coverage``): which items
have nothing this school year, which are overdue, which notices were late."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from publisher.web.console.base import Pages, requires


class RecordPages(Pages):
    @requires("view")
    async def coverage(self, request: Request) -> Response:
        """The coverage table, all items or only the overdue or missing ones (``show``)."""
        show = request.query_params.get("show", "")
        report = self.app.coverage()
        rows = [
            i
            for i in report.items
            if show == "" or (show == "overdue" and i.overdue) or (show == "missing" and i.missing)
        ]
        groups: dict[str, list[Any]] = {}
        for i in rows:
            groups.setdefault(i.category_label, []).append(i)
        return self.console.page(
            request,
            "coverage.html",
            report=report,
            show=show,
            groups=list(groups.items()),
            total=len(report.items),
        )
