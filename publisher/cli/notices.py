"""Commands on the site and its notices: `init`, `check`, `items`, `show`, `review`,
`approve`, `withdraw`, `push`, `preview`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources
from pathlib import Path

from publisher.cli.output import local, out
from publisher.cli.registry import CommandGroup, open_app
from publisher.errors import PublisherError
from publisher.secrets import redact

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


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
        app.upgrade_schema()
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
    with open_app(args) as app:
        report = app.sync()
        rows = [(n.id, n.title, local(n.publish_at, app), n.state) for n in app.notice_summaries()]
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
    with open_app(args) as app:
        d = app.notice_detail(args.id, history=200 if args.history else 0)
        row, n = d.row, d.notice
        if n is not None:
            out(f"{n.id}  {n.title}")
            out(f"  file        {row.source} (as last read; `publisher items` reads it again)")
            out(f"  version     {row.current_sha}")
            item = app.settings.catalogue.items.get(n.item)
            out(f"  category    {n.category} · item {n.item} ({item.text[:40] if item else '?'}…)")
            out(f"  department  {n.department}")
            out(f"  publish_at  {local(n.publish_at, app)}")
            out(f"  expires_at  {local(n.expires_at, app)}")
            out(f"  channels    {', '.join(d.channels) or '(none)'}")
        if row.withdrawn_at:
            out(f"  WITHDRAWN   {local(row.withdrawn_at, app)}: {row.withdraw_reason}")
        out("versions:")
        for vd in d.versions:
            v = vd.version
            mark = (
                f"approved r{v.revision} {local(v.approved_at, app)}"
                if v.approved_at
                else "not approved"
            )
            cur = " (file)" if vd.current else ""
            out(f"  {v.sha256[:16]}  seen {local(v.seen_at, app)}  {mark}{cur}")
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
                    f" {local(a.approved_at, app)}: {a.opinion}{extra}"
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
                    f"  {local(e['at'], app)}  {e['event']:<18} {e['channel'] or '':<12} "
                    f"{e['actor'] or ''} {json.dumps(e['detail'], ensure_ascii=False)[:120]}"
                )
    return 0


def _review_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="the notice id (front matter `id:`)")


@command(
    "review", "run the confidentiality lint on a notice and record the review", _review_arguments
)
def cmd_review(args: argparse.Namespace) -> int:
    with open_app(args) as app:
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
    with open_app(args) as app:
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
    with open_app(args) as app:
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
    with open_app(args) as app:
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
    with open_app(args) as app:
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
