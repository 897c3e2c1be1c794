"""The site as an ASGI app (Starlette): the output folder, health, status and metrics.

HTTP semantics come from the library: conditional GET (ETag, Last-Modified, 304), HEAD, Range
(``FileResponse``), safe directory redirects, 405 for other methods, compression negotiated by
``starlette-compress`` (zstd, brotli, gzip). What is ours is the policy:

- Content-Type and Cache-Control per kind of file (feeds, pages, signage bundles);
- security headers on every answer (``nosniff``, a Content-Security-Policy whose only inline
  scripts are the ones in the page, by hash; ``Referrer-Policy``);
- approved attachments under ``/files/`` are downloads unless their type is passive (PDF,
  raster images, CSV, plain text), so an ``.html`` or ``.svg`` attachment never runs on the
  site's own origin;
- malformed requests (control characters, overlong paths) answered 400/414 before any lookup,
  dotfiles and the channels' bookkeeping files never served.

The console (issue 12) mounts beside these routes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware

from publisher.errors import BadHeartbeat
from publisher.mediatypes import FileRule, cache_control, content_type
from publisher.output import GONE

# attachment types a browser shows without running anything; everything else downloads
PASSIVE = (".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".csv", ".txt")
MAX_PATH = 2048
CONSOLE_PREFIX = "/admin"
HEARTBEAT_MAX = 32 * 1024  # a player's beat with 500 slides shown is ~15 KiB
VENDOR_EVENT_MAX = 64 * 1024  # a PUBLISHJOBFINISH event is well under 2 KiB
_BAD_PATH = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(rb"%(?:2f|5c)", re.I)
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>(.*?)</script>",
    re.S | re.I,
)


def csp(script_hashes: tuple[str, ...] = ()) -> str:
    scripts = " ".join(f"'sha256-{h}'" for h in script_hashes)
    return (
        "default-src 'self'; "
        f"script-src 'self'{' ' + scripts if scripts else ''}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    )


class _ScriptHashes:
    """sha256 of each inline script of an HTML file, kept while the file is unchanged."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def of(self, path: str, st: os.stat_result) -> tuple[str, ...]:
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(path)
        if hit and hit[0] == key:
            return hit[1]
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        hashes = tuple(
            dict.fromkeys(
                base64.b64encode(hashlib.sha256(m[1].encode("utf-8")).digest()).decode()
                for m in _INLINE_SCRIPT.finditer(text)
            )
        )
        with self._lock:
            self._cache[path] = (key, hashes)
        return hashes


_COMPRESSIBLE = (
    "text/",
    "application/rss",
    "application/atom",
    "application/json",
    "application/feed+json",
    "application/xml",
    "image/svg",
)


@dataclass(frozen=True)
class Cached:
    """One file as served: bytes, gzip, and the headers that depend only on the file."""

    key: tuple[int, int, int, int]
    body: bytes
    gz: bytes | None
    etag: str
    mtime: float
    headers: tuple[tuple[bytes, bytes], ...]  # type, caching, policy (no length, no encoding)


