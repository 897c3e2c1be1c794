"""The signage channel: per screen profile, PNG slides, an HTML slideshow, a manifest, lists for
Anthias and Concerto, and a PDF poster, exported as versioned bundles."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from channels.common.fonts import Fonts, find_fonts
from publisher.channel import ChannelOptions, FileRule, LiveSet, StateChannel
from publisher.errors import ChannelError
from publisher.model import Alert, PublishedNotice

from .alerts import alert_slides, off_air_slide, with_banner
from .bundle import Bundle
from .layout import Layout
from .options import Profile, SignageOptions
from .qr import qr_svg
from .render import png, poster_pdf, poster_size
from .schedule import (
    ALERT,
    DEFAULT,
    PRIORITY_NAMES,
    Dropped,
    describe,
    order,
    parse_weekdays,
    priority,
    screen_window,
    within_budget,
)
from .slides import Slide
from .workers import Renderer, release

FAR_FUTURE = "9999-12-31T23:59:59+08:00"


def _not_ended(v: PublishedNotice, now: datetime) -> bool:
    until = screen_window(v.notice)[1]
    return until is None or now < until


@dataclass
class Loop:
    """One profile's loop as built: its slides, the notices the budget left out, and
    whether the screens are on air (inside their hours)."""

    slides: list[Slide]
    dropped: list[Dropped]
    on_air: bool


IMMUTABLE = "public, max-age=31536000, immutable"


class SignageChannel(StateChannel[SignageOptions]):
    type_name = "signage"
    outlet_label = "电子屏幕"
    Options: ClassVar[type[ChannelOptions]] = SignageOptions

    @property
    def outlet(self) -> str:
        if any("pdf" in p.outputs for p in self.options.profiles):
            return "电子屏幕及报廊海报（PDF）"
        return self.outlet_label

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.folder = self.options.folder
        self.alerts: list[Alert] = []
        self._fonts: Fonts | None = None
        self._layouts: dict[str, Layout] = {}
        self._slides: dict[tuple[str, str, str], list[Slide]] = {}
        self._bundles: dict[str, Bundle] = {}
        self._renderer: Renderer | None = None
        self._live: list[PublishedNotice] = []  # the timed notices of the last build
        self.rendered = 0  # PNGs drawn by this process (benchmarks and tests look)

    # ---------------------------------------------------------------- set-up

    @property
    def profile_names(self) -> list[str]:
        return [p.name for p in self.options.profiles]

    @property
    def alert_profiles(self) -> list[str]:
        return self.profile_names

    def file_rules(self) -> list[FileRule]:
        """Slides and assets are named by their content (kept for good); a bundle is reached
        through ``current/``, which moves to each new version, so players revalidate it."""
        return [
            FileRule(
                f"{self.folder}/*/files/*", cache_control="public, max-age=31536000, immutable"
            ),
            FileRule(f"{self.folder}/*", cache_control="no-cache"),
        ]

    def preview_images(self, view: PublishedNotice, limit: int = 12) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for profile in self.options.profiles:
            slides = self.notice_slides(profile, view)
            for i, slide in enumerate(slides[:limit], 1):
                label = f"{profile.name} {i}/{len(slides)}"
                out.append((label, png(slide, profile, self.fonts)))
        return out

    @property
    def fonts(self) -> Fonts:
        if self._fonts is None:
            self._fonts = find_fonts(self.options.font)
        return self._fonts

    def unavailable(self) -> str | None:
        try:
            _ = self.fonts  # no CJK font: say which Debian package to install
        except ChannelError as exc:
            return str(exc)
        return super().unavailable()

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.fonts, self.ctx.site.name, self.options.render_workers)
        return self._renderer

    def close(self) -> None:
        # stopping: the drawing pool's pending slides are cancelled, not drawn at exit
        if self._renderer is not None:
            release()
        super().close()

    def layout(self, profile: Profile, poster: bool = False) -> Layout:
        key = profile.name + (":poster" if poster else "")
        if key not in self._layouts:
            p = profile
            if poster:
                w, h = poster_size(profile)
                p = profile.model_copy(update={"width": w, "height": h, "columns": 1})
            self._layouts[key] = Layout(p, self.fonts, self.ctx.site.name)
        return self._layouts[key]

    def bundle(self, profile: Profile) -> Bundle:
        if profile.name not in self._bundles:
            self._bundles[profile.name] = Bundle(
                self.root() / profile.name, self.options.keep_versions
            )
        return self._bundles[profile.name]

    # ---------------------------------------------------------------- slides

    def notice_slides(
        self, profile: Profile, v: PublishedNotice, poster: bool = False
    ) -> list[Slide]:
        key = (profile.name + (":poster" if poster else ""), v.sha256, v.url)
        if key not in self._slides:
            self._slides[key] = self.layout(profile, poster).notice_slides(v)
        return self._slides[key]

    def plan(self, profile: Profile, live: Sequence[PublishedNotice]) -> Loop:
        """What the profile's screens show now: alerts first; then, on air, the notices by
        priority (pinned, timed, the rest), newest first, within the loop budget; off air,
        the blank or screensaver slide."""
        now = self.ctx.clock.now()
        tz = self.ctx.site.timezone
        layout = self.layout(profile)
        alerts: list[Slide] = []
        mine = [
            a
            for a in sorted(self.alerts, key=lambda a: a.id)
            if not a.profiles or profile.name in a.profiles
        ]
        for a in mine:
            alerts += alert_slides(
                layout, str(a.id), a.text, a.until.astimezone(tz), a.starts.astimezone(tz)
            )
        daypart = profile.daypart(tz)
        if not daypart.on_air(now):
            hours = describe(profile.hours, parse_weekdays(profile.weekdays))
            return Loop([*alerts, off_air_slide(layout, profile.outside, hours)], [], False)
        wanted = [
            v
            for v in live
            if profile.wants(v.notice.category, v.notice.item) and _not_ended(v, now)
        ]
        ordered = order(wanted)
        self._lay_out(profile, ordered)
        loop = [(v, sum(s.duration for s in self.notice_slides(profile, v))) for v in ordered]
        kept, dropped = within_budget(
            loop, profile.loop_budget, fixed=sum(s.duration for s in alerts)
        )
        slides = list(alerts)
        banner = mine[-1] if mine and self.options.alert_mode == "first" else None
        for v in kept:
            if banner is None:
                slides += self.notice_slides(profile, v)
            else:  # the newest alert across the foot of every notice slide while it holds
                until = banner.until.astimezone(tz)
                slides += [
                    with_banner(layout, x, banner.text, until)
                    for x in self.notice_slides(profile, v)
                ]
        return Loop(slides, dropped, True)

    def _profile(self, name: str) -> Profile | None:
        return next((p for p in self.options.profiles if p.name == name), None)

    def player_version(self, profile: str) -> str | None:
        p = self._profile(profile)
        return self.bundle(p).current() if p else None

    def player_key(self) -> str | None:
        key = self.options.heartbeat_key
        if key is None:
            return None
        try:
            return key.reveal()
        except LookupError:  # its ${ENV} is not set: no heartbeat can match
            return secrets.token_hex(16)

    def heartbeat_due(self, profile: str, now: datetime) -> float | None:
        p = self._profile(profile)
        if p is None or not p.daypart(self.ctx.site.timezone).on_air(now):
            return None  # a screen switched off for the night is not silent
        # a heartbeat interval of grace on top: a screen is not late by one beat
        return self.options.silent_after_minutes * 60 + self.options.heartbeat_seconds

    def timed_state(self, now: datetime) -> tuple[str, datetime | None]:
        """The profiles' dayparts, and the screen windows of the notices last built."""
        tz = self.ctx.site.timezone
        keys: list[str] = []
        times: list[datetime] = []
        for p in self.options.profiles:
            daypart = p.daypart(tz)
            if daypart.always:
                continue
            keys.append(f"{p.name}:{'on' if daypart.on_air(now) else 'off'}")
            switch = daypart.next_switch(now)
            if switch is not None:
                times.append(switch)
        for v in self._live:
            start, until = screen_window(v.notice)
            for edge, word in ((start, "from"), (until, "until")):
                if edge is None:
                    continue
                if edge <= now:
                    keys.append(f"{v.sha256[:12]}:{word}")
                else:
                    times.append(edge)
        return "|".join(keys), min(times, default=None)

    def _lay_out(self, profile: Profile, views: Sequence[PublishedNotice]) -> None:
        """Lay out, in one batch (on every core when it is big), the views not laid out yet."""
        todo = [v for v in views if (profile.name, v.sha256, v.url) not in self._slides]
        if not todo:
            return
        done = self.renderer.lay_out(self.layout(profile), profile, todo)
        for v, slides in zip(todo, done, strict=True):
            self._slides[(profile.name, v.sha256, v.url)] = slides

    # ---------------------------------------------------------------- documents

    def manifest(self, profile: Profile, loop: Loop, generated: datetime | None) -> dict[str, Any]:
        bundle = self.bundle(profile)
        slides = loop.slides
        alerts_until = max(
            (s.valid_until for s in slides if s.priority >= ALERT and s.valid_until),
            default=None,
        )
        items = []
        for position, s in enumerate(slides):
            name = f"{s.key(profile, self.fonts)}.png"
            sha, size = bundle.index.get(name, ("", 0))
            starts = s.valid_from
            if (
                s.priority < ALERT
                and alerts_until
                and self.options.alert_mode == "exclusive"
                and (starts is None or starts < alerts_until)
            ):
                starts = alerts_until  # date-aware players resume after the alert by themselves
            items.append(
                {
                    "file": f"../../files/{name}",
                    "sha256": sha,
                    "bytes": size,
                    "duration": s.duration,
                    "notice_id": s.notice_id,
                    "version": s.sha256,
                    "title": s.title,
                    "page": s.page,
                    "pages": s.pages,
                    "valid_from": s.valid_from.isoformat() if s.valid_from else None,
                    "valid_until": s.valid_until.isoformat() if s.valid_until else None,
                    "starts": starts.isoformat() if starts else None,
                    "priority": s.priority,
                    "priority_name": PRIORITY_NAMES.get(s.priority, ""),
                    "kind": s.kind,
                    "source_url": s.source_url,
                    "order": position,
                }
            )
        body = json.dumps(items, ensure_ascii=False, sort_keys=True)
        version = hashlib.sha256((body + profile.model_dump_json()).encode()).hexdigest()[:16]
        switch = profile.daypart(self.ctx.site.timezone).next_switch(self.ctx.clock.now())
        return {
            "version": version,
            "generated_at": generated.isoformat() if generated else None,
            "profile": profile.model_dump(),
            "alert_mode": self.options.alert_mode,
            "readability": self.layout(profile).readability(),
            "schedule": {
                "on_air": loop.on_air,
                "hours": profile.hours,
                "weekdays": parse_weekdays(profile.weekdays),
                "outside": profile.outside,
                "next_switch": switch.isoformat() if switch else None,
            },
            "loop_seconds": round(sum(s.duration for s in slides), 1),
            "loop_budget": profile.loop_budget,
            # left out by the loop budget: the office sees what its screens do not show
            "dropped": [
                {
                    "notice_id": d.notice_id,
                    "title": d.title,
                    "priority": d.priority,
                    "seconds": d.seconds,
                    "reason": f"loop budget {profile.loop_budget:g} s",
                }
                for d in loop.dropped
            ],
            "items": items,
        }

    def slideshow(
        self, profile: Profile, slides: Sequence[Slide], manifest: dict[str, Any]
    ) -> bytes:
        layout = self.layout(profile)
        data = []
        for s, item in zip(slides, manifest["items"], strict=True):
            qr = None
            if s.qr_url and s.qr_box:
                x, y, side = s.qr_box
                svg, drawn = qr_svg(s.qr_url, side)  # the PNG's modules, quiet zone and size
                qr = {"x": x, "y": y, "size": drawn, "svg": svg}
            data.append(
                {
                    "lines": [
                        [ln.text, ln.x, ln.y + offset, ln.size, ln.bold, ln.color, height]
                        for ln in s.lines
                        for offset, height in [layout.css_line(ln.size, ln.bold)]
                    ],
                    "boxes": [[b.x, b.y, b.w, b.h, b.fill, b.radius] for b in s.boxes],
                    "icons": [
                        [" ".join(f"{x},{y}" for x, y in points), fill]
                        for icon in s.icons
                        for points, fill in icon.polygons()
                    ],
                    "background": s.background,
                    "qr": qr,
                    "duration": s.duration,
                    "from": item["valid_from"],
                    "until": item["valid_until"],
                    "priority": s.priority,
                    "id": s.notice_id,
                    "page": s.page,
                }
            )
        payload = json.dumps(
            {
                "version": manifest["version"],
                "mode": self.options.alert_mode,
                "slides": data,
                # the player reports what it shows (publisher/screens.py checks every field)
                "heartbeat": {
                    "url": self.options.heartbeat_url,
                    "seconds": self.options.heartbeat_seconds,
                    "channel": self.name,
                    "profile": profile.name,
                },
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        # inside <script> only "<" can end the island or open a comment ("<!--<script>" once
        # blanked the whole slideshow): escape <, > and & as JSON \u escapes
        island = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return self.render_template(
            "signage/slideshow.html", profile=profile, data_json=island
        ).encode("utf-8")

    def anthias(self, profile: Profile, manifest: dict[str, Any]) -> bytes:
        base = f"{self.ctx.site.base_url}/{self.folder}/{profile.name}/files"
        assets = [
            {
                "asset_id": item["file"].rsplit("/", 1)[-1][:-4],
                "name": item["title"]
                + (f"（{item['page']}/{item['pages']}）" if item["pages"] > 1 else ""),
                "uri": f"{base}/{item['file'].rsplit('/', 1)[-1]}",
                "mimetype": "image",
                "duration": round(item["duration"]),
                "start_date": item["starts"] or item["valid_from"],
                "end_date": item["valid_until"] or FAR_FUTURE,
                "is_enabled": 1,
                "nocache": 0,
                "play_order": item["order"],
                "skip_asset_check": 0,
            }
            for item in manifest["items"]
        ]
        return json.dumps({"assets": assets}, ensure_ascii=False, indent=1).encode("utf-8")

    def concerto(self, profile: Profile, manifest: dict[str, Any]) -> bytes:
        base = f"{self.ctx.site.base_url}/{self.folder}/{profile.name}/files"
        content = [
            {
                "type": "graphic",
                "name": item["title"],
                "url": f"{base}/{item['file'].rsplit('/', 1)[-1]}",
                "duration": round(item["duration"]),
                "start_time": item["starts"] or item["valid_from"],
                "end_time": item["valid_until"],
            }
            for item in manifest["items"]
        ]
        return json.dumps(
            {"name": f"{self.ctx.site.name} · {profile.name}", "content": content},
            ensure_ascii=False,
            indent=1,
        ).encode("utf-8")

    # ---------------------------------------------------------------- building

    def build(self, live: Sequence[PublishedNotice]) -> list[str]:
        live = LiveSet.of(live)
        self.alerts = list(live.alerts)
        self._live = [v for v in live if priority(v.notice) != DEFAULT]  # timed_state looks
        changed: list[str] = []
        for profile in self.options.profiles:
            if live.cancelled():  # a withdrawal or an alert overtakes this build
                break
            changed += [f"{profile.name}/{p}" for p in self._export(profile, live)]
        # keep the layouts of what is live only (a long-running bot sees many versions)
        shown = {(v.sha256, v.url) for v in live}
        for key in [k for k in self._slides if (k[1], k[2]) not in shown]:
            del self._slides[key]
        return changed

    def _export(self, profile: Profile, live: LiveSet) -> list[str]:
        if live.cancelled():  # overtaken before this profile was drawn
            return []
        bundle = self.bundle(profile)
        loop = self.plan(profile, live)
        slides = loop.slides
        if "png" in profile.outputs:
            todo: dict[str, Slide] = {}
            for s in slides:
                name = f"{s.key(profile, self.fonts)}.png"
                if not bundle.has(name):  # only new content is drawn
                    todo.setdefault(name, s)
            for name, data in zip(
                todo, self.renderer.draw(profile, list(todo.values())), strict=True
            ):
                self.rendered += 1
                bundle.add(name, data, hashlib.sha256(data).hexdigest())
            if todo:
                bundle.save_index()
        generated = max(
            [v.updated_at for v in live] + [a.starts for a in self.alerts], default=None
        )
        manifest = self.manifest(profile, loop, generated)
        current = bundle.current()
        if current == manifest["version"] or live.cancelled():  # drawn slides are kept
            return []
        docs = self.version_docs(profile, slides, manifest, live, generated)
        # taken down (withdrawn, expired): older versions showing them go too, not kept
        shown_now = {item["notice_id"] for item in manifest["items"]}
        gone = (bundle.shows(current) if current else set()) - shown_now
        return bundle.publish(manifest["version"], docs, purge=gone)

    def version_docs(
        self,
        profile: Profile,
        slides: Sequence[Slide],
        manifest: dict[str, Any],
        live: Sequence[PublishedNotice],
        generated: datetime | None,
    ) -> dict[str, bytes]:
        docs = {
            "manifest.json": json.dumps(
                manifest, ensure_ascii=False, indent=1, sort_keys=True
            ).encode("utf-8")
        }
        if "html" in profile.outputs:
            docs["index.html"] = self.slideshow(profile, slides, manifest)
        if "anthias" in profile.outputs:
            docs["anthias.json"] = self.anthias(profile, manifest)
        if "concerto" in profile.outputs:
            docs["concerto.json"] = self.concerto(profile, manifest)
        if "pdf" in profile.outputs:
            poster = [
                s
                for v in sorted(live, key=lambda v: (v.notice.publish_at, v.id), reverse=True)
                if profile.wants(v.notice.category, v.notice.item)
                for s in self.notice_slides(profile, v, poster=True)
            ]
            when = generated or datetime.fromisoformat("2000-01-01T00:00:00+08:00")
            docs["poster.pdf"] = poster_pdf(poster, profile, self.fonts, when)
        return docs

    def render_documents(self, live: LiveSet) -> Mapping[str, bytes]:
        """The version documents of every profile (previews; PNGs are not drawn here)."""
        self.alerts = list(live.alerts)
        out: dict[str, bytes] = {}
        for profile in self.options.profiles:
            loop = self.plan(profile, live)
            generated = max((v.updated_at for v in live), default=None)
            manifest = self.manifest(profile, loop, generated)
            docs = self.version_docs(profile, loop.slides, manifest, live, generated)
            out.update({f"{profile.name}/{k}": v for k, v in docs.items()})
        return out
