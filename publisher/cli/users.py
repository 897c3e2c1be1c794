"""The `user` command: the console's accounts."""

from __future__ import annotations

import argparse
import sys

from publisher.cli.output import local, out
from publisher.cli.registry import CommandGroup, open_app

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


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
    from publisher.service.accounts import new_password

    def password() -> tuple[str, bool]:
        if getattr(args, "password_stdin", False):
            return sys.stdin.readline().rstrip("\n"), False
        return new_password(), True

    actor = f"os:{current_os_user()}"
    with open_app(args) as app:
        accounts = app.accounts
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
                if not accounts.exists(who.name):
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
                state = f"disabled {local(r.disabled_at, app)}" if r.disabled_at else "active"
                out(f"{r.name:<20} {', '.join(r.roles):<28} {state}")
    return 0
