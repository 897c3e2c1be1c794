"""Load + review + approve (the gate), and load + review + approve + publish N notices to rss
and signage on SQLite, each beside the time to parse the same files alone.

The signage channel here writes its HTML slideshow and manifest, not PNG slides: drawing
slides is measured by the signage benchmarks, and would drown the rest (about 0.3 s a notice).
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime
from pathlib import Path

from publisher.clock import ManualClock
from publisher.config import load_settings
from publisher.notices.catalogue import default_catalogue
from publisher.notices.files import load_folder
from publisher.service.app import Publisher

CONFIG = """\
site: {name: 基准测试站点, school_name: 基准示范大学, base_url: "http://127.0.0.1:8080"}
store: {url: "sqlite:///var/bench.db"}
channels:
  - {name: feed, type: rss, options: {max_items: 100}}
  - name: screen
    type: signage
    options: {profiles: [{name: landscape, width: 1920, height: 1080, outputs: [html, manifest]}]}
routes:
  - {categories: all, channels: [feed, screen]}
"""

SENTENCES = [
    "根据有关规定，现将相关事项公开如下。",
    "公示期内如有异议，请以书面形式实名反映。",
    "学校将按照程序认真核查并及时反馈。",
    "联系电话：0851-86681369。",
    "本事项自发布之日起施行，由相关部门负责解释。",
]


def write_site(root: Path, n: int) -> None:
    cat = default_catalogue()
    items = sorted(cat.items.values(), key=lambda i: i.no)
    rng = random.Random(7)
    (root / "config.yaml").write_text(CONFIG, "utf-8")
    folder = root / "items"
    folder.mkdir()
    for i in range(n):
        item = items[i % len(items)]
        body = "\n\n".join("".join(rng.choice(SENTENCES) for _ in range(4)) for _ in range(5))
        day = 1 + i % 28
        (folder / f"n{i:05d}.md").write_text(
            f"---\nid: n{i:05d}\ntitle: 基准示范大学第{i}号公开事项\ncategory: {item.category}\n"
            f"item: {item.no}\ndepartment: 党政办公室\nsummary: 第{i}号事项摘要。\n"
            f"publish_at: 2026-10-{day:02d} 09:00+08:00\n---\n{body}\n",
            "utf-8",
        )


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = fn()  # type: ignore[operator]
        times.append(t)
    return min(times)


def run(n: int, repeat: int) -> list[tuple[str, float, str, float, str]]:
    def parse_only() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_site(root, n)
            s = load_settings(root / "config.yaml")
            t0 = time.perf_counter()
            res = load_folder(s.items_dir, catalogue=s.catalogue, tz=s.tz, root=root)
            elapsed = time.perf_counter() - t0
            assert len(res.notices) == n, res.errors[:3]
            return elapsed

    def gate_only() -> float:
        return full_pipeline(publish=False)

    def full_pipeline(publish: bool = True) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_site(root, n)
            s = load_settings(root / "config.yaml")
            clock = ManualClock(datetime.fromisoformat("2026-11-26T10:00:00+08:00"))
            with Publisher(s, clock=clock) as app:  # schema creation is outside the timing
                t0 = time.perf_counter()
                notices, errors = app.load()
                assert not errors
                for notice in notices.values():
                    sha, _ = app.save(notice)
                    app.gate.review(notice, sha)
                    app.gate.approve(
                        notice,
                        sha,
                        reviewers=["基准审查人"],
                        ran_by="bench",
                        opinion="同意",
                        allow={},
                    )
                if not publish:
                    return time.perf_counter() - t0
                report = app.tick()
                elapsed = time.perf_counter() - t0
                assert report.total("sent") == 2 * n, report
            return elapsed

    base = best(parse_only, repeat)
    gate = best(gate_only, repeat)
    full = best(full_pipeline, repeat)
    return [
        (
            f"load+review+approve {n} notices (SQLite)",
            gate,
            f"parse the same {n} files",
            base,
            "s",
        ),
        (
            f"load+review+approve+publish {n} notices (rss+signage html, SQLite)",
            full,
            f"parse the same {n} files",
            base,
            "s",
        ),
    ]
