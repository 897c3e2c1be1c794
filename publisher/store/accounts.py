"""Console accounts and failed logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.errors import NotFound, PublisherError
from publisher.store.base import StoreBase
from publisher.store.schema import accounts, login_failures


@dataclass(frozen=True)
class AccountRow:
    name: str
    roles: tuple[str, ...]
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None


def _row(r: Row[Any]) -> AccountRow:
    return AccountRow(
        r.name,
        tuple(x for x in r.roles.split(",") if x),
        r.password_hash,
        r.created_at,
        r.disabled_at,
    )


class AccountQueries(StoreBase):
    def add_account(
        self, name: str, roles: tuple[str, ...], password_hash: str, now: datetime, actor: str
    ) -> None:
        try:
            with self.tx() as conn:
                conn.execute(
                    insert(accounts).values(
                        name=name,
                        roles=",".join(roles),
                        password_hash=password_hash,
                        created_at=now,
                        updated_at=now,
                    )
                )
                self._audit(conn, now, "account.added", actor=actor, account=name, roles=roles)
        except IntegrityError:
            raise PublisherError(f"an account {name!r} exists already") from None

    def account(self, name: str) -> AccountRow | None:
        with self.tx() as conn:
            r = conn.execute(select(accounts).where(accounts.c.name == name)).first()
        return _row(r) if r is not None else None

    def accounts(self) -> list[AccountRow]:
        with self.tx() as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.name)).all()
        return [_row(r) for r in rows]

    def update_account(
        self,
        name: str,
        now: datetime,
        actor: str,
        *,
        roles: tuple[str, ...] | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> None:
        values: dict[str, object] = {"updated_at": now}
        if roles is not None:
            values["roles"] = ",".join(roles)
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled_at"] = now if disabled else None
        with self.tx() as conn:
            res = conn.execute(update(accounts).where(accounts.c.name == name).values(**values))
            if not res.rowcount:
                raise NotFound(f"no account {name!r} (see `publisher user list`)")
            changed = [k for k in values if k != "updated_at" and k != "password_hash"]
            if password_hash is not None:
                changed.append("password")
            self._audit(conn, now, "account.changed", actor=actor, account=name, changed=changed)

    def record_login_failure(self, account: str, client: str, now: datetime) -> None:
        with self.tx() as conn:
            conn.execute(insert(login_failures).values(account=account, client=client, at=now))

    def login_failures_since(self, account: str, client: str, since: datetime) -> int:
        with self.tx() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(login_failures)
                .where(
                    login_failures.c.at > since,
                    or_(login_failures.c.account == account, login_failures.c.client == client),
                )
            ).scalar()
        return int(n or 0)

    def clear_login_failures(self, account: str, before: datetime) -> None:
        with self.tx() as conn:
            conn.execute(
                delete(login_failures).where(
                    or_(login_failures.c.account == account, login_failures.c.at < before)
                )
            )
