"""What the daemon (``publisher run``) asks of the store, said as the service's steps: one
pass per cron fire time across instances, the store still the one we opened, each instance's
last pass, and wake-ups from other instances."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from publisher.service.base import ServiceBase


class RunningJob(ServiceBase):
    def claim_fire(self, schedule: str, fire: datetime, instance: str) -> bool:
        """True for the one instance that runs ``schedule`` at ``fire`` (cron jobs)."""
        return self.store.claim_tick(schedule, fire, instance, self.clock.now())

    def check_store(self) -> None:
        """Raise when the database was deleted or replaced since it was opened."""
        self.store.check_file()

    def note_pass(self, instance: str, at: datetime) -> None:
        """Record an instance's last pass (the console's 渠道 page lists instances)."""
        self.store.set_meta(f"instance:{instance}", at.isoformat())

    def wakeup_listener(
        self, wake: Callable[[], None], stopping: threading.Event
    ) -> Callable[[], None] | None:
        """A loop that calls ``wake`` when another instance approved or withdrew something
        (PostgreSQL's LISTEN); None where the store cannot tell (SQLite: passes poll)."""
        if self.store.dialect != "postgresql":
            return None
        return lambda: self.store.listen(wake, stopping)
