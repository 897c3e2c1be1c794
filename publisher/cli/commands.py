"""The commands of ``publisher``: each a few lines over :class:`publisher.service.app.Publisher`.

``publisher.cli`` builds the parser from :data:`COMMANDS` and turns errors into messages.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.errors import PublisherError
from publisher.model import DeliveryState
from publisher.runtime.monitoring import status_row
from publisher.secrets import redact

if TYPE_CHECKING:  # imported when a command runs: `publisher --help` stays quick
    from publisher.service.app import Publisher

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    run: Handler
    help: str
    arguments: Arguments


COMMANDS: dict[str, Command] = {}


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def command(
    name: str, help_: str, arguments: Arguments = _no_arguments
) -> Callable[[Handler], Handler]:
    """Register a command: its help, its arguments (defined just above it) and its handler."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(fn, help_, arguments)
        return fn

    return register


def out(text: str = "") -> None:
    print(redact(text))


def _app(args: argparse.Namespace) -> Publisher:
    from publisher.config import load_settings
    from publisher.service.app import Publisher

    return Publisher(load_settings(args.config))


def _local(dt: datetime | None, app: Publisher) -> str:
    return dt.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


# --------------------------------------------------------------------------- commands


def _init_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", help="folder for the new site")


@command("init", "create a starter site (config.yaml, items/) and its database", _init_arguments)
def cmd_init(args: argparse.Namespace) -> int:
    from publisher.config import load_settings
    from publisher.service.app import Publisher

    target = Path(args.dir)
    cfg = target / "config.yaml"
    if not cfg.exists():
        starter = resources.files("publisher").joinpath("data/starter")
        target.mkdir(parents=True, exist_ok=True)
        (target / "items").mkdir(exist_ok=True)
        cfg.write_text(starter.joinpath("config.yaml").read_text("utf-8"), "utf-8")
        example = target / "items" / "example.md"
        if not example.exists():
            example.write_text(starter.joinpath("example.md").read_text("utf-8"), "utf-8")
        out(f"created {cfg} and {example}")
    else:
        out(f"{cfg} exists; keeping it")
    settings = load_settings(cfg)
    with Publisher(settings) as app:
        app.store.upgrade()
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        out(f"database ready: {redact(settings.store_url)}")
    out(
        "next: `publisher check`, then `publisher review ID` and "
        "`publisher approve ID --reviewer NAME`, then `publisher run`"
    )
    return 0


@command("check", "validate config.yaml and every notice; list every problem")
def cmd_check(args: argparse.Namespace) -> int:
    from publisher.config import load_settings
    from publisher.service.app import Publisher

    settings = load_settings(args.config)
    problems = 0
    with Publisher(settings) as app:
        notices, errors = app.load()
        for e in errors:
            out(f"error: {e.describe()}")
        problems += len(errors)
        for name, ch in app.channels.items():
            if reason := ch.unavailable():
                out(f"warning: channel {name}: not configured: {reason}")
        for n in notices.values():
            if not settings.route(n):
                out(f"warning: {n.source}: routed to no channel (check routes: in config)")
        layout = app.output_layout()
        if layout.startswith("warning"):
            out(layout)
        if not app.gate.roster.active:
            out(
                "warning: review.reviewers is empty: `publisher approve` accepts any name; "
                "list the office's reviewers so only they can approve"
            )
        out(
            f"{len(notices)} notice(s) valid, {problems} error(s) "
            f"({settings.file.name}: {len(settings.channels)} channel(s), "
            f"{len(settings.model.routes)} route(s), "
            f"{len(settings.model.schedules)} schedule(s))"
        )
    return 1 if problems else 0


