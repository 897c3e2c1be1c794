"""How commands print: every line redacted, times in the site's zone, columns padded by
terminal width, and the screens table that `status` and `signage screens` share."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from publisher.secrets import redact

if TYPE_CHECKING:
    from publisher.service.app import Publisher


def out(text: str = "") -> None:
    print(redact(text))


def local(dt: datetime | None, app: Publisher) -> str:
    """``dt`` in the site's time zone, to the minute; ``-`` for none."""
    return dt.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns: a Chinese character takes two."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def screens_table(app: Publisher) -> None:
    """Each screen's last heartbeat, the version it plays and its state."""
    screens = app.screens.health()
    if not screens:
        out("no screen has reported yet (open a profile's index.html on a screen)")
        return
    out(f"{'screen':<20} {'profile':<12} {'last heartbeat':<26} {'version':<23} state")
    for h in screens:
        when = f"{local(h.screen.last_seen, app)} ({ago(h.age)})"
        version = h.screen.version + ("" if h.up_to_date else " (old)")
        state = "SILENT" if h.silent else "off hours" if h.allowed is None and h.age > 600 else "ok"
        out(
            f"{pad(h.screen.screen, 20)} {pad(h.screen.profile, 12)} {pad(when, 26)} "
            f"{pad(version, 23)} {state}"
        )
