"""The 信息公开目录 on a 10,000-notice store:

- search p95 over 50 queries (words of the bodies), against a ``LIKE`` scan of the same text;
- the annual report (figures, charts, HTML, Markdown, Word), against one plain SQL count of
  the approved versions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from publisher.app import Publisher
from publisher.config import load_settings
from publisher.store.schema import versions
from tests.helpers import approve_everything

from .core import SENTENCES, write_site

Row = tuple[str, float, str, float, str]


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def catalogue_figures(n: int = 10_000) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_site(root, n)
        app = Publisher(load_settings(root / "config.yaml"))
        t = time.perf_counter()
        approve_everything(app)
        print(f"# catalogue: {n} notices approved in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        app.index_catalogue()
        print(f"# catalogue: search index of {n} notices built in {time.perf_counter() - t:.1f} s")
        words = [s.strip("。，")[:4] for s in SENTENCES][:10] or ["公开"]
        queries = (words * 5)[:50]
        now = app.clock.now()
        fts, scan = [], []
        for q in queries:
            t = time.perf_counter()
            app.search(q)
            fts.append(time.perf_counter() - t)
            t = time.perf_counter()
            app.store.search_scan(q, now)
            scan.append(time.perf_counter() - t)
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
        (f"search p95, {n} notices", _p95(fts) * 1000, "LIKE scan p95", _p95(scan) * 1000, "ms"),
        (f"annual report, {n} notices", report, "SQL count", count, "s"),
    ]
