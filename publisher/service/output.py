"""The output folder and the store that owns it: owner marks, the send ledger, backups and
restores."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from publisher.config import Settings
from publisher.delivery.continuity import (
    check_owner,
    read_owner,
    write_owner,
)
from publisher.errors import PublisherError
from publisher.service.base import ServiceBase
from publisher.store import Store, db
from publisher.store import backup as backups

log = logging.getLogger("publisher")


def needed_revision() -> str:
    """The schema revision this program needs (its newest migration)."""
    return db.head_revision()


def schema_revision(settings: Settings, upgrade: bool = False) -> tuple[str | None, str]:
    """(the store's schema revision, or None on an empty database; the one this program
    needs). With ``upgrade``, the migrations are applied first. Opens the store without a
    :class:`~publisher.service.app.Publisher`, which refuses a schema that is not current
    (`publisher db current`, `publisher db upgrade`)."""
    store = Store(settings.store_url)
    try:
        if upgrade:
            store.upgrade()
        return db.current_revision(store.engine), db.head_revision()
    finally:
        store.close()


class OutputJob(ServiceBase):
    def upgrade_schema(self) -> None:
        """Apply the schema migrations to this store (`publisher init`)."""
        self.store.upgrade()

    def store_id(self) -> str:
        """The random id this store was given when it was created (kept by backups)."""
        return self.store.store_id()

    def backup(self, file: Path | None = None) -> backups.BackupInfo:
        """A consistent backup of the store; without ``file``, a dated one in
        store.backups.folder, keeping the newest store.backups.keep there."""
        url = self.settings.store_url
        if file is None:
            folder = self.settings.backups_dir
            suffix = backups.suffix_for(url)
            stamp = self.clock.now().astimezone(self.settings.tz)
            info = backups.backup(url, folder / f"publisher-{stamp:%Y%m%d-%H%M%S}{suffix}")
            # names sort by date; only this program's own files are ever removed
            old = sorted(folder.glob(f"publisher-????????-??????{suffix}"))
            for f in old[: -self.settings.model.store.backups.keep]:
                f.unlink(missing_ok=True)
        else:
            info = backups.backup(url, file)
        if not info.store_id:  # a PostgreSQL dump: what it holds is read from the store
            info = replace(info, store_id=self.store.store_id(), notices=len(self.store.notices()))
        return info

    def output_writers(self, mark: bool = False) -> list[str]:
        """Other machines that started on this output folder within 30 days (their marks in
        ``.publisher-hosts/``): the folder is shared storage. With ``mark``, this machine
        leaves its own mark (``publisher run`` does, at start)."""
        folder = self.settings.output_dir / ".publisher-hosts"
        me = socket.gethostname()
        if mark:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / me).write_text(self.clock.now().isoformat(), "utf-8")
        if not folder.is_dir():
            return []
        now = time.time()
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.name != me and p.is_file() and now - p.stat().st_mtime < 30 * 86_400
        )

    def output_layout(self) -> str:
        """How this instance keeps its output folder, in words, and a warning when the
        folder is shared storage the config does not say is shared."""
        shared = self.settings.model.output.shared
        others = self.output_writers()
        if shared:
            return f"output {self.settings.output_dir} is shared (output.shared): one build record"
        if others:
            return (
                f"warning: output {self.settings.output_dir} is also written by "
                f"{', '.join(others)}: if it is shared storage, set output: {{shared: true}} "
                "in every instance's config (and serve it with one web server, instances "
                "--no-serve); otherwise give each instance a folder of its own"
            )
        return f"output {self.settings.output_dir} is this instance's own (built for it)"

    def guard_output(self) -> None:
        """Before this process first writes the output folder: refuse when it holds what
        another (or a lost) store published, and mark it as this store's. Sends recorded in
        the output's ledger that this store does not know of are adopted (never repeated)."""
        if self._output_checked:
            return
        self.store.check_file()
        sid = self.store.store_id()
        out = self.settings.output_dir
        check_owner(out, sid, self.store.is_empty())
        if read_owner(out) is None:
            try:
                write_owner(out, sid, self.clock.now())
            except OSError as exc:
                raise PublisherError(
                    f"the output folder {out} cannot be written: {exc.strerror} "
                    "(check its owner, permissions and free space; see output.folder)"
                ) from None
        self.adopt_ledger()
        self._output_checked = True

    def adopt(self) -> int:
        """Make this store the output folder's owner on purpose (`publisher db adopt`)."""
        self.sync()
        write_owner(self.settings.output_dir, self.store.store_id(), self.clock.now())
        self._output_checked = False
        self.store.forget_builds()
        return self.adopt_ledger()

    def adopt_ledger(self) -> int:
        """Mark sent what the output's ledger says was sent; → how many the store lacked."""
        adopted = 0
        known = self.store.sent_keys()
        for e in self.engine.ledger.entries() if self.engine.ledger else ():
            if (e.sha256, e.channel, e.action) in known:
                continue
            try:
                sent_at = datetime.fromisoformat(e.at)
            except ValueError:
                continue
            if sent_at.tzinfo is None:
                continue
            if self.store.adopt_sent(
                channel=e.channel,
                notice_id=e.notice_id,
                sha256=e.sha256,
                action=e.action,
                sent_at=sent_at,
                now=self.clock.now(),
            ):
                adopted += 1
        if adopted:
            log.warning(
                "%d send(s) recorded in the output's ledger were missing from the store; "
                "marked sent, they are not repeated",
                adopted,
            )
        return adopted
