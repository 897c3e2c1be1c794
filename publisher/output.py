"""Files readers see: written whole (a temporary name, then a rename) and only when their bytes
changed, so nginx, a screen or a feed reader never sees half a file and an unchanged rebuild
touches nothing. Used by state channels and by the engine's attachment files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

# where a channel with pages keeps the pages of withdrawn notices (served with 410 Gone in
# place of the page that was there); a dot folder, so it is never served as itself
GONE = ".gone"


def write_tree(
    root: Path,
    docs: Mapping[str, bytes],
    owner: str,
    keep: set[str] | None = None,
    previous: set[str] | None = None,
) -> list[str]:
    """Make ``root`` hold exactly ``docs`` (plus ``keep``, files this owner wrote earlier and
    still wants, and foreign files it never wrote).

    Each file is written to a temporary name in its folder and renamed over the old one, so a
    reader (nginx, a screen) never sees half a file. Files are only rewritten when their bytes
    change, so an unchanged rebuild touches nothing (and keeps mtimes, ETags, caches).
    """
    root.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for rel in sorted(docs):
        target = _inside(root, rel)
        data = docs[rel]
        try:
            # same size: compare the bytes; a different size is a change, no need to read
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                continue
        except OSError:
            pass
        atomic_write(target, data)
        changed.append(rel)
    # which files this owner wrote last time: only those are ever deleted (several channels
    # and the web server's own files may share one folder)
    owned_file = root / f".publisher-files.{owner}.json"
    if previous is None:  # the caller does not know: read what the last build listed
        try:
            previous = set(json.loads(owned_file.read_text("utf-8")))
        except (OSError, ValueError):
            previous = set()
    wanted = set(docs) | (keep or set())
    for rel in sorted(previous - wanted):
        try:
            _inside(root, rel).unlink()
            changed.append(rel)
        except (OSError, ValueError):
            pass
    listing = json.dumps(sorted(wanted), ensure_ascii=False).encode("utf-8")
    if previous != wanted:
        atomic_write(owned_file, listing)
    return changed


def _inside(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write outside the output folder: {rel!r}")
    return target


def atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # no fsync: the rename is what readers need (never half a file); after a power loss a
        # damaged file differs from what the next build renders, so it is simply rewritten
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def durable_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically and durably (fsync before the rename: unlike a
    feed, which the next build rewrites, these records are what a recovery relies on)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AttachmentFiles:
    """The approved attachment bytes of live notices, under the output's ``files/`` folder as
    ``SHA16/NAME``: exactly the set last given, nothing else this component wrote."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, files: Mapping[str, bytes]) -> list[str]:
        return write_tree(self.root, files, owner="attachments")

    def __str__(self) -> str:
        return str(self.root)
