"""The 保密审查登记 (confidentiality-review register): every sign-off in a period with what
it approved (索引号, title, version hash), who signed, when, the opinion, the paper form, and
each blocking finding that was passed with its reason. CSV for the office's records, Word for
printing and signing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.records.reports.documents import docx_bytes, docx_table, new_document, write_files
from publisher.store.catalogue import CatalogueQueries

SOURCES = {"cli": "命令行", "console": "管理控制台", "paper": "纸质审查单"}
HEAD = [
    "索引号",
    "事项",
    "名称",
    "版本",
    "审查人",
    "签署时间",
    "审查日期（纸质）",
    "审查意见",
    "审查单号",
    "方式",
    "放行的问题及理由",
    "内容哈希",
]


@dataclass(frozen=True)
class RegisterRow:
    index_no: str
    notice_id: str
    title: str
    revision: str
    reviewer: str
    signed_at: str
    reviewed_on: str
    opinion: str
    form_no: str
    source: str
    overrides: str
    sha256: str


def register(
    store: CatalogueQueries, start: dt.date, end: dt.date, tz: ZoneInfo
) -> list[RegisterRow]:
    """Sign-offs from ``start`` to ``end`` (both days included, in the site's zone)."""
    lo = dt.datetime.combine(start, dt.time(0), tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tz)
    rows = []
    for r in store.signoffs_between(lo, hi):
        allowed = json.loads(r["allowances"] or "[]")
        rows.append(
            RegisterRow(
                index_no=r["index_no"] or "",
                notice_id=r["notice_id"],
                title=r["title"],
                revision=str(r["revision"] or "未生效"),
                reviewer=r["reviewer"],
                signed_at=r["approved_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                reviewed_on=r["reviewed_on"] or "",
                opinion=r["opinion"],
                form_no=r["form_no"],
                source=SOURCES.get(r["source"], r["source"]),
                overrides="；".join(f"{a['rule']}：{a['reason']}" for a in allowed),
                sha256=r["sha256"],
            )
        )
    return rows


def register_csv(rows: list[RegisterRow]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEAD)
    for r in rows:
        w.writerow(list(r.__dict__.values()))
    # with a BOM: Excel, which the office opens it in, reads UTF-8 only with one
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def register_docx(rows: list[RegisterRow], school: str, start: dt.date, end: dt.date) -> bytes:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    title = f"{school}信息公开保密审查登记表"
    doc = new_document(title, end)
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))
    doc.add_heading(title, level=0)
    doc.add_paragraph(
        f"期间：{start.isoformat()} 至 {end.isoformat()}，共 {len(rows)} 条签署记录。"
    )
    docx_table(
        doc,
        [
            "索引号",
            "名称",
            "版本",
            "审查人",
            "签署时间",
            "审查意见",
            "审查单号",
            "方式",
            "放行的问题及理由",
            "内容哈希（前 16 位）",
        ],
        [
            (
                r.index_no,
                r.title,
                r.revision,
                r.reviewer,
                r.signed_at,
                r.opinion,
                r.form_no,
                r.source,
                r.overrides or "无",
                r.sha256[:16],
            )
            for r in rows
        ],
    )
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                for p in cell.paragraphs:
                    for run in p.runs:
                        run.font.size = Pt(9)
    doc.add_paragraph("信息公开办公室负责人（签字）：　　　　　　　　日期：")
    return docx_bytes(doc)


def write_register(
    store: CatalogueQueries, folder: Path, school: str, start: dt.date, end: dt.date, tz: ZoneInfo
) -> tuple[list[Path], int]:
    rows = register(store, start, end, tz)
    stem = f"reviews-{start.isoformat()}-{end.isoformat()}"
    paths = write_files(
        folder,
        {
            f"{stem}.csv": register_csv(rows),
            f"{stem}.docx": register_docx(rows, school, start, end),
        },
    )
    return paths, len(rows)
