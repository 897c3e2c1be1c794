"""What outlives the database: records kept outside the store so that losing it, or restoring
an older backup, never republishes a withdrawn notice or sends a message twice.

Three records, each written by the bot, none trusted for more than it can only tighten:

``OUTPUT/.publisher/owner.json``
    the id of the store (``store_meta.store_id``) the output folder was published from. A bot
    that finds an empty or different store refuses to rebuild what readers see from it, and
    names the fix (restore the backup, or adopt the new store on purpose).
``OUTPUT/.publisher/ledger.jsonl``
    one line per message a robot accepted: channel, notice, version, action. Reconciling a
    restored or rebuilt store with it marks those deliveries sent, so they are not repeated.
``ITEMS/.withdrawn/ID.yaml``
    one per withdrawn notice, beside the notices. A store rebuilt from the items folder reads
    it and keeps the notice withdrawn. A record can only take a notice down, never put one up;
    whoever can write ``items/`` could withdraw a notice with one, and the audit log says so.

Dot-paths are never served (``web.py``) and never read as notices (``notice_files.py``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from publisher.errors import NoticeError, OutputOwned
from publisher.notices import yamlsrc
from publisher.notices.files import ID_RE
from publisher.output import durable_write

log = logging.getLogger("publisher")

MARK_DIR = ".publisher"
OWNER = "owner.json"
LEDGER = "ledger.jsonl"
WITHDRAWN_DIR = ".withdrawn"


# ------------------------------------------------------------------------------ the output's owner


@dataclass(frozen=True)
class Owner:
    store: str
    written_at: str


def read_owner(output: Path) -> Owner | None:
    try:
        data = json.loads((output / MARK_DIR / OWNER).read_text("utf-8"))
        return Owner(str(data["store"]), str(data.get("written_at", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # unreadable: treated as "published by some store", the careful reading
        return Owner("(unreadable)", "")


def write_owner(output: Path, store_id: str, now: datetime) -> None:
    body = {"store": store_id, "written_at": now.isoformat(timespec="seconds")}
    durable_write(output / MARK_DIR / OWNER, json.dumps(body).encode() + b"\n")


def published_files(output: Path) -> int:
    """How many files readers can see in ``output`` (dot-paths aside), counting up to 100."""
    n = 0
    if not output.is_dir():
        return 0
    for _root, dirs, files in os.walk(output):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        n += sum(1 for f in files if not f.startswith("."))
        if n >= 100:
            break
    return n


RESTORE_FIX = (
    "If the database was lost or replaced by mistake, restore its latest backup with "
    "`publisher db restore FILE`; to publish from this database on purpose instead (what it "
    "approves replaces what readers see; sends recorded in the output's ledger are not "
    'repeated), run `publisher db adopt`. See docs/OPERATIONS.md, "Losing the database".'
)


def check_owner(output: Path, store_id: str, store_empty: bool) -> None:
    """Raise ``OutputOwned`` when ``output`` holds what another (or a lost) store published."""
    owner = read_owner(output)
    if owner is not None and owner.store == store_id:
        return
    if owner is not None:
        raise OutputOwned(
            f"the output folder {output} was published from the database {owner.store[:12]} "
            f"(marked {owner.written_at or 'at an unknown time'}), but the store now "
            f"configured is {store_id[:12]}{', an empty one' if store_empty else ''}. "
            "Publishing from it would replace or empty the live feeds and pages. " + RESTORE_FIX
        )
    shown = published_files(output)
    if store_empty and shown:
        raise OutputOwned(
            f"the store is empty, but the output folder {output} holds "
            f"{'100 or more' if shown >= 100 else shown} published file(s). Publishing from "
            "an empty store would take every notice off the feeds and pages. " + RESTORE_FIX
        )


# ------------------------------------------------------------------------------ the send ledger


@dataclass(frozen=True)
class Sent:
    at: str
    store: str
    channel: str
    notice_id: str
    sha256: str
    action: str


class Ledger:
    """Append-only record of accepted sends, kept in the output folder."""

    def __init__(self, output: Path) -> None:
        self.path = output / MARK_DIR / LEDGER
        self._lock = threading.Lock()
        self._warned = False

    def sent(
        self, *, store: str, channel: str, notice_id: str, sha256: str, action: str, at: datetime
    ) -> None:
        line = json.dumps(
            {
                "at": at.isoformat(timespec="seconds"),
                "store": store,
                "channel": channel,
                "notice": notice_id,
                "sha256": sha256,
                "action": action,
            },
            ensure_ascii=False,
        )
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # one write(2) of one line with O_APPEND: lines of several threads never mix
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, (line + "\n").encode())
                finally:
                    os.close(fd)
        except OSError as exc:
            # the send happened and the store has it; only a later recovery would miss it
            if not self._warned:
                log.warning("send ledger %s cannot be written: %s", self.path, exc.strerror)
                self._warned = True

    def entries(self) -> Iterator[Sent]:
        try:
            fh = self.path.open("r", encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with fh:
            for raw in fh:
                try:
                    d = json.loads(raw)
                    yield Sent(
                        str(d["at"]),
                        str(d.get("store", "")),
                        str(d["channel"]),
                        str(d["notice"]),
                        str(d["sha256"]),
                        str(d["action"]),
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash or full disk: the others still count


# ------------------------------------------------------------------------------ withdrawal records


@dataclass
class Withdrawal:
    notice_id: str
    reason: str
    by: str
    withdrawn_at: str
    versions: list[str] = field(default_factory=list)
    file: str = ""


_HEADER = (
    "# 撤回记录 (withdrawal record), written by `publisher withdraw`. Keep this file: it keeps\n"
    "# the notice withdrawn even if the database is lost and rebuilt from the items folder.\n"
    "# Deleting it does not bring the notice back.\n"
)


def withdrawal_path(items: Path, notice_id: str) -> Path:
    return items / WITHDRAWN_DIR / f"{notice_id}.yaml"


def write_withdrawal(items: Path, w: Withdrawal) -> Path:
    path = withdrawal_path(items, w.notice_id)
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    text = (
        _HEADER
        + f"id: {q(w.notice_id)}\n"
        + f"withdrawn_at: {q(w.withdrawn_at)}\n"
        + f"by: {q(w.by, ensure_ascii=False)}\n"
        + f"reason: {q(w.reason, ensure_ascii=False)}\n"
        + f"versions: {q(w.versions)}\n"
    )
    durable_write(path, text.encode("utf-8"))
    return path


def read_withdrawals(items: Path) -> tuple[dict[str, Withdrawal], list[NoticeError]]:
    """Every withdrawal record in ``items``; a bad record is an error naming its file."""
    found: dict[str, Withdrawal] = {}
    errors: list[NoticeError] = []
    folder = items / WITHDRAWN_DIR
    if not folder.is_dir():
        return found, errors
    for path in sorted(folder.glob("*.yaml")):
        shown = str(path.relative_to(items.parent)) if items.parent in path.parents else str(path)
        try:
            raw = path.read_bytes()[:100_000].decode("utf-8")
            data, _lines = yamlsrc.load(raw, file=shown, error=NoticeError, aliases=False)
        except NoticeError as exc:
            errors.append(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(NoticeError(f"cannot read the withdrawal record: {exc}", file=shown))
            continue
        nid = data.get("id") if isinstance(data, dict) else None
        if not isinstance(nid, str) or not ID_RE.match(nid) or path.stem != nid:
            errors.append(
                NoticeError(
                    "a withdrawal record names the notice it withdraws in `id`, and is "
                    "called ID.yaml",
                    file=shown,
                    field="id",
                )
            )
            continue
        assert isinstance(data, dict)
        versions = data.get("versions")
        found[nid] = Withdrawal(
            nid,
            str(data.get("reason") or "withdrawn (record file)"),
            str(data.get("by") or ""),
            str(data.get("withdrawn_at") or ""),
            [str(v) for v in versions] if isinstance(versions, list) else [],
            shown,
        )
    return found, errors
