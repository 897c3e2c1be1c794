"""Hostile requests against `publisher serve` in a real process (uvicorn + the site app).

Raw sockets send what clients like httpx refuse to: CR/LF and NUL in paths, overlong paths,
silent and slow connections. No answer may carry an injected header or send a browser off-site,
no request may stop the server from answering the next one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .vendors import free_port, wait_for

CONFIG = "site: {name: 站, school_name: 测试示范大学}\nserver: {host: 127.0.0.1}\n"


def publisher(root: Path) -> list[str]:
    return [sys.executable, "-m", "publisher", "--config", str(root / "config.yaml")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "config.yaml").write_text(CONFIG, "utf-8")
    (root / "items").mkdir()
    out = root / "public"
    (out / "feeds").mkdir(parents=True)
    (out / "feeds" / "all.rss.xml").write_text("<rss>" + "公开" * 300 + "</rss>", "utf-8")
    (out / "index.html").write_text("<!DOCTYPE html><h1>首页</h1>", "utf-8")
    (out / ".publisher-files.feed.json").write_text("[]", "utf-8")
    # the bot's own records beside the output (continuity.py): never served
    (out / ".publisher").mkdir()
    (out / ".publisher" / "owner.json").write_text('{"store": "x"}', "utf-8")
    (out / ".publisher" / "ledger.jsonl").write_text("{}\n", "utf-8")
    files = out / "files" / "0123456789abcdef"
    files.mkdir(parents=True)
    (files / "evil.html").write_text("<script>document.title='pwned'</script>", "utf-8")
    (files / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "utf-8"
    )
    (files / "list.csv").write_text("姓名\n王晓\n", "utf-8")
    (files / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    port = free_port()
    proc = subprocess.Popen(
        [*publisher(root), "serve", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, 20), proc.stdout.read().decode() if proc.poll() is not None else ""
    yield "127.0.0.1", port, root
    proc.terminate()
    output = proc.communicate(timeout=10)[0].decode("utf-8", "replace")
    assert "Traceback" not in output, output


def raw(port: int, request: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def head_of(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers


def get(port: int, target: bytes, method: bytes = b"GET") -> bytes:
    return raw(
        port, method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )


HOSTILE = [
    b"/feeds/%0d%0aSet-Cookie:%20pwned=1/..",
    b"/feeds/%0aSet-Cookie:%20pwned=1",
    b"/%2fevil.example/..",
    b"//evil.example/..",
    b"/%5cevil.example/",
    b"/..%2f..%2f..%2fetc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/../../etc/passwd",
    b"/.publisher-files.feed.json",
    b"/.publisher/owner.json",
    b"/.publisher/ledger.jsonl",
    b"/%2epublisher/ledger.jsonl",
    b"/feeds/.%2e/.%2e/config.yaml",
    b"/x%00y",
    b"/" + b"a" * 300,
    b"/" + b"a/" * 1500,
    b"/feeds",
]


@pytest.mark.parametrize("target", HOSTILE, ids=lambda t: t[:40].decode("latin-1"))
def test_hostile_paths_get_a_clean_answer(site: tuple[str, int, Path], target: bytes) -> None:
    _, port, _ = site
    code, headers = head_of(get(port, target))
    assert code in (301, 307, 308, 400, 404, 414), (target, code)
    assert "set-cookie" not in headers
    if "location" in headers:
        loc = urlsplit(headers["location"])
        assert loc.netloc in ("", f"127.0.0.1:{port}"), headers["location"]
        assert not headers["location"].startswith("//")
    assert headers.get("x-content-type-options") == "nosniff"


def test_head_never_sends_a_body(site: tuple[str, int, Path]) -> None:
    _, port, _ = site
    for target in (b"/health", b"/feeds/all.rss.xml", b"/", b"/nope"):
        response = get(port, target, b"HEAD")
        code, _ = head_of(response)
        assert response.endswith(b"\r\n\r\n"), (target, response[-80:])
        assert code in (200, 404)


def test_other_methods_are_refused(site: tuple[str, int, Path]) -> None:
    _, port, _ = site
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        r = httpx.request(method, f"http://127.0.0.1:{port}/feeds/all.rss.xml")
        assert r.status_code == 405, method


def test_range_and_conditional_requests(site: tuple[str, int, Path]) -> None:
    _, port, _ = site
    url = f"http://127.0.0.1:{port}/feeds/all.rss.xml"
    r = httpx.get(url, headers={"Range": "bytes=0-4", "Accept-Encoding": "identity"})
    assert r.status_code == 206 and r.content == b"<rss>"
    full = httpx.get(url)
    etag = full.headers["etag"]
    # the library path (Range) and the in-memory path give the same validators
    assert r.headers["etag"] == etag and r.headers["last-modified"] == full.headers["last-modified"]
    not_modified = httpx.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": "*"}).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    since = full.headers["last-modified"]
    assert httpx.get(url, headers={"If-Modified-Since": since}).status_code == 304


def test_attachments_that_could_run_are_downloads(site: tuple[str, int, Path]) -> None:
    _, port, _ = site
    base = f"http://127.0.0.1:{port}/files/0123456789abcdef/"
    for name in ("evil.html", "evil.svg"):
        r = httpx.get(base + name)
        assert r.headers["content-disposition"] == "attachment", name
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in r.headers["content-security-policy"]
    for name, ctype in (("list.csv", "text/csv"), ("report.pdf", "application/pdf")):
        r = httpx.get(base + name)
        assert "content-disposition" not in r.headers, name
        assert r.headers["content-type"].startswith(ctype)


@pytest.mark.slow
def test_silent_and_slow_connections_do_not_block_readers(site: tuple[str, int, Path]) -> None:
    _, port, _ = site
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /feeds/all.rss.xml HTTP/1.1\r\nHost: x\r\n")  # and never finishes
    try:
        t0 = time.monotonic()
        r = httpx.get(f"http://127.0.0.1:{port}/feeds/all.rss.xml", timeout=5)
        assert r.status_code == 200 and time.monotonic() - t0 < 2
        # idle connections are closed by the server after its keep-alive timeout
        idle[0].settimeout(15)
        assert idle[0].recv(1) == b""
    finally:
        for s in [*idle, slow]:
            s.close()


@pytest.mark.slow
def test_serve_with_several_workers(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, "utf-8")
    (tmp_path / "public" / "feeds").mkdir(parents=True)
    (tmp_path / "public" / "feeds" / "all.rss.xml").write_text("<rss/>", "utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [*publisher(tmp_path), "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/feeds/all.rss.xml"

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(up, 30)
        assert all(httpx.get(url).text == "<rss/>" for _ in range(20))
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode("utf-8", "replace")
    assert proc.returncode == 0, output
    assert output.count("Waiting for child process") == 2, output  # two workers stopped
