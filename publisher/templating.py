"""The Jinja environment: a site's own templates folder first, then the built-in templates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

import publisher


def builtin_templates_dir() -> Path:
    """Built-in templates: inside the installed package (wheel), or the checkout's templates/."""
    pkg = Path(publisher.__file__).parent
    for candidate in (pkg / "_templates", pkg.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the built-in templates folder is missing from this installation")


def make_environment(site_dir: Path | None, tz: ZoneInfo) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if site_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(site_dir)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "xml", "htm"]),
        undefined=jinja2.StrictUndefined,  # a typo in a site template fails loudly, not blank
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        return value.astimezone(tz).strftime(fmt)

    def cn_date(value: datetime | None) -> str:
        if value is None:
            return ""
        v = value.astimezone(tz)
        return f"{v.year}年{v.month}月{v.day}日"

    env.filters["localtime"] = localtime
    env.filters["cn_date"] = cn_date
    return env
