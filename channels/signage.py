"""Digital signage: per screen profile, a ``manifest.json`` and a self-contained HTML slideshow.

The slideshow needs no network once loaded (styles, script and slide texts are inline), moves on
by itself, and reloads when the manifest's version changes. Every timestamp in the output comes
from the data, so an unchanged export is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, model_validator

from publisher.model import PublishedNotice
from publisher.text import plain_text

from .base import ChannelOptions, StateChannel


class Profile(ChannelOptions):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    width: int = Field(1920, ge=160, le=16384)
    height: int = Field(1080, ge=120, le=16384)
    margin: float = Field(0.05, ge=0, le=0.25)
    dwell_min: float = Field(8, ge=1)
    dwell_max: float = Field(30, ge=1)
    chars_per_second: float = Field(4.5, gt=0)
    chars_per_slide: int | None = Field(None, ge=20)

    @model_validator(mode="after")
    def _dwell(self) -> Profile:
        if self.dwell_max < self.dwell_min:
            raise ValueError("dwell_max must not be less than dwell_min")
        return self

    @property
    def capacity(self) -> int:
        """Roughly how many CJK characters fit on one slide at legible size."""
        if self.chars_per_slide:
            return self.chars_per_slide
        short = min(self.width, self.height)
        font = short * 0.055  # body text ≈ 5–6 % of the short side (REFERENCE.md §4)
        usable_w = self.width * (1 - 2 * self.margin)
        usable_h = self.height * (1 - 2 * self.margin)
        title_h = 2 * font * 1.3 * 1.3  # up to two title lines at 1.3× size
        facts_h = 3 * short * 0.036 * 1.5  # 公示期, contact, department
        per_line = max(8, int(usable_w / font))
        lines = max(2, int((usable_h - title_h - facts_h) / (font * 1.6)))
        # line-breaking rules and paragraph ends leave lines part-empty: plan for 80 %
        return max(20, int(per_line * lines * 0.8))


class SignageOptions(ChannelOptions):
    folder: str = "signage"
    profiles: list[Profile] = Field(
        default_factory=lambda: [Profile(name="landscape")], min_length=1
    )


class SignageChannel(StateChannel):
    type_name = "signage"
    Options: ClassVar[type[ChannelOptions]] = SignageOptions

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.opts: SignageOptions = self.options  # type: ignore[assignment]
        self.folder = self.opts.folder

    def slides_for(self, v: PublishedNotice, profile: Profile) -> list[dict[str, Any]]:
        n = v.notice
        text = plain_text(n.body) or n.summary
        pages = paginate(text, profile.capacity)
        facts = []
        if n.expires_at is not None:
            facts.append(f"公示期：{_d(n.publish_at)} 至 {_d(n.expires_at)}")
        if n.contact:
            facts.append(f"联系方式：{n.contact}")
        facts.append(f"发布部门：{n.department}")
        total = len(pages)
        out = []
        for i, page in enumerate(pages, 1):
            seconds = len(page) / profile.chars_per_second
            out.append(
                {
                    "title": n.title + (f"（{i}/{total}）" if total > 1 else ""),
                    "facts": facts,
                    "text": page,
                    "duration": round(min(profile.dwell_max, max(profile.dwell_min, seconds)), 1),
                }
            )
        return out

    def render_documents(self, live: Sequence[PublishedNotice]) -> dict[str, bytes]:
        ordered = sorted(live, key=lambda v: (v.notice.publish_at, v.id), reverse=True)
        docs: dict[str, bytes] = {}
        for profile in self.opts.profiles:
            items = []
            for v in ordered:
                slides = self.slides_for(v, profile)
                items.append(
                    {
                        "id": v.id,
                        "title": v.notice.title,
                        "sha256": v.sha256,
                        "valid_from": v.notice.publish_at.isoformat(),
                        "valid_until": v.notice.expires_at.isoformat()
                        if v.notice.expires_at
                        else None,
                        "priority": 0,
                        "source_url": v.url,
                        "duration": round(sum(s["duration"] for s in slides), 1),
                        "slides": slides,
                    }
                )
            body = json.dumps(items, ensure_ascii=False, sort_keys=True)
            version = hashlib.sha256(
                (body + profile.model_dump_json()).encode("utf-8")
            ).hexdigest()[:16]
            generated = max((v.updated_at for v in ordered), default=None)
            manifest = {
                "version": version,
                "generated_at": generated.isoformat() if generated else None,
                "profile": profile.model_dump(),
                "items": items,
            }
            docs[f"{profile.name}/manifest.json"] = json.dumps(
                manifest, ensure_ascii=False, indent=1, sort_keys=True
            ).encode("utf-8")
            docs[f"{profile.name}/index.html"] = self.render_template(
                "signage/slideshow.html",
                profile=profile,
                manifest=manifest,
                manifest_json=json.dumps(manifest, ensure_ascii=False, sort_keys=True).replace(
                    "</", "<\\/"
                ),
            ).encode("utf-8")
        return docs


def _d(dt: Any) -> str:
    return f"{dt.year}年{dt.month}月{dt.day}日"


_BREAKS = (("\n\n",), ("\n",), tuple("。！？；"), tuple("，、 "))


def paginate(text: str, capacity: int) -> list[str]:
    """Split text into pages of at most ``capacity`` characters, preferring paragraph, then
    line, then sentence, then clause boundaries. Joining the pages gives back every visible
    character in order (only the line breaks at page edges are dropped)."""
    text = text.strip()
    pages: list[str] = []
    rest = text
    while len(rest) > capacity:
        window = rest[:capacity]
        cut = capacity  # no good boundary in reach: cut hard
        for seps in _BREAKS:
            best = max(window.rfind(sep) for sep in seps)
            if best >= capacity // 3:
                cut = best + len(seps[0])
                break
        pages.append(rest[:cut].strip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest or not pages:
        pages.append(rest)
    return [p for p in pages if p] or [""]