class FileCache:
    """Files of the output folder kept in memory while unchanged (stat before every use), with
    a content-based ETag shared by every answer, so a conditional request is answered the same
    whichever path serves it. Bounded: files over 2 MB are not kept, nor more than 128 MB."""

    MAX_FILE = 2_000_000
    MAX_TOTAL = 128_000_000

    def __init__(self, root: str, rules: tuple[FileRule, ...] = ()) -> None:
        self.rules = rules  # the channels' own media types and caching
        self.root = root
        self.scripts = _ScriptHashes()
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(st: os.stat_result) -> tuple[int, int, int, int]:
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def get(self, full_path: str, st: os.stat_result) -> Cached | None:
        """The entry for a regular file inside the folder (None: too big, or outside)."""
        key = self.key(st)
        with self._lock:
            hit = self._entries.get(full_path)
            if hit is not None and hit.key == key:
                self._entries.move_to_end(full_path)
                return hit
        if st.st_size > self.MAX_FILE:
            return None
        real = os.path.realpath(full_path)
        rel = os.path.relpath(real, self.root).replace(os.sep, "/")
        if rel.startswith("../") or any(p.startswith(".") for p in rel.split("/")):
            return None
        with open(real, "rb") as f:
            body = f.read()
        if len(body) != st.st_size:  # replaced while read: the next request reads it again
            return None
        ctype = content_type(rel, self.rules)
        headers = [
            (b"content-type", ctype.encode()),
            (b"cache-control", cache_control(rel, self.rules).encode()),
            (b"etag", b""),
            (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode()),
        ]
        for name, value in policy_headers(rel, real, st, self.scripts).items():
            headers.append((name.lower().encode(), value.encode()))
        gz = None
        if ctype.startswith(_COMPRESSIBLE) and len(body) > 256:
            gz = gzip.compress(body, 6, mtime=0)
            headers.append((b"vary", b"Accept-Encoding"))
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers[2] = (b"etag", etag.encode())
        entry = Cached(key, body, gz, etag, st.st_mtime, tuple(headers))
        with self._lock:
            old = self._entries.pop(full_path, None)
            self._total -= len(old.body) + len(old.gz or b"") if old else 0
            self._entries[full_path] = entry
            self._total += len(body) + len(gz or b"")
            while self._total > self.MAX_TOTAL and len(self._entries) > 1:
                _, gone = self._entries.popitem(last=False)
                self._total -= len(gone.body) + len(gone.gz or b"")
        return entry


def policy_headers(
    rel: str, real: str, st: os.stat_result, scripts: _ScriptHashes
) -> dict[str, str]:
    """What the site's policy adds to a file's answer: downloads for attachments that could
    run, and a page's own CSP naming its inline scripts by hash."""
    headers = {}
    if rel.startswith("files/") and not rel.lower().endswith(PASSIVE):
        headers["Content-Disposition"] = "attachment"
    if rel.endswith(".html") and not rel.startswith("files/"):
        headers["Content-Security-Policy"] = csp(scripts.of(real, st))
    return headers


def not_modified(entry: Cached, headers: Headers) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return entry.etag in tags or "*" in tags
    ims = headers.get("if-modified-since")
    if ims is None:
        return False
    try:
        return int(entry.mtime) <= parsedate_to_datetime(ims).timestamp()
    except (TypeError, ValueError):
        return False


