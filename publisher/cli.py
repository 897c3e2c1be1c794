"""The ``publisher`` command: a thin layer over :class:`publisher.app.Publisher`.

Every error this program raises on purpose becomes one clear message and exit code 1 (2 for
usage errors); tracebacks are for bugs only (``-v`` shows them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from . import __version__
from .commands import COMMANDS
from .errors import ErrorSet, Located, PublisherError
from .secrets import RedactingFilter, redact


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (tests swap it; a stored stream closes)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald/Loki/ELK (the message is already redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created)
            .astimezone()
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The text log line, redacted as a whole: a traceback is formatted after the filters ran,
    and an exception's text can carry a secret (a URL with its key)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: int, fmt: str = "text") -> None:
    handler = _StderrHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if verbose < 2 else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="publisher",
        description="Publish approved disclosure notices (公开事项) to feeds, group robots and "
        "campus screens.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "-c",
        "--config",
        default=os.environ.get("PUBLISHER_CONFIG", "config.yaml"),
        help="config file (default: $PUBLISHER_CONFIG or ./config.yaml)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output; -vv also shows tracebacks",
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("PUBLISHER_LOG_FORMAT", "text"),
        help="json: one object per line, for log collectors (default: $PUBLISHER_LOG_FORMAT)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    subs: dict[str, argparse.ArgumentParser] = {}
    for name, (_fn, help_) in COMMANDS.items():
        subs[name] = sub.add_parser(name, help=help_, description=help_)
    subs["init"].add_argument("dir", nargs="?", default=".", help="folder for the new site")
    subs["items"].add_argument("--json", action="store_true", help="machine-readable output")
    for name in ("show", "review", "approve", "withdraw", "push", "preview"):
        subs[name].add_argument("id", help="the notice id (front matter `id:`)")
    subs["show"].add_argument("--history", action="store_true", help="include the audit log")
    a = subs["approve"]
    a.add_argument(
        "--reviewer",
        help="who signs off: a name on review.reviewers (default: the reviewer this OS account "
        "is listed for); recorded with the account that ran the command",
    )
    a.add_argument("--opinion", default="同意公开", help="review opinion (default: 同意公开)")
    a.add_argument(
        "--version",
        help="the version hash `publisher review` printed; refuses if the file changed since",
    )
    a.add_argument("--form-no", default="", help="number of the paper review form, if any")
    a.add_argument(
        "--allow",
        action="append",
        metavar="RULE",
        help="pass a blocking finding of RULE (needs --reason; repeatable)",
    )
    a.add_argument("--reason", action="append", help="why RULE may pass (recorded)")
    w = subs["withdraw"]
    w.add_argument("--reason", required=True, help="why (recorded, and announced where configured)")
    w.add_argument("--by", help="who withdraws (default: $USER)")
    subs["push"].add_argument(
        "--channel", action="append", help="only this channel (repeatable; default: all routed)"
    )
    subs["push"].add_argument("--dry-run", action="store_true", help="say what would happen")
    subs["preview"].add_argument("--channel", required=True, help="channel name from config")
    subs["preview"].add_argument("-o", "--output", help="write the bytes to this file")
    subs["status"].add_argument("--json", action="store_true", help="machine-readable output")
    subs["retry"].add_argument("--channel", help="only this channel (and resume it if paused)")
    subs["retry"].add_argument("--notice", help="only this notice")
    r = subs["run"]
    r.add_argument("--once", action="store_true", help="one pass (sync + deliver), then exit")
    r.add_argument("--port", type=int, help="HTTP port (default: server.port in config)")
    r.add_argument("--host", help="HTTP address (default: server.host in config)")
    r.add_argument(
        "--no-serve",
        action="store_true",
        help="publish only; let another instance or nginx serve the output",
    )
    subs["serve"].add_argument("--port", type=int, help="HTTP port (default: server.port)")
    subs["serve"].add_argument("--host", help="HTTP address (default: server.host)")
    subs["serve"].add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )
    sig = subs["signage"].add_subparsers(dest="action", metavar="ACTION", required=True)
    al = sig.add_parser("alert", help="put an emergency slide in front on the screens")
    al.add_argument("text", nargs="+", help="what the screens show (passes the review lint)")
    al.add_argument("--until", required=True, help="when it ends: 18:00, 2026-11-27 18:00, 2h")
    al.add_argument("--profile", action="append", help="only this screen profile (repeatable)")
    al.add_argument("--allow", action="append", metavar="RULE", help="pass a blocking finding")
    al.add_argument("--reason", action="append", help="why RULE may pass (recorded)")
    al.add_argument("--by", help="who sends it (default: $USER)")
    cl = sig.add_parser("clear", help="end alerts before their time")
    cl.add_argument("ids", nargs="*", help="alert ids (see `signage list`)")
    cl.add_argument("--all", action="store_true", help="every active alert")
    ls = sig.add_parser("list", help="active alerts")
    ls.add_argument("--all", action="store_true", help="also ended and cleared ones")
    db = subs["db"].add_subparsers(dest="action", metavar="ACTION", required=True)
    db.add_parser("current", help="the schema revision, and the one this program needs")
    db.add_parser("upgrade", help="apply the schema migrations")
    bk = db.add_parser("backup", help="write a consistent backup of the store to one file")
    bk.add_argument(
        "file", nargs="?", help="where (default: store.backups.folder/publisher-DATE.db)"
    )
    rs = db.add_parser("restore", help="replace the store with a backup (stop the bot first)")
    rs.add_argument("file", help="a file written by `publisher db backup`")
    db.add_parser("adopt", help="publish from this store although the output came from another one")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.log_format)
    fn = COMMANDS[args.command][0]
    try:
        return fn(args)
    except ErrorSet as exc:
        for e in exc.errors:
            print(f"error: {redact(e.describe())}", file=sys.stderr)
        print(f"{len(exc.errors)} problem(s) found", file=sys.stderr)
        return 1
    except Located as exc:
        print(f"error: {redact(exc.describe())}", file=sys.stderr)
        return 1
    except PublisherError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`publisher items | head`): not an error, and no traceback;
        # stdout is pointed at /dev/null so the interpreter's final flush stays quiet
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        if args.verbose > 1:
            raise
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr)
        print("this is a bug in disclosure-publisher; please report it", file=sys.stderr)
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
