"""What one pass did, per channel: the engine's answer to the scheduler, CLI and /health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ChannelReport:
    channel: str
    skipped: str = ""  # why nothing ran (not configured, paused, an error)
    note: str = ""  # why it stopped early although nothing is wrong (a rate limit …)
    built: bool = False
    changed_files: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    wake_at: datetime | None = None  # when this channel can go on (a rate window frees)
    seconds: float = 0.0  # how long the channel took in this pass

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1


@dataclass
class TickReport:
    at: datetime
    channels: dict[str, ChannelReport] = field(default_factory=dict)

    def total(self, what: str) -> int:
        return sum(r.outcomes.get(what, 0) for r in self.channels.values())

    @property
    def next_wake(self) -> datetime | None:
        """The earliest moment a channel of this pass can go on (None: nothing waits)."""
        times = [r.wake_at for r in self.channels.values() if r.wake_at is not None]
        return min(times) if times else None
