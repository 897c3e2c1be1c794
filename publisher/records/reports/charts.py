"""The annual report's charts, drawn by matplotlib: SVG (text kept as text) for the HTML and
Markdown, PNG for Word. Deterministic: a fixed hash salt and no date in the metadata, so the
same figures give the same bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from publisher.records.reports.annual import AnnualFigures

PALETTE = (
    "#7a1a1a",
    "#0b4f9c",
    "#b35c00",
    "#2e7d32",
    "#6a1b9a",
    "#00838f",
    "#ad1457",
    "#5d4037",
    "#455a64",
    "#9e9d24",
)
MONTH_LABELS = (
    "9月",
    "10月",
    "11月",
    "12月",
    "1月",
    "2月",
    "3月",
    "4月",
    "5月",
    "6月",
    "7月",
    "8月",
)


# CJK faces in order of preference; DejaVu Sans (shipped with matplotlib) draws the digits
# and Latin letters if none is installed
PREFERRED_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "DejaVu Sans")


def _families() -> list[str]:
    """The preferred faces this machine has: matplotlib logs a "findfont: not found" warning
    each time it resolves a family that is missing, thousands of times for one report."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in PREFERRED_FONTS if name in installed] or ["DejaVu Sans"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.family": _families(),
            "svg.fonttype": "none",
            "svg.hashsalt": "disclosure-publisher",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )
    return plt


def _save(fig: object, fmt: str) -> bytes:
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=150, metadata=meta, bbox_inches="tight")  # type: ignore[attr-defined]
    return buf.getvalue()


def monthly_chart(f: AnnualFigures, fmt: str) -> bytes:
    """New notices per month, stacked by 清单 category."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bottom = [0] * 12
    for i, (label, counts) in enumerate(f.monthly.items()):
        ax.bar(MONTH_LABELS, counts, bottom=bottom, label=label, color=PALETTE[i % len(PALETTE)])
        bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
    ax.set_ylabel("新公开事项（项）")
    ax.set_title(f"{f.year}—{f.year + 1} 学年各月新公开事项（按清单类别）")
    if f.monthly:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    data = _save(fig, fmt)
    plt.close(fig)
    return data


def channel_chart(f: AnnualFigures, fmt: str) -> bytes:
    """What each channel carried, and what failed."""
    plt = _pyplot()
    rows = list(f.channels)
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.45 * max(1, len(rows))))
    names: Sequence[str] = [f"{r.outlet}（{r.name}）" for r in rows]
    ax.barh(names, [r.published for r in rows], color="#0b4f9c", label="发布（项）")
    ax.barh(
        names,
        [r.failed for r in rows],
        left=[r.published for r in rows],
        color="#b35c00",
        label="失败（次）",
    )
    ax.invert_yaxis()
    ax.set_title("各渠道发布情况")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.xaxis.get_major_locator().set_params(integer=True)
    data = _save(fig, fmt)
    plt.close(fig)
    return data
