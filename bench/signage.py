"""Signage at scale.

- 500 slides at 1920×1080 to PNG, in slides per second, beside a bare Pillow loop drawing the
  same lines with the same font and saving the same kind of PNG;
- a 1,000-notice site exported for 3 profiles, then one notice changed: how many slides are
  drawn again (only that notice's), and the time beside the full export.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from channels.common.fonts import find_fonts
from channels.signage import SignageChannel, SignageOptions
from channels.signage.layout import Layout
from channels.signage.options import Profile
from channels.signage.render import png
from channels.signage.workers import default_workers
from publisher.channel import ChannelContext
from publisher.clock import ManualClock
from publisher.model import Notice, PublishedNotice, SiteInfo
from publisher.templating import make_environment
from publisher.text import render_markdown

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
SITE = SiteInfo("基准站点", "基准示范大学", "http://127.0.0.1:8080", TZ)
Row = tuple[str, float, str, float, str]
TEXT = (
    "根据《高等学校信息公开办法》，现将有关事项公示如下。公示期内如有异议，请以书面形式实名向"
    "招生办公室反映，联系电话 0851-86681201。"
)


def view(i: int, body: str, version: int = 0) -> PublishedNotice:
    n = Notice(
        id=f"n{i:04d}",
        title=f"基准示范大学第{i}号公开事项",
        category="zsks",
        item=7,
        department="招生就业处",
        summary="摘要",
        body=body,
        publish_at=NOW - timedelta(minutes=i),
        contact="0851-86681201",
        expires_at=NOW + timedelta(days=10),
    )
    return PublishedNotice(
        notice=n,
        sha256=f"{i:060x}{version:04x}",
        url=f"{SITE.base_url}/notices/{n.id}.html",
        html=render_markdown(body),
        approved_at=NOW,
        revision=version + 1,
        category_name="招生考试信息",
        item_text="",
    )


def render_figures(slides_wanted: int = 500) -> list[Row]:
    fonts = find_fonts()
    profile = Profile(name="lobby", width=1920, height=1080)
    layout = Layout(profile, fonts, SITE.name)
    slides = []
    i = 0
    while len(slides) < slides_wanted:
        slides += layout.notice_slides(view(i, (TEXT * (1 + i % 4)) + f"（第{i}号）"))
        i += 1
    slides = slides[:slides_wanted]

    t0 = time.perf_counter()
    for s in slides:
        png(s, profile, fonts)
    ours = time.perf_counter() - t0

    # the bare loop: the same lines, the same fonts, the same PNG settings, nothing else
    plan = [
        (
            s.background,
            [
                (
                    ln.x,
                    ln.y,
                    ln.text,
                    (fonts.bold if ln.bold else fonts.regular).load(ln.size),
                    ln.color,
                )
                for ln in s.lines
            ],
        )
        for s in slides
    ]
    t0 = time.perf_counter()
    for background, lines in plan:
        img = Image.new("RGB", (1920, 1080), background)
        d = ImageDraw.Draw(img)
        for x, y, text, font, color in lines:
            d.text((x, y), text, font=font, fill=color)
        img.save(io.BytesIO(), "PNG", compress_level=6)
    bare = time.perf_counter() - t0
    return [
        (
            f"{slides_wanted} slides, 1920×1080 PNG (layout done before)",
            slides_wanted / ours,
            "bare Pillow loop, same lines and font",
            slides_wanted / bare,
            "slides/s",
        )
    ]


BEFORE = "5af2783"  # the last commit before the poster layout and the drawing pool
_OLD_EXPORT = (
    "import sys, time; sys.path.insert(0, '.');"
    "from bench import signage;"
    "rows = signage.export_figures({n});"
    "print('FULL', rows[0][3])"
)


def _export(notices: int, png: str, workers: int | None) -> tuple[float, int, int, float]:
    """A first export: seconds, slides drawn, bytes of PNG written; then the seconds to
    export again after one notice changed."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs: list[Any] = ["png", "manifest"]
        opts = SignageOptions(
            render_workers=workers,
            profiles=[
                Profile(name="lobby", width=1920, height=1080, outputs=outputs, png=png),
                Profile(name="portrait", width=1080, height=1920, outputs=outputs, png=png),
                Profile(name="wall", width=3840, height=1080, outputs=outputs, png=png),
            ],
        )
        ctx = ChannelContext(SITE, make_environment(None, TZ), Path(tmp), ManualClock(NOW))
        ch = SignageChannel("screens", opts, ctx)
        live = [view(i, TEXT * (1 + i % 3)) for i in range(notices)]
        t0 = time.perf_counter()
        ch.build(live)
        full = time.perf_counter() - t0
        drawn = ch.rendered
        size = sum(f.stat().st_size for f in Path(tmp).glob("signage/*/files/*.png"))
        k = notices // 2
        live[k] = view(k, TEXT + "（更正）", version=1)
        t0 = time.perf_counter()
        ch.build(live)
        one = time.perf_counter() - t0
        redrawn = ch.rendered - drawn
        slides_of_one = sum(len(ch.notice_slides(p, live[k])) for p in opts.profiles)
    assert 0 < redrawn <= slides_of_one  # slides whose content did not change are kept
    return full, drawn, size, one


