"""The site's search page (``GET /search?q=…``), served beside the output folder by
`publisher run`: the query runs in the store (``records/search.py``), the page is drawn with
the template the channel that writes the site's pages names (``WritesSitePages``; a site may
override it like any other)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from publisher.model import SiteInfo
from publisher.records.search import MAX_QUERY, SearchPage


def search_endpoint(
    find: Callable[[str, int], SearchPage],
    templates: jinja2.Environment,
    site: SiteInfo,
    categories: Mapping[str, str],
    template: str,
) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        query = " ".join(request.query_params.get("q", "").split())[:MAX_QUERY]
        try:
            page = max(1, min(int(request.query_params.get("page", "1")), 1000))
        except ValueError:
            page = 1
        result = await run_in_threadpool(find, query, page) if query else None
        html = templates.get_template(template).render(
            site=site, query=query, result=result, categories=categories
        )
        return HTMLResponse(
            html,
            headers={"Cache-Control": "no-cache", "X-Robots-Tag": "noindex"},
        )

    return endpoint