class FastFiles:
    """The common answer at the speed it needs: a whole, unchanged file of the output folder
    (feeds polled every 15 minutes, slides, pages), from memory, 200 or 304. Everything else
    (Range, directories, redirects, misses, the operational routes) goes to the Starlette app,
    and so does anything this class is unsure of."""

    def __init__(self, app: ASGIApp, cache: FileCache, reserved: tuple[str, ...]) -> None:
        self.app = app
        self.cache = cache
        self.reserved = reserved

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._entry(scope) if scope["type"] == "http" else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "range" in headers:
            await self.app(scope, receive, send)
            return
        out = list(entry.headers)
        if not_modified(entry, headers):
            out = [h for h in out if h[0] != b"content-type"]
            await send({"type": "http.response.start", "status": 304, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return
        body = entry.body
        if entry.gz is not None and "gzip" in headers.get("accept-encoding", ""):
            body = entry.gz
            out.append((b"content-encoding", b"gzip"))
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def _entry(self, scope: Scope) -> Cached | None:
        if scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        if (
            path in self.reserved
            or any(path.startswith(r) for r in self.reserved if r.endswith("/"))
            or path == CONSOLE_PREFIX
            or path.startswith(CONSOLE_PREFIX + "/")  # the console answers for itself
            or not path.startswith("/")
            or "/." in path
        ):
            return None
        if path.endswith("/"):
            path += "index.html"
        full = self.cache.root + path
        try:
            st = os.stat(full)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            return self.cache.get(full, st)
        except OSError:
            return None


class OutputFiles(StaticFiles):
    """The output folder, with our types, caching and download policy."""

    def __init__(self, directory: str, cache: FileCache) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.root = os.path.realpath(directory)
        self.cache = cache

    async def check_config(self) -> None:
        return None  # a folder not written yet is a 404, not an error

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        # dotfiles (the channels' bookkeeping, editors' droppings) are never served
        if any(part.startswith(".") for part in path.split(os.sep) if part not in ("", ".")):
            raise HTTPException(status_code=404)
        return path

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            gone = self._gone(path, scope) if exc.status_code == 404 else None
            if gone is None:
                raise
            return gone
        if response.status_code == 404:
            return self._gone(path, scope) or response
        if "location" in response.headers:
            # a directory's redirect to its "/" form: built from the normalised path, never from
            # the Host header or the raw path (which could name another host)
            clean = "" if path in (".", "") else path.replace(os.sep, "/").strip("/") + "/"
            response.headers["location"] = "/" + clean
        return response

    def _gone(self, path: str, scope: Scope) -> Response | None:
        """A withdrawn notice's page: 410 Gone with the page that says 已撤回 (the rss
        channel writes it under ``.gone/``, beside the pages of live notices)."""
        parts = path.replace(os.sep, "/").split("/")
        if len(parts) < 2 or parts[-2] != "notices" or not parts[-1].endswith(".html"):
            return None
        full = os.path.join(self.root, *parts[:-2], GONE, "notices", parts[-1])
        try:
            st = os.stat(full)
        except OSError:
            return None
        if not os.path.realpath(full).startswith(self.root + os.sep):
            return None
        return self.file_response(full, st, scope, status_code=410)

    def file_response(
        self,
        full_path: Any,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        rel = os.path.relpath(str(full_path), self.root).replace(os.sep, "/")
        if rel.startswith("../"):  # a link out of the folder (bundles' "current" stays inside)
            raise HTTPException(status_code=404)
        headers = {"Cache-Control": cache_control(rel, self.cache.rules)}
        headers.update(policy_headers(rel, str(full_path), stat_result, self.cache.scripts))
        entry = self.cache.get(str(full_path), stat_result)
        if entry is not None:  # the same ETag as the fast path gives
            headers["ETag"] = entry.etag
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=content_type(rel, self.cache.rules),
            headers=headers,
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class Guard:
    """Refuses malformed requests before anything looks at them, and puts the security headers
    on every answer (a pure ASGI middleware: it never buffers a body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        path = scope["path"]
        if len(raw) > MAX_PATH:
            await PlainTextResponse("path too long", 414)(scope, receive, self._secure(send))
            return
        # control characters (response splitting), backslashes and encoded slashes (paths that
        # mean another host or folder to some client) have no place in a static site's URLs
        if (
            _BAD_PATH.search(path)
            or _ENCODED_SEPARATOR.search(raw)
            or b"\\" in raw
            or raw.startswith(b"//")
        ):
            await PlainTextResponse("bad request", 400)(scope, receive, self._secure(send))
            return
        await self.app(scope, receive, self._secure(send))

    @staticmethod
    def _secure(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"strict-origin-when-cross-origin",
                    b"content-security-policy": csp().encode(),
                    b"x-frame-options": b"SAMEORIGIN",
                }
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


def _json(body: Any, code: int = 200) -> Response:
    data = json.dumps(body, ensure_ascii=False, default=str, indent=1)
    return Response(
        data,
        code,
        media_type="application/json; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def site_app(
    root: str,
    *,
    health: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
    status: Callable[[], Any] | None = None,
    metrics: Callable[[], str] | None = None,
    console: ASGIApp | None = None,
    files: bool = True,
    search: Callable[[Request], Any] | None = None,
    heartbeat: Callable[[bytes, str], dict[str, Any]] | None = None,
    vendor_event: Callable[[str, str, dict[str, str], bytes], tuple[int, str]] | None = None,
    rules: Sequence[FileRule] = (),
) -> Starlette:
    """The public site: the output folder under ``/`` plus the operational endpoints, and the
    office's console under ``/admin`` when one is given (it asks for a login itself).
    ``heartbeat(body, address)`` takes the slideshow players' beats at ``POST /heartbeat``;
    ``vendor_event(channel, method, query, body)`` takes what a vendor pushes to
    ``/hooks/CHANNEL`` (the 公众号's PUBLISHJOBFINISH) and answers ``(status, text)``;
    ``rules`` are the channels' own media types and caching for the files they write."""

    async def vendor_ep(request: Request) -> Response:
        assert vendor_event is not None
        body = b""
        async for chunk in request.stream():  # read no further than the limit
            body += chunk
            if len(body) > VENDOR_EVENT_MAX:
                return PlainTextResponse("too large", 413)
        status, text = await run_in_threadpool(
            vendor_event,
            request.path_params["channel"],
            request.method,
            dict(request.query_params),
            body,
        )
        return PlainTextResponse(text, status, headers={"Cache-Control": "no-store"})

    async def heartbeat_ep(request: Request) -> Response:
        assert heartbeat is not None
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > HEARTBEAT_MAX:
            return _json({"ok": False, "error": "too large"}, 413)
        body = b""
        async for chunk in request.stream():  # read no further than the limit
            body += chunk
            if len(body) > HEARTBEAT_MAX:
                return _json({"ok": False, "error": "too large"}, 413)
        address = request.client.host if request.client else ""
        try:
            # the store is written in a worker thread: the event loop keeps serving files
            return _json({"ok": True, **await run_in_threadpool(heartbeat, body, address)})
        except BadHeartbeat as exc:
            return _json({"ok": False, "error": str(exc)}, exc.status)

    async def health_ep(request: Request) -> Response:
        ok, report = health() if health else (True, {})
        return _json({"ok": ok, **report}, 200 if ok else 503)

    async def status_ep(request: Request) -> Response:
        if status is None:
            raise HTTPException(404)
        return _json(status())

    async def metrics_ep(request: Request) -> Response:
        if metrics is None:
            raise HTTPException(404)
        return Response(
            metrics(),
            media_type="text/plain; version=0.0.4; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    methods = ["GET", "HEAD"]
    cache = FileCache(os.path.realpath(root), tuple(rules))
    reserved: tuple[str, ...] = ("/health", "/healthz", "/status.json", "/metrics")
    if search is not None and files:
        reserved += ("/search",)
    if heartbeat is not None and files:
        reserved += ("/heartbeat",)
    if vendor_event is not None:
        reserved += ("/hooks/",)
    routes: list[BaseRoute] = [
        Route("/health", health_ep, methods=methods),
        Route("/healthz", health_ep, methods=methods),
        Route("/status.json", status_ep, methods=methods),
        Route("/metrics", metrics_ep, methods=methods),
    ]
    if console is not None:
        routes.append(Mount(CONSOLE_PREFIX, app=console))
    if search is not None and files:
        routes.append(Route("/search", search, methods=methods))
    if heartbeat is not None and files:
        routes.append(Route("/heartbeat", heartbeat_ep, methods=["POST"]))
    if vendor_event is not None:
        routes.append(Route("/hooks/{channel}", vendor_ep, methods=["GET", "POST"]))
    if files:  # (a console served on its own address shows no files)
        routes.append(Mount("/", app=OutputFiles(root, cache)))
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(Guard),
            Middleware(FastFiles, cache=cache, reserved=reserved),
            # compressed once per answer; 304s and HEADs carry no body to compress
            Middleware(CompressMiddleware, minimum_size=256),
        ],
    )


def app_from_env() -> Starlette:
    """The files-only site for `publisher serve --workers N` (each worker process builds it)."""
    rules = json.loads(os.environ.get("PUBLISHER_SERVE_RULES", "[]"))
    return site_app(os.environ["PUBLISHER_SERVE_ROOT"], rules=[FileRule(**r) for r in rules])
