"""The parts of the annual report only the office can write (its own text, and the tables of
依申请公开, 评议 and 举报/复议/诉讼, of which the bot has no records), kept in one YAML file per
school year: ``reports/annual-2025.yaml``. ``publisher report annual --init`` writes it with
every heading and zero in every cell."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.errors import ReportError
from publisher.notices import yamlsrc

PENDING = "（待信息公开办公室填写）"

TEMPLATE = """\
# {school} {year}—{next} 学年信息公开工作年度报告：由信息公开办公室填写的部分。
# 其余部分（主动公开的数量、清单事项公开情况表、各渠道情况、图表）由 publisher 从发布记录生成：
#   publisher report annual --year {year}
# 文字用 | 开头的多行块；表格每行“项目: 数量”，可增删行。

date: {next}-10-20          # 报告日期（印在报告上）

overview: |                 # 一、概述：制度机制、清单落实、培训与考评
  {pending}

requests:                   # 三、依申请公开和不予公开情况
  收到申请（件）: 0
  当面答复（件）: 0
  予以公开（件）: 0
  部分公开（件）: 0
  不予公开（件）: 0
  信息不存在（件）: 0
  非本校职责范围（件）: 0
  收取费用（元）: 0
  减免费用（元）: 0
requests_note: ""

appraisal:                  # 四、对信息公开的评议情况
  开展评议（次）: 0
  参与评议（人次）: 0
appraisal_note: ""

complaints:                 # 五、因学校信息公开工作受到举报、复议、诉讼的情况
  举报（件）: 0
  行政复议（件）: 0
  行政诉讼（件）: 0
complaints_note: ""

improvements: |             # 六、新举措、问题和改进措施
  {pending}

other: ""                   # 七、其他需要报告的事项
"""


@dataclass(frozen=True)
class OfficeParts:
    source: str  # the file, or "" when it did not exist
    date: dt.date
    overview: str
    requests: list[tuple[str, str]]
    requests_note: str
    appraisal: list[tuple[str, str]]
    appraisal_note: str
    complaints: list[tuple[str, str]]
    complaints_note: str
    improvements: str
    other: str
    warnings: list[str] = field(default_factory=list)


def office_file(folder: Path, year: int) -> Path:
    return folder / f"annual-{year}.yaml"


def template(school: str, year: int) -> str:
    return TEMPLATE.format(school=school, year=year, next=year + 1, pending=PENDING)


def load_office(folder: Path, school: str, year: int) -> OfficeParts:
    path = office_file(folder, year)
    warnings = []
    if path.exists():
        text = path.read_text("utf-8-sig")
        source = str(path)
    else:
        text = template(school, year)
        source = ""
        warnings.append(
            f"{path} does not exist: the office's sections say {PENDING} "
            f"(write it with `publisher report annual --year {year} --init`)"
        )
    where = str(path)
    data, lines = yamlsrc.load(text, file=where, error=ReportError)
    if not isinstance(data, dict):
        raise ReportError("expected a mapping of sections", file=where)

    def fail(message: str, key: str) -> ReportError:
        return ReportError(message, file=where, line=lines.line((key,)), field=key)

    known = {
        "date",
        "overview",
        "requests",
        "requests_note",
        "appraisal",
        "appraisal_note",
        "complaints",
        "complaints_note",
        "improvements",
        "other",
    }
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise fail(f"unknown section {unknown[0]!r}; valid: {', '.join(sorted(known))}", unknown[0])

    def text_of(key: str) -> str:
        v = data.get(key) or ""
        if not isinstance(v, str):
            raise fail("must be text (start a multi-line text with | )", key)
        return v.strip()

    def table(key: str) -> list[tuple[str, str]]:
        v = data.get(key) or {}
        if not isinstance(v, dict):
            raise fail("must be rows of “项目: 数量”", key)
        return [(str(k), "" if x is None else str(x)) for k, x in v.items()]

    raw_date: Any = data.get("date") or dt.date(year + 1, 10, 20)
    if isinstance(raw_date, str):
        try:
            raw_date = dt.date.fromisoformat(raw_date)
        except ValueError:
            raise fail(f"{raw_date!r} is not a date (YYYY-MM-DD)", "date") from None
    if not isinstance(raw_date, dt.date):
        raise fail(f"must be a date such as {year + 1}-10-20", "date")
    if raw_date > dt.date(year + 1, 10, 31):
        warnings.append(
            f"the report is dated {raw_date.isoformat()}, after the deadline {year + 1}-10-31"
        )
    parts = OfficeParts(
        source=source,
        date=raw_date,
        overview=text_of("overview"),
        requests=table("requests"),
        requests_note=text_of("requests_note"),
        appraisal=table("appraisal"),
        appraisal_note=text_of("appraisal_note"),
        complaints=table("complaints"),
        complaints_note=text_of("complaints_note"),
        improvements=text_of("improvements"),
        other=text_of("other"),
        warnings=warnings,
    )
    for name, value in (("overview", parts.overview), ("improvements", parts.improvements)):
        if not value or value == PENDING:
            warnings.append(f"section {name} is not written yet ({path})")
    return parts
