from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.signage import Profile, paginate

from .conftest import Site, approve


def test_manifest_and_slideshow_per_profile(site: Site) -> None:
    body = "\n\n".join(f"第{i}段：" + "公示内容说明，" * 12 for i in range(1, 8))
    site.write("n1", body=body, expires_at="2026-12-04 18:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    manifest = json.loads(site.out("signage/landscape/manifest.json").read_text("utf-8"))
    assert manifest["profile"]["width"] == 1920 and manifest["profile"]["height"] == 1080
    item = manifest["items"][0]
    assert item["id"] == "n1" and len(item["sha256"]) == 64
    assert item["valid_until"].startswith("2026-12-04T18:00:00+08:00")
    assert item["source_url"] == "http://127.0.0.1:8080/notices/n1.html"
    slides = item["slides"]
    assert len(slides) > 1 and slides[0]["title"].endswith(f"（1/{len(slides)}）")
    assert all(8 <= s["duration"] <= 30 for s in slides)
    assert "公示期：2026年11月26日 至 2026年12月4日" in slides[0]["facts"]
    joined = "".join(s["text"] for s in slides).replace("\n", "")
    assert joined == body.replace("\n", "")  # every character is on some slide, in order
    html = site.out("signage/landscape/index.html").read_text("utf-8")
    # self-contained: nothing is fetched from another host
    assert not re.search(r"(src|href)=\"https?://", html)
    assert manifest["version"] in html


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("中文字。，！？；、\n abc123")), max_size=600),
    st.integers(20, 200),
)
def test_paginate_keeps_every_character_and_respects_capacity(text: str, capacity: int) -> None:
    pages = paginate(text, capacity)
    assert all(len(p) <= capacity for p in pages)
    assert "".join(pages).replace("\n", "") == text.strip().replace("\n", "")


def test_capacity_scales_with_the_screen() -> None:
    small = Profile(name="a", width=1920, height=1080)
    wall = Profile(name="b", width=3840, height=1080)
    portrait = Profile(name="c", width=1080, height=1920)
    assert 100 <= small.capacity <= 200  # about 120–150 characters at 1080p (REFERENCE §4)
    assert wall.capacity > small.capacity
    assert portrait.capacity > 0
