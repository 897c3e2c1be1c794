"""The `db` command: the store's schema, backups, restores, and adopting the output
folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from publisher.cli.output import out
from publisher.cli.registry import CommandGroup

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


def _db_arguments(p: argparse.ArgumentParser) -> None:
    db = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    db.add_parser("current", help="the schema revision, and the one this program needs")
    db.add_parser("upgrade", help="apply the schema migrations")
    bk = db.add_parser("backup", help="write a consistent backup of the store to one file")
    bk.add_argument(
        "file", nargs="?", help="where (default: store.backups.folder/publisher-DATE.db)"
    )
    rs = db.add_parser("restore", help="replace the store with a backup (stop the bot first)")
    rs.add_argument("file", help="a file written by `publisher db backup`")
    db.add_parser("adopt", help="publish from this store although the output came from another one")


@command(
    "db", "the store: `current`, `upgrade`, `backup [FILE]`, `restore FILE`, `adopt`", _db_arguments
)
def cmd_db(args: argparse.Namespace) -> int:
    from publisher.config import load_settings
    from publisher.service.app import Publisher, restore_store
    from publisher.service.output import needed_revision, schema_revision

    settings = load_settings(args.config)
    if args.action in ("current", "upgrade"):
        current, head = schema_revision(settings, upgrade=args.action == "upgrade")
        out(f"schema revision {current or '(none)'}; this program needs {head}")
        return 0
    if args.action == "restore":
        rep = restore_store(settings, Path(args.file))
        out(
            f"restored {rep.info.file} (store {rep.info.store_id[:12]}, "
            f"{rep.info.notices} notice(s), schema now {needed_revision()})"
        )
        if rep.kept:
            out(f"  the database it replaced is kept as {rep.kept}")
        for nid in rep.withdrawn:
            out(f"  withdrawn again by its record in items/: {nid}")
        if rep.adopted:
            out(f"  {rep.adopted} send(s) made after the backup marked sent (output ledger)")
        for nid in rep.approve_again:
            out(f"  approved after the backup, approve it again to keep it live: {nid}")
        if rep.owner:
            out(f"warning: {rep.owner}")
            return 1
        return 0
    with Publisher(settings) as app:
        if args.action == "backup":
            info = app.backup(Path(args.file) if args.file else None)
            out(
                f"backed up store {info.store_id[:12] or '(PostgreSQL)'} to {info.file} "
                f"({info.size / 1e6:.1f} MB"
                + (f", {info.notices} notice(s))" if info.notices >= 0 else ")")
            )
        else:  # adopt
            n = app.adopt()
            out(
                f"the output folder {settings.output_dir} is now published from store "
                f"{app.store_id()[:12]}; {n} send(s) from its ledger marked sent"
            )
    return 0
