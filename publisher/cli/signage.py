"""The `signage` command: emergency alerts on the campus screens, and the players behind
them."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from publisher.cli.output import local, out, screens_table
from publisher.cli.registry import CommandGroup, day, open_app
from publisher.errors import PublisherError

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


def _signage_arguments(p: argparse.ArgumentParser) -> None:
    sig = p.add_subparsers(dest="action", metavar="ACTION", required=True)
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
    sig.add_parser("screens", help="each screen's last heartbeat and the version it plays")
    pl = sig.add_parser("plays", help="export what the screens showed (proof of play, CSV)")
    pl.add_argument("--since", required=True, help="first day, e.g. 2026-11-01")
    pl.add_argument("--until", help="last day, included (default: today)")
    pl.add_argument("--screen", help="only this screen")
    pl.add_argument("--output", "-o", help="write the CSV here (default: standard output)")
    fg = sig.add_parser("forget", help="drop a screen that is gone for good")
    fg.add_argument("screen", help="the screen's name (see `signage screens`)")


@command(
    "signage",
    "screens: alerts (`signage alert`, `clear`, `list`) and players (`screens`, `plays`, `forget`)",
    _signage_arguments,
)
def cmd_signage(args: argparse.Namespace) -> int:
    from publisher.service.alerts import parse_until

    with open_app(args) as app:
        now = app.clock.now()
        if args.action == "alert":
            allow = args.allow or []
            reasons = args.reason or []
            if len(allow) != len(reasons):
                raise PublisherError("give one --reason for each --allow (it is recorded)")
            until = parse_until(args.until, app.settings.tz, now)
            alert_id = app.alerts.put_up(
                " ".join(args.text),
                until=until,
                profiles=args.profile or (),
                allow=dict(zip(allow, reasons, strict=True)),
                actor=args.by or os.environ.get("USER", ""),
            )
            out(
                f"alert #{alert_id} on {', '.join(args.profile or ['every screen'])} until "
                f"{local(until, app)}; screens rebuilt"
            )
        elif args.action == "clear":
            ids = None if args.all or not args.ids else [int(i) for i in args.ids]
            if ids is None and not args.all:
                raise PublisherError("name the alert ids to clear, or pass --all")
            out(f"cleared {app.alerts.take_down(ids, actor=os.environ.get('USER', ''))} alert(s)")
        elif args.action == "screens":
            screens_table(app)
        elif args.action == "plays":
            since = day(args.since, "--since")
            last = day(args.until, "--until") if args.until else now.date()
            text = app.screens.plays_csv(since, last, args.screen)
            if args.output:
                Path(args.output).write_text(text, "utf-8", newline="")
                out(f"{text.count(chr(10)) - 1} slide(s) shown, written to {args.output}")
            else:
                sys.stdout.write(text)
        elif args.action == "forget":
            if not app.screens.forget(args.screen, os.environ.get("USER", "")):
                raise PublisherError(f"no screen named {args.screen!r} (see `signage screens`)")
            out(f"forgot screen {args.screen}")
        else:
            alerts = app.alerts.listing(include_ended=args.all)
            if not alerts:
                out("no active alerts")
            for a in alerts:
                out(
                    f"#{a.id:<4} until {local(a.until, app)}  "
                    f"{', '.join(a.profiles) or 'every screen'}  {a.text}"
                )
    return 0