def _items_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("items", "list notices with their review and publication state", _items_arguments)
def cmd_items(args: argparse.Namespace) -> int:
    with _app(args) as app:
        report = app.sync()
        rows = [(n.id, n.title, _local(n.publish_at, app), n.state) for n in app.notice_summaries()]
        if args.json:
            out(
                json.dumps(
                    [
                        dict(zip(("id", "title", "publish_at", "state"), r, strict=True))
                        for r in rows
                    ],
                    ensure_ascii=False,
                    indent=1,
                )
            )
        else:
            # columns as wide as their longest value: a long state never pushes titles around
            wid = max((len(r[0]) for r in rows), default=2)
            wstate = max((len(r[3]) for r in rows), default=5)
            for r in rows:
                out(f"{r[0]:<{wid}}  {r[2]:<16}  {r[3]:<{wstate}}  {r[1]}")
        for e in report.errors:
            print(f"error: {e.describe()}", file=sys.stderr)
    return 1 if report.errors else 0


def _show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")
    p.add_argument("--history", action="store_true", help="include the audit log")


@command(
    "show", "show one notice: fields, versions, approvals, deliveries, history", _show_arguments
)
def cmd_show(args: argparse.Namespace) -> int:
    with _app(args) as app:
        d = app.notice_detail(args.id, history=200 if args.history else 0)
        row, n = d.row, d.notice
        if n is not None:
            out(f"{n.id}  {n.title}")
            out(f"  file        {row.source} (as last read; `publisher items` reads it again)")
            out(f"  version     {row.current_sha}")
            item = app.settings.catalogue.items.get(n.item)
            out(f"  category    {n.category} · item {n.item} ({item.text[:40] if item else '?'}…)")
            out(f"  department  {n.department}")
            out(f"  publish_at  {_local(n.publish_at, app)}")
            out(f"  expires_at  {_local(n.expires_at, app)}")
            out(f"  channels    {', '.join(d.channels) or '(none)'}")
        if row.withdrawn_at:
            out(f"  WITHDRAWN   {_local(row.withdrawn_at, app)}: {row.withdraw_reason}")
        out("versions:")
        for vd in d.versions:
            v = vd.version
            mark = (
                f"approved r{v.revision} {_local(v.approved_at, app)}"
                if v.approved_at
                else "not approved"
            )
            cur = " (file)" if vd.current else ""
            out(f"  {v.sha256[:16]}  seen {_local(v.seen_at, app)}  {mark}{cur}")
            for rec in vd.paper_records:
                out(
                    f"      paper record {rec['form_no'] or '(no form no.)'} of "
                    f"{rec['reviewed_on']} by {', '.join(rec['reviewers'])} "
                    f"({rec['source']}): {rec['opinion']}"
                )
            for a in vd.approvals:
                extra = "".join(f"; allowed {x['rule']}: {x['reason']}" for x in a.allowances)
                form = f", form {a.form_no}" if a.form_no else ""
                form += f", reviewed {a.reviewed_on}" if a.reviewed_on else ""
                form += f", run by {a.ran_by}" if a.ran_by else ""
                out(
                    f"      signed by {a.reviewer} ({a.source}{form})"
                    f" {_local(a.approved_at, app)}: {a.opinion}{extra}"
                )
        out("deliveries:")
        for dl in d.deliveries:
            out(
                f"  #{dl.id:<5} {dl.channel:<16} {dl.action:<9} {dl.state:<10} "
                f"attempts {dl.attempts}  {dl.sha256[:12]}  {dl.last_error}"
            )
            if dl.link:
                out(f"         {dl.link}")
        if args.history:
            out("history:")
            for e in d.history:
                out(
                    f"  {_local(e['at'], app)}  {e['event']:<18} {e['channel'] or '':<12} "
                    f"{e['actor'] or ''} {json.dumps(e['detail'], ensure_ascii=False)[:120]}"
                )
    return 0


def _review_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")


