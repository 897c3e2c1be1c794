"""Writing reports as files: HTML (a template a site may override, ``reports/annual.html``),
Markdown, and Word (python-docx), all byte-for-byte reproducible.

A .docx is a zip: python-docx stamps each member with the current time and the document with
creation and modification dates, so both are fixed here (members dated 1980-01-01, the
document dated by the report's own date).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from publisher.errors import ReportError
from publisher.output import atomic_write
from publisher.records.reports.annual import AnnualFigures, AnnualReport
from publisher.records.reports.charts import channel_chart, monthly_chart


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()] or ["无。"]


def html_table(rows: Sequence[tuple[str, str]]) -> Markup:
    body = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td class="n">{escape(v)}</td></tr>\n'
        for k, v in rows
    )
    return Markup(
        '<table>\n<thead><tr><th scope="col">项目</th><th scope="col">数量</th></tr></thead>\n'
        f"<tbody>\n{body}</tbody>\n</table>"
    )


def _svg_inline(svg: bytes) -> str:
    text = svg.decode("utf-8")
    return text[text.index("<svg") :]  # without the XML declaration and doctype


def annual_html(
    report: AnnualReport, templates: jinja2.Environment, charts: dict[str, bytes]
) -> bytes:
    tpl = templates.get_template("reports/annual.html")
    return tpl.render(
        r=report,
        f=report.figures,
        paragraphs=paragraphs,
        table=html_table,
        monthly_svg=_svg_inline(charts["monthly.svg"]),
        channel_svg=_svg_inline(charts["channels.svg"]),
    ).encode("utf-8")


# the report's tables, shared by Markdown and Word (HTML has its own template)
CATEGORY_HEAD = ["清单类别", "新公开（项）", "更正、更新（次）", "撤回（项）"]
CHANNEL_HEAD = ["渠道", "发布（项）", "其中更新（次）", "撤回通告（次）", "失败（次）"]
WITHDRAWN_HEAD = ["索引号", "名称", "撤回日期", "原因"]
LATE_HEAD = ["索引号", "名称", "生成日期", "公开日期", "工作日"]
ITEM_HEAD = ["序号", "清单事项", "本学年是否公开", "最近公开", "公开栏目"]


def category_rows(f: AnnualFigures) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        (c.label, c.published, c.updated, c.withdrawn) for c in f.categories
    ]
    return [*rows, ("合计", f.published, f.updated, f.withdrawn)]


def channel_rows(f: AnnualFigures) -> list[tuple[object, ...]]:
    return [
        (f"{c.outlet}（{c.name}）", c.published, c.updates, c.withdrawals, c.failed)
        for c in f.channels
    ]


def withdrawn_rows(f: AnnualFigures) -> list[tuple[object, ...]]:
    return [
        (
            p.index_no,
            p.title,
            p.withdrawn_at.date().isoformat() if p.withdrawn_at else "",
            p.withdraw_reason,
        )
        for p in f.withdrawals
    ]


def late_rows(f: AnnualFigures) -> list[tuple[object, ...]]:
    return [
        (
            p.index_no,
            p.title,
            p.issued_on.isoformat() if p.issued_on else "",
            p.public_on.isoformat(),
            p.working_days,
        )
        for p in f.late
    ]


def item_rows(f: AnnualFigures) -> list[tuple[object, ...]]:
    return [
        (
            i.no,
            i.text,
            f"是（{i.count} 项）" if i.published else "否",
            i.last.isoformat() if i.last else "—",
            i.link,
        )
        for i in f.items
    ]


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def annual_markdown(report: AnnualReport, stem: str) -> bytes:
    f, o = report.figures, report.office
    rate = f"{100 * f.on_time_rate:.1f}%" if f.on_time_rate is not None else "无法统计"
    lines = [f"# {report.title}", ""]
    lines += ["## 一、概述", "", *[p + "\n" for p in paragraphs(o.overview)]]
    lines += [
        "## 二、主动公开情况",
        "",
        f"本学年主动公开信息 {f.published} 项，更正、更新 {f.updated} 次，撤回 {f.withdrawn} 项；"
        f"及时公开（{f.on_time_days} 个工作日内）{f.on_time}/{f.with_clock}，及时公开率 {rate}。",
        "",
        "### （一）按清单类别",
        "",
    ]
    lines += _md_table(CATEGORY_HEAD, category_rows(f))
    lines += [f"![各月新公开事项]({stem}-monthly.svg)", "", "### （二）按公开渠道", ""]
    lines += _md_table(
        CHANNEL_HEAD,
        channel_rows(f),
    )
    lines += [f"![各渠道发布情况]({stem}-channels.svg)", ""]
    if f.withdrawals:
        lines += ["### 撤回的事项", ""]
        lines += _md_table(
            WITHDRAWN_HEAD,
            withdrawn_rows(f),
        )
    if f.late:
        lines += [f"### 超过 {f.on_time_days} 个工作日公开的事项", ""]
        lines += _md_table(
            LATE_HEAD,
            late_rows(f),
        )
    for title, rows, note in (
        ("三、依申请公开和不予公开情况", o.requests, o.requests_note),
        ("四、对信息公开的评议情况", o.appraisal, o.appraisal_note),
        ("五、因学校信息公开工作受到举报、复议、诉讼的情况", o.complaints, o.complaints_note),
    ):
        lines += [f"## {title}", "", *_md_table(["项目", "数量"], rows)]
        if note:
            lines += [note, ""]
    lines += ["## 六、新举措、问题和改进措施", "", *[p + "\n" for p in paragraphs(o.improvements)]]
    lines += ["## 七、其他需要报告的事项", "", *[p + "\n" for p in paragraphs(o.other or "无。")]]
    lines += [f"{report.school}  ", f"{o.date.year}年{o.date.month}月{o.date.day}日", ""]
    lines += ["## 附表 清单事项公开情况表", ""]
    lines += _md_table(
        ITEM_HEAD,
        item_rows(f),
    )
    return "\n".join(lines).encode("utf-8")


# ---------------------------------------------------------------------------- Word


def new_document(title: str, when: dt.date) -> Any:
    """A python-docx document in the style of a Chinese official report (宋体 body, 黑体
    headings), dated ``when``."""
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = docx.Document()
    for name, font, size in (
        ("Normal", "宋体", 12),
        ("Heading 1", "黑体", 16),
        ("Heading 2", "黑体", 14),
        ("Heading 3", "楷体", 12),
        ("Title", "黑体", 20),
    ):
        style = doc.styles[name]
        style.font.name = font
        style.font.size = Pt(size)
        rpr = style.element.get_or_add_rPr()
        rpr.get_or_add_rFonts().set(qn("w:eastAsia"), font)
    props = doc.core_properties
    stamp = dt.datetime(when.year, when.month, when.day)
    props.title = title
    props.author = ""
    props.last_modified_by = ""
    props.created = stamp
    props.modified = stamp
    props.revision = 1
    return doc


def docx_table(doc: Any, head: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = doc.add_table(rows=1, cols=len(head))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, head, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = str(value)
    doc.add_paragraph()


def docx_bytes(doc: Any) -> bytes:
    """The document's bytes with every zip member dated 1980-01-01 (reproducible)."""
    raw = io.BytesIO()
    doc.save(raw)
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def annual_docx(report: AnnualReport, charts: dict[str, bytes]) -> bytes:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    f, o = report.figures, report.office
    doc = new_document(report.title, o.date)
    doc.add_heading(report.title, level=0).alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_heading("一、概述", level=1)
    for p in paragraphs(o.overview):
        doc.add_paragraph(p)
    doc.add_paragraph(
        f"本学年清单 {len(f.items)} 项中，{f.items_published} 项在本学年有公开或更新，"
        "逐项情况见附表《清单事项公开情况表》。"
    )
    doc.add_heading("二、主动公开情况", level=1)
    rate = f"{100 * f.on_time_rate:.1f}%" if f.on_time_rate is not None else "无法统计"
    doc.add_paragraph(
        f"本学年主动公开信息 {f.published} 项，更正、更新 {f.updated} 次，撤回 {f.withdrawn} 项；"
        f"在生成或变更之日起 {f.on_time_days} 个工作日内公开 {f.on_time}/{f.with_clock} 项（次），"
        f"及时公开率 {rate}。"
    )
    doc.add_heading("（一）按清单类别", level=2)
    docx_table(doc, CATEGORY_HEAD, category_rows(f))
    doc.add_picture(io.BytesIO(charts["monthly.png"]), width=Cm(15))
    doc.add_paragraph("图 1 各月新公开事项").alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_heading("（二）按公开渠道", level=2)
    docx_table(
        doc,
        CHANNEL_HEAD,
        channel_rows(f),
    )
    doc.add_picture(io.BytesIO(charts["channels.png"]), width=Cm(15))
    doc.add_paragraph("图 2 各渠道发布情况").alignment = WD_ALIGN_PARAGRAPH.CENTER
    if f.withdrawals:
        doc.add_heading("（三）撤回的事项", level=2)
        docx_table(
            doc,
            WITHDRAWN_HEAD,
            withdrawn_rows(f),
        )
    if f.late:
        doc.add_heading(f"超过 {f.on_time_days} 个工作日公开的事项", level=2)
        docx_table(
            doc,
            LATE_HEAD,
            late_rows(f),
        )
    for title, rows, note in (
        ("三、依申请公开和不予公开情况", o.requests, o.requests_note),
        ("四、对信息公开的评议情况", o.appraisal, o.appraisal_note),
        ("五、因学校信息公开工作受到举报、复议、诉讼的情况", o.complaints, o.complaints_note),
    ):
        doc.add_heading(title, level=1)
        docx_table(doc, ["项目", "数量"], rows)
        if note:
            doc.add_paragraph(note)
    doc.add_heading("六、新举措、问题和改进措施", level=1)
    for p in paragraphs(o.improvements):
        doc.add_paragraph(p)
    doc.add_heading("七、其他需要报告的事项", level=1)
    for p in paragraphs(o.other or "无。"):
        doc.add_paragraph(p)
    sign = doc.add_paragraph(f"{report.school}\n{o.date.year}年{o.date.month}月{o.date.day}日")
    sign.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    doc.add_page_break()
    doc.add_heading("附表 清单事项公开情况表", level=1)
    docx_table(
        doc,
        ITEM_HEAD,
        item_rows(f),
    )
    return docx_bytes(doc)


def write_annual(report: AnnualReport, folder: Path, templates: jinja2.Environment) -> list[Path]:
    """Write the report (HTML, Markdown, Word, and the charts as SVG) into ``folder``."""
    f = report.figures
    charts = {
        "monthly.svg": monthly_chart(f, "svg"),
        "channels.svg": channel_chart(f, "svg"),
        "monthly.png": monthly_chart(f, "png"),
        "channels.png": channel_chart(f, "png"),
    }
    stem = f"annual-{f.year}"
    files = {
        f"{stem}.html": annual_html(report, templates, charts),
        f"{stem}.md": annual_markdown(report, stem),
        f"{stem}.docx": annual_docx(report, charts),
        f"{stem}-monthly.svg": charts["monthly.svg"],
        f"{stem}-channels.svg": charts["channels.svg"],
    }
    return write_files(folder, files)


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in files.items():
            atomic_write(folder / name, data)
            paths.append(folder / name)
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc.strerror}", file=str(folder)) from None
    return paths
