"""The lint rules of the confidentiality review (保密审查).

Each rule looks at every text field of a notice (and the text of attached text files) and
reports findings with a severity (block / warn) and the position in the file. Personal data is
masked in the findings themselves, so a review report never re-publishes what it found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .model import Finding, Notice, Severity
from .text import BIDI_CONTROLS, is_emoji, is_invisible, line_col, markdown_links
from .text import normalise_for_matching as normalise

SECRET_MARKINGS_BLOCK = (
    "绝密",
    "机密",
    "内部资料",
    "内部文件",
    "工作秘密",
    "内部使用",
    "不得外传",
    "严禁外传",
    "内部传阅",
    "仅供内部",
)
SECRET_MARKINGS_WARN = ("涉密", "商业秘密")

DEFAULT_DENY_LIST = (
    "娱乐平台",
    "官方平台",
    "官方网站入口",
    "开云",
    "kaiyun",
    "必赢",
    "新葡京",
    "葡京",
    "百家乐",
    "棋牌",
    "彩票",
    "博彩",
    "赌场",
    "赌博",
    "真人视讯",
    "威尼斯人",
    "澳门银河",
    "澳门赌",
    "太阳城集团",
    "体育投注",
    "电子游艺",
    "老虎机",
    "六合彩",
    "时时彩",
    "bet365",
    "365bet",
    "乐鱼体育",
    "华体会",
    "米乐体育",
    "爱游戏体育",
    "半岛体育",
    "九游会",
    "亚博体育",
    "ob体育",
    "开云体育",
    "星空体育",
    "球盘",
    "下注",
    "充值送",
    "首存",
    "注册送",
    "老虎机",
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_MOBILE_RE = re.compile(r"(?<![\d-])(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![\d-])")
_CARD_RE = re.compile(r"(?<![\d-])((?:\d{4}[ -]?){3,4}\d{1,4}|\d{16,19})(?![\d-])")
_SCHOOLISH = re.compile(r"[\u4e00-\u9fff]{2,12}?(?:大学|学院)")


@dataclass(frozen=True)
class Field_:
    """One piece of text to check, with where it starts in its file."""

    name: str
    text: str
    line: int | None
    file: str = ""


@dataclass(frozen=True)
class LintConfig:
    school_name: str
    school_name_aliases: tuple[str, ...] = ()
    require_school_name: bool = False
    allowed_domains: tuple[str, ...] = ()
    deny_list: tuple[str, ...] = ()
    student_id_pattern: str | None = None
    student_id_severity: Severity = Severity.WARN
    emoji: str = "warn"  # block | warn | off
    scan_attachments: bool = True


def fields_of(notice: Notice, items_root: Path | None = None) -> list[Field_]:
    ln = notice.lines
    fields = [
        Field_("title", notice.title, ln.get("title")),
        Field_("summary", notice.summary, ln.get("summary")),
        Field_("department", notice.department, ln.get("department")),
        Field_("contact", notice.contact, ln.get("contact")),
        Field_("body", notice.body, ln.get("body")),
    ]
    for i, link in enumerate(notice.links):
        fields.append(Field_(f"links.{i}", link.title, ln.get(f"links.{i}")))
    for i, a in enumerate(notice.attachments):
        fields.append(Field_(f"attachments.{i}", a.title, ln.get(f"attachments.{i}")))
    return [f for f in fields if f.text]


def attachment_fields(notice: Notice, notice_dir: Path | None) -> list[Field_]:
    """The text of attached text files: leaks often come through attachments."""
    out: list[Field_] = []
    if notice_dir is None:
        return out
    for i, a in enumerate(notice.attachments):
        if not a.is_local or not (
            a.media_type.startswith("text/") or a.href.endswith((".csv", ".txt", ".md", ".tsv"))
        ):
            continue
        try:
            text = (notice_dir / a.href).read_text("utf-8-sig", errors="replace")
        except OSError:
            continue
        out.append(Field_(f"attachments.{i}", text, 1, file=a.href))
    return out


def run_rules(
    notice: Notice,
    cfg: LintConfig,
    *,
    previous: Notice | None = None,
    extra_fields: list[Field_] | None = None,
) -> list[Finding]:
    fields = fields_of(notice) + list(extra_fields or [])
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(fields, cfg))
    findings.extend(_school_name(notice, fields, cfg, previous))
    findings.extend(_link_domains(notice, fields, cfg))
    # one place, one finding: the same span can match several deny-list words
    unique: dict[tuple[str, str, int | None, int | None], Finding] = {}
    for f in findings:
        unique.setdefault((f.rule, f.field, f.line, f.column), f)
    return sorted(
        unique.values(),
        key=lambda f: (f.severity != Severity.BLOCK, f.field, f.line or 0, f.column or 0, f.rule),
    )


# ------------------------------------------------------------------------------ helpers


def _at(fld: Field_, index: int) -> tuple[int | None, int | None]:
    if fld.line is None:
        return None, None
    if fld.name == "body" or fld.file:
        return line_col(fld.text, index, fld.line)
    return fld.line, None


def _finding(rule: str, sev: Severity, msg: str, fld: Field_, index: int, excerpt: str) -> Finding:
    line, col = _at(fld, index)
    name = f"{fld.name} ({fld.file})" if fld.file else fld.name
    return Finding(rule, sev, msg, name, line, col, excerpt)


def mask(s: str) -> str:
    digits = re.sub(r"[ -]", "", s)
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def _search_normalised(fld: Field_, words: tuple[str, ...]) -> Iterator[tuple[str, int]]:
    norm, index = normalise(fld.text)
    for w in words:
        wn, _ = normalise(w)
        if not wn:
            continue
        start = 0
        while (pos := norm.find(wn, start)) >= 0:
            yield w, index[pos]
            start = pos + 1


# ------------------------------------------------------------------------------ rules


def _secret_markings(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        for word, i in _search_normalised(fld, SECRET_MARKINGS_BLOCK):
            yield _finding(
                "secret-marking",
                Severity.BLOCK,
                f"secrecy marking '{word}': 涉密不上网、上网不涉密",
                fld,
                i,
                word,
            )
        for m in re.finditer(r"秘密(?:\s*[★☆*]|$)", fld.text, re.M):
            yield _finding(
                "secret-marking",
                Severity.BLOCK,
                "secrecy marking '秘密★': 涉密不上网、上网不涉密",
                fld,
                m.start(),
                "秘密",
            )
        for word, i in _search_normalised(fld, SECRET_MARKINGS_WARN):
            yield _finding(
                "secret-marking",
                Severity.WARN,
                f"'{word}' mentioned: check nothing classified is described",
                fld,
                i,
                word,
            )


def id_number_valid(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != s[17]:
        return False
    month, day = int(s[10:12]), int(s[12:14])
    return 1 <= month <= 12 and 1 <= day <= 31 and 1900 <= int(s[6:10]) <= 2100


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _personal_data(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        text = fld.text
        id_spans: list[tuple[int, int]] = []
        for m in _ID_RE.finditer(text):
            if id_number_valid(m[1]):
                id_spans.append(m.span(1))
                yield _finding(
                    "id-number",
                    Severity.BLOCK,
                    "身份证号 (valid checksum): personal data must not be published",
                    fld,
                    m.start(1),
                    mask(m[1]),
                )
        for m in _CARD_RE.finditer(text):
            digits = re.sub(r"[ -]", "", m[1])
            if not 16 <= len(digits) <= 19 or any(a <= m.start(1) < b for a, b in id_spans):
                continue
            if luhn_valid(digits) and not digits.startswith("0"):
                yield _finding(
                    "bank-card",
                    Severity.BLOCK,
                    "银行卡号 (passes Luhn): personal data must not be published",
                    fld,
                    m.start(1),
                    mask(digits),
                )
        for m in _MOBILE_RE.finditer(text):
            if any(a <= m.start(1) < b for a, b in id_spans):
                continue
            yield _finding(
                "mobile",
                Severity.BLOCK,
                "手机号: personal contact data (office landlines are fine)",
                fld,
                m.start(1),
                mask(m[1]),
            )
        if cfg.student_id_pattern:
            for m in re.finditer(cfg.student_id_pattern, text):
                yield _finding(
                    "student-id",
                    cfg.student_id_severity,
                    "学号 (matches review.student_id_pattern)",
                    fld,
                    m.start(),
                    mask(m[0]),
                )


def _spam(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    words = tuple(dict.fromkeys(DEFAULT_DENY_LIST + cfg.deny_list))
    for fld in fields:
        for word, i in _search_normalised(fld, words):
            yield _finding(
                "spam",
                Severity.BLOCK,
                f"gambling/black-hat SEO term '{word}' (matched after normalising "
                "full-width, 繁体, hidden characters and emoji)",
                fld,
                i,
                word,
            )


def _hidden(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    for fld in fields:
        for m in BIDI_CONTROLS.finditer(fld.text):
            yield _finding(
                "hidden-text",
                Severity.BLOCK,
                f"bidirectional control U+{ord(m[0]):04X} can make text read "
                "differently from what is shown",
                fld,
                m.start(),
                "",
            )
        positions = [
            i for i, ch in enumerate(fld.text) if is_invisible(ch) and not BIDI_CONTROLS.match(ch)
        ]
        if positions:
            yield _finding(
                "hidden-text",
                Severity.WARN,
                f"{len(positions)} invisible character(s) (zero-width or similar)",
                fld,
                positions[0],
                "",
            )


def _emoji(fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    if cfg.emoji == "off":
        return
    sev = Severity(cfg.emoji)
    for fld in fields:
        if fld.file:
            continue
        positions = [i for i, ch in enumerate(fld.text) if is_emoji(ch)]
        if positions:
            chars = "".join(dict.fromkeys(fld.text[i] for i in positions))[:8]
            yield _finding(
                "emoji",
                sev,
                f"{len(positions)} emoji in formal text (spam uses them to dodge filters)",
                fld,
                positions[0],
                chars,
            )


RULES: tuple[Callable[[list[Field_], LintConfig], Iterator[Finding]], ...] = (
    _secret_markings,
    _personal_data,
    _spam,
    _hidden,
    _emoji,
)


def _school_name(
    notice: Notice, fields: list[Field_], cfg: LintConfig, previous: Notice | None
) -> Iterator[Finding]:
    names = (cfg.school_name, *cfg.school_name_aliases)
    own = [f for f in fields if not f.file]
    present = any(n in f.text for f in own for n in names)
    anchor = own[0] if own else Field_("title", notice.title, notice.lines.get("title"))
    if cfg.require_school_name and not present:
        yield _finding(
            "school-name",
            Severity.BLOCK,
            f"the official school name '{cfg.school_name}' does not appear",
            anchor,
            0,
            "",
        )
    if previous is not None and not present:
        before = " ".join(f.text for f in fields_of(previous))
        if any(n in before for n in names):
            yield _finding(
                "school-name",
                Severity.BLOCK,
                f"the official school name '{cfg.school_name}' was in the approved "
                "version and is gone from this one (a classic hijack)",
                anchor,
                0,
                "",
            )
    official = set(cfg.school_name)
    for fld in own:
        for m in _SCHOOLISH.finditer(fld.text):
            cand = m[0]
            # a name that ends like ours and shares most of its characters but is not ours
            if any(n in cand or cand in n for n in names) or cand[-2:] != cfg.school_name[-2:]:
                continue
            shared = len(set(cand) & official) / max(len(official), 1)
            if shared >= 0.6:
                yield _finding(
                    "school-name",
                    Severity.WARN,
                    f"'{cand}' looks like an altered form of '{cfg.school_name}'",
                    fld,
                    m.start(),
                    cand,
                )


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)


def _link_domains(notice: Notice, fields: list[Field_], cfg: LintConfig) -> Iterator[Finding]:
    if not cfg.allowed_domains:
        return
    allowed = tuple(d.lower().lstrip(".") for d in cfg.allowed_domains)
    targets: list[tuple[Field_, str, int]] = []
    body = next((f for f in fields if f.name == "body"), None)
    if body is not None:
        targets += [(body, url, i) for url, i in markdown_links(body.text)]
    ln = notice.lines
    if notice.url:
        targets.append((Field_("url", notice.url, ln.get("url")), notice.url, 0))
    for i, link in enumerate(notice.links):
        targets.append((Field_(f"links.{i}", link.url, ln.get(f"links.{i}")), link.url, 0))
    for i, a in enumerate(notice.attachments):
        if not a.is_local:
            targets.append(
                (Field_(f"attachments.{i}", a.href, ln.get(f"attachments.{i}")), a.href, 0)
            )
    for fld, url, i in targets:
        parts = urlsplit(url)
        if parts.scheme in ("", "mailto", "tel") and not url.startswith("//"):
            continue
        if parts.scheme not in ("http", "https"):
            yield _finding(
                "link-domain",
                Severity.BLOCK,
                f"link with scheme '{parts.scheme}:' is not allowed",
                fld,
                i,
                url[:80],
            )
            continue
        if not _host_allowed(parts.hostname or "", allowed):
            yield _finding(
                "link-domain",
                Severity.BLOCK,
                f"link to {parts.hostname} is outside the allowed domains ({', '.join(allowed)})",
                fld,
                i,
                url[:80],
            )
