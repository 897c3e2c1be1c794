"""Who may approve: the reviewer roster (``review.reviewers``).

Writing a file into ``items/`` gives no authority. An approval names a reviewer on the roster,
and on the command line the OS account running it must be one that reviewer listed
(``os_users``), so typing two names does not make two sign-offs. A paper record in a file is
evidence; only with ``review.paper_records: approve`` does it sign, and then only for
reviewers on the roster. With no roster configured, any name is accepted (a small office
starting out), and ``publisher check`` says so.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass

from publisher.errors import NotAuthorised


@dataclass(frozen=True)
class Reviewer:
    name: str
    role: str = "reviewer"
    os_users: tuple[str, ...] = ()


def current_os_user() -> str:
    """The account running this process, from its real user id, not from $USER or $LOGNAME
    (which anyone can set). Under sudo, the account that called sudo."""
    try:
        import pwd
    except ImportError:  # not a POSIX system: the login name is all there is
        return getpass.getuser()
    uid = os.getuid()
    if uid == 0 and os.environ.get("SUDO_UID", "").isdigit():
        uid = int(os.environ["SUDO_UID"])  # only root can claim to be sudo's caller
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Roster:
    def __init__(self, reviewers: Sequence[Reviewer]) -> None:
        self.reviewers = {r.name: r for r in reviewers}

    @property
    def active(self) -> bool:
        return bool(self.reviewers)

    def names(self) -> str:
        return ", ".join(self.reviewers) or "(none)"

    def for_os_user(self, os_user: str) -> list[Reviewer]:
        return [r for r in self.reviewers.values() if os_user in r.os_users]

    def authorise_cli(self, name: str | None, os_user: str) -> str:
        """The reviewer name an approval from ``os_user`` signs as; ``NotAuthorised`` if none.

        Without ``name``, the one reviewer that lists ``os_user`` signs."""
        if name is None or not name.strip():
            mine = self.for_os_user(os_user)
            if len(mine) == 1:
                return mine[0].name
            if not self.active:
                raise NotAuthorised("approval needs a reviewer's name (--reviewer NAME)")
            raise NotAuthorised(
                f"the OS account {os_user!r} is "
                + ("listed for several reviewers" if mine else "not listed for any reviewer")
                + f"; pass --reviewer NAME (roster: {self.names()})"
            )
        name = name.strip()
        if not self.active:
            return name
        who = self.reviewers.get(name)
        if who is None:
            raise NotAuthorised(
                f"{name!r} is not on the reviewer roster (review.reviewers: {self.names()})"
            )
        if who.os_users and os_user not in who.os_users:
            raise NotAuthorised(
                f"the OS account {os_user!r} may not sign as {name} "
                f"(review.reviewers lists {', '.join(who.os_users)} for them)"
            )
        return name

    def authorise_paper(self, names: Sequence[str]) -> list[str]:
        """Every name on a paper record must be on the roster (for paper_records: approve)."""
        unknown = [n for n in names if n not in self.reviewers]
        if not self.active or unknown:
            raise NotAuthorised(
                f"paper record names {', '.join(unknown or names)}, not on the reviewer roster "
                f"(review.reviewers: {self.names()})"
            )
        return list(names)
