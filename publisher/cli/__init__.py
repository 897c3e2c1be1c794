"""The ``publisher`` command: a thin layer over :class:`publisher.service.app.Publisher`.

Each command lives in the module of its group (``notices``, ``running``, ``signage``,
``users``, ``db``, ``reports``), its arguments just above its handler; this module assembles
them into :data:`COMMANDS`, builds the parser, sets up logging and turns errors into messages.

Every error this program raises on purpose becomes one clear message and exit code 1 (2 for
usage errors); tracebacks are for bugs only (``-v`` shows them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from publisher import __version__
from publisher.cli import db, notices, reports, running, signage, users
from publisher.cli.registry import Command
from publisher.errors import ErrorSet, Located, PublisherError
from publisher.secrets import RedactingFilter, redact


def _assemble(*groups: Mapping[str, Command]) -> dict[str, Command]:
    """The commands of the group modules, in the order `publisher --help` lists them."""
    commands: dict[str, Command] = {}
    for group in groups:
        for name, cmd in group.items():
            if name in commands:
                raise ValueError(f"command {name!r} defined twice")
            commands[name] = cmd
    return commands


COMMANDS = _assemble(
    notices.COMMANDS,
    running.COMMANDS,
    signage.COMMANDS,
    users.COMMANDS,
    db.COMMANDS,
    reports.COMMANDS,
)


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
    for name, cmd in COMMANDS.items():
        cmd.arguments(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.log_format)
    fn = COMMANDS[args.command].run
    try:
        code = fn(args)
        # what is still buffered goes now, inside this try: a reader that went away after
        # the first line (`status --json | head -1`) is then a BrokenPipeError caught below,
        # not a traceback from the interpreter's last flush
        sys.stdout.flush()
        return code
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