def _before(notices: int) -> float | None:
    """The first export of the code before this design, in a worktree of that commit, on
    this machine in this run (None without git or that commit)."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        made = subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), BEFORE],
            cwd=root,
            capture_output=True,
        )
        if made.returncode:
            print(f"# no baseline: cannot check out {BEFORE} ({made.stderr.decode().strip()})")
            return None
        try:
            run = subprocess.run(
                [sys.executable, "-c", _OLD_EXPORT.format(n=notices)],
                cwd=tree,
                capture_output=True,
                text=True,
            )
            lines = [ln for ln in run.stdout.splitlines() if ln.startswith("FULL ")]
            if not lines:
                print(f"# no baseline: the old export failed: {run.stderr[-500:]}")
                return None
            return float(lines[-1].split()[1])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root)


def export_figures(notices: int = 1000) -> list[Row]:
    workers = default_workers()
    fast, drawn, fast_bytes, one = _export(notices, "rgb", None)
    small, _, small_bytes, _ = _export(notices, "palette", None)
    print(
        f"# export: {drawn} slides for {notices} notices × 3 profiles on {workers} worker(s); "
        f"PNG rgb {fast_bytes / drawn / 1024:.0f} KiB a slide, palette "
        f"{small_bytes / drawn / 1024:.0f} KiB"
    )
    rows: list[Row] = []
    before = _before(notices)
    if before is not None:
        rows += [
            (
                f"first export {notices} × 3 profiles, png: rgb, {workers} workers",
                fast,
                f"the code before ({BEFORE}), one core",
                before,
                "s",
            ),
            (
                f"first export {notices} × 3 profiles, png: palette, {workers} workers",
                small,
                f"the code before ({BEFORE}), one core",
                before,
                "s",
            ),
        ]
    rows.append(
        (
            f"export {notices} notices × 3 profiles, then one changed: re-export",
            one,
            "the full first export (rgb)",
            fast,
            "s",
        )
    )
    rows.append(
        (
            "PNG bytes per slide, png: palette",
            small_bytes / drawn / 1024,
            "png: rgb",
            fast_bytes / drawn / 1024,
            "KiB",
        )
    )
    return rows


LAG_CONFIG = """\
site: {{name: 基准, school_name: 基准示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "sqlite:///{root}/bench.db"}}
output: {{folder: public}}
channels:
  - {{name: hook, type: webhook, options: {{webhook_url: "{hook}"}}}}
  - name: screens
    type: signage
    options:
      profiles:
        - {{name: lobby, width: 1920, height: 1080, outputs: [png, html, manifest]}}
        - {{name: portrait, width: 1080, height: 1920, outputs: [png, html, manifest]}}
        - {{name: wall, width: 3840, height: 1080, outputs: [png, manifest]}}
routes:
  - {{categories: [zsks], channels: [screens]}}
  - {{categories: [xsgl], channels: [hook]}}
schedules: [{{name: tick, job: tick, interval: 30s}}]
server: {{enabled: false}}
"""


def rebuild_lag_figures(notices: int = 1000, robots: int = 40) -> list[Row]:
    """Robot notices due every 2 s while one `publisher run` exports ``notices`` notices for
    3 screen profiles from nothing: how late each reaches the webhook."""
    from publisher.config import load_settings
    from publisher.service.app import Publisher
    from tests.helpers import WebhookSink, approve_everything, start_worker, stop_workers

    sink = WebhookSink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "config.yaml").write_text(
                LAG_CONFIG.format(root=root, hook=sink.url("hook")), "utf-8"
            )
            items = root / "items"
            items.mkdir()
            old = datetime.now(TZ) - timedelta(hours=1)
            for i in range(notices):
                (items / f"s{i:04d}.md").write_text(
                    f"---\nid: s{i:04d}\ntitle: 基准示范大学第{i}号公开事项\ncategory: zsks\n"
                    f"item: 7\ndepartment: 招生就业处\nsummary: 摘要\n"
                    f"publish_at: {old.isoformat()}\n---\n{TEXT * (1 + i % 3)}\n",
                    "utf-8",
                )
            with Publisher(load_settings(root / "config.yaml")) as app:
                approve_everything(app, "基准")
            # after the second approval (every notice again, ~20 s) and the start: mid-export
            first = (datetime.now(TZ) + timedelta(seconds=45)).replace(microsecond=0)
            due = {}
            for j in range(robots):
                at = first + timedelta(seconds=2 * j)
                due[f"r{j:03d}"] = at
                (items / f"r{j:03d}.md").write_text(
                    f"---\nid: r{j:03d}\ntitle: 第{j}号提醒\ncategory: xsgl\nitem: 36\n"
                    f"department: 学生处\npublish_at: {at.isoformat()}\n---\n请按时报送。\n",
                    "utf-8",
                )
            with Publisher(load_settings(root / "config.yaml")) as app:
                approve_everything(app, "基准")
            worker = start_worker(root)
            manifest = root / "public/signage/wall/current/manifest.json"
            built = None
            end = max(due.values()) + timedelta(seconds=15)
            started = time.time()
            while datetime.now(TZ) < end or built is None:
                if built is None and manifest.exists():
                    built = time.time() - started
                if time.time() - started > 1200:
                    break
                time.sleep(0.05)
            stop_workers([worker])
    finally:
        sink.close()
    lags = sorted(t - due[k.split("@")[0]].timestamp() for k, t in sink.arrivals.items())
    assert len(lags) == robots, (len(lags), robots)
    during = sum(1 for k in due if built is None or due[k].timestamp() < started + built)
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
    print(
        f"# lag during a first export ({notices} × 3 profiles, {built or 0:.0f} s): "
        f"{during} of {robots} robot notices fell due while it ran; p50 "
        f"{lags[len(lags) // 2]:.3f} s, p99 {p99:.3f} s, max {lags[-1]:.3f} s"
    )
    return [("robot lag p99 during a full signage export", p99, "target", 1.0, "s")]
