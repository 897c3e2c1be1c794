"""What every job of the service shares: the parts :class:`~publisher.service.app.Publisher`
wires at start, and the few steps one job asks of another.

Each job (``notices``, ``review``, ``delivery``, ``output``, ``records``, ``status``) is a
class over this base; ``Publisher`` is all of them at once, so a front end holds one object.
"""

from __future__ import annotations

import httpx
import jinja2

from publisher.channel import AnyChannel, ChannelContext
from publisher.config import Settings
from publisher.delivery.engine import Engine
from publisher.delivery.views import PublishedViews
from publisher.model import Clock, Notice
from publisher.review.gate import Gate
from publisher.service.accounts import Accounts
from publisher.service.alerts import SignageAlerts
from publisher.service.readmodels import SyncReport
from publisher.service.screens import Screens
from publisher.store import Store


class ServiceBase:
    settings: Settings
    clock: Clock
    store: Store
    gate: Gate
    views: PublishedViews
    templates: jinja2.Environment
    ctx: ChannelContext
    channels: dict[str, AnyChannel]
    engine: Engine
    alerts: SignageAlerts
    screens: Screens
    accounts: Accounts
    transport: httpx.BaseTransport | None
    _output_checked: bool

    # the steps one job takes of another (each written once, in the job named)

    def notice(self, notice_id: str) -> Notice:  # notices
        raise NotImplementedError

    def save(self, notice: Notice) -> tuple[str, bool]:  # notices
        raise NotImplementedError

    def guard_output(self) -> None:  # output
        raise NotImplementedError

    def adopt_ledger(self) -> int:  # output
        raise NotImplementedError

    def sync(self) -> SyncReport:  # notices
        raise NotImplementedError

    def index_catalogue(self) -> tuple[int, int]:  # records
        raise NotImplementedError
