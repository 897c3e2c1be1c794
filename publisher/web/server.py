"""Running the site (``web.site_app``) on uvicorn, in a thread beside the scheduler.

The socket is bound here, before uvicorn starts, so a busy port is a clear error at once and
port 0 (tests) gets a real port. Connection limits and timeouts are uvicorn's: idle keep-alive
connections are closed after a few seconds, a flood is answered 503 past ``limit_concurrency``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from publisher.errors import PublisherError
from publisher.mediatypes import FileRule
from publisher.web.site import site_app

__all__ = ["Server"]

log = logging.getLogger("publisher.web.server")


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline for each request's headers.

    uvicorn only times out a connection that is idle *after* a response, so a client that
    connects and says nothing (or trickles a header a byte at a time) would hold its connection
    for ever. Here the headers of every request must arrive within the keep-alive timeout,
    counted from the connection or from the previous response, whatever trickles in."""

    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.timeout_keep_alive, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class Server:
    def __init__(
        self,
        root: Path,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
        status: Callable[[], Any] | None = None,
        metrics: Callable[[], str] | None = None,
        *,
        console: ASGIApp | None = None,
        files: bool = True,
        search: Callable[[Any], Any] | None = None,
        heartbeat: Callable[[bytes, str], dict[str, Any]] | None = None,
        vendor_event: Callable[[str, str, dict[str, str], bytes], tuple[int, str]] | None = None,
        rules: Sequence[FileRule] = (),
        limit_concurrency: int = 1000,
        timeout_keep_alive: float = 5,
    ) -> None:
        self.root = root
        self.rules = list(rules)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise PublisherError(
                f"cannot serve on {host}:{port}: {exc.strerror} "
                "(another program uses the port? set server.port or pass --port)"
            ) from None
        self.sock.listen(1024)  # 100 feed readers arriving at once are queued, not reset
        app = site_app(
            str(root),
            health=health,
            status=status,
            metrics=metrics,
            console=console,
            files=files,
            search=search,
            heartbeat=heartbeat,
            vendor_event=vendor_event,
            rules=self.rules,
        )
        self.config = uvicorn.Config(app, **self._options(limit_concurrency, timeout_keep_alive))
        self.uvicorn = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    @staticmethod
    def _options(limit_concurrency: int, timeout_keep_alive: float) -> dict[str, Any]:
        return dict(
            http=_Protocol,
            log_config=None,  # our logging setup stays in charge
            access_log=False,
            server_header=False,
            limit_concurrency=limit_concurrency,
            timeout_keep_alive=int(timeout_keep_alive),
            timeout_graceful_shutdown=3,
            lifespan="off",
            proxy_headers=False,
        )

    def run_workers(self, workers: int) -> None:
        """Serve the output folder from ``workers`` processes sharing this socket, until
        SIGINT/SIGTERM (uvicorn's supervisor restarts a worker that dies). Files only: the
        operational endpoints belong to `publisher run`."""
        from uvicorn.supervisors import Multiprocess

        os.environ["PUBLISHER_SERVE_ROOT"] = str(self.root)
        os.environ["PUBLISHER_SERVE_RULES"] = json.dumps([r.to_json() for r in self.rules])
        config = uvicorn.Config(
            "publisher.web.site:app_from_env",
            factory=True,
            workers=workers,
            **self._options(self.config.limit_concurrency or 1000, self.config.timeout_keep_alive),
        )
        Multiprocess(config, sockets=[self.sock]).run()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.uvicorn.run, kwargs={"sockets": [self.sock]}, name="http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.uvicorn.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise PublisherError("the HTTP server did not start within 10 s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread:
            self._thread.join(5)
        self.sock.close()