@command(
    "review", "run the confidentiality lint on a notice and record the review", _review_arguments
)
def cmd_review(args: argparse.Namespace) -> int:
    with _app(args) as app:
        rep = app.review(args.id)
        out(f"{rep.notice.id}: version {rep.sha256[:16]} ({rep.notice.source})")
        if not rep.findings:
            out("  no findings")
        for f in rep.findings:
            excerpt = f"  「{f.excerpt}」" if f.excerpt else ""
            out(f"  {f.severity.upper():<5} {f.rule:<15} {f.position():<22} {f.message}{excerpt}")
        blocking = rep.blocking
        if blocking:
            rules = sorted({f.rule for f in blocking})
            out(
                f"{len(blocking)} blocking finding(s): fix the notice, or approve with "
                + " ".join(f"--allow {r} --reason '…'" for r in rules)
            )
        else:
            out(
                f"ok to approve: publisher approve {rep.notice.id} --reviewer NAME "
                f"--version {rep.sha256[:12]}"
            )
        return 1 if blocking else 0


def _approve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")
    p.add_argument(
        "--reviewer",
        help="who signs off: a name on review.reviewers (default: the reviewer this OS account "
        "is listed for); recorded with the account that ran the command",
    )
    p.add_argument("--opinion", default="同意公开", help="review opinion (default: 同意公开)")
    p.add_argument(
        "--version",
        help="the version hash `publisher review` printed; refuses if the file changed since",
    )
    p.add_argument("--form-no", default="", help="number of the paper review form, if any")
    p.add_argument(
        "--allow",
        action="append",
        metavar="RULE",
        help="pass a blocking finding of RULE (needs --reason; repeatable)",
    )
    p.add_argument("--reason", action="append", help="why RULE may pass (recorded)")


@command("approve", "sign off the reviewed version of a notice (pins its hash)", _approve_arguments)
def cmd_approve(args: argparse.Namespace) -> int:
    allow = args.allow or []
    reasons = args.reason or []
    if len(allow) != len(reasons):
        raise PublisherError("give one --reason for each --allow (it is recorded)")
    with _app(args) as app:
        res = app.approve(
            args.id,
            reviewer=args.reviewer,
            opinion=args.opinion,
            allow=dict(zip(allow, reasons, strict=True)),
            version=args.version,
            form_no=args.form_no,
        )
        if res.approved_now:
            out(
                f"approved {args.id} ({res.signoffs}/{res.required} sign-offs); "
                f"{len(res.deliveries)} delivery(ies) queued"
            )
        elif res.signoffs >= res.required:
            out(f"{args.id}: signed ({res.signoffs} sign-offs); the version was already approved")
        else:
            out(
                f"{args.id}: signed off ({res.signoffs}/{res.required}); waiting for "
                f"{res.required - res.signoffs} more reviewer(s)"
            )
    return 0


def _withdraw_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")
    p.add_argument("--reason", required=True, help="why (recorded, and announced where configured)")
    p.add_argument("--by", help="who withdraws (default: $USER)")


@command("withdraw", "take a notice down from every channel now (撤回)", _withdraw_arguments)
def cmd_withdraw(args: argparse.Namespace) -> int:
    with _app(args) as app:
        tick = app.withdraw(args.id, args.reason, actor=args.by or os.environ.get("USER", ""))
        out(
            f"withdrew {args.id}; feeds and screens rebuilt: "
            + ", ".join(f"{n} ({r.changed_files} file(s))" for n, r in tick.channels.items())
        )
    return 0


def _push_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")
    p.add_argument(
        "--channel", action="append", help="only this channel (repeatable; default: all routed)"
    )
    p.add_argument("--dry-run", action="store_true", help="say what would happen")


@command("push", "send an approved notice now (never bypasses approval)", _push_arguments)
def cmd_push(args: argparse.Namespace) -> int:
    with _app(args) as app:
        rep = app.push(args.id, args.channel, dry_run=args.dry_run)
        out(f"{rep.notice_id} version {rep.sha256[:12]}{' (dry run)' if args.dry_run else ''}:")
        for ch, what in rep.channels.items():
            out(f"  {ch:<16} {what}")
        bad = [w for w in rep.channels.values() if w.startswith(("failed", "dead", "not conf"))]
    return 1 if bad else 0


