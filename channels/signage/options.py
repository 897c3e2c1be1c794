"""Screen profiles and the signage channel's options."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from publisher.channel import ChannelOptions, SecretValue

from .schedule import Daypart, parse_hours, parse_weekdays

Output = Literal["png", "html", "manifest", "anthias", "concerto", "pdf"]
DEFAULT_OUTPUTS: tuple[Output, ...] = ("png", "html", "manifest", "anthias", "concerto")


class Profile(ChannelOptions):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    width: int = Field(1920, ge=160, le=16384)
    height: int = Field(1080, ge=120, le=16384)
    margin: float = Field(0.05, ge=0, le=0.25)  # safe margin on every side, share of the side
    body_size: float = Field(0.055, gt=0.01, le=0.2)  # body text, share of the short side
    title_scale: float = Field(1.3, ge=1, le=3)
    facts_size: float = Field(0.036, gt=0.01, le=0.2)
    dwell_min: float = Field(8, ge=1)
    dwell_max: float = Field(30, ge=1)
    chars_per_second: float = Field(4.5, gt=0)
    columns: int | None = Field(None, ge=1, le=4)  # default: 2 on very wide screens, else 1
    qr: bool = True
    categories: list[str] = Field(default_factory=list)  # which notices: these categories …
    items: list[int] = Field(default_factory=list)  # … or these 清单 items (empty: all routed)
    outputs: list[Output] = Field(default_factory=lambda: list(DEFAULT_OUTPUTS))
    poster: Literal["A4", "A3"] = "A4"  # page size of the pdf output
    # a notice is a poster and at most this many slides in all; a longer body ends on a
    # 全文请扫码 slide
    max_slides: int = Field(3, ge=1, le=20)
    # PNG slides: "rgb" (every colour, fastest to write) or "palette" (256 colours, about a
    # third of the bytes for players on a slow link, twice the time)
    png: Literal["rgb", "palette"] = "rgb"
    # where people stand: the body's letter height is checked against 1 inch per 10 feet
    viewing_distance_m: float = Field(3.0, gt=0, le=50)
    # dayparts: on air these hours ("07:30-22:00", several: "07:30-12:00, 13:30-22:00") on
    # these days (1 = Monday, or "mon-fri"); outside them a blank or a screensaver slide
    hours: str | None = None
    weekdays: list[int | str] = Field(default_factory=lambda: list[int | str](range(1, 8)))
    outside: Literal["blank", "screensaver"] = "screensaver"
    # the longest loop, in seconds: beyond it the lowest-priority, oldest notices drop out
    loop_budget: float | None = Field(None, ge=10)

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is not None:
            parse_hours(v)
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int | str]) -> list[int | str]:
        if not parse_weekdays(v):
            raise ValueError("weekdays: at least one day")
        return v

    def daypart(self, tz: ZoneInfo) -> Daypart:
        return Daypart(
            tuple(parse_hours(self.hours)) if self.hours else (),
            frozenset(parse_weekdays(self.weekdays)),
            tz,
        )

    @model_validator(mode="after")
    def _check(self) -> Profile:
        if self.dwell_max < self.dwell_min:
            raise ValueError("dwell_max must not be less than dwell_min")
        if not self.outputs:
            raise ValueError("a profile needs at least one output")
        return self

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    @property
    def column_count(self) -> int:
        if self.columns:
            return self.columns
        return 2 if self.width / self.height >= 2.4 else 1  # LED walls like 3840×1080

    def wants(self, notice_category: str, notice_item: int) -> bool:
        if not self.categories and not self.items:
            return True
        return notice_category in self.categories or notice_item in self.items


class SignageOptions(ChannelOptions):
    folder: str = "signage"
    profiles: list[Profile] = Field(
        default_factory=lambda: [Profile(name="landscape")], min_length=1
    )
    font: str | None = None  # a .ttc/.otf/.ttf with Simplified Chinese; default: discovered
    keep_versions: int = Field(5, ge=1, le=100)  # old bundles kept for rollback
    alert_mode: Literal["exclusive", "first"] = "exclusive"
    # players: the slideshow reports a heartbeat (and the slides it showed) this often, to
    # this address on the site's server; one silent this long in its hours is reported
    heartbeat_seconds: float = Field(60, ge=5, le=3600)
    heartbeat_url: str = "/heartbeat"
    silent_after_minutes: float = Field(10, ge=1, le=10080)
    # if set, a heartbeat must carry it (give it to the players as ?key=…): ${ENV} only
    heartbeat_key: SecretValue | None = None
    # processes that lay out and draw big batches (a first export); default: one per core
    render_workers: int | None = Field(None, ge=1, le=64)
