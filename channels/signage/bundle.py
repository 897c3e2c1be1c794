"""Versioned, atomically swapped export bundles per screen profile.

    signage/PROFILE/
      files/KEY.png           rendered slides, named by what they show; shared by versions
      versions/VERSION/       index.html, manifest.json, anthias.json, concerto.json, poster.pdf
      current -> versions/VERSION      swapped atomically (rename of a new symlink over it)
      index.html              sends a player to current/

A screen or nginx never sees a half-written bundle: a version folder is complete before
``current`` points to it. An export with no change makes no new version. The last
``keep_versions`` versions stay for rollback; files no kept version uses are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from publisher.output import atomic_write

REDIRECT = (
    '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta http-equiv="refresh" content="0; url=current/"><title>信息公开</title></head>'
    '<body><a href="current/">current/</a></body></html>\n'
).encode()


class Bundle:
    def __init__(self, root: Path, keep: int) -> None:
        self.root = root
        self.keep = keep
        self.files = root / "files"
        self.versions = root / "versions"
        self._index: dict[str, tuple[str, int]] | None = None  # key → (sha256, bytes)

    # ---------------------------------------------------------------- the file pool

    @property
    def index(self) -> dict[str, tuple[str, int]]:
        if self._index is None:
            try:
                raw = json.loads((self.files / ".index.json").read_text("utf-8"))
                self._index = {
                    k: (v[0], int(v[1])) for k, v in raw.items() if (self.files / k).exists()
                }
            except (OSError, ValueError):
                self._index = {}
        return self._index

    def has(self, name: str) -> bool:
        return name in self.index

    def add(self, name: str, data: bytes, sha256: str) -> None:
        atomic_write(self.files / name, data)
        self.index[name] = (sha256, len(data))

    def save_index(self) -> None:
        atomic_write(
            self.files / ".index.json", json.dumps(self.index, sort_keys=True).encode("utf-8")
        )

    # ---------------------------------------------------------------- versions

    def current(self) -> str | None:
        link = self.root / "current"
        try:
            return Path(os.readlink(link)).name
        except OSError:
            return None

    def publish(
        self, version: str, docs: Mapping[str, bytes], purge: set[str] | None = None
    ) -> list[str]:
        """Write ``versions/version`` completely, then point ``current`` at it.

        ``purge``: notice ids taken down (withdrawn, expired); older versions that show them
        are deleted at once rather than kept for rollback, so a removed 公示 that lists people
        is gone from the server, not just from the current bundle."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions.mkdir(exist_ok=True)
        target = self.versions / version
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(dir=self.versions, prefix=f".{version}."))
            for name, data in docs.items():
                (tmp / name).write_bytes(data)
                os.chmod(tmp / name, 0o644)
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        link = self.root / "current"
        tmp_link = self.root / f".current.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        os.symlink(f"versions/{version}", tmp_link)
        if link.is_dir() and not link.is_symlink():  # an older layout: a real folder
            shutil.rmtree(link)
        os.replace(tmp_link, link)
        if not (self.root / "index.html").exists():
            atomic_write(self.root / "index.html", REDIRECT)
        self._remember(version)
        changed = [f"versions/{version}/{name}" for name in docs] + ["current"]
        changed += self.prune(purge or set(), keep_version=version)
        return changed

    def _remember(self, version: str) -> None:
        order_file = self.versions / ".order.json"
        try:
            order = [v for v in json.loads(order_file.read_text("utf-8")) if v != version]
        except (OSError, ValueError):
            order = []
        order.append(version)
        atomic_write(order_file, json.dumps(order).encode())

    def shows(self, version: str) -> set[str]:
        try:
            manifest = json.loads((self.versions / version / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError):
            return set()
        return {item["notice_id"] for item in manifest.get("items", [])}

    def prune(self, purge: set[str] | None = None, keep_version: str | None = None) -> list[str]:
        """Drop versions beyond the newest ``keep``, versions showing a purged notice, and the
        files none of the rest uses."""
        order_file = self.versions / ".order.json"
        try:
            order = json.loads(order_file.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        kept, dropped = order[-self.keep :], order[: -self.keep]
        if purge:
            tainted = [v for v in kept if v != keep_version and self.shows(v) & purge]
            kept = [v for v in kept if v not in tainted]
            dropped += tainted
        removed = []
        for v in dropped:
            shutil.rmtree(self.versions / v, ignore_errors=True)
            removed.append(f"versions/{v}")
        if dropped:
            atomic_write(order_file, json.dumps(kept).encode())
        used: set[str] = set()
        for v in kept:
            try:
                manifest = json.loads((self.versions / v / "manifest.json").read_text("utf-8"))
            except (OSError, ValueError):
                continue
            used.update(item["file"].rsplit("/", 1)[-1] for item in manifest.get("items", []))
        for name in list(self.index):
            if name not in used:
                with contextlib.suppress(OSError):
                    (self.files / name).unlink()
                del self.index[name]
                removed.append(f"files/{name}")
        if removed:
            self.save_index()
        return removed