def _preview_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")
    p.add_argument("--channel", required=True, help="channel name from config")
    p.add_argument("-o", "--output", help="write the bytes to this file")


@command(
    "preview",
    "show the exact bytes a channel would send or write (nothing is sent)",
    _preview_arguments,
)
def cmd_preview(args: argparse.Namespace) -> int:
    with _app(args) as app:
        payloads = app.preview(args.id, args.channel)
        for p in payloads:
            if args.output:
                Path(args.output).write_bytes(p.body)
                out(f"wrote {len(p.body)} bytes to {args.output}")
                continue
            out(f"--- {p.label or 'payload'} → {p.target} ({p.content_type}, {len(p.body)} bytes)")
            if p.content_type.startswith("image/"):
                out("(an image: see it in the console, or write it with -o FILE)")
            else:
                out(p.text())
    return 0


def _status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("status", "per channel: pending, sent, failed, dead, paused", _status_arguments)
def cmd_status(args: argparse.Namespace) -> int:
    with _app(args) as app:
        statuses = app.status()
        if args.json:
            out(json.dumps([status_row(s) for s in statuses], ensure_ascii=False, indent=1))
            return 0
        cols = [
            DeliveryState.PENDING,
            DeliveryState.CLAIMED,
            DeliveryState.SENT,
            DeliveryState.FAILED,
            DeliveryState.UNKNOWN,
            DeliveryState.DEAD,
            DeliveryState.CANCELLED,
        ]
        out(f"{'channel':<16} {'type':<8} " + " ".join(f"{c:>9}" for c in cols) + "  state")
        for s in statuses:
            state = (
                ("PAUSED: " + s.paused)
                if s.paused
                else ("NOT CONFIGURED: " + s.not_configured)
                if s.not_configured
                else "ok"
            )
            out(
                f"{s.name:<16} {s.type:<8} "
                + " ".join(f"{s.counts.get(c, 0):>9}" for c in cols)
                + f"  {state}"
            )
        windows = [s for s in statuses if s.windows or s.rate_limited_day or s.quotas]
        if windows:
            out()
            out(f"{'robot':<16} {'rate windows (sent / allowed)':<40} too-fast replies")
            for s in windows:
                shown = (
                    ", ".join(
                        [f"{u}/{a} in {sec:g} s" for u, a, sec in s.windows]
                        + [f"{q} {u}/{a} today" for q, (u, a) in s.quotas.items()]
                    )
                    or "-"
                )
                out(
                    f"{s.name:<16} {shown:<40} "
                    f"{s.rate_limited_hour} in the last hour, {s.rate_limited_day} in 24 h"
                )
        if app.screens.enabled:
            out()
            _screens(app)
    return 0


def _screens(app: Publisher) -> None:
    screens = app.screens.health()
    if not screens:
        out("no screen has reported yet (open a profile's index.html on a screen)")
        return
    out(f"{'screen':<20} {'profile':<12} {'last heartbeat':<26} {'version':<23} state")
    for h in screens:
        ago = f"{_local(h.screen.last_seen, app)} ({_ago(h.age)})"
        version = h.screen.version + ("" if h.up_to_date else " (old)")
        state = "SILENT" if h.silent else "off hours" if h.allowed is None and h.age > 600 else "ok"
        out(
            f"{_pad(h.screen.screen, 20)} {_pad(h.screen.profile, 12)} {_pad(ago, 26)} "
            f"{_pad(version, 23)} {state}"
        )


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns: a Chinese character takes two."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _retry_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channel", help="only this channel (and resume it if paused)")
    p.add_argument("--notice", help="only this notice")


