"""The 信息公开目录 on a 10,000-notice store:

- search p95 over 50 queries, against a ``LIKE`` scan of the same text: words of the 清单 items
  (each notice's body carries its own item's text and two others', so a word is in a few
  hundred notices, as in a real site), and separately the worst case, words that are in
  every notice;
- the annual report (figures, charts, HTML, Markdown, Word), against one plain SQL count of
  the approved versions.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import rjieba
from sqlalchemy import func, select

from publisher.config import load_settings
from publisher.notices.catalogue import default_catalogue
from publisher.service.app import Publisher
from publisher.store.schema import versions
from tests.helpers import approve_everything

from .core import SENTENCES, write_site

Row = tuple[str, float, str, float, str]


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def _vary(root: Path) -> list[str]:
    """Give each notice the text of its own 清单 item and of two others (seeded), so words
    have the spread of a real site; return 50 query words taken from those texts."""
    items = sorted(default_catalogue().items.values(), key=lambda i: i.no)
    rng = random.Random(13)
    for path in sorted((root / "items").glob("*.md")):
        text = path.read_text("utf-8")
        mine = int(text.split("\nitem: ", 1)[1].split("\n", 1)[0])
        extra = [i.text for i in items if i.no == mine] + [rng.choice(items).text for _ in "ab"]
        path.write_text(text.rstrip("\n") + "\n\n" + "。".join(extra) + "。\n", "utf-8")
    vocabulary = sorted(
        {w for i in items for w in rjieba.cut(i.text) if len(w) >= 2 and w.isalnum()}
    )
    return random.Random(5).sample(vocabulary, 50)


def _search_times(
    app: Publisher, now: datetime, queries: list[str]
) -> tuple[list[float], list[float], float]:
    """(search times, LIKE-scan times, mean number of hits) over ``queries``."""
    fts, scan, hits = [], [], []
    for q in queries:
        t = time.perf_counter()
        hits.append(app.search(q).total)
        fts.append(time.perf_counter() - t)
        t = time.perf_counter()
        app.store.search_scan(q, now)
        scan.append(time.perf_counter() - t)
    return fts, scan, statistics.mean(hits)


def catalogue_figures(n: int = 10_000) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_site(root, n)
        topics = _vary(root)
        app = Publisher(load_settings(root / "config.yaml"))
        t = time.perf_counter()
        approve_everything(app)
        print(f"# catalogue: {n} notices approved in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        app.index_catalogue()
        print(f"# catalogue: search index of {n} notices built in {time.perf_counter() - t:.1f} s")
        now = app.clock.now()
        common = [s.strip("。，")[:2] for s in SENTENCES]
        timed = {
            name: _search_times(app, now, (queries * 50)[:50])
            for name, queries in (("topic", topics), ("common", common))
        }
        year = now.year - 1 if now.month < 9 else now.year
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            app.annual_report(year, Path(out))
            report = time.perf_counter() - t
        t = time.perf_counter()
        with app.store.tx() as conn:
            conn.execute(select(func.count()).where(versions.c.approved_at.is_not(None))).scalar()
        count = time.perf_counter() - t
        app.close()
    return [
        (
            f"search p95, {n} notices, words of the 清单 items (~{timed['topic'][2]:.0f} hits)",
            _p95(timed["topic"][0]) * 1000,
            "LIKE scan (count + newest 20) p95",
            _p95(timed["topic"][1]) * 1000,
            "ms",
        ),
        (
            f"search p95, {n} notices, words in every notice (~{timed['common'][2]:.0f} hits)",
            _p95(timed["common"][0]) * 1000,
            "LIKE scan (count + newest 20) p95",
            _p95(timed["common"][1]) * 1000,
            "ms",
        ),
        (f"annual report, {n} notices", report, "SQL count", count, "s"),
    ]
