"""Benchmarks. Each figure is printed beside a baseline measured in the same run (a ratio),
because these machines are noisy. Run: ``./dev bench`` (or ``python -m bench``)."""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime

from . import catalogue, console, core, feeds, instances, review, robots, signage


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
    ]
    print(f"# disclosure-publisher benchmarks, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"# {platform.node()} · {platform.machine()} · Python {sys.version.split()[0]}")
    rows = []
    if "core" in groups:
        rows += core.run(args.notices, args.repeat)
    if "review" in groups:
        rows += review.review_figures(args.repeat)
    if "feeds" in groups:
        rows += feeds.rebuild_figures(args.feed_notices, args.repeat)
    if "serving" in groups:
        rows += feeds.serving_figures(args.feed_notices)
    if "robots" in groups:
        rows += robots.fanout()
        rows += robots.sustained()
    if "signage" in groups:
        rows += signage.render_figures()
        rows += signage.export_figures(args.notices)
        rows += signage.rebuild_lag_figures(args.notices)
    if "console" in groups:
        rows += console.console_figures()
    if "catalogue" in groups:
        rows += catalogue.catalogue_figures()
    if "instances" in groups:
        rows += instances.scaling_figures()
        rows += instances.lag_figures()
        rows += instances.lag_figures(serve=True)
    width = max(len(r[0]) for r in rows)
    for name, value, baseline_name, baseline, unit in rows:
        print(
            f"{name:<{width}}  {value:9.3f} {unit}   baseline ({baseline_name}) "
            f"{baseline:9.3f} {unit}   ratio {value / baseline:6.2f}×"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
