"""Console accounts: who may do what in the browser.

Roles, each a set of permissions (an account may hold several roles):

- ``viewer``: see notices, channels and the audit log;
- ``editor``: also write notices;
- ``reviewer``: also review and sign off (an approval signs as the account; N sign-offs are N
  distinct accounts);
- ``publisher``: also push, withdraw, signage alerts, retry and resume channels;
- ``admin``: everything, and accounts.

Passwords are hashed with argon2id (``argon2-cffi``: the memory-hard hash OWASP recommends, with
its own parameters and salt in each hash); failed logins are counted in the store by account
and by client address, so several instances share the limit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from publisher.errors import AccessDenied, PublisherError
from publisher.model import Clock
from publisher.store import AccountRow, Store

ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "editor": frozenset({"view", "write"}),
    "reviewer": frozenset({"view", "review"}),
    "publisher": frozenset({"view", "publish"}),
    "admin": frozenset({"view", "write", "review", "publish", "admin"}),
}
MIN_PASSWORD = 10
FAILURES = 5  # failed logins within WINDOW, by account or by client, before refusing
WINDOW = timedelta(minutes=15)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Account:
    name: str
    roles: tuple[str, ...]

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset().union(*(ROLES.get(r, frozenset()) for r in self.roles))

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def check_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise PublisherError(
            f"unknown role {', '.join(bad) or '(none)'}; roles: {', '.join(ROLES)}"
        )
    return tuple(dict.fromkeys(roles))


def new_password() -> str:
    """A one-time password to hand over (16 characters, about 95 bits)."""
    return secrets.token_urlsafe(12)


class Accounts:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def add(self, name: str, roles: tuple[str, ...], password: str, actor: str) -> Account:
        name = name.strip()
        if not name or len(name) > 100 or any(c in name for c in "\r\n\t,"):
            raise PublisherError("an account name is 1-100 characters, no commas or line breaks")
        roles = check_roles(roles)
        self._check_password(password)
        self.store.add_account(name, roles, _hasher.hash(password), self.clock.now(), actor)
        return Account(name, roles)

    def set_password(self, name: str, password: str, actor: str) -> None:
        self._check_password(password)
        self.store.update_account(
            name, self.clock.now(), actor, password_hash=_hasher.hash(password)
        )

    def set_roles(self, name: str, roles: tuple[str, ...], actor: str) -> None:
        self.store.update_account(name, self.clock.now(), actor, roles=check_roles(roles))

    def disable(self, name: str, actor: str, disabled: bool = True) -> None:
        self.store.update_account(name, self.clock.now(), actor, disabled=disabled)

    def list(self) -> list[AccountRow]:
        return self.store.accounts()

    def get(self, name: str) -> Account | None:
        """The account, if it exists and is not disabled."""
        row = self.store.account(name)
        if row is None or row.disabled_at is not None:
            return None
        return Account(row.name, row.roles)

    def authenticate(self, name: str, password: str, client: str) -> Account:
        """The account for a correct password; ``AccessDenied`` otherwise, and after
        ``FAILURES`` failures within ``WINDOW`` (by account or client) even for a correct one."""
        now = self.clock.now()
        if self.store.login_failures_since(name, client, now - WINDOW) >= FAILURES:
            raise AccessDenied("too many failed logins; wait 15 minutes, or ask an administrator")
        row = self.store.account(name)
        ok = False
        if row is not None and row.disabled_at is None:
            try:
                ok = _hasher.verify(row.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
        else:
            # the same work as a real check, so timing does not tell which names exist
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(_dummy_hash(), password)
        if not ok or row is None:
            self.store.record_login_failure(name, client, now)
            raise AccessDenied("wrong name or password")
        self.store.clear_login_failures(name, now - WINDOW)
        if _hasher.check_needs_rehash(row.password_hash):
            self.store.update_account(name, now, name, password_hash=_hasher.hash(password))
        return Account(row.name, row.roles)

    def exists(self, name: str) -> bool:
        """An account of that name exists (disabled or not)."""
        return self.store.account(name) is not None

    def fingerprint(self, name: str) -> str:
        """Changes when the account's password changes: sessions made before end with it."""
        row = self.store.account(name)
        return hashlib.sha256(row.password_hash.encode()).hexdigest()[:16] if row else ""

    def login(self, name: str, password: str, client: str) -> Account:
        """``authenticate``, with the attempt in the audit trail either way."""
        try:
            account = self.authenticate(name, password, client)
        except AccessDenied:
            self.store.audit(self.clock.now(), "console.login.failed", actor=name, client=client)
            raise
        self.store.audit(self.clock.now(), "console.login", actor=account.name, client=client)
        return account

    def logout(self, name: str) -> None:
        self.store.audit(self.clock.now(), "console.logout", actor=name)

    def session_secret(self) -> str:
        """The key that signs console sessions when config gives none: made once, kept in
        the store, so every instance and restart accepts the same sessions."""
        return self.store.meta("console_secret", lambda: secrets.token_urlsafe(32))

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise PublisherError(f"a password has at least {MIN_PASSWORD} characters")


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(8))
