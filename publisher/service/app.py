"""The library behind every front end: one object that wires settings, store, gate, channels and
engine, and does each job through the module named for it."""

from __future__ import annotations

from pathlib import Path

import httpx

from publisher.channel import (
    AnyChannel,
    ChannelContext,
    channel_class,
)
from publisher.clock import SystemClock
from publisher.config import Settings
from publisher.delivery.continuity import (
    Ledger,
    read_owner,
)
from publisher.delivery.engine import Engine, output_location
from publisher.delivery.views import PublishedViews
from publisher.errors import NotFound, StoreError
from publisher.model import Action, Clock, Notice
from publisher.review.gate import Gate
from publisher.service.accounts import Accounts
from publisher.service.alerts import SignageAlerts
from publisher.service.delivery import DeliveryJob
from publisher.service.notices import NoticesJob
from publisher.service.output import OutputJob
from publisher.service.readmodels import RestoreReport
from publisher.service.records import RecordsJob
from publisher.service.review import ReviewJob
from publisher.service.running import RunningJob
from publisher.service.screens import Screens
from publisher.service.status import StatusJob
from publisher.store import Store
from publisher.store import backup as backups
from publisher.store.ratelimits import StoreQuotas
from publisher.templating import make_environment


class Publisher(NoticesJob, ReviewJob, DeliveryJob, OutputJob, RecordsJob, StatusJob, RunningJob):
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        store: Store | None = None,
        create_schema: bool | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock(settings.tz)
        self.store = store or Store(settings.store_url)
        # an empty SQLite file is simply created; PostgreSQL, shared by instances, is migrated
        # on purpose with `publisher db upgrade`
        if create_schema is None:
            create_schema = self.store.dialect == "sqlite"
        self.store.ensure_schema(create_empty=create_schema)
        self.gate = Gate(settings, self.store, self.clock)
        self.views = PublishedViews(settings.site, settings.catalogue)
        self.templates = make_environment(settings.templates_dir, settings.tz)
        self.ctx = ChannelContext(
            settings.site,
            self.templates,
            settings.output_dir,
            self.clock,
            transport,
            categories={slug: c.name for slug, c in settings.catalogue.categories.items()},
            checklist=settings.catalogue.checklist(),
            quotas=StoreQuotas(self.store, settings.tz),
        )
        self.channels: dict[str, AnyChannel] = {}
        for name, spec in settings.channels.items():
            if spec.enabled:
                cls = channel_class(spec.type)
                self.channels[name] = cls(name, spec.options, self.ctx)
        self.engine = Engine(
            self.store,
            self.channels,
            self.views,
            self.clock,
            settings.model.delivery,
            files_dir=str(settings.output_dir / "files"),
            ledger=Ledger(settings.output_dir),
            location=output_location(
                str(settings.output_dir / "files"), settings.model.output.shared
            ),
        )
        self._notices: dict[str, Notice] = {}
        self._output_checked = False
        self.alerts = SignageAlerts(
            self.store,
            self.clock,
            self.gate.lint,
            self._screen_channels,
            self._rebuild_screens,
        )
        self.accounts = Accounts(self.store, self.clock)
        self.screens = Screens(self.store, self.clock, self.channels, self._tell_operator)

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()
        self.store.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# an instance that noted a pass within this many seconds is taken to be running (passes come
# every few seconds to a minute; a stopped instance of this machine is seen to be gone at once)
RUNNING_WITHIN = 120.0


def restore_store(settings: Settings, file: Path, clock: Clock | None = None) -> RestoreReport:
    """Replace the store with a backup, then bring it up to what happened since: withdrawal
    records re-applied, sends the output's ledger records marked sent (never repeated).

    Refused while an instance (``publisher run``) runs on the store: it would go on from
    what it holds in memory, write over the restored rows and publish from both."""
    clock = clock or SystemClock(settings.tz)
    now = clock.now()
    running = backups.running_instances(settings.store_url, now, RUNNING_WITHIN)
    if running:
        listed = "; ".join(
            f"{name} (last pass {at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}, "
            f"{max(0, round((now - at).total_seconds()))} s ago)"
            for name, at in running
        )
        raise StoreError(
            f"refusing to restore: {len(running)} instance(s) still run on this store: "
            f"{listed}. Stop every instance first (`systemctl stop disclosure-publisher` on "
            "each machine, or SIGTERM / Ctrl-C its `publisher run`), then restore again. "
            f"An instance on another machine counts as running until {RUNNING_WITHIN:.0f} s "
            "after its last pass"
        )
    info, kept = backups.restore(settings.store_url, file, now)
    store = Store(settings.store_url)
    try:
        store.upgrade()  # a backup of an older version is brought to this one's schema
    finally:
        store.close()
    with Publisher(settings, clock=clock) as app:
        sid = app.store.store_id()
        info = backups.BackupInfo(
            info.file, sid, info.revision, len(app.store.notices()), info.size
        )
        report = app.sync()
        owner = read_owner(settings.output_dir)
        note = ""
        if owner is not None and owner.store != sid:
            note = (
                f"the output folder was published from the database {owner.store[:12]}, not "
                f"this backup's {sid[:12]}; if this is the right backup, `publisher db adopt`"
            )
        adopted = app.adopt_ledger()
        app.store.forget_builds()  # the output may show approvals made after the backup
        again: list[str] = []
        seen: set[str] = set()
        for e in app.engine.ledger.entries() if app.engine.ledger else ():
            if e.action != Action.PUBLISH or e.notice_id in seen:
                continue
            seen.add(e.notice_id)
            try:
                row = app.store.notice(e.notice_id)
            except NotFound:
                continue
            if row.withdrawn_at is None and app.store.latest_approved(e.notice_id) is None:
                again.append(e.notice_id)
    return RestoreReport(info, kept, report.withdrawn, adopted, again, note)


__all__ = ["Publisher", "restore_store"]
