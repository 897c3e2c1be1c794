"""Benchmarks. Each figure is printed beside a baseline measured in the same run (a ratio),
because these machines are noisy. Run: ``./dev bench`` (or ``python -m bench``)."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import catalogue, console, core, feeds, instances, review, robots, signage, windows

Row = tuple[str, float, str, float, str]


def line(row: Row, width: int = 0) -> str:
    name, value, baseline_name, baseline, unit = row
    return (
        f"{name:<{width}}  {value:9.3f} {unit}   baseline ({baseline_name}) "
        f"{baseline:9.3f} {unit}   ratio {value / baseline:6.2f}×"
    )


def figures(fn: Callable[..., list[Row]], *args: Any, **kw: Any) -> list[Row]:
    """Run one group and print its figures at once: a later group that fails (or a long run
    that is stopped) does not take the earlier figures with it."""
    rows = fn(*args, **kw)
    for row in rows:
        print("# " + line(row), flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--notices", type=int, default=1000)
    p.add_argument("--feed-notices", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    p.add_argument(
        "--only",
        choices=[
            "core",
            "review",
            "feeds",
            "serving",
            "robots",
            "signage",
            "instances",
            "console",
            "catalogue",
            "windows",
        ],
        action="append",
        help="run only these groups (repeatable)",
    )
    args = p.parse_args()
    groups = args.only or [
        "core",
        "review",
        "feeds",
        "serving",
        "robots",
        "signage",
        "instances",
        "console",
        "catalogue",
        "windows",
    ]
    print(f"# disclosure-publisher benchmarks, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"# {platform.node()} · {platform.machine()} · Python {sys.version.split()[0]}")
    rows = []
    if "core" in groups:
        rows += figures(core.run, args.notices, args.repeat)
    if "review" in groups:
        rows += figures(review.review_figures, args.repeat)
    if "feeds" in groups:
        rows += figures(feeds.rebuild_figures, args.feed_notices, args.repeat)
    if "serving" in groups:
        rows += figures(feeds.serving_figures, args.feed_notices)
    if "robots" in groups:
        rows += figures(robots.fanout)
        rows += figures(robots.sustained)
    if "signage" in groups:
        rows += figures(signage.render_figures)
        rows += figures(signage.export_figures, args.notices)
        rows += figures(signage.rebuild_lag_figures, args.notices)
    if "console" in groups:
        rows += figures(console.console_figures)
    if "catalogue" in groups:
        rows += figures(catalogue.catalogue_figures)
    if "instances" in groups:
        rows += figures(instances.scaling_figures)
        rows += figures(instances.lag_figures)
        rows += figures(instances.lag_figures, serve=True)
    if "windows" in groups:
        rows += figures(windows.token_cost)
        rows += figures(windows.sustained_figures)
    width = max(len(r[0]) for r in rows)
    for row in rows:
        print(line(row, width))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