@command(
    "retry", "requeue failed/dead/unknown deliveries and resume a paused channel", _retry_arguments
)
def cmd_retry(args: argparse.Namespace) -> int:
    with _app(args) as app:
        n = app.retry(args.channel, args.notice)
        out(
            f"requeued {n} delivery(ies)"
            + (f"; channel {args.channel} resumed" if args.channel else "")
        )
    return 0


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="one pass (sync + deliver), then exit")
    p.add_argument("--port", type=int, help="HTTP port (default: server.port in config)")
    p.add_argument("--host", help="HTTP address (default: server.host in config)")
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="publish only; let another instance or nginx serve the output",
    )


@command("run", "run the scheduler and the HTTP server until Ctrl-C / SIGTERM", _run_arguments)
def cmd_run(args: argparse.Namespace) -> int:
    from publisher.runtime.daemon import Runner

    with _app(args) as app:
        if args.once:
            app.guard_output()  # a refusal is this command's error, not a log line
            runner = Runner(app, serve=False)
            tick = runner.run_pass(label="once")
            if tick:
                for name, r in tick.channels.items():
                    out(
                        f"{name:<16} "
                        + (
                            r.skipped
                            or ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
                            or "nothing due"
                        )
                    )
            # the pass failed (logged above), or a channel could not publish
            return 0 if tick and not runner.failed_passes else 1
        runner = Runner(app, port=args.port, host=args.host, serve=not args.no_serve)
        runner.run_forever()
    if runner.abandoned:
        # a send still hangs in a worker thread; its delivery is safe in its lease, and
        # waiting for the thread would break the promise to stop within the grace
        logging.shutdown()
        os._exit(0)
    return 0


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="HTTP port (default: server.port)")
    p.add_argument("--host", help="HTTP address (default: server.host)")
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )


@command(
    "serve", "serve the output folder (feeds, pages, signage) without publishing", _serve_arguments
)
def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from publisher.config import load_settings
    from publisher.web.server import Server

    settings = load_settings(args.config)
    srv = settings.model.server
    server = Server(
        settings.output_dir, args.host or srv.host, srv.port if args.port is None else args.port
    )
    if args.workers > 1:
        logging.getLogger("publisher").info(
            "serving %s at %s/ with %d worker processes",
            settings.output_dir,
            server.url,
            args.workers,
        )
        server.run_workers(args.workers)
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    logging.getLogger("publisher").info("serving %s at %s/", settings.output_dir, server.url)
    stop.wait()
    server.stop()
    return 0


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

    with _app(args) as app:
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
                f"{_local(until, app)}; screens rebuilt"
            )
        elif args.action == "clear":
            ids = None if args.all or not args.ids else [int(i) for i in args.ids]
            if ids is None and not args.all:
                raise PublisherError("name the alert ids to clear, or pass --all")
            out(f"cleared {app.alerts.take_down(ids, actor=os.environ.get('USER', ''))} alert(s)")
        elif args.action == "screens":
            _screens(app)
        elif args.action == "plays":
            since = _day(args.since, "--since")
            last = _day(args.until, "--until") if args.until else now.date()
            text = app.screens.plays_csv(since, last, args.screen)
            if args.output:
                Path(args.output).write_text(text, "utf-8", newline="")
                out(f"{text.count(chr(10)) - 1} slide(s) shown, written to {args.output}")
            else:
                sys.stdout.write(text)
        elif args.action == "forget":
            if not app.store.forget_screen(args.screen, now, os.environ.get("USER", "")):
                raise PublisherError(f"no screen named {args.screen!r} (see `signage screens`)")
            out(f"forgot screen {args.screen}")
        else:
            alerts = app.alerts.listing(include_ended=args.all)
            if not alerts:
                out("no active alerts")
            for a in alerts:
                out(
                    f"#{a.id:<4} until {_local(a.until, app)}  "
                    f"{', '.join(a.profiles) or 'every screen'}  {a.text}"
                )
    return 0


