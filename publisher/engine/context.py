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

from ..channel import AnyChannel
from ..config import DeliveryConfig
from ..continuity import Ledger
from ..model import Clock
from ..published import PublishedViews
from ..store import Store

log = logging.getLogger("publisher.engine")


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
