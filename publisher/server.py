"""A small HTTP server for the output folder (feeds, notice pages, signage) and health.

It serves the same files nginx would serve from the output folder, with the headers feed readers
and screens need: a Content-Type with charset, ETag and Last-Modified (304 on a conditional
request), Cache-Control, and gzip when asked.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import PublisherError

log = logging.getLogger("publisher.server")

TYPES = {
    ".rss.xml": "application/rss+xml; charset=utf-8",
    ".atom.xml": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
    ".opml": "text/x-opml; charset=utf-8",
}
CACHE = {
    ".rss.xml": "public, max-age=900",
    ".atom.xml": "public, max-age=900",
    ".opml": "public, max-age=900",
    "manifest.json": "no-cache",
    ".html": "public, max-age=300",
}


def content_type(name: str) -> str:
    """The Content-Type of a served file, by its path below the output folder."""
    if name.endswith(".json") and name.startswith("feeds/"):
        return "application/feed+json; charset=utf-8"
    for suffix, ctype in TYPES.items():
        if name.endswith(suffix):
            return ctype
    return "application/octet-stream"


def cache_control(name: str) -> str:
    if name.endswith(".json") and name.startswith("feeds/"):
        return "public, max-age=900"
    if name.startswith("signage/"):
        if "/files/" in name:  # named by content: never changes
            return "public, max-age=31536000, immutable"
        # a bundle is reached through current/, which moves to each new version: revalidate
        return "no-cache"
    for suffix, value in CACHE.items():
        if name.endswith(suffix):
            return value
    return "public, max-age=3600"


@dataclass(frozen=True)
class _Entry:
    data: bytes
    etag: str
    mtime: float
    gz: bytes | None


class FileCache:
    """Bytes, ETag and gzip of served files, refreshed when a file's mtime or size changes."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int], _Entry]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> _Entry:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._entries.get(str(path))
            if hit and hit[0] == key:
                return hit[1]
        data = path.read_bytes()
        compressible = (
            content_type(path.name)
            .split(";")[0]
            .startswith(
                (
                    "text/",
                    "application/rss",
                    "application/atom",
                    "application/json",
                    "application/xml",
                    "image/svg",
                )
            )
        )
        entry = _Entry(
            data,
            '"' + hashlib.sha256(data).hexdigest()[:32] + '"',
            st.st_mtime,
            gzip.compress(data, 6, mtime=0) if compressible and len(data) > 256 else None,
        )
        with self._lock:
            self._entries[str(path)] = (key, entry)
        return entry


class _HTTPServer(ThreadingHTTPServer):
    # the stdlib's listen backlog of 5 resets connections when 100 feed readers arrive at once
    request_queue_size = 512
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a reader closing its connection mid-answer is normal, not a traceback on stderr
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("error answering %s", client_address)


class Server:
    def __init__(
        self,
        root: Path,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
        status: Callable[[], Any] | None = None,
        metrics: Callable[[], str] | None = None,
    ) -> None:
        self.root = root
        self.health = health
        self.status = status
        self.metrics = metrics
        self.cache = FileCache()
        server = self

        class Handler(_Handler):
            srv = server

        try:
            self.httpd = _HTTPServer((host, port), Handler)
        except OSError as exc:
            raise PublisherError(
                f"cannot serve on {host}:{port}: {exc.strerror} "
                "(another program uses the port? set server.port or pass --port)"
            ) from None
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    srv: Server
    server_version = "disclosure-publisher"
    protocol_version = "HTTP/1.1"
    # headers and body leave in one write, at once: without this a keep-alive reader waits
    # ~40 ms per answer (Nagle's algorithm meeting delayed ACKs)
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _json(self, code: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False, default=str, indent=1).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: HTTPStatus, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _serve(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path in ("/health", "/healthz"):
            ok, report = self.srv.health() if self.srv.health else (True, {})
            self._json(200 if ok else 503, {"ok": ok, **report})
            return
        if path == "/status.json" and self.srv.status:
            self._json(200, self.srv.status())
            return
        if path == "/metrics" and self.srv.metrics:
            data = self.srv.metrics().encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        root = self.srv.root.resolve()
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root) or any(
            p.startswith(".") for p in target.relative_to(root).parts
        ):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        if target.is_dir():
            if not path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = target / "index.html"
        rel = target.relative_to(root).as_posix()
        try:
            entry = self.srv.cache.get(target)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        last_modified = email.utils.formatdate(entry.mtime, usegmt=True)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = False
        if inm is not None:
            not_modified = entry.etag in [t.strip().removeprefix("W/") for t in inm.split(",")]
        elif ims is not None:
            try:
                not_modified = (
                    int(entry.mtime) <= email.utils.parsedate_to_datetime(ims).timestamp()
                )
            except (TypeError, ValueError):
                not_modified = False
        common = [
            ("ETag", entry.etag),
            ("Last-Modified", last_modified),
            ("Cache-Control", cache_control(rel)),
            ("Vary", "Accept-Encoding"),
        ]
        if not_modified:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for k, v in common:
                self.send_header(k, v)
            self.end_headers()
            return
        body = entry.data
        use_gzip = entry.gz is not None and "gzip" in self.headers.get("Accept-Encoding", "")
        if use_gzip:
            assert entry.gz is not None
            body = entry.gz
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(rel))
        self.send_header("Content-Length", str(len(body)))
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        for k, v in common:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)
