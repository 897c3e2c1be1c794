"""What every part of the engine shares: one object, handed to each, instead of parts reaching
back into the engine."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from publisher.channel import AnyChannel
from publisher.clock import SystemClock
from publisher.config import DeliveryConfig
from publisher.delivery.continuity import Ledger
from publisher.delivery.views import PublishedViews
from publisher.model import Clock
from publisher.store import Store

log = logging.getLogger("publisher.delivery.engine")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class EngineContext:
    store: Store
    channels: Mapping[str, AnyChannel]
    views: PublishedViews
    clock: Clock
    cfg: DeliveryConfig
    worker: str = field(default_factory=default_worker_id)
    rng: random.Random = field(default_factory=random.Random)
    # every accepted send, also outside the store: a restored store must not repeat it
    ledger: Ledger | None = None
    stopping: threading.Event = field(default_factory=threading.Event)  # SIGTERM: no new sends
    # the output folder this instance writes, as build records name it: the machine and the
    # folder, or the folder alone when instances share it (output.shared)
    location: str = ""

    def window_now(self) -> datetime | None:
        """The time rate windows are counted in: None (the database's clock) under the
        system clock; the manual clock's time in tests and benchmarks that move it."""
        return None if isinstance(self.clock, SystemClock) else self.clock.now()