def _user_arguments(p: argparse.ArgumentParser) -> None:
    act = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = act.add_parser("add", help="create an account; prints a one-time password")
    add.add_argument("name", help="the account name (an approval signs with it)")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        help="viewer, editor, reviewer, publisher or admin (repeatable)",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    act.add_parser("list", help="accounts, their roles, and which are disabled")
    pw = act.add_parser("passwd", help="set a new password; prints a one-time one by default")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    ro = act.add_parser("roles", help="replace an account's roles")
    ro.add_argument("name")
    ro.add_argument("--role", action="append", required=True)
    for verb in ("disable", "enable"):
        act.add_parser(verb, help=f"{verb} an account (its sessions end)").add_argument("name")
    act.add_parser(
        "seed", help="an account for each review.reviewers name that has none (role reviewer)"
    )


@command(
    "user",
    "console accounts: `user add NAME --role …`, `list`, `passwd`, `roles`, `disable`",
    _user_arguments,
)
def cmd_user(args: argparse.Namespace) -> int:
    from publisher.review.roster import current_os_user
    from publisher.service.accounts import Accounts, new_password

    def password() -> tuple[str, bool]:
        if getattr(args, "password_stdin", False):
            return sys.stdin.readline().rstrip("\n"), False
        return new_password(), True

    actor = f"os:{current_os_user()}"
    with _app(args) as app:
        accounts = Accounts(app.store, app.clock)
        if args.action == "add":
            pw, generated = password()
            acc = accounts.add(args.name, tuple(args.role), pw, actor)
            out(f"account {acc.name} ({', '.join(acc.roles)}) created")
            if generated:
                # shown once, to the person at the terminal; only its argon2 hash is stored
                print(f"one-time password: {pw}")
        elif args.action == "passwd":
            pw, generated = password()
            accounts.set_password(args.name, pw, actor)
            out(f"password of {args.name} changed")
            if generated:
                print(f"one-time password: {pw}")
        elif args.action == "roles":
            accounts.set_roles(args.name, tuple(args.role), actor)
            out(f"{args.name}: {', '.join(args.role)}")
        elif args.action == "seed":
            made = 0
            for who in app.settings.model.review.reviewers:
                if app.store.account(who.name) is None:
                    pw = new_password()
                    accounts.add(who.name, ("reviewer",), pw, actor)
                    print(f"account {who.name} (reviewer): one-time password {pw}")
                    made += 1
            out(f"{made} account(s) made from review.reviewers")
        elif args.action in ("disable", "enable"):
            accounts.disable(args.name, actor, disabled=args.action == "disable")
            out(f"{args.name} {args.action}d")
        else:
            rows = accounts.list()
            if not rows:
                out("no accounts yet: `publisher user add NAME --role admin`")
            for r in rows:
                state = f"disabled {_local(r.disabled_at, app)}" if r.disabled_at else "active"
                out(f"{r.name:<20} {', '.join(r.roles):<28} {state}")
    return 0


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
    from publisher.store import Store
    from publisher.store.db import current_revision, head_revision

    settings = load_settings(args.config)
    if args.action in ("current", "upgrade"):
        store = Store(settings.store_url)
        try:
            if args.action == "upgrade":
                store.upgrade()
            out(
                f"schema revision {current_revision(store.engine) or '(none)'}; "
                f"this program needs {head_revision()}"
            )
        finally:
            store.close()
        return 0
    if args.action == "restore":
        rep = restore_store(settings, Path(args.file))
        out(
            f"restored {rep.info.file} (store {rep.info.store_id[:12]}, "
            f"{rep.info.notices} notice(s), schema now {head_revision()})"
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
                f"{app.store.store_id()[:12]}; {n} send(s) from its ledger marked sent"
            )
    return 0


