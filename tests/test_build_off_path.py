"""A long screen build never delays a robot: under ``publisher run`` state channels build beside
the passes (and draw on every core), so a robot notice that falls due meanwhile leaves on
time. Real processes, the real clock, a loopback webhook receiver."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import load_settings
from publisher.service.app import Publisher

from .helpers import TZ, WebhookSink, approve_everything, start_worker, stop_workers

CONFIG = """\
site: {{name: 测试, school_name: 测试示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "sqlite:///{root}/t.db"}}
output: {{folder: public}}
channels:
  - {{name: hook, type: webhook, options: {{webhook_url: "{hook}"}}}}
  - name: screen
    type: signage
    options:
      profiles:
        - {{name: lobby, width: 1920, height: 1080, outputs: [png, manifest], max_slides: 20}}
      # drawn in the bot's own process, beside the scheduler: the hard case (a pool of
      # worker processes only makes the build shorter)
      render_workers: 1
routes:
  - {{categories: [zsks], channels: [screen]}}
  - {{categories: [xsgl], channels: [hook]}}
schedules: [{{name: tick, job: tick, interval: 30s}}]
server: {{enabled: false}}
"""


def _notice(nid: str, category: str, at: datetime, body: str) -> str:
    return (
        f"---\nid: {nid}\ntitle: 测试示范大学第{nid}号公开事项\ncategory: {category}\n"
        f"item: {7 if category == 'zsks' else 36}\ndepartment: 招生就业处\n"
        f"publish_at: {at.isoformat()}\n---\n{body}\n"
    )


def _long_body(i: int) -> str:
    # 48 paragraphs of distinct sentences: 20 slides each at 1920×1080
    return "\n\n".join(
        f"第{k + 1}条 本条为第{i}号事项的第{k + 1}段说明，学校依照有关规定办理，"
        f"请相关学院于规定时间内完成材料报送并在公示期内接受监督。联系电话 0851-8668{k:04d}。"
        for k in range(48)
    )


@pytest.mark.slow
def test_robot_notice_due_during_a_500_slide_build_leaves_within_a_second(
    tmp_path: Path,
) -> None:
    sink = WebhookSink()
    try:
        root = tmp_path
        (root / "config.yaml").write_text(CONFIG.format(root=root, hook=sink.url("hook")), "utf-8")
        items = root / "items"
        items.mkdir()
        now = datetime.now(TZ).replace(microsecond=0)
        for i in range(30):
            (items / f"s{i:02d}.md").write_text(
                _notice(f"s{i:02d}", "zsks", now - timedelta(hours=1), _long_body(i)), "utf-8"
            )
        with Publisher(load_settings(root / "config.yaml")) as app:
            approve_everything(app)
        due = datetime.now(TZ).replace(microsecond=0) + timedelta(seconds=8)
        (items / "robot.md").write_text(_notice("robot", "xsgl", due, "请按时报送。"), "utf-8")
        with Publisher(load_settings(root / "config.yaml")) as app:
            approve_everything(app)

        worker = start_worker(root)
        manifest = root / "public" / "signage" / "lobby" / "current" / "manifest.json"
        try:
            deadline = time.monotonic() + 240
            built_at = None
            while time.monotonic() < deadline and (built_at is None or not sink.arrivals):
                if built_at is None and manifest.exists():
                    built_at = time.time()
                time.sleep(0.02)
        finally:
            assert stop_workers([worker]) == [0]
        assert sink.arrivals, "the robot notice never arrived"
        arrived = min(sink.arrivals.values())
        # the build was still drawing when the notice fell due and when it arrived …
        assert built_at is not None, "the screen build never finished"
        assert built_at > arrived, (built_at - due.timestamp(), arrived - due.timestamp())
        slides = json.loads(manifest.read_text("utf-8"))["items"]
        assert len(slides) >= 500
        # … and the notice left on time all the same
        print(
            f"robot lag {arrived - due.timestamp():.3f} s; the build ended "
            f"{built_at - due.timestamp():.1f} s after it was due; {len(slides)} slides"
        )
        assert 0 <= arrived - due.timestamp() <= 1.0, arrived - due.timestamp()
    finally:
        sink.close()
