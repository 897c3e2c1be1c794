"""Signage alerts, as one feature: the emergency slide in front of everything on campus screens
(台风停课, 临时封闭): its text checked like a notice's, when it ends, which screens, putting it up
and taking it down, each followed at once by a rebuild of the screens.

The store keeps them (``store/alerts.py``); the signage channel draws them
(``channels/signage``). Not to be confused with operator notifications, which tell a person
that a channel stopped (``engine/operator.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from publisher.channel import ShowsAlerts
from publisher.errors import NotFound, PublisherError
from publisher.model import Alert, Clock, Finding, Notice
from publisher.notices.files import is_bad_char
from publisher.review.gate import require_passing
from publisher.review.rules import LintConfig, run_rules
from publisher.store import Store


class SignageAlerts:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        lint: LintConfig,
        screens: Callable[[], Mapping[str, ShowsAlerts]],
        rebuild: Callable[[Sequence[str]], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.lint = lint
        self.screens = screens  # the channels that show alerts, by name
        self.rebuild = rebuild

    def put_up(
        self,
        text: str,
        *,
        until: datetime,
        profiles: Sequence[str] = (),
        allow: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> int:
        """→ the alert's id. The text passes the same confidentiality lint as a notice."""
        text = text.strip()
        now = self.clock.now()
        if not text:
            raise PublisherError("an alert needs its text")
        bad = next((c for c in text if is_bad_char(c)), None)
        if bad is not None:  # terminal escapes, bytes that were not UTF-8 (lone surrogates)
            raise PublisherError(
                f"the alert text contains the control character U+{ord(bad):04X} at "
                f"position {text.index(bad) + 1}; type the text again without it"
            )
        if until <= now:
            raise PublisherError("--until must be in the future")
        screens = self.screens()
        if not screens:
            raise PublisherError("no signage channel is configured")
        known = {p for ch in screens.values() for p in ch.alert_profiles}
        for p in profiles:
            if p not in known:
                raise NotFound(
                    f"unknown screen profile {p!r} (profiles: {', '.join(sorted(known))})"
                )
        require_passing(self.findings(text), allow or {}, "alert", "its text")
        alert_id = self.store.add_alert(text, now, until, profiles, actor, now)
        self.rebuild(list(screens))
        return alert_id

    def findings(self, text: str) -> list[Finding]:
        """What the review's rules say of an alert's text (as they say it of a notice's)."""
        now = self.clock.now()
        pseudo = Notice(
            id="alert",
            title=text[:200],
            category="qt",
            item=50,
            department="",
            summary="",
            body=text,
            publish_at=now,
            lines={"title": 1, "body": 1},
        )
        return run_rules(pseudo, self.lint)

    def profiles(self) -> list[str]:
        """Every screen profile an alert can be aimed at."""
        return sorted({p for ch in self.screens().values() for p in ch.alert_profiles})

    def take_down(self, ids: Sequence[int] | None, actor: str = "") -> int:
        """End the alerts ``ids`` (None: every active one) before their time; → how many."""
        n = self.store.clear_alerts(ids, actor, self.clock.now())
        screens = self.screens()
        if n and screens:
            self.rebuild(list(screens))
        return n

    def listing(self, include_ended: bool = False) -> list[Alert]:
        return self.store.alerts(self.clock.now(), active_only=not include_ended)


def parse_until(value: str, tz: tzinfo, now: datetime) -> datetime:
    """'18:00', '2026-11-27 18:00', '2h', '90m' or a full ISO time → an aware datetime."""
    from publisher.config import parse_duration

    value = value.strip()
    try:
        return now + timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        t = datetime.strptime(value, "%H:%M")
        when = now.astimezone(tz).replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
        return when if when > now else when + timedelta(days=1)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise PublisherError(
            f"cannot read the time {value!r} (write 18:00, 2026-11-27 18:00 or 2h)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=tz)