def _report_arguments(p: argparse.ArgumentParser) -> None:
    rp = p.add_subparsers(dest="report", metavar="REPORT", required=True)
    cov = rp.add_parser("coverage", help="清单 items missing or overdue, notices published late")
    cov.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cov.add_argument("--date", help="as of this day (YYYY-MM-DD; default today)")
    an = rp.add_parser("annual", help="the 信息公开工作年度报告 as HTML, Markdown and Word")
    an.add_argument(
        "--year",
        type=int,
        required=True,
        help="school year by its start: 2025 = 2025-09-01 … 2026-08-31",
    )
    an.add_argument("--out", help="folder to write to (default: disclosure.reports_folder)")
    an.add_argument(
        "--init",
        action="store_true",
        help="write the office's part (reports/annual-YEAR.yaml) to fill in, then stop",
    )
    rv = rp.add_parser("reviews", help="the 保密审查 register of a period as CSV and Word")
    rv.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    rv.add_argument("--to", dest="end", required=True, help="last day (YYYY-MM-DD)")
    rv.add_argument("--out", help="folder to write to (default: disclosure.reports_folder)")


def _day(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PublisherError(f"{flag} {value!r} is not a date (write YYYY-MM-DD)") from None


@command(
    "report",
    "reports the rules ask for: `coverage` (清单 clocks), `annual --year Y`, `reviews --from --to`",
    _report_arguments,
)
def cmd_report(args: argparse.Namespace) -> int:
    app = _app(args)
    try:
        if args.report == "coverage":
            rep = app.coverage(_day(args.date, "--date") if args.date else None)
            if args.json:
                out(json.dumps(rep.as_json(), ensure_ascii=False, indent=1))
                return 0
            out(
                f"清单 coverage on {rep.today.isoformat()}, school year "
                f"{rep.school_year}-09-01 … {rep.school_year + 1}-08-31"
            )
            out(f"{'no':>3}  {'status':<8} {'last':<10}  {'due':<10}  {'owner':<12} item")
            for i in rep.items:
                last = i.last_public.isoformat() if i.last_public else "-"
                due = i.due.isoformat() if i.due else "-"
                out(
                    f"{i.no:>3}  {i.status:<8} {last:<10}  {due:<10}  {i.owner or '-':<12} "
                    f"{i.text[:40]}"
                )
            out(
                f"{len(rep.missing)} item(s) with nothing this school year, "
                f"{len(rep.overdue)} overdue, {len(rep.late)} notice(s) published more than "
                f"{rep.on_time_days} working days after their issued_on"
            )
            for late in rep.late:
                out(
                    f"  late: {late.notice_id} ({late.index_no}) issued {late.issued_on} "
                    f"published {late.public_on.isoformat()}: {late.working_days} working days"
                )
            if rep.guessed_years:
                out(
                    "note: no holiday data yet for "
                    + ", ".join(map(str, rep.guessed_years))
                    + "; working days counted Mon–Fri"
                )
            return 0
        folder = Path(args.out) if args.out else app.settings.reports_dir
        if args.report == "annual":
            from publisher.records.reports.office import office_file, template

            if args.init:
                target = office_file(app.settings.reports_dir, args.year)
                if target.exists():
                    raise PublisherError(f"{target} exists already; edit it")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(template(app.settings.site.school_name, args.year), "utf-8")
                out(f"wrote {target}: fill in the office's sections, then run without --init")
                return 0
            report, paths = app.annual_report(args.year, folder)
            for w in report.office.warnings:
                logging.getLogger("publisher").warning("%s", w)
            f = report.figures
            out(
                f"{report.title}: {f.published} published, {f.updated} updated, "
                f"{f.withdrawn} withdrawn, on time {f.on_time}/{f.with_clock}"
            )
            for p in paths:
                out(f"  {p}")
            return 0
        from publisher.records.reports.register import write_register

        start, end = _day(args.start, "--from"), _day(args.end, "--to")
        if end < start:
            raise PublisherError("--to is before --from")
        paths, n = write_register(
            app.store, folder, app.settings.site.school_name, start, end, app.settings.tz
        )
        out(f"{n} sign-off(s) from {start} to {end}")
        for p in paths:
            out(f"  {p}")
        return 0
    finally:
        app.close()
