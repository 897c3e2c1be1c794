"""Players of the signage slideshow: their heartbeats in, checked like any input from the
network; their health out (``publisher status``, ``/metrics``, an operator told when one
falls silent in its hours); and the proof-of-play log, exported as CSV.

A heartbeat is anonymous (screens are kiosks), so it is held to what a player can say: a
screen name of safe characters, a channel and profile the site has, a bundle version, the
slide on screen, its size, and the slides shown since the last beat as "how many seconds
ago" (the server's clock dates them: a player with a wrong clock still logs true times).
Bodies are small, screens are few (``MAX_SCREENS`` new names at most), beats come no more
often than every ``MIN_INTERVAL`` seconds per screen. With ``heartbeat_key`` set on the
channel, a beat must carry it (the player's address says ``?key=…``).
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from publisher.channel import AnyChannel, HasPlayers
from publisher.errors import BadHeartbeat
from publisher.model import Clock, Play, Screen
from publisher.notices.files import ID_RE
from publisher.store import Store

MAX_BODY = 32 * 1024
MAX_PLAYS = 500
MAX_SCREENS = 500
MIN_INTERVAL = 5.0
PLAYS_KEPT_DAYS = 400  # the proof-of-play log covers a year's annual report
# letters of any script (大厅屏1 as well as lobby-1), digits, . _ -; nothing invisible
SCREEN_RE = re.compile(r"\w[\w.-]{0,63}")
VERSION_RE = re.compile(r"[0-9a-f]{0,32}")


@dataclass(frozen=True)
class ScreenHealth:
    screen: Screen
    age: float  # seconds since its last heartbeat
    allowed: float | None  # seconds it may stay silent now (None: not expected on now)
    current: str | None  # the version it should play

    @property
    def silent(self) -> bool:
        return self.allowed is not None and self.age > self.allowed

    @property
    def up_to_date(self) -> bool:
        return self.current is None or self.screen.version == self.current


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadHeartbeat(f"{name}: a whole number from {lo} to {hi}")
    return v


def _number(v: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise BadHeartbeat(f"{name}: a number from {lo:g} to {hi:g}")
    return float(v)


def _visible(text: str) -> str:
    """``text`` without control, format (bidi overrides, zero-width) or unassigned
    characters: what the console shows of it is what a person reads."""
    return "".join(c for c in text if not unicodedata.category(c).startswith("C"))


def _text(v: Any, name: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(v, str) or not pattern.fullmatch(v):
        raise BadHeartbeat(f"{name}: not a valid value")
    return v


class Screens:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        channels: Mapping[str, AnyChannel],
        notify: Callable[[str, str], bool],
    ) -> None:
        """``notify(text, screen)`` tells an operator (False: nobody could be told)."""
        self.store = store
        self.clock = clock
        self.channels = {n: ch for n, ch in channels.items() if isinstance(ch, HasPlayers)}
        self.notify = notify
        self._last: dict[str, float] = {}  # screen → when its last beat came here
        self._guard = threading.Lock()
        self._pruned: datetime | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    # ---------------------------------------------------------------- heartbeats in

    def record(self, body: bytes, address: str) -> Screen:
        """Check and store one heartbeat; ``BadHeartbeat`` says why not (and its HTTP
        status)."""
        if len(body) > MAX_BODY:
            raise BadHeartbeat(f"the heartbeat is over {MAX_BODY} bytes", status=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadHeartbeat("the heartbeat is not JSON") from None
        except RecursionError:  # [[[[…]]]] nested deeper than the parser goes
            raise BadHeartbeat("the heartbeat is nested too deeply") from None
        if not isinstance(data, dict):
            raise BadHeartbeat("the heartbeat is not a JSON object")
        name = _text(data.get("screen"), "screen", SCREEN_RE)
        channel = data.get("channel")
        ch = self.channels.get(channel) if isinstance(channel, str) else None
        if ch is None:
            raise BadHeartbeat("channel: not a signage channel of this site")
        profile = data.get("profile")
        if not isinstance(profile, str) or profile not in ch.profile_names:
            raise BadHeartbeat("profile: not a profile of this channel")
        key = ch.player_key()
        given = data.get("key")
        if key and not (isinstance(given, str) and hmac.compare_digest(given, key)):
            raise BadHeartbeat("key: missing or wrong", status=403)
        version = _text(data.get("version", ""), "version", VERSION_RE)
        slide = data.get("slide", "")
        if not isinstance(slide, str) or len(slide) > 200:
            raise BadHeartbeat("slide: text of at most 200 characters")
        width = _int(data.get("width", 0), "width", 0, 20000)
        height = _int(data.get("height", 0), "height", 0, 20000)
        raw = data.get("plays", [])
        if not isinstance(raw, list) or len(raw) > MAX_PLAYS:
            raise BadHeartbeat(f"plays: a list of at most {MAX_PLAYS}")
        now = self.clock.now()
        shown = []
        for i, p in enumerate(raw):
            if not isinstance(p, list) or len(p) != 4:
                raise BadHeartbeat(f"plays[{i}]: [notice id, page, seconds ago, seconds shown]")
            nid = _text(p[0], f"plays[{i}] notice id", ID_RE)
            page = _int(p[1], f"plays[{i}] page", 0, 1000)
            ago = _number(p[2], f"plays[{i}] seconds ago", 0, 86400)
            seconds = _number(p[3], f"plays[{i}] seconds shown", 0, 86400)
            shown.append(Play(nid, page, now - timedelta(seconds=ago), seconds))
        with self._guard:
            last = self._last.get(name)
            beat = now.timestamp()
            if last is not None and beat - last < MIN_INTERVAL:
                raise BadHeartbeat(
                    f"too many heartbeats from {name}: one per {MIN_INTERVAL:g} s", status=429
                )
            if len(self._last) > MAX_SCREENS * 4:  # names made up by a flood: forget them
                self._last.clear()
            self._last[name] = beat
        screen = Screen(
            name, ch.name, profile, version, _visible(slide), width, height,
            address[:64], now, now,
        )  # fmt: skip
        if not self.store.record_heartbeat(screen, shown, now, MAX_SCREENS):
            raise BadHeartbeat(
                f"this site already knows {MAX_SCREENS} screens; forget one first "
                "(publisher signage forget NAME)",
                status=429,
            )
        return screen

    def current(self, screen: Screen) -> str | None:
        """The version ``screen`` should be playing."""
        ch = self.channels.get(screen.channel)
        return ch.player_version(screen.profile) if ch else None

    def forget(self, screen: str, actor: str) -> bool:
        """Drop a screen that is gone for good (audited); False when none has that name."""
        return self.store.forget_screen(screen, self.clock.now(), actor)

    # ---------------------------------------------------------------- health out

    def health(self) -> list[ScreenHealth]:
        now = self.clock.now()
        out = []
        for s in self.store.screens():
            ch = self.channels.get(s.channel)
            allowed = ch.heartbeat_due(s.profile, now) if ch else None
            current = ch.player_version(s.profile) if ch else None
            out.append(ScreenHealth(s, (now - s.last_seen).total_seconds(), allowed, current))
        return out

    def check_silent(self) -> list[str]:
        """Tell an operator, once per silence and across instances, of each screen silent
        longer than it may be in its hours; the screens told of."""
        told = []
        now = self.clock.now()
        if self._pruned is None or now - self._pruned > timedelta(hours=1):
            self._pruned = now
            self.store.prune_plays(now - timedelta(days=PLAYS_KEPT_DAYS))
        for h in self.health():
            if not h.silent or h.screen.silent_since is not None:
                continue
            if not self.store.mark_silent(h.screen.screen, h.screen.last_seen, now):
                continue  # another instance did
            minutes = round(h.age / 60)
            last = h.screen.last_seen.astimezone(now.tzinfo)
            text = (
                f"【信息公开发布系统告警】屏幕 {h.screen.screen}（{h.screen.profile}）"
                f"已 {minutes} 分钟没有心跳（最后一次 {last:%m-%d %H:%M}）。"
                "请检查这块屏幕的电源、网络和浏览器。"
            )
            self.notify(text, h.screen.screen)
            told.append(h.screen.screen)
        return told

    # ---------------------------------------------------------------- proof of play

    def plays_csv(self, first: date, last: date, screen: str | None = None) -> str:
        """What each screen showed from the day ``first`` to the day ``last`` (both whole
        days, in the site's time zone), one row per slide shown (opens in Excel/WPS as UTF-8
        with the byte-order mark)."""
        tz = self.clock.now().tzinfo
        since = datetime.combine(first, time.min, tz)
        until = datetime.combine(last + timedelta(days=1), time.min, tz)
        buf = io.StringIO()
        buf.write("\ufeff")
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["shown_at", "screen", "channel", "profile", "version", "notice_id", "page",
                    "seconds"])  # fmt: skip
        for name, channel, profile, version, p in self.store.plays(since, until, screen):
            w.writerow([
                p.shown_at.astimezone(tz).isoformat(timespec="seconds"), name, channel, profile,
                version, p.notice_id, p.page, f"{p.seconds:g}",
            ])  # fmt: skip
        return buf.getvalue()
