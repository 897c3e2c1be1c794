"""The signage channel: per screen profile, PNG slides, an HTML slideshow, a manifest, lists for
Anthias and Concerto, and a PDF poster, exported as versioned bundles."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from publisher.channel import ChannelOptions, StateChannel
from publisher.errors import ChannelError
from publisher.model import Alert, PublishedNotice

from .bundle import Bundle
from .fonts import Fonts, find_fonts
from .layout import Layout, Slide
from .options import Profile, SignageOptions
from .qr import qr_svg
from .render import png, poster_pdf, poster_size

FAR_FUTURE = "9999-12-31T23:59:59+08:00"


class SignageChannel(StateChannel[SignageOptions]):
    type_name = "signage"
    outlet_label = "电子屏幕"
    Options: ClassVar[type[ChannelOptions]] = SignageOptions
    shows_alerts = True

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
        self.rendered = 0  # PNGs drawn by this process (benchmarks and tests look)

    # ---------------------------------------------------------------- set-up

    @property
    def profile_names(self) -> list[str]:
        return [p.name for p in self.options.profiles]

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

    def set_alerts(self, alerts: Sequence[Alert]) -> None:
        self.alerts = list(alerts)

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

    def rotation(self, profile: Profile, live: Sequence[PublishedNotice]) -> list[Slide]:
        """Alerts first, then the profile's notices, newest first."""
        slides: list[Slide] = []
        tz = self.ctx.site.timezone
        for a in sorted(self.alerts, key=lambda a: a.id):
            if not a.profiles or profile.name in a.profiles:
                slides += self.layout(profile).alert_slides(
                    str(a.id), a.text, a.until.astimezone(tz), a.starts.astimezone(tz)
                )
        ordered = sorted(live, key=lambda v: (v.notice.publish_at, v.id), reverse=True)
        for v in ordered:
            if profile.wants(v.notice.category, v.notice.item):
                slides += self.notice_slides(profile, v)
        return slides

    # ---------------------------------------------------------------- documents

    def manifest(
        self, profile: Profile, slides: Sequence[Slide], generated: datetime | None
    ) -> dict[str, Any]:
        bundle = self.bundle(profile)
        alerts_until = max(
            (s.valid_until for s in slides if s.priority > 0 and s.valid_until), default=None
        )
        items = []
        for order, s in enumerate(slides):
            name = f"{s.key(profile, self.fonts)}.png"
            sha, size = bundle.index.get(name, ("", 0))
            starts = s.valid_from
            if (
                s.priority == 0
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
                    "source_url": s.source_url,
                    "order": order,
                }
            )
        body = json.dumps(items, ensure_ascii=False, sort_keys=True)
        version = hashlib.sha256((body + profile.model_dump_json()).encode()).hexdigest()[:16]
        return {
            "version": version,
            "generated_at": generated.isoformat() if generated else None,
            "profile": profile.model_dump(),
            "alert_mode": self.options.alert_mode,
            "readability": self.layout(profile).readability(),
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
                        [
                            ln.text,
                            ln.x,
                            round(ln.y + layout.css_top(ln.size, ln.bold), 1),
                            ln.size,
                            ln.bold,
                            ln.color,
                        ]
                        for ln in s.lines
                    ],
                    "boxes": [[b.x, b.y, b.w, b.h, b.fill, b.radius] for b in s.boxes],
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
            {"version": manifest["version"], "mode": self.options.alert_mode, "slides": data},
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
        changed: list[str] = []
        for profile in self.options.profiles:
            changed += [f"{profile.name}/{p}" for p in self._export(profile, live)]
        return changed

    def _export(self, profile: Profile, live: Sequence[PublishedNotice]) -> list[str]:
        bundle = self.bundle(profile)
        slides = self.rotation(profile, live)
        if "png" in profile.outputs:
            fresh = False
            for s in slides:
                name = f"{s.key(profile, self.fonts)}.png"
                if not bundle.has(name):  # only new content is drawn
                    data = png(s, profile, self.fonts)
                    self.rendered += 1
                    bundle.add(name, data, hashlib.sha256(data).hexdigest())
                    fresh = True
            if fresh:
                bundle.save_index()
        generated = max(
            [v.updated_at for v in live] + [a.starts for a in self.alerts], default=None
        )
        manifest = self.manifest(profile, slides, generated)
        current = bundle.current()
        if current == manifest["version"]:
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

    def render_documents(self, live: Sequence[PublishedNotice]) -> Mapping[str, bytes]:
        """The version documents of every profile (previews; PNGs are not drawn here)."""
        out: dict[str, bytes] = {}
        for profile in self.options.profiles:
            slides = self.rotation(profile, live)
            generated = max((v.updated_at for v in live), default=None)
            manifest = self.manifest(profile, slides, generated)
            docs = self.version_docs(profile, slides, manifest, live, generated)
            out.update({f"{profile.name}/{k}": v for k, v in docs.items()})
        return out
