"""The audit log: the newest 500 events, searched by any text in them, as a page or as CSV for
Excel."""

from __future__ import annotations

import csv
import io
import json

from starlette.requests import Request
from starlette.responses import Response

from publisher.web.console.base import Pages, requires


class AuditPages(Pages):
    @requires("view")
    async def audit(self, request: Request) -> Response:
        events = self.app.audit_events(limit=500)
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
        return self.console.page(request, "audit.html", events=events, q=q)
