"""Helpers shared by tests and benchmarks that are not vendors: a receiver that counts, and
approving a whole folder the way the gate does, notice by notice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class WebhookSink:
    """Counts deliveries by `webhook-id` (a receiver's idempotency key) and notes when each
    notice (the event's data.id, per path) first arrived."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one segment per answer
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                try:
                    nid = json.loads(body)["data"]["id"] + "@" + self.path
                except (ValueError, KeyError, TypeError):
                    nid = "?@" + self.path
                with outer.lock:
                    key = self.headers.get("webhook-id", "")
                    outer.counts[key] = outer.counts.get(key, 0) + 1
                    outer.arrivals.setdefault(nid, now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def delivered(self) -> int:
        with self.lock:
            return len(self.counts)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def approve_everything(app: Any, reviewer: str = "审查人") -> int:
    """Review and approve every notice of the folder, each through the gate."""
    notices, errors = app.load()
    assert not errors, errors[:3]
    for notice in notices.values():
        app.save(notice)
        app.gate.review(notice)
        app.gate.approve(notice, reviewers=[reviewer], ran_by="tests", opinion="同意", allow={})
    return len(notices)


def start_worker(root: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """One `publisher run --no-serve` process on the site in ``root``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publisher",
            "--config",
            str(root / "config.yaml"),
            "run",
            "--no-serve",
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def stop_workers(workers: list[subprocess.Popen[bytes]], wait: float = 30) -> list[int]:
    """SIGTERM every live worker; their exit codes (-9 when one had to be killed)."""
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    codes = []
    for w in workers:
        try:
            codes.append(w.wait(wait))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(-9)
    return codes
